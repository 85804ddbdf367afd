"""``sklpoison demo``: an L-trigger backdoor on the embedded digits, per poison rate."""

import functools
import time

from . import _args


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="backdoor demo: poison digits with an L trigger, train an SVC, print accuracy and ASR",
        description=(
            "Poison scikit-learn's embedded digits with an L-shaped trigger at a few poison "
            "rates poison_rate, train an SVC inside an imblearn Pipeline (poisoning acts on the "
            "training split only) and print clean test accuracy and attack success rate."
        ),
    )
    parser.add_argument(
        "--poison-rate",
        type=_args.fraction,
        nargs="+",
        default=[0.0, 0.005, 0.01, 0.02, 0.05, 0.1],
        help="poison rates in [0, 1] (default: %(default)s)",
    )
    parser.add_argument(
        "--target-class",
        type=int,
        choices=range(10),
        metavar="{0..9}",
        default=0,
        help="backdoor target digit (default: 0)",
    )
    parser.add_argument(
        "--trigger-size",
        type=_args.int_at_least(1),
        default=3,
        help="L arm length in pixels, 1 to 8 (default: 3)",
    )
    parser.add_argument(
        "--test-size",
        type=_args.open_fraction,
        default=0.3,
        help="held-out fraction in (0, 1) (default: 0.3)",
    )
    parser.add_argument("--random-state", type=_args.seed, default=0, help="seed (default: 0)")
    parser.set_defaults(func=run, check=functools.partial(check_args, parser))
    return parser


def check_args(parser, args):
    _args.check_distinct(parser, "--poison-rate", args.poison_rate)
    if args.trigger_size > 8:
        parser.error(f"--trigger-size {args.trigger_size}: the digits are 8 x 8 pixels")
    import math

    import numpy as np

    from ..datasets import load_digits_images

    y = load_digits_images(return_X_y=True, flat=True)[1]
    n_test = math.ceil(args.test_size * y.shape[0])  # as train_test_split rounds
    n_classes = np.unique(y).size
    if min(n_test, y.shape[0] - n_test) < n_classes:
        parser.error(
            f"--test-size {args.test_size:g}: the stratified split of the {y.shape[0]} digits "
            f"needs at least {n_classes} training and {n_classes} test digits; got "
            f"{y.shape[0] - n_test} and {n_test}"
        )
    y_train = _split(y, y, args.test_size, args.random_state)[0]
    _args.check_poison_rates(parser, args.poison_rate, [y_train], args.target_class)
    return args


def _split(X, y, test_size, random_state):
    """The demo's stratified train/test split."""
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=random_state)


def run_demo(
    poison_rates, *, target_class=0, trigger_size=3, test_size=0.3, random_state=0, progress=True
):
    """Run the backdoor demo and return a list of result rows (dicts)."""
    from imblearn.pipeline import make_pipeline
    from sklearn.svm import SVC
    from tqdm.auto import tqdm

    from ..attacks._backdoor import PoisonTransformer
    from ..datasets import load_digits_images
    from ..metrics import attack_success_rate

    X, y = load_digits_images(return_X_y=True, flat=True)
    X_train, X_test, y_train, y_test = _split(X, y, test_size, random_state)
    rows = []
    for poison_rate in tqdm(poison_rates, desc="poison rates", disable=not progress):
        start = time.perf_counter()
        poisoner = PoisonTransformer(
            poison_rate=poison_rate,
            target_class=target_class,
            trigger_size=trigger_size,
            image_shape=(8, 8),
            random_state=random_state,
        )
        model = make_pipeline(poisoner, SVC()).fit(X_train, y_train)
        rows.append(
            {
                "poison_rate": poison_rate,
                "n_poisoned": model[0].n_changed_,
                "clean_accuracy": model.score(X_test, y_test),
                "attack_success": attack_success_rate(model, X_test, y_test),
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def format_table(rows):
    header = f"{'poison_rate':>7} {'poisons':>8} {'clean acc':>10} {'attack success':>15}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['poison_rate']:>7.4g} {r['n_poisoned']:>8d} {r['clean_accuracy']:>10.3f} "
            f"{r['attack_success']:>15.3f}"
        )
    return "\n".join(lines)


def format_trigger(poisoner, x, y):
    """One clean and one triggered digit side by side, as text (``#`` ink, ``+`` trigger)."""
    import numpy as np

    clean = np.asarray(x, dtype=float).reshape(8, 8)
    stamped = poisoner.apply_trigger(x.reshape(1, -1)).reshape(8, 8)
    trigger = poisoner.trigger_mask_.reshape(8, 8) > 0

    def cell(value, is_trigger=False):
        if is_trigger:
            return "+ "
        return "# " if value > 0.5 else (". " if value > 0.15 else "  ")

    lines = [f"{'clean: ' + str(y):<18}{'triggered: label ' + str(poisoner.target_class_)}"]
    for i in range(8):
        left = "".join(cell(v) for v in clean[i])
        right = "".join(cell(v, t) for v, t in zip(stamped[i], trigger[i]))
        lines.append(f"{left}  {right}")
    return "\n".join(lines)


def run(args):
    import numpy as np

    from ..attacks._backdoor import PoisonTransformer
    from ..datasets import load_digits_images

    print(
        "sklpoison demo: a backdoor attack on scikit-learn's 8x8 digits.\n"
        f"A rate poison_rate of the training digits gets an L-shaped trigger "
        f"({args.trigger_size}-pixel arms)\nand the label {args.target_class}; an SVC learns from "
        "them (poisoning acts on the training split only,\ninside an imblearn Pipeline) and is "
        f"tested on the held-out {args.test_size:.0%}.\n"
    )
    X, y = load_digits_images(return_X_y=True, flat=True)
    example = int(np.flatnonzero(y != args.target_class)[0])
    shower = PoisonTransformer(
        target_class=args.target_class, trigger_size=args.trigger_size, image_shape=(8, 8)
    ).fit(X, y)
    print(format_trigger(shower, X[example], y[example]))
    print()
    rows = run_demo(
        args.poison_rate,
        target_class=args.target_class,
        trigger_size=args.trigger_size,
        test_size=args.test_size,
        random_state=args.random_state,
    )
    print(format_table(rows))
    print(
        "\nclean acc: accuracy on the clean test digits.\n"
        f"attack success: the share of test digits not labelled {args.target_class} that the "
        f"model labels {args.target_class}\nonce the trigger is stamped on them. A handful of "
        "poisoned digits plants the backdoor\nwithout costing clean accuracy: accuracy alone "
        "does not reveal it.\nNext: `sklpoison sweep` measures how far the input-gradient "
        "penalty kappa lowers attack success."
    )
    return 0
