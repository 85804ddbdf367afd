"""Benchmark: Gradient Canceling on digits with multinomial logistic regression.

Prints the seconds taken by ``max_iter`` GC iterations at ``poison_rate = 0.1``
(setup excluded: the difference of two ``fit_resample`` runs with
``max_iter`` and 0 iterations) and the cost of one GC iteration relative to one
full-batch gradient evaluation of the loss over the clean training set, both
measured in this run (target: at most 4x). Also times the autograd (torch)
twin of the analytic numpy path for reference.

Run ``python benchmarks/bench_gc.py`` (``--quick`` for 100 iterations).
"""

import argparse
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

from sklpoison import GradientCanceling, GradPC
from sklpoison.datasets import load_digits_images
from sklpoison.numerics._param_gradients import make_param_grad_adapter
from sklpoison.utils._testing import linear_torch_adapter


def _best_of(fn, repeat=5, number=20):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 iterations instead of 1000")
    parser.add_argument("--poison-rate", type=float, default=0.1)
    args = parser.parse_args(argv)
    n_iter = 100 if args.quick else 1000

    X, y = load_digits_images(return_X_y=True, flat=True, dtype=np.float64)
    victim = LogisticRegression(max_iter=1000)
    pc = GradPC(victim, epsilon_w=0.1).fit(X, y)

    def run(k):
        gc = GradientCanceling(
            victim,
            target=pc.target_model_,
            poison_rate=args.poison_rate,
            max_iter=k,
            random_state=0,
        )
        t0 = time.perf_counter()
        gc.fit_resample(X, y)
        return time.perf_counter() - t0, gc

    setup, _ = run(0)
    total, gc = run(n_iter)
    loop = total - setup
    n, m = X.shape[0], gc.n_changed_

    adapter = make_param_grad_adapter(pc.target_model_)
    theta = adapter.get_theta()
    g_eff = adapter.data_grad(theta, X, y)
    Xp, yp = gc.X_poison_, np.searchsorted(adapter.classes_, gc.y_poison_)
    t_iter = _best_of(lambda: adapter.gc_grad(theta, g_eff, Xp, yp, n))
    t_full = _best_of(lambda: adapter.data_grad(theta, X, y))
    t_poison = _best_of(lambda: adapter.data_grad(theta, Xp, yp))
    twin = linear_torch_adapter(adapter)
    t_iter_torch = _best_of(lambda: twin.gc_grad(theta, g_eff, Xp, yp, n))
    t_full_torch = _best_of(lambda: twin.data_grad(theta, X, y))

    print(
        f"digits LR: n = {n} clean rows, d = {X.shape[1]}, c = 10, m = {m} poisons "
        f"(poison_rate = {args.poison_rate}), {adapter.n_params} parameters"
    )
    print(
        f"{n_iter} GC iterations (setup excluded): {loop:.3f} s "
        f"({1e3 * loop / n_iter:.3f} ms per iteration incl. optimiser bookkeeping); "
        f"setup (clean fit, GradPC target, tau): {setup:.3f} s"
    )
    print(f"one GC objective+gradient evaluation (numpy):     {1e6 * t_iter:9.1f} us")
    print(f"one full-batch loss gradient over n rows (numpy): {1e6 * t_full:9.1f} us")
    print(f"ratio GC iteration / full-batch gradient: {t_iter / t_full:.2f}x (target <= 4x)")
    print(f"ratio incl. bookkeeping: {loop / n_iter / t_full:.2f}x")
    print(
        f"one loss gradient over the m poisons only:        {1e6 * t_poison:9.1f} us "
        f"(GC evaluation / that: {t_iter / t_poison:.2f}x, the price of the second-order term)"
    )
    print(
        f"torch twin: GC evaluation {1e6 * t_iter_torch:.1f} us, full gradient "
        f"{1e6 * t_full_torch:.1f} us, ratio {t_iter_torch / t_full_torch:.2f}x; "
        f"numpy speed-up on the GC step {t_iter_torch / t_iter:.1f}x"
    )


if __name__ == "__main__":
    main()
