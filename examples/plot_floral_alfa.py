"""
FLORAL against ALFA on fresh moons and on digits 1-vs-7
=======================================================

The protocol of :ref:`the Moon example <sphx_glr_auto_examples_plot_floral_moon.py>` on
data we poison ourselves with :class:`sklpoison.ALFALabelFlipper`, the
alternating LP/QP label-flip attack of Xiao, Xiao and Eckert (2012) against an RBF SVM:

- fresh ``make_moons(2000, noise=0.2)`` draws (one per seed), split 500 / 500 / 1000 into
  train / validation / test like the paper's Moon data, standardised on the training part;
- the 8x8 digits 1 and 7 (:func:`sklpoison.datasets.load_digits_images`), the small
  analogue of the paper's MNIST-1vs7, split 50 / 25 / 25 % per seed.

Only the training labels are attacked (5, 10 and 25 % flips). FloralSVC settings (step
size, flips per round) are picked on the validation part, per seed and budget; the
baselines use the paper's ``C=10`` and the same kernel width. To keep the run to a couple
of minutes we use 5 seeds and a small selection grid.
"""

# %%
import itertools
import time

import numpy as np
from imblearn.pipeline import make_pipeline
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sklpoison import LNSVC, ALFALabelFlipper, FloralSVC, KNNLabelSanitizer
from sklpoison.datasets import load_digits_images

BUDGETS = [0.05, 0.10, 0.25]
SEEDS = range(5)
GRID = {"lr": [1e-4, 1e-3, 3e-3], "poison_rate": [0.05, 0.1]}


def select(X, y, X_val, y_val, gamma, **fixed):
    best, best_score = None, -np.inf
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values), gamma=gamma, random_state=0, **fixed)
        score = FloralSVC(**params).fit(X, y).score(X_val, y_val)
        if score > best_score:
            best, best_score = params, score
    return best


def evaluate(split, gamma, seed, budget):
    """Attack the training labels with ALFA, fit every method, return test accuracies."""
    X, y, X_val, y_val, X_test, y_test = split
    flipper = ALFALabelFlipper(poison_rate=budget, C=1.0, gamma=gamma)
    _, y_att = flipper.fit_resample(X, y)
    models = {
        "FloralSVC": FloralSVC(**select(X, y_att, X_val, y_val, gamma)),
        "FloralSVC (averaged)": FloralSVC(**select(X, y_att, X_val, y_val, gamma, average=True)),
        "SVC": SVC(C=10, gamma=gamma),
        "LNSVC": LNSVC(mu=0.05, C=10, gamma=gamma),
        "kNN-sanitised SVC": make_pipeline(KNNLabelSanitizer(), SVC(C=10, gamma=gamma)),
    }
    out = {}
    for name, model in models.items():
        if "random_state" in model.get_params():
            model.set_params(random_state=seed)
        out[name] = model.fit(X, y_att).score(X_test, y_test)
    out["SVC on clean labels"] = SVC(C=10, gamma=gamma).fit(X, y).score(X_test, y_test)
    return out


def table(title, splits, gamma_of):
    t0 = time.perf_counter()
    scores = {}
    for budget in BUDGETS:
        for seed in SEEDS:
            split = splits(seed)
            for name, acc in evaluate(split, gamma_of(split), seed, budget).items():
                scores.setdefault((budget, name), []).append(acc)
    names = list(dict.fromkeys(name for _, name in scores))
    print(f"{title}: clean-test accuracy, mean ± std over {len(SEEDS)} seeds")
    header = f"{'ALFA flips':>10s}" + "".join(f"{n:>22s}" for n in names)
    print(header)
    print("-" * len(header))
    for budget in BUDGETS:
        row = f"{budget:>10.0%}"
        for name in names:
            accs = scores[budget, name]
            row += f"{np.mean(accs):>15.3f} ± {np.std(accs):.3f}"
        print(row)
    print(f"({time.perf_counter() - t0:.0f} s)\n")
    return scores


# %%
# Fresh moons attacked by ALFA
# ----------------------------
def moons_split(seed):
    X, y = make_moons(2000, noise=0.2, random_state=seed)
    y = 2 * y - 1
    X, X_rest, y, y_rest = train_test_split(X, y, train_size=500, random_state=seed, stratify=y)
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, train_size=500, random_state=seed, stratify=y_rest
    )
    scaler = StandardScaler().fit(X)
    return (scaler.transform(X), y, scaler.transform(X_val), y_val, scaler.transform(X_test),
            y_test)  # fmt: skip


moons_scores = table("make_moons(2000, noise=0.2)", moons_split, lambda split: 0.5)

# %%
# Digits 1 vs 7
# -------------
# The kernel width is scikit-learn's ``gamma="scale"`` value on the training part,
# ``1 / (n_features * X.var())``.
X_digits, y_digits = load_digits_images(return_X_y=True, flat=True, dtype=np.float64)
keep = np.isin(y_digits, [1, 7])
X_digits, y_digits = X_digits[keep], np.where(y_digits[keep] == 7, 1, -1)


def digits_split(seed):
    X, X_rest, y, y_rest = train_test_split(
        X_digits, y_digits, train_size=0.5, random_state=seed, stratify=y_digits
    )
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, train_size=0.5, random_state=seed, stratify=y_rest
    )
    return X, y, X_val, y_val, X_test, y_test


digits_scores = table(
    "digits 1 vs 7", digits_split, lambda split: 1.0 / (split[0].shape[1] * split[0].var())
)
