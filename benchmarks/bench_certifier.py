"""Benchmark of IntervalCertifier: interval-bound training against nominal training.

Prints, for a few models and threat models, the wall time of ``fit`` (nominal
SGD plus the propagation of the parameter box) divided by the time of the same
nominal SGD alone (same data, initialisation and batch order, measured in the
same run), and the cost of ``bound="lp"`` certificates per test point and per
epoch-equivalent of training. Target: ratio <= 5.

Run ``python benchmarks/bench_certifier.py`` (``--quick`` for a smoke run).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, make_moons


def _best_of(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _nominal_time(est, X, y, repeat, per_sample=False):
    """Time of the nominal SGD alone: ``fit``'s own step, replayed with its plan."""
    est.fit(X, y)  # encodes targets, fixes the plan
    # per_sample: materialise per-sample gradients (as DP-SGD style clipping
    # does), which is what the bounds need; a huge clip level changes nothing
    clip = 1e300 if per_sample else "fit"
    from sklpoison.utils._testing import replay_training

    return _best_of(lambda: replay_training(est, X, y, clip_gamma=clip), repeat)


def _zonotope_section(quick, repeat):
    """Zonotope domain (logistic / softmax regression): fit time / nominal SGD time."""
    from sklearn.datasets import make_classification

    from sklpoison import IntervalCertifier

    print()
    print("zonotope domain: ratio = zonotope fit / nominal SGD (fit's own step, replayed)")
    print(
        f"{'model':<9} {'n':>5} {'d':>3} {'threat':<16} {'nominal s':>9} {'box s':>7} "
        f"{'zono s':>7} {'ratio':>6} {'box ratio':>9} {'gens':>5} {'P':>4}"
    )
    sizes = [(300, 30), (3000, 30), (300, 64), (3000, 64)]
    if quick:
        sizes = sizes[:1]
    for n_classes, name in [(2, "logistic"), (10, "softmax")]:
        for n, d in sizes:
            X, y = make_classification(
                n, d, n_informative=min(d, 20), n_classes=n_classes, random_state=0
            )
            X = (X - X.mean(0)) / X.std(0)
            for tname, tkw in [
                ("2 flips, full", dict(n_label_flips=2)),
                ("2 x eps, batch", dict(n_poison=2, epsilon=0.01, batch_size=100)),
            ]:
                kw = dict(lr=0.1, n_epochs=2 if quick else 20, random_state=0, **tkw)
                zono = IntervalCertifier("logistic", domain="zonotope", **kw)
                box = IntervalCertifier("logistic", domain="box", **kw)
                t_nom = _nominal_time(zono, X, y, repeat)
                t_z = _best_of(lambda z=zono, X=X, y=y: z.fit(X, y), 1)
                t_b = _best_of(lambda b=box, X=X, y=y: b.fit(X, y), repeat)
                P = (d + 1) * (1 if n_classes == 2 else n_classes)
                print(
                    f"{name:<9} {n:>5} {d:>3} {tname:<16} {t_nom:9.4f} {t_b:7.3f} {t_z:7.3f} "
                    f"{t_z / t_nom:6.0f} {t_b / t_nom:9.1f} {zono.n_generators_:>5} {P:>4}"
                )


