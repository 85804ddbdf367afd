"""Benchmark: fit time and peak memory of GradRegKRR against scikit-learn's KernelRidge.

For each n (d = 64 features) both estimators are fitted on the same data in
the same run, and the script prints the fit-time ratio
``GradRegKRR(kappa > 0) / KernelRidge`` (best of ``--repeat`` interleaved fits;
also against ``GradRegKRR(kappa=0)``, which solves KernelRidge's system) and the
peak memory each fit allocates (``tracemalloc``, which sees numpy's buffers).
The ``kappa > 0`` fit solves ``(K^2 + alpha K + kappa G) a = K y`` with ``G`` in
closed form (two n x n matrix products) and a Cholesky factorisation;
KernelRidge solves ``(K + alpha I) a = y`` (one Cholesky).

Run::

    python benchmarks/bench_krr.py            # n = 1000, 2000, 4000
    python benchmarks/bench_krr.py --quick    # n = 300, 600
"""

import argparse
import time
import tracemalloc

import numpy as np
from sklearn.kernel_ridge import KernelRidge

from sklpoison import GradRegKRR


def _best_times(estimators, X, y, repeat):
    """Best fit time of each estimator; repeats are interleaved so drift hits all alike."""
    best = dict.fromkeys(estimators, np.inf)
    for _ in range(repeat):
        for name, make in estimators.items():
            model = make()
            t0 = time.perf_counter()
            model.fit(X, y)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _peak_bytes(make, X, y):
    tracemalloc.start()
    tracemalloc.reset_peak()
    make().fit(X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    parser.add_argument("--n-features", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kappa", type=float, default=0.1)
    args = parser.parse_args(argv)
    sizes = args.sizes or ([300, 600] if args.quick else [1000, 2000, 4000])
    d = args.n_features
    rng = np.random.RandomState(0)
    gamma = 1.0 / d
    estimators = {
        "KernelRidge": lambda: KernelRidge(alpha=1.0, kernel="rbf", gamma=gamma),
        "GradRegKRR(kappa=0)": lambda: GradRegKRR(alpha=1.0, kappa=0.0, gamma=gamma),
        f"GradRegKRR(kappa={args.kappa:g})": lambda: GradRegKRR(
            alpha=1.0, kappa=args.kappa, gamma=gamma
        ),
    }
    names = list(estimators)
    print(f"d = {d}, best of {args.repeat} fits; peak = tracemalloc peak of one fit")
    header = (
        f"{'n':>6} | "
        + " | ".join(f"{name + ' s':>24}" for name in names)
        + f" | {'ratio vs KRR':>12} | {'vs kappa=0':>10} | {'peak KRR MiB':>12}"
        + f" | {'peak GradReg MiB':>16}"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        X = rng.rand(n, d)
        y = np.sin(X @ rng.randn(d)) + 0.1 * rng.randn(n)
        repeat = args.repeat if n <= 2000 else max(1, args.repeat - 1)
        times = _best_times(estimators, X, y, repeat)
        peak_krr = _peak_bytes(estimators[names[0]], X, y) / 2**20
        peak_ours = _peak_bytes(estimators[names[2]], X, y) / 2**20
        ratio = times[names[2]] / times[names[0]]
        ratio0 = times[names[2]] / times[names[1]]
        print(
            f"{n:>6} | "
            + " | ".join(f"{times[name]:>24.3f}" for name in names)
            + f" | {ratio:>12.2f} | {ratio0:>10.2f} | {peak_krr:>12.1f} | {peak_ours:>16.1f}"
        )
    print(f"(one n x n float64 matrix at n = {sizes[-1]}: {8 * sizes[-1] ** 2 / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
