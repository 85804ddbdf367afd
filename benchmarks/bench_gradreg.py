"""Cost of the input-gradient penalty: one training epoch with kappa > 0 against kappa = 0.

Same model, same data, same batches (fixed seed); the ratio of the epoch times is
the cost of double backprop (expected about 2-3x a plain step). Run::

    python benchmarks/bench_gradreg.py [--model cnn|mlp|resnet] [--n-samples N] [--repeat R]
"""

import argparse
import time

import numpy as np


def _epoch_time(model, kappa, X, y, repeat, device):
    from sklpoison.nn import GradRegNetClassifier
    from sklpoison.nn.models import MLP, PreActResNet, SmallCNN

    modules = {
        "cnn": (SmallCNN, {}),
        "mlp": (MLP, {"module__hidden_sizes": (256, 256)}),
        "resnet": (PreActResNet, {"module__depth": 8, "module__width": 16}),
    }
    module, kwargs = modules[model]
    net = GradRegNetClassifier(
        module, kappa=kappa, max_epochs=1, batch_size=64, device=device, random_state=0, **kwargs
    )
    net.fit(X[:128], y[:128])  # warm-up: imports, allocator, first-call overheads
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        net.fit(X, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "mlp", "resnet"], default="cnn")
    parser.add_argument("--n-samples", type=int, default=1024)
    parser.add_argument("--kappa", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    from sklpoison.datasets import load_digits_images

    X, y = load_digits_images(return_X_y=True)
    X, y = X[: args.n_samples], y[: args.n_samples]
    base = _epoch_time(args.model, 0.0, X, y, args.repeat, args.device)
    reg = _epoch_time(args.model, args.kappa, X, y, args.repeat, args.device)
    print(f"model={args.model} n_samples={len(X)} batch_size=64 device={args.device}")
    print(f"one epoch, kappa=0      : {base * 1e3:8.1f} ms (median of {args.repeat})")
    print(f"one epoch, kappa={args.kappa:<7g}: {reg * 1e3:8.1f} ms")
    print(f"ratio (double backprop / plain): {reg / base:.2f}x")
    return reg / base


if __name__ == "__main__":
    main()
