"""The prepared check for a GPU session: sklpoison's deep paths on the device.

Only what needs the device is measured here; the CPU benchmarks of the same code
(``bench_gradreg.py``, ``bench_hessian.py``, ``bench_gc.py``, ``bench_certifier.py``)
hold the rest. Each number is measured against a baseline timed in the same run:

1. Pre-ResNet-110 (:class:`sklpoison.nn.models.PreActResNet`, depth 110) trained by
   :class:`sklpoison.nn.GradRegNetClassifier`: the time of one epoch at kappa = 0 and
   at kappa > 0 (double backprop), their ratio (target <= 3x), images/s and the peak
   GPU memory (``torch.cuda.max_memory_allocated``), in float32 and with bf16 mixed
   precision (``mixed_precision="bf16"``; "n/a" in versions without that option).
2. The top-5 eigenvalues of the mean input Hessian of a SmallCNN on 3x32x32 inputs
   (d = 3072) by Lanczos (10 steps, batched Hessian-vector products on the device)
   against the dense Hessian (one product per column, then ``eigh``): time ratio
   (target >= 100x) and eigenvalue agreement (target 1e-4). With ``--quick`` only
   ``--dense-columns`` columns are formed, the dense time is extrapolated from them
   (``eigh`` left out, so the ratio is a lower bound) and the reference eigenvalues
   are ARPACK's run to convergence.
3. One :class:`sklpoison.GradientCanceling` step on a SmallCNN victim (skorch net on
   the device) against one full-batch loss gradient over the clean rows (target <= 4x).

The data are CIFAR-10's training images when ``--data PATH`` is given (read with
:func:`sklpoison.datasets.load_cifar10`: ``cifar-10-batches-bin`` or its parent),
otherwise synthetic uniform images of the same shape with random labels. Run::

    python benchmarks/bench_gpu.py --device cuda [--data PATH] [--json OUT]
    python benchmarks/bench_gpu.py --device cpu --quick

CPU thread pools (BLAS and torch) are capped at ``--threads`` (default: 1 on the
CPU, all cores with a GPU). A section that fails prints FAILED with the error and
the script exits with status 1 after printing the rest.
"""

import argparse
import json
import os
import platform
import sys
import time
import traceback
import warnings

import numpy as np

# the sizes of the two modes: (GPU / full run, --quick smoke run)
SIZES = {
    "full": dict(
        resnet_images=8192,
        resnet_batch=128,
        resnet_epochs=2,
        hessian_n=32,
        dense_columns=None,
        gc_rows=2000,
        gc_steps=20,
        repeat=2,
    ),
    "quick": dict(
        resnet_images=16,
        resnet_batch=8,
        resnet_epochs=2,
        hessian_n=8,
        dense_columns=48,
        gc_rows=128,
        gc_steps=5,
        repeat=1,
    ),
}
KAPPA = 1.0


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_of(fn, repeat, device):
    best, out = np.inf, None
    for _ in range(repeat):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best, out


class Table:
    """Rows of (section, setting, measured, baseline, ratio, target, note)."""

    def __init__(self):
        self.rows = []
        self.failed = []

    def add(self, section, setting, measured, baseline="", ratio="", target="", note="", **data):
        row = dict(
            section=section,
            setting=setting,
            measured=measured,
            baseline=baseline,
            ratio=ratio,
            target=target,
            note=note,
        )
        row.update(data)
        self.rows.append(row)
        print(_format_row(row), flush=True)

    def print(self, header):
        print("\n" + header)
        print(_format_row(None))
        print("-" * 164)
        for row in self.rows:
            print(_format_row(row))


_COLUMNS = [
    ("section", 24),
    ("setting", 40),
    ("measured", 24),
    ("baseline", 26),
    ("ratio", 9),
    ("target", 9),
    ("note", 0),
]


def _format_row(row):
    if row is None:
        return " ".join(f"{name:<{w}}" if w else name for name, w in _COLUMNS)
    return " ".join(f"{row[name]!s:<{w}}" if w else str(row[name]) for name, w in _COLUMNS)


