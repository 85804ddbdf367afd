"""
FLORAL against its baselines with honest model selection
========================================================

A reproduction of the FLORAL paper's comparison, shown here and not run by the gallery
(about 5 minutes on one core).

Every number is a clean-test accuracy; every choice (round, step size, C, gamma) is made on
validation data, never on the test data. Data:

- the paper's Moon sheets shipped in :func:`sklpoison.datasets.load_floral_moon`
  (``train_adv_5/10/25``: 5/10/25% of the 500 training labels flipped by the authors'
  attack; ``train_adv_*_lfa``: by LFA; ``validation`` (500 clean rows) for selection;
  ``test`` (1000 rows));
- digits 1 vs 7 (:func:`sklearn.datasets.load_digits`, pixels / 16), split 50/25/25 into
  train / validation / test (stratified, seed 0), 10% and 25% of the training labels flipped
  by ALFA (``ALFALabelFlipper``, RBF SVC with C=1) or at random.

Methods (FLORAL over seeds 0, 1, 2; the SVC baselines are deterministic):

- ``FLORAL paper``: ``FloralSVC()`` (lr=1e-4, 500 rounds, k=5%, C=10, gamma=0.5), last round;
- ``FLORAL ES``: ``FloralSVC(lr="auto", early_stopping=True)``, round chosen on validation;
- ``FLORAL ES 1e-4``: the paper's step with the round chosen on validation;
- ``SVC``: ``SVC(C=10, gamma=0.5)``; ``SVC tuned``: C, gamma chosen on validation;
- ``FLORAL tuned``: lr, C, gamma chosen on validation, rounds by early stopping;
- ``ES no attacker``: ``FLORAL ES`` with ``poison_rate=0`` (early-stopped projected gradient
  descent on the SVM dual, the game's ablation);
- ``LN-SVM``: ``LNSVC(mu=0.05, C=10, gamma=0.5)``; ``kNN-san``: ``KNNLabelSanitizer()`` then
  ``SVC(C=10, gamma=0.5)``.

On digits, gamma=0.5 is replaced by gamma_d = 1 / (64 * Var(X)) (scikit-learn's "scale").

A second table drops the clean validation data: FLORAL early-stops on a stratified 20% of the
poisoned training rows (``validation_fraction=0.2``) and the SVC is tuned by 5-fold CV on the
poisoned training data (``GridSearchCV``, same grid).

Usage::

    python examples/reproduce_floral_fidelity.py                  # both tables, about 5 minutes
    python examples/reproduce_floral_fidelity.py --internal-only  # the second table only
"""

import argparse
import itertools
import time

import numpy as np
from imblearn.pipeline import make_pipeline
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.svm import SVC

from sklpoison import LNSVC, ALFALabelFlipper, FloralSVC, KNNLabelSanitizer, RandomLabelFlipper
from sklpoison.datasets import load_floral_moon

SEEDS = (0, 1, 2)


def datasets():
    Xv, yv = load_floral_moon("validation", return_X_y=True)
    Xt, yt = load_floral_moon("test", return_X_y=True)
    sheets = ("train_adv_5", "train_adv_10", "train_adv_25")
    for sheet in (*sheets, *(f"{s}_lfa" for s in sheets)):
        X, y = load_floral_moon(sheet, return_X_y=True)
        yield f"moon {sheet}", (X, y, Xv, yv, Xt, yt), 0.5
    d = load_digits()
    keep = np.isin(d.target, (1, 7))
    X, y = d.data[keep] / 16.0, d.target[keep]
    Xtr, Xrest, ytr, yrest = train_test_split(X, y, train_size=0.5, stratify=y, random_state=0)
    Xv, Xt, yv, yt = train_test_split(Xrest, yrest, train_size=0.5, stratify=yrest, random_state=0)
    gamma_d = 1.0 / (X.shape[1] * Xtr.var())
    for strategy, frac in itertools.product(("alfa", "random"), (0.1, 0.25)):
        if strategy == "alfa":
            flipper = ALFALabelFlipper(poison_rate=frac, C=1.0, gamma=gamma_d)
        else:
            flipper = RandomLabelFlipper(poison_rate=frac, random_state=0)
        Xp, yp = flipper.fit_resample(Xtr, ytr)
        yield f"digits 1v7 {strategy} {int(frac * 100)}%", (Xp, yp, Xv, yv, Xt, yt), gamma_d


def tuned_svc(X, y, Xv, yv, g0):
    best = max(
        (SVC(C=C, gamma=g * g0).fit(X, y).score(Xv, yv), -C, -g, C, g)
        for C in (0.1, 1, 10, 100)
        for g in (0.2, 1, 2, 4, 10)
    )
    return SVC(C=best[3], gamma=best[4] * g0).fit(X, y)


