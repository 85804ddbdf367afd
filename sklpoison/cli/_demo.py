"""``sklpoison demo``: an L-trigger backdoor on the embedded digits, per poison rate."""

import time


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="backdoor demo: poison digits with an L trigger, train an SVC, print accuracy and ASR",
        description=(
            "Poison scikit-learn's embedded digits with an L-shaped trigger at a few poison "
            "rates theta, train an SVC inside an imblearn Pipeline (poisoning acts on the "
            "training split only) and print clean test accuracy and attack success rate."
        ),
    )
    parser.add_argument(
        "--theta",
        type=float,
        nargs="+",
        default=[0.0, 0.005, 0.01, 0.02, 0.05, 0.1],
        help="poison rates to try (default: %(default)s)",
    )
    parser.add_argument("--target-class", type=int, default=0, help="backdoor target (default: 0)")
    parser.add_argument("--trigger-size", type=int, default=3, help="L arm length in pixels")
    parser.add_argument("--test-size", type=float, default=0.3, help="held-out fraction")
    parser.add_argument("--random-state", type=int, default=0)
    parser.set_defaults(func=run)
    return parser


def run_demo(
    thetas, *, target_class=0, trigger_size=3, test_size=0.3, random_state=0, progress=True
):
    """Run the backdoor demo and return a list of result rows (dicts)."""
    from imblearn.pipeline import make_pipeline
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC
    from tqdm.auto import tqdm

    from ..attacks._backdoor import PoisonTransformer
    from ..datasets import load_digits_images
    from ..metrics import attack_success_rate

    X, y = load_digits_images(return_X_y=True, flat=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=random_state
    )
    rows = []
    for theta in tqdm(thetas, desc="poison rates", disable=not progress):
        start = time.perf_counter()
        poisoner = PoisonTransformer(
            theta=theta,
            target_class=target_class,
            trigger_size=trigger_size,
            image_shape=(8, 8),
            random_state=random_state,
        )
        model = make_pipeline(poisoner, SVC()).fit(X_train, y_train)
        rows.append(
            {
                "theta": theta,
                "n_poisoned": model[0].n_poisoned_,
                "clean_accuracy": model.score(X_test, y_test),
                "attack_success": attack_success_rate(model, X_test, y_test),
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def format_table(rows):
    header = f"{'theta':>7} {'poisons':>8} {'clean acc':>10} {'attack success':>15}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['theta']:>7.3f} {r['n_poisoned']:>8d} {r['clean_accuracy']:>10.3f} "
            f"{r['attack_success']:>15.3f}"
        )
    return "\n".join(lines)


def run(args):
    for theta in args.theta:
        if not 0 <= theta <= 1:
            raise SystemExit(f"sklpoison demo: --theta values must lie in [0, 1]; got {theta}.")
    print(
        "L-trigger backdoor on scikit-learn's digits (8x8), SVC in an imblearn Pipeline; "
        f"target class {args.target_class}, trigger arms {args.trigger_size} px."
    )
    rows = run_demo(
        args.theta,
        target_class=args.target_class,
        trigger_size=args.trigger_size,
        test_size=args.test_size,
        random_state=args.random_state,
    )
    print(format_table(rows))
    return 0
