"""``sklpoison sweep``: the κ×θ safety-efficacy sweep on the embedded digits.

A :class:`~sklearn.model_selection.GridSearchCV` over an imblearn pipeline
``make_pipeline(PoisonTransformer(...), model)`` of poisoning fraction θ and
input-gradient penalty κ, scored with clean accuracy and attack success. It
prints the table, writes ``cv_results.csv`` and ``safety_efficacy.png`` into
``--out`` and runs unchanged on a Dask cluster (``--dask-scheduler``).
"""

import contextlib
import functools
import sys
import time
from pathlib import Path

from ..utils._optional import import_optional
from . import _args

# default grids, per model: the scale of kappa depends on the model's loss
_DEFAULT_POISON_RATES = {
    "krr": [0.005, 0.01, 0.02],
    "cnn": [0.02, 0.05],
    "mlp": [0.02, 0.05],
}
_DEFAULT_KAPPA = {
    "krr": [0.0, 0.01, 0.1, 1.0, 10.0],
    "cnn": [0.0, 0.5, 1.0, 2.0, 5.0],
    "mlp": [0.0, 0.5, 1.0, 2.0, 5.0],
}
_DEFAULT_EPOCHS = 8
# training-time augmentation when --augment is not given: the paper trains its CNNs with random
# crops and horizontal flips (CIFAR); a flipped digit is another digit (or none), so the digits
# CNN gets the crops only. The MLP and kernel ridge are not augmented.
_DEFAULT_AUGMENT = {"krr": "none", "cnn": "crop", "mlp": "none"}


def resolve_augment(model, choice):
    """The ``augment`` argument of the model for ``--augment choice`` (``None``: the default)."""
    choice = _DEFAULT_AUGMENT[model] if choice is None else choice
    return {"none": False, "both": True}.get(choice, choice)


_N_DIGITS = 1797  # rows of scikit-learn's embedded digits
_N_CLASSES = 10


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "sweep",
        help="kappa x poison_rate sweep: clean accuracy and attack success of input-gradient "
        "regularised models against an L-trigger backdoor (table, cv_results.csv, plot)",
        description=(
            "Cross-validated grid search over the poisoning fraction poison_rate of an L-trigger "
            "backdoor and the input-gradient penalty kappa of the model, on scikit-learn's "
            "embedded 8x8 digits. Poisoning acts on the training folds only (imblearn "
            "Pipeline); every fold is scored with clean accuracy and attack success. Prints "
            "the table and writes cv_results.csv and safety_efficacy.png into --out. Every "
            "option is checked before anything is fitted."
        ),
    )
    parser.add_argument(
        "--model",
        choices=["krr", "cnn", "mlp"],
        default="krr",
        help="krr: GradRegKRRClassifier (RBF kernel ridge, closed form; default); cnn: "
        "SmallCNN via GradRegNetClassifier; mlp: MLP via GradRegNetClassifier (cnn and mlp "
        'need the torch extra: pip install "sklpoison[torch]")',
    )
    parser.add_argument(
        "--poison-rate",
        type=_args.fraction,
        nargs="+",
        default=None,
        help="poisoning fractions in [0, 1] (default: "
        + "; ".join(f"{m}: {t}" for m, t in _DEFAULT_POISON_RATES.items())
        + ")",
    )
    parser.add_argument(
        "--kappa",
        type=_args.non_negative,
        nargs="+",
        default=None,
        help="penalty strengths >= 0 (default: "
        + "; ".join(f"{m}: {k}" for m, k in _DEFAULT_KAPPA.items())
        + ")",
    )
    parser.add_argument(
        "--cv", type=_args.int_at_least(2), default=3, help="cross-validation folds (default: 3)"
    )
    parser.add_argument(
        "--n-jobs",
        type=_args.n_jobs,
        default=None,
        help="parallel fits (joblib; -1: all cores; default: 1, or -1 with --dask-scheduler)",
    )
    parser.add_argument(
        "--threads",
        type=_args.int_at_least(1),
        default=None,
        help="CPU threads for the whole sweep: each of the n-jobs parallel fits gets "
        "threads // n-jobs BLAS/OpenMP/torch threads (default: $OMP_NUM_THREADS if set, "
        "else one thread per fit; parallelise with --n-jobs)",
    )
    parser.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        default=None,
        help="run the fits on a Dask cluster (e.g. tcp://10.0.0.1:8786) through "
        "joblib.parallel_config(backend='dask'); needs the 'dask' extra",
    )
    parser.add_argument(
        "--epochs",
        type=_args.int_at_least(1),
        default=None,
        help=f"training epochs of the cnn/mlp models (default: {_DEFAULT_EPOCHS})",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device of the cnn/mlp models: cpu, cuda, cuda:N or mps (default: cpu)",
    )
    parser.add_argument(
        "--augment",
        choices=["none", "crop", "flip", "both"],
        default=None,
        help="training-time augmentation of the cnn/mlp models: none, random crops, horizontal "
        "flips, or both (default: crop for cnn, the paper's crops without its flips, which do "
        "not preserve digit labels; none for mlp)",
    )
    parser.add_argument(
        "--target-class",
        type=int,
        choices=range(_N_CLASSES),
        metavar="{0..9}",
        default=0,
        help="backdoor target digit (default: 0)",
    )
    parser.add_argument(
        "--min-clean-accuracy",
        type=_args.fraction,
        default=0.9,
        help="report the kappa with the lowest attack success keeping this clean accuracy, "
        "in [0, 1] (default: 0.9)",
    )
    parser.add_argument(
        "--n-samples",
        type=_args.int_at_least(1),
        default=None,
        help=f"use only this many digits (stratified subsample, at least {_N_CLASSES} x cv, at "
        f"most {_N_DIGITS}; default: all {_N_DIGITS})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("sklpoison-report"),
        help="output directory, created if needed (default: %(default)s)",
    )
    parser.add_argument("--random-state", type=_args.seed, default=0, help="seed (default: 0)")
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: the scores in the line printed per fit (by default a line per fit "
        "[CV] END ... with its time)",
    )
    talk.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the table and the result (no progress)",
    )
    parser.set_defaults(func=run, check=functools.partial(check_args, parser))
    return parser


