"""Benchmark of sklpoison's input-Hessian core (``sklpoison.numerics``).

Two measurements, each against a baseline timed in the same run:

1. Top-5 eigenpairs of the mean input Hessian ``H̄`` of a CNN's loss over a
   batch of inputs, at d = 784 (1x28x28) and d = 3072 (3x32x32): Lanczos with
   full reorthogonalisation (``max_iter`` Hessian-vector products) against
   forming the dense ``d x d`` Hessian (``d`` Hessian-vector products, one per
   column, on the same prepared autograd graphs) and ``numpy.linalg.eigh``.
   Prints the time ratio (target: >= 20x at d = 3072) and the relative error
   of the Lanczos eigenvalues against the dense ones.
2. Per-sample scoring (top eigenvalue of every per-sample input Hessian, 10
   Lanczos steps): batched over the samples (one vectorised product per step)
   against a Python loop over samples.
3. ``HessianSpectrumDetector.fit`` on a ``GradRegKRRClassifier`` (RBF, digits,
   d = 64): the matrix-free kernel Hessian-vector products against the dense
   per-sample ``d x d`` input Hessians (the same model without
   ``input_hessian_operator``).

Run ``python benchmarks/bench_hessian.py`` (``--quick`` for a fast smoke run).
By default the dense Hessian is formed in full at both sizes; with
``--dense-columns N`` (used for the user guide's table: ``N = 1024``) only ``N``
columns are formed where ``d > N`` and the dense time is *extrapolated* (the
column time scaled by ``d / N``, plus ``eigh`` timed on a random ``d x d``
matrix): those rows are marked as extrapolated, and their eigenvalue error is
measured against :func:`scipy.sparse.linalg.eigsh` run to convergence instead of
the dense eigenvalues.
"""

import argparse
import time

import numpy as np