def tuned_floral(X, y, Xv, yv, g0, seed):
    fits = []
    for lr, C, g in itertools.product((1e-4, 1e-3, "auto"), (1, 10), (1, 2, 4)):
        m = FloralSVC(lr=lr, C=C, gamma=g * g0, early_stopping=True, random_state=seed)
        m.fit(X, y, X_val=Xv, y_val=yv)
        fits.append((m.validation_scores_[m.best_round_], -m.validation_losses_[m.best_round_], m))
    return max(fits, key=lambda f: f[:2])[2]


def internal_split_table():
    """Without clean validation data: held-out poisoned rows / CV on the poisoned data."""
    Xt, yt = load_floral_moon("test", return_X_y=True)
    sheets = ("train_adv_5", "train_adv_10", "train_adv_25")
    print("\nwithout clean validation data (FLORAL: seeds 0, 1, 2)")
    print(f"{'sheet':18s} {'FLORAL ES, 20% held out':>24s} {'SVC, 5-fold CV':>15s}")
    for sheet in (*sheets, *(f"{s}_lfa" for s in sheets)):
        X, y = load_floral_moon(sheet, return_X_y=True)
        acc = [
            FloralSVC(lr="auto", early_stopping=True, validation_fraction=0.2, random_state=s)
            .fit(X, y)
            .score(Xt, yt)
            for s in SEEDS
        ]
        grid = {"C": [0.1, 1, 10, 100], "gamma": [0.1, 0.5, 1, 2, 5]}
        svc = GridSearchCV(SVC(), grid, cv=5).fit(X, y)
        print(f"{sheet:18s} {np.mean(acc):>18.3f}±{np.std(acc):.3f} {svc.score(Xt, yt):>15.3f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--internal-only", action="store_true")
    if parser.parse_args().internal_only:
        internal_split_table()
        return
    start = time.perf_counter()
    rows = []
    for name, (X, y, Xv, yv, Xt, yt), g0 in datasets():
        res = {}
        floral = {"FLORAL paper": [], "FLORAL ES": [], "FLORAL ES 1e-4": [], "FLORAL tuned": []}
        best_rounds = []
        for s in SEEDS:
            floral["FLORAL paper"].append(
                FloralSVC(gamma=g0, random_state=s).fit(X, y).score(Xt, yt)
            )
            es = FloralSVC(gamma=g0, lr="auto", early_stopping=True, random_state=s)
            floral["FLORAL ES"].append(es.fit(X, y, X_val=Xv, y_val=yv).score(Xt, yt))
            best_rounds.append(es.best_round_)
            es4 = FloralSVC(gamma=g0, early_stopping=True, random_state=s)
            floral["FLORAL ES 1e-4"].append(es4.fit(X, y, X_val=Xv, y_val=yv).score(Xt, yt))
            floral["FLORAL tuned"].append(tuned_floral(X, y, Xv, yv, g0, s).score(Xt, yt))
        for k, v in floral.items():
            res[k] = (np.mean(v), np.std(v))
        no_attacker = FloralSVC(gamma=g0, lr="auto", early_stopping=True, poison_rate=0)
        res["ES no attacker"] = (no_attacker.fit(X, y, X_val=Xv, y_val=yv).score(Xt, yt), 0.0)
        res["SVC"] = (SVC(C=10, gamma=g0).fit(X, y).score(Xt, yt), 0.0)
        res["SVC tuned"] = (tuned_svc(X, y, Xv, yv, g0).score(Xt, yt), 0.0)
        res["LN-SVM"] = (LNSVC(mu=0.05, C=10, gamma=g0).fit(X, y).score(Xt, yt), 0.0)
        knn = make_pipeline(KNNLabelSanitizer(), SVC(C=10, gamma=g0))
        res["kNN-san"] = (knn.fit(X, y).score(Xt, yt), 0.0)
        rows.append((name, res, best_rounds))
        print(
            f"{name}: done ({time.perf_counter() - start:.0f} s); ES best rounds {best_rounds}",
            flush=True,
        )
    cols = list(rows[0][1])
    print("\nclean-test accuracy (FLORAL: mean ± std over seeds 0, 1, 2)")
    print(f"{'data':28s}" + "".join(f"{c:>16s}" for c in cols))
    for name, res, _ in rows:
        print(
            f"{name:28s}"
            + "".join(
                f"{res[c][0]:>10.3f}±{res[c][1]:.3f}"
                if c.startswith("FLORAL")
                else f"{res[c][0]:>16.3f}"
                for c in cols
            )
        )
    internal_split_table()
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
