"""``sklpoison sweep``: the κ×θ safety-efficacy sweep on the embedded digits.

A :class:`~sklearn.model_selection.GridSearchCV` over an imblearn pipeline
``make_pipeline(PoisonTransformer(...), model)`` of poisoning fraction θ and
input-gradient penalty κ, scored with clean accuracy and attack success. It
prints the table, writes ``cv_results.csv`` and ``safety_efficacy.png`` into
``--out`` and runs unchanged on a Dask cluster (``--dask-scheduler``).
"""

import contextlib
import os
import time
from pathlib import Path

# default grids, per model: the scale of kappa depends on the model's loss
_DEFAULT_THETA = {
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


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "sweep",
        help="kappa x theta sweep: clean accuracy and attack success of input-gradient "
        "regularised models against an L-trigger backdoor (table, cv_results.csv, plot)",
        description=(
            "Cross-validated grid search over the poisoning fraction theta of an L-trigger "
            "backdoor and the input-gradient penalty kappa of the model, on scikit-learn's "
            "embedded 8x8 digits. Poisoning acts on the training folds only (imblearn "
            "Pipeline); every fold is scored with clean accuracy and attack success. Prints "
            "the table and writes cv_results.csv and safety_efficacy.png into --out."
        ),
    )
    parser.add_argument(
        "--model",
        choices=["krr", "cnn", "mlp"],
        default="krr",
        help="krr: GradRegKRRClassifier (RBF kernel ridge, closed form; default); cnn: "
        "SmallCNN via GradRegNetClassifier; mlp: MLP via GradRegNetClassifier",
    )
    parser.add_argument(
        "--theta",
        type=float,
        nargs="+",
        default=None,
        help="poisoning fractions (default: "
        + "; ".join(f"{m}: {t}" for m, t in _DEFAULT_THETA.items())
        + ")",
    )
    parser.add_argument(
        "--kappa",
        type=float,
        nargs="+",
        default=None,
        help="penalty strengths (default: "
        + "; ".join(f"{m}: {k}" for m, k in _DEFAULT_KAPPA.items())
        + ")",
    )
    parser.add_argument("--cv", type=int, default=3, help="cross-validation folds (default: 3)")
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="parallel fits (joblib; default: 1, or -1 with --dask-scheduler)",
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
        type=int,
        default=_DEFAULT_EPOCHS,
        help=f"training epochs of the cnn/mlp models (default: {_DEFAULT_EPOCHS})",
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device of the cnn/mlp models (default: cpu)"
    )
    parser.add_argument(
        "--augment",
        choices=["none", "crop", "flip", "both"],
        default=None,
        help="training-time augmentation of the cnn/mlp models: none, random crops, horizontal "
        "flips, or both (default: crop for cnn, the paper's crops without its flips, which do "
        "not preserve digit labels; none for mlp)",
    )
    parser.add_argument("--target-class", type=int, default=0, help="backdoor target (default: 0)")
    parser.add_argument(
        "--min-clean-accuracy",
        type=float,
        default=0.9,
        help="report the kappa with the lowest attack success keeping this clean accuracy "
        "(default: 0.9)",
    )
    parser.add_argument(
        "--n-samples",
        type=int,
        default=None,
        help="use only this many digits (stratified subsample; default: all 1797)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("sklpoison-report"),
        help="output directory (default: %(default)s)",
    )
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    parser.add_argument("--quiet", action="store_true", help="no per-fit progress lines")
    parser.set_defaults(func=run)
    return parser


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
    thetas,
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
    from ..metrics import asr_scorer

    poisoner = PoisonTransformer(
        target_class=target_class, image_shape=(8, 8), random_state=random_state
    )
    pipe = make_pipeline(poisoner, model)
    step = pipe.steps[-1][0]
    grid = {"poisontransformer__theta": list(thetas), f"{step}__kappa": list(kappas)}
    return GridSearchCV(
        pipe,
        grid,
        scoring={"clean_accuracy": "accuracy", "asr": asr_scorer},
        refit=False,
        cv=StratifiedKFold(cv, shuffle=True, random_state=random_state),
        n_jobs=n_jobs,
        verbose=verbose,
        error_score="raise",
    )