def _flip_cost_section(quick):
    """Full-batch label flips on many rows: zonotope fit against box fit, memory, certificates.

    Logistic regression on make_moons (5,500 rows, noise 0.1), k = 10 flips, lr = 3,
    50 full-batch epochs. The zonotope's flip ranges are chosen by cost (exact sorted sums
    or candidate rows, see ``sklpoison.certification._flips``); forcing exact sums for
    every logit (``FLIP_COST_RATIO = inf``) shows what the choice costs and gains.
    Memory: tracemalloc peak during ``fit`` (numpy reports its buffers to tracemalloc).
    """
    import tracemalloc

    import sklpoison.certification._flips as flips
    from sklpoison import IntervalCertifier

    n, n_epochs = (1100, 10) if quick else (5500, 50)
    X, y = make_moons(n, noise=0.1, random_state=0)
    print()
    print(f"full-batch flips: logistic, make_moons({n}, noise=0.1), k=10, lr=3, {n_epochs} epochs")
    print(
        f"{'fit':<22} {'time s':>8} {'/ box':>7} {'peak MB':>8} {'certified':>9} "
        f"{'nominal':>7} {'exact logits':>12} {'candidate rows':>14}"
    )
    ratio = flips.FLIP_COST_RATIO
    t_box = None
    for name, domain, cost_ratio in [
        ("box", "box", ratio),
        ("zonotope (by cost)", "zonotope", ratio),
        ("zonotope (all exact)", "zonotope", np.inf),
    ]:
        flips.FLIP_COST_RATIO = cost_ratio
        est = IntervalCertifier(
            "logistic", n_label_flips=10, lr=3.0, n_epochs=n_epochs, domain=domain, random_state=0
        )
        tracemalloc.start()
        t0 = time.perf_counter()
        est.fit(X, y)
        t = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        t_box = t if t_box is None else t_box
        worst, nominal, _ = est.certified_accuracy(X, y)
        fl = est.zonotope_.flips if est.zonotope_ is not None else None
        exact = "-" if fl is None else f"{fl.n_exact}/{fl.n_logits}"
        cand = "-" if fl is None else f"{fl.n_candidates}/{fl.B}"
        print(
            f"{name:<22} {t:8.2f} {t / t_box:7.1f} {peak:8.1f} {worst:9.4f} {nominal:7.4f} "
            f"{exact:>12} {cand:>14}"
        )
    flips.FLIP_COST_RATIO = ratio


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument(
        "--only-zonotope", action="store_true", help="only the zonotope-domain section"
    )
    parser.add_argument(
        "--only-flips", action="store_true", help="only the full-batch flips cost section"
    )
    args = parser.parse_args(argv)
    from sklpoison import IntervalCertifier

    # a box that diverges stops being propagated (and would make the timing
    # meaningless): such rows are flagged with "*" instead of warning
    warnings.simplefilter("ignore", RuntimeWarning)
    repeat = 1 if args.quick else 3
    if args.only_zonotope:
        _zonotope_section(args.quick, repeat)
        return
    if args.only_flips:
        _flip_cost_section(args.quick)
        return
    n_epochs = 2 if args.quick else 5
    Xm, ym = make_moons(400 if args.quick else 2000, noise=0.1, random_state=0)
    Xd, yd = load_digits(return_X_y=True)
    Xd = Xd / 16.0
    cases = [
        ("logistic  moons", "logistic", {}, Xm, ym),
        ("mlp(32,32) moons", "mlp", dict(hidden_layer_sizes=(32, 32)), Xm, ym),
        ("mlp(64,) digits", "mlp", dict(hidden_layer_sizes=(64,)), Xd, yd),
    ]
    threats = [
        ("k=0", {}),
        ("10 flips", dict(n_label_flips=10)),
        ("10 x eps", dict(n_poison=10, epsilon=0.01)),
        ("10 paired", dict(n_poison=10, epsilon=0.01, n_label_flips=10, paired=True)),
        ("unbounded", dict(n_poison=10, unbounded=True, clip_gamma=1.0)),
    ]
    print("ratio = interval-bound fit / nominal SGD (BLAS batch gradients);")
    print("ratio_ps = interval-bound fit / nominal SGD with per-sample gradients")
    print(
        f"{'model':<18} {'batch':>6} {'threat':<10} {'nominal s':>10} {'per-sample s':>12} "
        f"{'interval s':>10} {'ratio':>6} {'ratio_ps':>8}"
    )
    for name, model, kw, X, y in cases:
        for batch_size in (None, 128):
            for tname, tkw in threats:
                est = IntervalCertifier(
                    model,
                    domain="box",
                    lr=0.1 if batch_size is None else 0.02,
                    n_epochs=n_epochs,
                    batch_size=batch_size,
                    random_state=0,
                    **kw,
                    **tkw,
                )
                t_nom = _nominal_time(est, X, y, repeat)
                t_ps = _nominal_time(est, X, y, repeat, per_sample=True)
                t_int = _best_of(lambda est=est, X=X, y=y: est.fit(X, y), repeat)
                print(
                    f"{name:<18} {str(batch_size or 'full'):>6} {tname:<10} {t_nom:10.4f} "
                    f"{t_ps:12.4f} {t_int:10.4f} {t_int / t_nom:6.1f} {t_int / t_ps:8.1f}"
                    + (" *diverged" if est.bounds_diverged_ else "")
                )

    _zonotope_section(args.quick, repeat)
    _flip_cost_section(args.quick)

    # cost of bound="lp": certificates of a trained box, per test point.
    # The LP refines only rows the interval bounds leave undecided; training
    # itself always uses interval bounds (bound="lp" adds nothing to fit).
    print()
    print(
        f"{'LP certificates':<24} {'points':>6} {'interval s':>10} {'lp s':>8} "
        f"{'lp s/point':>10} {'worst int':>9} {'worst lp':>8} {'best int':>8} {'best lp':>7}"
    )
    for name, X, y, flips, n_test in [
        ("mlp(16,) moons", Xm, ym, 2, 20 if args.quick else 100),
        ("mlp(16,) digits 0-2", Xd[yd < 3], yd[yd < 3], 1, 10 if args.quick else 40),
    ]:
        common = dict(
            hidden_layer_sizes=(16,), lr=0.5, n_epochs=3, n_label_flips=flips, random_state=0
        )
        t0 = time.perf_counter()
        est_i = IntervalCertifier("mlp", **common).fit(X, y)
        t_fit = time.perf_counter() - t0
        est_l = IntervalCertifier("mlp", bound="lp", **common).fit(X, y)
        Xq, yq = X[:n_test], y[:n_test]
        t0 = time.perf_counter()
        ci = est_i.certified_accuracy(Xq, yq)
        t_i = time.perf_counter() - t0
        t0 = time.perf_counter()
        cl = est_l.certified_accuracy(Xq, yq)
        t_l = time.perf_counter() - t0
        print(
            f"{name:<24} {n_test:>6} {t_i:10.4f} {t_l:8.2f} {t_l / n_test:10.4f} "
            f"{ci[0]:9.3f} {cl[0]:8.3f} {ci[2]:8.3f} {cl[2]:7.3f}"
        )
        # were LP bounds used for the forward pass of every training sample,
        # one epoch would cost about this much (the reason they are not)
        per_epoch = t_l / n_test * len(y)
        print(
            f"  LP forward bounds for all {len(y)} training samples ~ {per_epoch:.0f} s per "
            f"epoch vs interval training {t_fit / common['n_epochs']:.4f} s per epoch"
        )


if __name__ == "__main__":
    main()
