"""Benchmark: PoisonTransformer.fit_resample against copying the data.

Poisoning must cost little more than the copy of the training set it returns (the
caller's arrays are never modified). Prints, for MNIST-sized and CIFAR-sized
random images, the time of ``fit_resample`` at poison_rate = 0.1 divided by the time of
``X.copy()`` measured in the same run, and the speed-up of the vectorised
stamping over a per-sample Python loop.

Usage: ``python benchmarks/bench_poison.py [--quick]``
"""

import argparse
import time

import numpy as np

from sklpoison import PoisonTransformer


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    args = parser.parse_args(argv)
    n = 5000 if args.quick else 60000
    repeat = 2 if args.quick else 3
    rng = np.random.RandomState(0)
    print(f"{'data':>22} {'copy s':>8} {'poison s':>9} {'ratio':>6} {'loop/vec':>9}")
    for shape in [(1, 28, 28), (3, 32, 32)]:
        X = rng.rand(n, *shape).astype(np.float32)
        y = rng.randint(0, 10, n)
        p = PoisonTransformer(poison_rate=0.1, target_class=0, random_state=0)
        t_copy = _best(lambda X=X: X.copy(), repeat)
        t_poison = _best(lambda p=p, X=X, y=y: p.fit_resample(X, y), repeat)
        rows = X[: n // 10]
        p.fit(X, y)

        def loop(rows=rows, p=p):
            out = np.empty_like(rows)
            for i in range(rows.shape[0]):
                out[i] = p._stamp(rows[i : i + 1])[0]
            return out

        t_loop = _best(loop, 1)
        t_vec = _best(lambda rows=rows, p=p: p._stamp(rows), repeat)
        label = f"{n}x{'x'.join(map(str, shape))}"
        print(
            f"{label:>22} {t_copy:>8.4f} {t_poison:>9.4f} {t_poison / t_copy:>6.1f} "
            f"{t_loop / t_vec:>9.1f}"
        )


if __name__ == "__main__":
    main()
