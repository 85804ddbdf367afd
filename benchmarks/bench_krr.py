"""Benchmark: fit time and peak memory of GradRegKRR against scikit-learn's KernelRidge.

For each n (d = 64 features) both estimators are fitted on the same data in
the same run, and the script prints the fit-time ratio
``GradRegKRR(kappa > 0) / KernelRidge`` (best of ``--repeat`` interleaved fits;
also against ``GradRegKRR(kappa=0)``, which solves KernelRidge's system) and the
peak memory each fit allocates (``tracemalloc``, which sees numpy's buffers).
The ``kappa > 0`` fit solves ``(K^2 + alpha K + kappa G) a = K y`` with ``G`` in
closed form and a Cholesky factorisation; KernelRidge solves
``(K + alpha I) a = y`` (one Cholesky).

Why the ratio cannot reach 3 (flop count, n >> d): both fits build ``K``
(``O(n^2 d)``). KernelRidge then needs one Cholesky factorisation, ``n^3 / 3``
flops. The exact ``kappa > 0`` system needs ``K K`` -- one ``dsyrk``, ``n^3``
flops, already three Cholesky factorisations' worth, so 3x is out of reach
before ``G`` is even started -- and ``K N + N^T K`` for ``G`` -- one
``dsyr2k``, ``2 n^3`` -- before its own ``n^3 / 3`` factorisation:
``10 n^3 / 3`` against ``n^3 / 3``. With the ``2 n^2 d`` of the kernel
matrix that is a flop ratio of 7.5 / 8.6 / 9.2 at n = 1000 / 2000 / 4000,
tending to 10 (it was ``13 n^3 / 3``, tending to 13, with two general
products). A Cholesky factorisation runs at a lower flop rate than
``dsyrk`` / ``dsyr2k`` (22 against 29-35 GFlop/s on one thread here), which
brings the ratio of the calls alone (second table: ``(kernel + dsyrk +
dsyr2k + potrf) / (kernel + potrf)``, timed in the same run) to about 6-7;
measured fit ratios are lower still (4-5) because KernelRidge's fit does more
than one kernel evaluation and one factorisation (pairwise-kernel
temporaries, a copy, a condition estimate).

Measured on the shared 2-core machine, one BLAS thread, load 5-7 from other
jobs (timings +-30 %, ratios of one run only comparable within that run):

- before (``K @ K`` and ``K @ N`` as two general products, five n x n
  buffers): ratio vs KernelRidge 4.07 / 5.33 / 7.40 at n = 1000 / 2000 /
  4000, peak memory 39 / 154 / 612 MiB;
- after (``dsyrk`` + ``dsyr2k`` into one buffer, three n x n buffers): ratio
  4.47 / 3.75 / 5.90, 4.19 / 4.12 / 7.47 and 5.02 / 4.27 / 5.02 in three
  runs, peak memory 24 / 96 / 376 MiB; in a same-process A/B of the solve
  alone (n = 1000 / 2000 / 4000) 0.152 -> 0.118 s, 1.74 -> 1.17 s and
  12.1 -> 7.9 s (23-35 % faster); fitted values ``K a`` of the two agree to
  1e-10 (n = 1000) and 6e-10 (n = 2000) relative, the coefficients to 5e-9
  and 5e-8 (the system has the conditioning of ``K^2``).

Run::

    python benchmarks/bench_krr.py            # n = 1000, 2000, 4000
    python benchmarks/bench_krr.py --quick    # n = 300, 600
"""

import argparse
import time
import tracemalloc

import numpy as np
from scipy import linalg
from scipy.linalg import blas
from sklearn.kernel_ridge import KernelRidge

from sklpoison import GradRegKRR
from sklpoison.numerics.kernels import kernel_matrix


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


def _components(X, gamma, repeat):
    """Best times of the kernel matrix, dsyrk, dsyr2k and a Cholesky factorisation."""
    K = kernel_matrix(X, gamma=gamma)
    A = K + np.eye(K.shape[0])
    calls = {
        "kernel": lambda: kernel_matrix(X, gamma=gamma),
        "dsyrk": lambda: blas.dsyrk(1.0, K.T, lower=1),
        "dsyr2k": lambda: blas.dsyr2k(1.0, K.T, K.T, lower=1),
        "potrf": lambda: linalg.cho_factor(A, lower=True, check_finite=False),
    }
    best = dict.fromkeys(calls, np.inf)
    for _ in range(repeat):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


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
    print()
    print("The same ratio from the BLAS/LAPACK calls alone (seconds, best of the same repeats):")
    header = (
        f"{'n':>6} | {'kernel':>8} | {'dsyrk':>8} | {'dsyr2k':>8} | {'potrf':>8} | "
        f"{'calls ratio (kernel+syrk+syr2k+potrf)/(kernel+potrf)':>52} | {'flop ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        X = np.random.RandomState(n).rand(n, d)
        repeat = args.repeat if n <= 2000 else max(1, args.repeat - 1)
        c = _components(X, gamma, repeat)
        bound = (c["kernel"] + c["dsyrk"] + c["dsyr2k"] + c["potrf"]) / (c["kernel"] + c["potrf"])
        # flops: kernel 2 n^2 d (distances) for both; n^3 + 2 n^3 + n^3 / 3 against n^3 / 3
        flops = (2 * n * n * d + 10 * n**3 / 3) / (2 * n * n * d + n**3 / 3)
        print(
            f"{n:>6} | {c['kernel']:>8.3f} | {c['dsyrk']:>8.3f} | {c['dsyr2k']:>8.3f} | "
            f"{c['potrf']:>8.3f} | {bound:>52.2f} | {flops:>10.2f}"
        )


if __name__ == "__main__":
    main()