@contextlib.contextmanager
def _dask_backend(address):
    if address is None:
        yield None
        return
    try:
        from dask.distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "--dask-scheduler needs dask.distributed: pip install 'sklpoison[dask]' (or "
            "'dask[distributed]')."
        ) from exc
    from joblib import parallel_config

    with Client(address) as client, parallel_config(backend="dask"):
        yield client


def run(args):
    import numpy as np
    from sklearn.model_selection import train_test_split

    from ..datasets import load_digits_images
    from ..model_selection import (
        cv_results_to_csv,
        format_tradeoff_table,
        select_kappa,
        tradeoff_table,
    )

    thetas = args.theta if args.theta is not None else _DEFAULT_THETA[args.model]
    kappas = args.kappa if args.kappa is not None else _DEFAULT_KAPPA[args.model]
    n_jobs = args.n_jobs if args.n_jobs is not None else (-1 if args.dask_scheduler else 1)

    X, y = load_digits_images(return_X_y=True, flat=True)
    if args.n_samples is not None and args.n_samples < X.shape[0]:
        X, _, y, _ = train_test_split(
            X, y, train_size=args.n_samples, stratify=y, random_state=args.random_state
        )
    model = make_model(
        args.model,
        epochs=args.epochs,
        device=args.device,
        augment=resolve_augment(args.model, args.augment),
        random_state=args.random_state,
    )
    search = build_search(
        model,
        thetas,
        kappas,
        cv=args.cv,
        n_jobs=n_jobs,
        target_class=args.target_class,
        random_state=args.random_state,
        verbose=0 if args.quiet else 2,
    )
    n_fits = len(thetas) * len(kappas) * args.cv
    print(
        f"sklpoison sweep: {type(model).__name__} on {X.shape[0]} digits, "
        f"theta={thetas}, kappa={kappas}, {args.cv}-fold CV ({n_fits} fits, n_jobs={n_jobs}"
        + (f", dask scheduler {args.dask_scheduler}" if args.dask_scheduler else "")
        + (f", augment={model.augment!r}" if args.model != "krr" else "")
        + ")",
        flush=True,
    )
    start = time.perf_counter()
    with _dask_backend(args.dask_scheduler):
        search.fit(X, y)
    elapsed = time.perf_counter() - start

    table = tradeoff_table(search.cv_results_)
    print()
    print(format_tradeoff_table(table))
    print()
    try:
        choice = select_kappa(search.cv_results_, min_clean_accuracy=args.min_clean_accuracy)
        print(
            f"lowest worst-case attack success with clean accuracy >= "
            f"{args.min_clean_accuracy}: kappa={choice.kappa:g} (attack success "
            f"{choice.asr:.3f}, clean accuracy {choice.clean_accuracy:.3f})"
        )
    except ValueError as exc:
        print(f"no kappa selected: {exc}")

    out = Path(args.out)
    os.makedirs(out, exist_ok=True)
    csv_path = out / "cv_results.csv"
    cv_results_to_csv(search.cv_results_, csv_path)
    png_path = out / "safety_efficacy.png"
    _save_plot(search.cv_results_, png_path, title=f"{type(model).__name__} on digits")
    print(f"wrote {csv_path} and {png_path} ({elapsed:.1f} s of fitting)")
    return 0 if np.isfinite(table.asr).all() else 1


def _save_plot(cv_results, path, *, title):
    # a bare Figure needs no GUI backend and leaves pyplot's state alone
    from matplotlib.figure import Figure

    from ..plotting._safety_efficacy import SafetyEfficacyDisplay

    fig = Figure(figsize=(6.5, 4.8))
    disp = SafetyEfficacyDisplay.from_cv_results(cv_results, ax=fig.subplots())
    disp.ax_.set_title(f"Safety-efficacy trade-off: {title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return disp
