"""Argument types and checks shared by the sub-commands.

Every value is checked when the command line is parsed, before anything is fitted: a bad value
ends the command with argparse's one-line ``error:`` message and exit status 2.
"""

import argparse
import math
import tempfile
from pathlib import Path


def _number(text, kind):
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def fraction(text):
    """A float in [0, 1] (poisoning rates, accuracies)."""
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return value


def open_fraction(text):
    """A float in (0, 1) (held-out fractions)."""
    value = _number(text, float)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return value


def non_negative(text):
    """A finite float >= 0 (penalty strengths)."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def int_at_least(minimum):
    """An integer >= ``minimum``."""

    def parse(text):
        value = _number(text, int)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def n_jobs(text):
    """joblib's ``n_jobs``: a positive count, or -1 (all cores), -2 (all but one), ..."""
    value = _number(text, int)
    if value == 0:
        raise argparse.ArgumentTypeError(
            "must be a positive number of workers or negative (-1: all cores), not 0"
        )
    return value


def seed(text):
    value = _number(text, int)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**32), got {text}")
    return value


def check_distinct(parser, option, values):
    """A list option given the same value twice is an error (it would repeat the same fits)."""
    if values is None:
        return
    seen = set()
    for value in values:
        if value in seen:
            parser.error(f"{option}: {value:g} is given twice; list each value once")
        seen.add(value)


def check_poison_rates(parser, poison_rates, train_labels, target):
    """Every poison_rate must leave a training set with a row of a class other than ``target``.

    ``train_labels`` holds the labels of each training set the poisoner will see (one per
    fold); ``round(poison_rate * n)`` of its rows not of class ``target`` get the target label,
    so at least one of them must stay (else the poisoner or the model fails mid-run).
    """
    for labels in train_labels:
        n = labels.shape[0]
        sources = int((labels != target).sum())
        for poison_rate in poison_rates:
            if round(poison_rate * n) >= sources:
                largest = (sources - 1) / n  # floored below: round(poison_rate * n) <= sources - 1
                parser.error(
                    f"--poison-rate {poison_rate:g}: poisons {round(poison_rate * n)} of the {n} "
                    f"training digits, but only {sources} are not labelled {target} and at least "
                    f"one must stay (else one class is left); use --poison-rate "
                    f"{math.floor(largest * 1000) / 1000:g} or lower"
                )


def check_writable_dir(parser, option, path):
    """Create ``path`` if needed and check a file can be written there (before any fitting)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        parser.error(f"{option} {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".sklpoison-write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        parser.error(f"{option} {path}: cannot write there ({reason})")
    return path


def check_torch_device(parser, device, *, local=True):
    """``device`` must be a torch device that exists on this machine.

    ``local=False`` (the fits run on a Dask cluster) checks only that it names a torch device:
    the GPUs are the workers', not this machine's (each fit checks its own device).
    """
    from ..utils._optional import import_optional

    torch = import_optional("torch", extra="torch", feature="--model cnn/mlp")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        parser.error(f"--device {device}: not a torch device (e.g. cpu, cuda, cuda:1, mps)")
    if not local:
        if dev.type not in ("cpu", "cuda", "mps"):
            parser.error(f"--device {device}: only cpu, cuda[:N] and mps are supported")
        return device
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            parser.error(
                f"--device {device}: no CUDA GPU is visible to PyTorch "
                "(torch.cuda.is_available() is False); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            parser.error(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible"
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            parser.error(f"--device {device}: the MPS backend is not available; use --device cpu")
    elif dev.type != "cpu":
        parser.error(f"--device {device}: only cpu, cuda[:N] and mps are supported")
    return device