# ---------------------------------------------------------------------- data
def _cifar_shaped(args, n, device):
    """``(X (n, 3, 32, 32) float32, y (n,) int64, source)``."""
    if args.data:
        from sklpoison.datasets import load_cifar10

        if getattr(args, "cifar", None) is None:  # main() reads the folder once, up front
            args.cifar = load_cifar10(args.data, subset="train")
        X, y = args.cifar
        if X.shape[0] < n:
            raise ValueError(f"--data holds {X.shape[0]} training images; {n} are needed.")
        return X[:n], y[:n], f"CIFAR-10 training images from {args.data}"
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(n, 3, 32, 32)).astype(np.float32)
    y = rng.randint(0, 10, size=n).astype(np.int64)
    return X, y, "synthetic uniform 3x32x32 images, random labels"


# ------------------------------------------------------------ 1. Pre-ResNet-110
def bench_resnet(table, args, sizes, device):
    import torch

    from sklpoison.nn import GradRegNetClassifier
    from sklpoison.nn.models import PreActResNet

    n, batch, epochs = sizes["resnet_images"], sizes["resnet_batch"], sizes["resnet_epochs"]
    X, y, _ = _cifar_shaped(args, n, device)

    def net(kappa, extra, max_epochs):
        return GradRegNetClassifier(
            PreActResNet,
            module__depth=110,
            kappa=kappa,
            optimizer=torch.optim.SGD,
            optimizer__momentum=0.9,
            lr=0.01,
            max_epochs=max_epochs,
            batch_size=min(batch, n),
            device=args.device,
            random_state=0,
            **extra,
        )

    # warm-up (imports, allocator, cuDNN autotuning of both passes): one short fit
    net(KAPPA, {}, 1).fit(X[:batch], y[:batch])
    times = {}
    for label, extra in [("float32", {}), ("mixed precision (bf16)", {"mixed_precision": "bf16"})]:
        for kappa in (0.0, KAPPA):
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            model = net(kappa, extra, epochs).fit(X, y)
            # the last epoch: the first one carries the warm-up of this configuration
            times[label, kappa] = dur = float(model.history[-1, "dur"])
            peak = (
                f"peak {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
                if device.type == "cuda"
                else "peak GPU memory n/a on CPU"
            )
            if kappa > 0:  # the cost of double backprop
                base, what, target = (label, 0.0), "kappa=0", "<= 3x"
            elif extra:  # bf16 autocast against float32
                base, what, target = ("float32", 0.0), "float32", ""
            else:
                base = None
            row = dict(seconds=dur, images_per_s=n / dur)
            if base is not None:
                row.update(ratio_value=dur / times[base])
            table.add(
                "Pre-ResNet-110 epoch",
                f"{label}, kappa={kappa:g}",
                f"{dur:.3f} s ({n / dur:.1f} img/s)",
                "" if base is None else f"{what}: {times[base]:.3f} s",
                "" if base is None else f"{dur / times[base]:.2f}x",
                "" if base is None else target,
                f"{n} images, batch {min(batch, n)}, SGD; {peak}",
                **row,
            )