def _model(chw, seed=0):
    import torch

    torch.manual_seed(seed)
    try:
        from sklpoison.nn.models import SmallCNN

        model = SmallCNN(num_classes=10, in_channels=chw[0], image_size=chw[1:])
    except ImportError:  # pragma: no cover - fallback CNN
        c, h, w = chw
        model = torch.nn.Sequential(
            torch.nn.Conv2d(c, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(64 * (h // 4) * (w // 4), 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 10),
        )
    return model.eval()


def _timeit(fn, repeat=2):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_eigenpairs(chw, n_samples, max_iters, dense_columns=None):
    """Lanczos top-5 vs the dense Hessian; ``dense_columns`` < d extrapolates the dense time."""
    from sklpoison.numerics import _input_hessian as IH
    from sklpoison.numerics import _lanczos as H

    model = _model(chw)
    d = int(np.prod(chw))
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(n_samples, d)).astype(np.float32)
    adapter = IH.make_input_hessian_adapter(model, input_shape=chw)
    y = adapter.loss_labels(X)
    H.mean_hvp(adapter, X, y, rng.normal(size=d))  # warm-up (kernel selection, allocations)
    results = {}
    for m in max_iters:
        results[m] = _timeit(
            lambda m=m: H.top_eigenpairs(adapter, X, y, n_components=5, max_iter=m, random_state=0)
        )
    cols = d if dense_columns is None else int(min(dense_columns, d))
    t0 = time.perf_counter()
    op = H.mean_hessian_operator(adapter, X, y)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    M = op.matmat(np.eye(d)[:, :cols])
    t_cols = time.perf_counter() - t0
    if cols == d:
        t0 = time.perf_counter()
        w = np.linalg.eigh((M + M.T) / 2)[0][::-1][:5]
        t_eigh = time.perf_counter() - t0
    else:  # time eigh on a random symmetric matrix of the same size
        A = rng.normal(size=(d, d))
        t_eigh, _ = _timeit(lambda: np.linalg.eigh((A + A.T) / 2), repeat=1)
        # no dense eigenvalues: the reference is ARPACK run to convergence (not timed)
        w = H.top_eigenpairs(
            adapter, X, y, n_components=5, max_iter=30, solver="eigsh", tol=1e-10, random_state=0
        )[0]
    t_dense = t_build + t_cols * d / cols + t_eigh
    rows = []
    for m, (t, (vals, _)) in results.items():
        err = float(np.max(np.abs(vals - w) / np.abs(w)))
        rows.append((d, n_samples, m, t, t_dense, t_dense / t, err, cols))
    return rows


def bench_per_sample(chw, n_samples, max_iter=10):
    from sklpoison.numerics import _input_hessian as IH
    from sklpoison.numerics import _lanczos as H

    model = _model(chw)
    d = int(np.prod(chw))
    X = np.random.RandomState(1).uniform(size=(n_samples, d)).astype(np.float32)
    adapter = IH.make_input_hessian_adapter(model, input_shape=chw)
    y = adapter.loss_labels(X)
    H.per_sample_top_eigenvalues(adapter, X[:2], y[:2], max_iter=2)  # warm-up
    t_batch, batched = _timeit(
        lambda: H.per_sample_top_eigenvalues(
            adapter, X, y, max_iter=max_iter, batch_size=n_samples, random_state=0
        )
    )
    t_loop, looped = _timeit(
        lambda: np.array(
            [
                H.per_sample_top_eigenvalues(
                    adapter, X[i : i + 1], y[i : i + 1], max_iter=max_iter, random_state=0
                )[0]
                for i in range(n_samples)
            ]
        )
    )
    # same start vectors: the two must agree up to float32 rounding
    agree = float(np.max(np.abs(batched - looped) / np.maximum(np.abs(looped), 1e-12)))
    return d, n_samples, n_samples / t_batch, n_samples / t_loop, t_loop / t_batch, agree


def bench_kernel_detector(n_fit, n_samples):
    """HessianSpectrumDetector on GradRegKRRClassifier: matrix-free vs dense input Hessians."""
    from sklearn.datasets import load_digits

    from sklpoison import GradRegKRRClassifier, HessianSpectrumDetector

    class DenseOnly(GradRegKRRClassifier):
        @property
        def input_hessian_operator(self):
            raise AttributeError("input_hessian_operator")

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xf, yf = X[:n_fit], y[:n_fit]
    Xr, yr = X[n_fit : n_fit + n_samples], y[n_fit : n_fit + n_samples]
    out = {}
    for name, model in (("free", GradRegKRRClassifier), ("dense", DenseOnly)):
        clf = model(alpha=1e-2).fit(Xf, yf)
        det = HessianSpectrumDetector(clf, random_state=0)
        t, det = _timeit(lambda det=det: det.fit(Xr, yr), repeat=1)
        out[name] = (t, det)
    (t_free, a), (t_dense, b) = out["free"], out["dense"]
    err = max(
        np.max(np.abs(a.eigenvalues_ - b.eigenvalues_) / np.abs(b.eigenvalues_)),
        np.max(
            np.abs(a.reference_top_eigenvalues_ - b.reference_top_eigenvalues_)
            / np.abs(b.reference_top_eigenvalues_)
        ),
    )
    return X.shape[1], n_fit, len(Xr), t_free, t_dense, t_dense / t_free, err


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, fast smoke run")
    parser.add_argument(
        "--dense-columns",
        type=int,
        default=None,
        help="form only this many dense columns and extrapolate the dense time "
        "(default: all columns; 128 with --quick)",
    )
    args = parser.parse_args(argv)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    shapes = [(1, 28, 28), (3, 32, 32)]
    n_mean = 8 if args.quick else 32
    n_score = 16 if args.quick else 128
    max_iters = (10,) if args.quick else (10, 30)
    dense_columns = args.dense_columns if args.dense_columns else (128 if args.quick else None)

    print("\nTop-5 eigenpairs of the mean input Hessian: Lanczos vs dense (d HVPs + eigh)")
    print(
        f"{'d':>5} {'N':>4} {'iters':>5} {'Lanczos s':>10} {'dense s':>9} {'ratio':>7} "
        f"{'max rel err top-5':>18}"
    )
    if dense_columns:
        print(
            f"(--dense-columns {dense_columns}: where d > {dense_columns}, only {dense_columns} "
            "Hessian columns are formed and timed; the dense time is that time scaled to d "
            "columns, plus eigh timed on a random d x d matrix)"
        )
    for chw in shapes:
        for row in bench_eigenpairs(chw, n_mean, max_iters, dense_columns):
            d, n, m, t, td, ratio, err, cols = row
            note = (
                f"  <- dense time EXTRAPOLATED from {cols} of {d} columns (x{d / cols:.2f}); "
                "error against converged eigsh"
                if cols < d
                else ""
            )
            print(f"{d:5d} {n:4d} {m:5d} {t:10.3f} {td:9.2f} {ratio:7.1f} {err:18.2e}{note}")

    print("\nPer-sample top eigenvalue (10 Lanczos steps): batched vs a loop over samples")
    print(
        f"{'d':>5} {'n':>4} {'batched /s':>10} {'loop /s':>8} {'speed-up':>8} {'max rel diff':>12}"
    )
    for chw in shapes:
        d, n, thr_b, thr_l, speed, agree = bench_per_sample(chw, n_score)
        print(f"{d:5d} {n:4d} {thr_b:10.1f} {thr_l:8.1f} {speed:8.1f} {agree:12.1e}")

    print("\nHessianSpectrumDetector.fit on GradRegKRRClassifier (RBF): matrix-free vs dense")
    print(
        f"{'d':>5} {'n_fit':>5} {'n':>4} {'free s':>8} {'dense s':>8} {'ratio':>7} "
        f"{'max rel diff':>12}"
    )
    d, n_fit, n, t_free, t_dense, ratio, err = bench_kernel_detector(
        300 if args.quick else 1000, 100 if args.quick else 300
    )
    print(f"{d:5d} {n_fit:5d} {n:4d} {t_free:8.2f} {t_dense:8.2f} {ratio:7.1f} {err:12.1e}")


if __name__ == "__main__":
    main()