def check_args(parser, args):
    """Check the combination of arguments before anything is fitted (exit status 2)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    n_min = _N_CLASSES * args.cv
    _args.check_distinct(parser, "--poison-rate", args.poison_rate)
    _args.check_distinct(parser, "--kappa", args.kappa)
    if args.n_samples is not None:
        if args.n_samples > _N_DIGITS:
            parser.error(
                f"--n-samples {args.n_samples}: the embedded digits have {_N_DIGITS} rows; "
                f"omit --n-samples to use all of them"
            )
        if args.n_samples < n_min:
            parser.error(
                f"--n-samples {args.n_samples}: {args.cv}-fold stratified CV over "
                f"{_N_CLASSES} classes needs at least {n_min} digits"
            )
    if args.model == "krr":
        if args.device != "cpu":
            parser.error(f"--device {args.device}: only --model cnn/mlp run on torch devices")
        if args.augment not in (None, "none"):
            parser.error("--augment: only --model cnn/mlp train with augmentation")
        if args.epochs is not None:
            parser.error("--epochs: only --model cnn/mlp train in epochs")
    else:
        try:
            for name in ("torch", "skorch"):
                import_optional(name, extra="torch", feature=f"--model {args.model}")
        except ImportError as exc:
            parser.error(str(exc))
        _args.check_torch_device(parser, args.device, local=args.dask_scheduler is None)
    if args.threads is not None and args.dask_scheduler is None:
        from joblib import cpu_count, effective_n_jobs

        workers = effective_n_jobs(args.n_jobs if args.n_jobs is not None else 1)
        if args.threads < workers:
            parser.error(
                f"--threads {args.threads}: fewer than the {workers} parallel fits of --n-jobs "
                f"{args.n_jobs}, each of which needs a thread; give --threads {workers} or more, "
                f"or lower --n-jobs"
            )
        if args.threads > cpu_count():
            print(
                f"sklpoison sweep: warning: --threads {args.threads} exceeds the {cpu_count()} "
                f"CPU cores available: the threads will compete for them",
                file=sys.stderr,
            )
    if args.dask_scheduler is not None:
        try:
            import_optional("distributed", extra="dask", feature="--dask-scheduler")
        except ImportError as exc:
            parser.error(str(exc))
    X, y = _load_digits(args)
    smallest = int(np.unique(y, return_counts=True)[1].min())
    if smallest < args.cv:
        parser.error(
            f"--cv {args.cv}: the smallest digit class has {smallest} of the {y.shape[0]} "
            f"digits, too few for {args.cv} stratified folds; use --cv {smallest} or fewer"
            + ("" if args.n_samples is None else " or a larger --n-samples")
        )
    folds = StratifiedKFold(args.cv, shuffle=True, random_state=args.random_state).split(X, y)
    poison_rates = (
        args.poison_rate if args.poison_rate is not None else _DEFAULT_POISON_RATES[args.model]
    )
    _args.check_poison_rates(
        parser, poison_rates, [y[train] for train, _ in folds], args.target_class
    )
    _args.check_writable_dir(parser, "--out", args.out)
    return args


def _load_digits(args):
    """The digits of the sweep: all of them, or a stratified subsample of --n-samples."""
    from sklearn.model_selection import train_test_split

    from ..datasets import load_digits_images

    X, y = load_digits_images(return_X_y=True, flat=True)
    if args.n_samples is not None and args.n_samples < X.shape[0]:
        X, _, y, _ = train_test_split(
            X, y, train_size=args.n_samples, stratify=y, random_state=args.random_state
        )
    return X, y


def make_model(name, *, epochs=_DEFAULT_EPOCHS, device="cpu", augment=False, random_state=0):
    """The model of the sweep and the name of its kappa parameter inside the pipeline."""
    if name == "krr":
        from ..defences._krr import GradRegKRRClassifier

        return GradRegKRRClassifier(alpha=1e-2, kappa=0.0, kernel="rbf", gamma=None)
    from ..nn import GradRegNetClassifier
    from ..nn.models import MLP, SmallCNN

    return GradRegNetClassifier(
        SmallCNN if name == "cnn" else MLP,
        image_shape=(8, 8),
        max_epochs=epochs,
        lr=3e-3,
        batch_size=64,
        augment=augment,
        device=device,
        random_state=random_state,
    )


def build_search(
    model,
    poison_rates,
    kappas,
    *,
    cv=3,
    n_jobs=None,
    target_class=0,
    random_state=0,
    verbose=0,
):
    """The GridSearchCV of the sweep: imblearn pipeline, θ×κ grid, two scores."""
    from imblearn.pipeline import make_pipeline
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from ..attacks._backdoor import PoisonTransformer
    from ..metrics import neg_asr_scorer

    poisoner = PoisonTransformer(
        target_class=target_class, image_shape=(8, 8), random_state=random_state
    )
    pipe = make_pipeline(poisoner, model)
    step = pipe.steps[-1][0]
    grid = {"poisontransformer__poison_rate": list(poison_rates), f"{step}__kappa": list(kappas)}
    return GridSearchCV(
        pipe,
        grid,
        scoring={"clean_accuracy": "accuracy", "neg_asr": neg_asr_scorer},
        refit=False,
        cv=StratifiedKFold(cv, shuffle=True, random_state=random_state),
        n_jobs=n_jobs,
        verbose=verbose,
        error_score="raise",
    )


class _NoScheduler(Exception):
    """The Dask scheduler of --dask-scheduler cannot be reached (before any fit)."""


@contextlib.contextmanager
def _parallel_backend(address, n_jobs, threads):
    """The joblib backend of the fits, with a thread budget that does not oversubscribe.

    Local fits (sequential or loky processes) share ``threads`` (see
    :func:`sklpoison.model_selection.thread_budget`); on a Dask cluster each worker limits its
    tasks to its own cores divided by its number of task threads.
    """
    from ..utils._threads import limit_worker_threads, thread_budget

    if address is None:
        with thread_budget(n_jobs=n_jobs, threads=threads) as inner:
            yield inner
        return
    from dask.distributed import Client
    from joblib import parallel_config

    try:
        client = Client(address)
    except (OSError, ValueError) as exc:  # unreachable (after dask's connect timeout) or malformed
        raise _NoScheduler(f"--dask-scheduler {address}: cannot connect ({exc})") from None
    with client, parallel_config(backend="dask"):
        per_worker = client.run(limit_worker_threads, threads)
        yield min(per_worker.values(), default=1)


def run(args):
    import numpy as np

    from ..model_selection import tradeoff_table
    from ._tables import cv_results_to_csv, format_tradeoff_table

    poison_rates = (
        args.poison_rate if args.poison_rate is not None else _DEFAULT_POISON_RATES[args.model]
    )
    kappas = args.kappa if args.kappa is not None else _DEFAULT_KAPPA[args.model]
    n_jobs = args.n_jobs if args.n_jobs is not None else (-1 if args.dask_scheduler else 1)
    say = (lambda *a, **k: None) if args.quiet else functools.partial(print, flush=True)

    X, y = _load_digits(args)
    model = make_model(
        args.model,
        epochs=args.epochs if args.epochs is not None else _DEFAULT_EPOCHS,
        device=args.device,
        augment=resolve_augment(args.model, args.augment),
        random_state=args.random_state,
    )
    search = build_search(
        model,
        poison_rates,
        kappas,
        cv=args.cv,
        n_jobs=n_jobs,
        target_class=args.target_class,
        random_state=args.random_state,
        # progress by default: one line per fit ([CV] END ... total time); -v adds the
        # scores, -q turns it off
        verbose=0 if args.quiet else (2, 3)[min(args.verbose, 1)],
    )
    n_fits = len(poison_rates) * len(kappas) * args.cv
    start = time.perf_counter()
    backend = _parallel_backend(args.dask_scheduler, n_jobs, args.threads)
    try:
        per_fit = backend.__enter__()
    except _NoScheduler as exc:
        print(f"sklpoison sweep: error: {exc}", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        stack.push(backend)
        say(
            f"sklpoison sweep: {type(model).__name__} on {X.shape[0]} digits, "
            f"poison_rate={poison_rates}, kappa={kappas}, {args.cv}-fold CV: {n_fits} fits, "
            f"n_jobs={n_jobs}, {per_fit} thread(s) per fit"
            + (f", dask scheduler {args.dask_scheduler}" if args.dask_scheduler else "")
            + (f", augment={model.augment!r}" if args.model != "krr" else "")
            + ("" if args.verbose else " (a line per fit; -v: with scores, -q: none)")
        )
        search.fit(X, y)
    elapsed = time.perf_counter() - start

    table = tradeoff_table(search.cv_results_)
    say()
    print(format_tradeoff_table(table))
    print()
    print(recommend_kappa(search.cv_results_, args.min_clean_accuracy, model=args.model))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "cv_results.csv"
    cv_results_to_csv(search.cv_results_, csv_path)
    png_path = out / "safety_efficacy.png"
    _save_plot(search.cv_results_, png_path, title=f"{type(model).__name__} on digits")
    print(f"wrote {csv_path} and {png_path} ({elapsed:.1f} s of fitting)")
    return 0 if np.isfinite(table.asr).all() else 1


def recommend_kappa(cv_results, min_clean_accuracy, *, model="krr"):
    """The sweep's recommendation in words: the κ chosen by :func:`select_kappa`, and,
    when that is no defence at all (κ = 0) or nothing qualifies, which of the two
    reasons holds (no κ > 0 kept the clean-accuracy floor, or none lowered attack
    success) and what to change.

    Parameters
    ----------
    cv_results : dict
        The sweep's ``cv_results_`` (or a table of the same columns).
    min_clean_accuracy : float
        The clean-accuracy floor (``--min-clean-accuracy``).
    model : {"krr", "cnn", "mlp"}, default="krr"
        The ``--model``, for the advice (epochs apply to the networks only).

    Returns
    -------
    text : str
    """
    import numpy as np

    from ..model_selection import select_kappa

    floor = f"clean accuracy >= {min_clean_accuracy:g}"
    longer = " or train longer (--epochs)" if model != "krr" else ""
    try:
        choice = select_kappa(cv_results, min_clean_accuracy=min_clean_accuracy)
    except ValueError as exc:
        return (
            f"no kappa recommended: no kappa met the clean-accuracy floor ({exc}) Even the "
            f"model without the defence is below it at this size: use more digits (omit "
            f"--n-samples){longer}, or lower --min-clean-accuracy."
        )
    text = (
        f"lowest worst-case attack success with {floor}: kappa={choice.kappa:g} (attack "
        f"success {choice.asr:.3f}, clean accuracy {choice.clean_accuracy:.3f})"
    )
    c = choice.candidates
    defended = c.kappa > 0
    if choice.kappa > 0 or not defended.any():
        return text
    if not (c.feasible & defended).any():
        acc = np.where(np.isnan(c.clean_accuracy), -np.inf, c.clean_accuracy)
        i = np.flatnonzero(defended)[np.argmax(acc[defended])]
        why = (
            f"no kappa > 0 met the clean-accuracy floor (the best, kappa={c.kappa[i]:g}, "
            f"reached {c.clean_accuracy[i]:.3f}): the defence costs more accuracy than the floor "
            f"allows at this size. Sweep smaller kappa values (e.g. --kappa 0 "
            f"{c.kappa[i] / 10:g} {c.kappa[i] / 4:g}){longer}, or lower --min-clean-accuracy."
        )
    else:
        ok = c.feasible & defended
        i = np.flatnonzero(ok)[np.argmin(c.asr[ok])]
        why = (
            f"the defence did not lower attack success at this size: the best kappa > 0 that "
            f"met the floor, kappa={c.kappa[i]:g}, had attack success {c.asr[i]:.3f} against "
            f"{choice.asr:.3f} without it. Sweep larger kappa values{longer}, or use more "
            f"digits (omit --n-samples)."
        )
    return f"{text}\nkappa=0 is no defence: {why}"


def _save_plot(cv_results, path, *, title):
    # a bare Figure needs no GUI backend and leaves pyplot's state alone
    from matplotlib.figure import Figure

    from ..plotting._safety_efficacy import SafetyEfficacyDisplay

    fig = Figure(figsize=(6.5, 4.8), layout="constrained")
    disp = SafetyEfficacyDisplay.from_cv_results(cv_results, ax=fig.subplots())
    disp.ax_.set_title(f"Safety-efficacy trade-off: {title}", fontsize=10)
    fig.savefig(path, dpi=120)
    return disp