# ------------------------------------------------------------ 2. Hessian spectrum
def bench_hessian(table, args, sizes, device):
    import torch

    from sklpoison.nn.models import SmallCNN
    from sklpoison.numerics import _input_hessian as input_hessian
    from sklpoison.numerics import _lanczos as lanczos

    n, steps, chw = sizes["hessian_n"], 10, (3, 32, 32)
    X, y, _ = _cifar_shaped(args, n, device)
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=3, image_size=(32, 32)).to(device).eval()
    d = int(np.prod(chw))
    X = X.reshape(n, d)
    adapter = input_hessian.make_input_hessian_adapter(model, input_shape=chw)
    labels = adapter.loss_labels(X, y)
    lanczos.mean_hvp(adapter, X, labels, np.random.RandomState(0).normal(size=d))  # warm-up
    t, vals = _best_of(
        lambda: lanczos.top_eigenpairs(
            adapter, X, labels, n_components=5, max_iter=steps, random_state=0
        )[0],
        sizes["repeat"],
        device,
    )
    cols = d if sizes["dense_columns"] is None else int(min(sizes["dense_columns"], d))
    _sync(device)
    t0 = time.perf_counter()
    M = lanczos.mean_hessian_operator(adapter, X, labels).matmat(np.eye(d)[:, :cols])
    _sync(device)
    t_dense = time.perf_counter() - t0
    if cols == d:
        t0 = time.perf_counter()
        ref = np.linalg.eigh((M + M.T) / 2)[0][::-1][:5]
        t_dense += time.perf_counter() - t0
        reference, dense_note = "dense eigh", f"dense: {d} HVP columns + eigh, timed in full"
    else:
        t_dense *= d / cols
        ref = lanczos.top_eigenpairs(
            adapter, X, labels, n_components=5, max_iter=30, solver="eigsh", tol=1e-10
        )[0]
        reference = "ARPACK eigsh to convergence"
        dense_note = (
            f"dense EXTRAPOLATED: {cols} of {d} HVP columns timed, x{d / cols:.0f}, "
            "eigh not counted (ratio is a lower bound)"
        )
    rel = np.abs(vals - ref) / np.abs(ref)
    table.add(
        "Hessian top-5 (SmallCNN)",
        f"d={d} N={n}, Lanczos {steps} steps",
        f"{t:.3f} s",
        f"dense {t_dense:.2f} s",
        f"{t_dense / t:.0f}x",
        ">= 100x",
        f"rel. err top-1 {rel[0]:.1e}, top-5 max {rel.max():.1e} (target 1e-4) vs "
        f"{reference}; {dense_note}",
        seconds=t,
        dense_seconds=t_dense,
        dense_columns=cols,
        d=d,
        n_samples=n,
        lanczos_steps=steps,
        ratio_value=t_dense / t,
        rel_err_top1=float(rel[0]),
        rel_err_top5=float(rel.max()),
        reference=reference,
    )


# ---------------------------------------------------------- 3. Gradient Canceling
def bench_gc(table, args, sizes, device):
    import torch
    from sklearn.base import clone

    from sklpoison import GradientCanceling
    from sklpoison.nn import GradRegNetClassifier
    from sklpoison.nn.models import SmallCNN

    n, k = sizes["gc_rows"], sizes["gc_steps"]
    X, y, _ = _cifar_shaped(args, n, device)
    # the victim is never trained by the timed runs (max_epochs=0 keeps the setup
    # short); the target is the victim trained for one epoch
    victim = GradRegNetClassifier(
        SmallCNN, max_epochs=0, batch_size=128, device=args.device, random_state=0
    )
    target = clone(victim).set_params(max_epochs=1).fit(X, y)

    def run(steps):
        gc = GradientCanceling(
            victim, target=target, poison_rate=0.1, max_iter=steps, random_state=0
        )
        _sync(device)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gc.fit_resample(X, y)
        _sync(device)
        return time.perf_counter() - t0, gc

    run(1)  # warm-up
    t_setup = min(run(0)[0] for _ in range(2))
    t_total, gc = min((run(k) for _ in range(2)), key=lambda r: r[0])
    t_step = max(t_total - t_setup, 0.0) / k

    module = target.module_
    Xt = torch.as_tensor(X, device=device)
    yt = torch.as_tensor(y, device=device)
    params = [p for p in module.parameters() if p.requires_grad]

    def full_gradient():
        loss = torch.nn.functional.cross_entropy(module(Xt), yt)
        return torch.autograd.grad(loss, params)

    full_gradient()
    t_full, _ = _best_of(full_gradient, 5, device)
    table.add(
        "GradientCanceling step",
        f"SmallCNN, n={n}, m={gc.n_changed_} poisons",
        f"{1e3 * t_step:.1f} ms",
        f"full-batch grad {1e3 * t_full:.1f} ms",
        f"{t_step / t_full:.2f}x",
        "<= 4x",
        f"(fit_resample({k} steps) - fit_resample(0 steps)) / {k}, optimiser bookkeeping "
        f"included; baseline: one autograd gradient of the mean cross-entropy over the {n} "
        "clean rows",
        seconds=t_step,
        baseline_seconds=t_full,
        ratio_value=t_step / t_full,
        n_rows=n,
        n_poisons=int(gc.n_changed_),
    )


