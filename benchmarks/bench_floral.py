"""Fit time of FloralSVC against scikit-learn's SVC, and the time share of the projection.

For n = 500, 2000, 5000 standardised ``make_moons(n, noise=0.2)`` points, 5% of the labels
flipped at random, times ``FloralSVC()`` (the paper's Moon settings: 500 rounds, k = 5%)
and ``SVC(C=10, gamma=0.5)`` on the same data, and reports the ratio and the share of
FloralSVC's fit time spent in the projection onto {0 <= lambda <= C, y^T lambda = 0}
(the rest is the kernel matrix, once, and one matrix-vector product per round). With
``--exact`` the cvxpy projection is timed too (slow; smallest n only).

Usage::

    python benchmarks/bench_floral.py            # n = 500, 2000, 5000
    python benchmarks/bench_floral.py --quick    # n = 300, 1000
"""

import argparse
import time

import numpy as np
from sklearn.datasets import make_moons
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import sklpoison.defences._floral as floral_module
from sklpoison import FloralSVC


class _Timed:
    """Wrap a projection function and accumulate its wall time."""

    def __init__(self, func):
        self.func = func
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = self.func(*args, **kwargs)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


def _data(n, seed=0):
    X, y = make_moons(n, noise=0.2, random_state=seed)
    X = StandardScaler().fit_transform(X)
    rng = np.random.RandomState(seed)
    flip = rng.choice(n, size=n // 20, replace=False)
    y[flip] = 1 - y[flip]
    return X, y


def _best_of(func, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench(n, repeat=1, n_rounds=500):
    X, y = _data(n)
    t_svc = _best_of(lambda: SVC(C=10, gamma=0.5).fit(X, y), repeat)
    timed = _Timed(floral_module._project_fixed_point)
    original = floral_module._project_fixed_point
    floral_module._project_fixed_point = timed
    try:
        t_floral = _best_of(lambda: FloralSVC(n_rounds=n_rounds, random_state=0).fit(X, y), repeat)
    finally:
        floral_module._project_fixed_point = original
    share = timed.seconds / repeat / t_floral
    return t_floral, t_svc, share


def bench_exact(n, n_rounds=100):
    X, y = _data(n)
    t0 = time.perf_counter()
    FloralSVC(n_rounds=n_rounds, projection="exact", random_state=0).fit(X, y)
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    FloralSVC(n_rounds=n_rounds, random_state=0).fit(X, y)
    return t_exact, time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--exact", action="store_true", help="also time the cvxpy projection")
    parser.add_argument("--repeat", type=int, default=1, help="best of this many fits")
    args = parser.parse_args(argv)
    sizes = [300, 1000] if args.quick else [500, 2000, 5000]
    print(
        f"{'n':>6s} {'FloralSVC (s)':>14s} {'SVC (s)':>9s} {'ratio':>7s} {'projection share':>17s}"
    )
    for n in sizes:
        t_floral, t_svc, share = bench(n, repeat=args.repeat)
        print(f"{n:>6d} {t_floral:>14.3f} {t_svc:>9.3f} {t_floral / t_svc:>7.1f} {share:>16.0%}")
    if args.exact:
        n = sizes[0]
        t_exact, t_fp = bench_exact(n)
        print(
            f"\nn={n}, 100 rounds: projection='exact' {t_exact:.2f} s, 'fixed_point' "
            f"{t_fp:.3f} s (ratio {t_exact / t_fp:.0f})"
        )


if __name__ == "__main__":
    main()