# ------------------------------------------------------------------------- main
_SECTIONS = {
    "resnet": bench_resnet,
    "hessian": bench_hessian,
    "gc": bench_gc,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="'cuda', 'cuda:1' or 'cpu'")
    parser.add_argument("--quick", action="store_true", help="small sizes (CPU smoke run)")
    parser.add_argument("--data", default=None, help="CIFAR-10 binary folder (or its parent)")
    parser.add_argument("--json", default=None, metavar="OUT", help="write the numbers here")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (BLAS, torch)")
    parser.add_argument(
        "--dense-columns",
        type=int,
        default=None,
        help="Hessian columns formed for the dense baseline (default: all; 48 with --quick)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(_SECTIONS),
        default=sorted(_SECTIONS),
        help="run only these sections (e.g. to rerun one that failed)",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()

    import torch
    from threadpoolctl import threadpool_limits

    from sklpoison.utils._torch import resolve_device

    try:  # a clear one-line error for 'cuda' without a GPU, 'cuda:3' of 1, a typo
        device = resolve_device(args.device, name="--device")
    except ValueError as exc:
        parser.error(f"{exc} For a CPU smoke run: --device cpu --quick")
    sizes = dict(SIZES["quick" if args.quick else "full"])
    if args.dense_columns is not None:
        sizes["dense_columns"] = args.dense_columns
    if args.data:
        # read and check the folder once, before any section runs: a wrong path or too
        # few images must not cost a device run (nor be read again by every section)
        needed = {"resnet": sizes["resnet_images"], "hessian": sizes["hessian_n"]}
        needed["gc"] = sizes["gc_rows"]
        n_needed = max(needed.get(name, 0) for name in args.only)
        try:
            _cifar_shaped(args, n_needed, device)
        except (OSError, ValueError) as exc:
            parser.error(f"--data {args.data}: {exc}")
    threads = args.threads or (1 if device.type == "cpu" else min(os.cpu_count() or 1, 16))
    torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    header = (
        f"sklpoison bench_gpu on {name} [{device}]; torch {torch.__version__}, {threads} CPU "
        f"thread(s){', --quick' if args.quick else ''}"
    )
    print(header, flush=True)

    table = Table()
    source = (
        f"CIFAR-10 training images from {args.data}"
        if args.data
        else "synthetic uniform 3x32x32 images, random labels"
    )
    with threadpool_limits(limits=threads):
        for bench in (bench for name, bench in _SECTIONS.items() if name in args.only):
            t0 = time.perf_counter()
            try:
                bench(table, args, sizes, device)
            except Exception as exc:  # keep the other sections of a one-shot device run
                traceback.print_exc()
                table.failed.append(bench.__name__)
                table.add(bench.__name__, "FAILED", f"{type(exc).__name__}: {exc}"[:200])
            print(f"  [{bench.__name__}: {time.perf_counter() - t0:.1f} s]", flush=True)
    wall = time.perf_counter() - start
    table.print(f"{header}\ndata: {source}; wall time {wall:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                dict(
                    device=name,
                    device_arg=args.device,
                    torch=torch.__version__,
                    threads=threads,
                    quick=args.quick,
                    data=source,
                    wall_seconds=wall,
                    rows=table.rows,
                ),
                fh,
                indent=1,
                default=float,
            )
        print(f"numbers written to {args.json}")
    return 1 if table.failed else 0


if __name__ == "__main__":
    sys.exit(main())
