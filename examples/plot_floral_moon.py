"""
FLORAL on the paper's poisoned Moon data
========================================

Bal, Cevher and Muehlebach (ICLR 2025) train kernel SVMs on two-moons data whose training
labels were flipped by an attack (5%, 10% and 25% of the 500 training points, by their
attack and by LFA), and compare clean-test accuracy. We replay that protocol on the
paper's own sheets, embedded in :func:`sklpoison.datasets.load_floral_moon`:

- :class:`sklpoison.FloralSVC`, with its settings (step size, flips per round, kernel
  width) picked on the ``validation`` sheet, never on ``test``;
- ``SVC(C=10, gamma=0.5)``, the paper's vanilla SVM;
- :class:`sklpoison.LNSVC`, the label-noise robust kernel (``mu=0.05`` as in the authors'
  baseline);
- :class:`sklpoison.KNNLabelSanitizer` (20 neighbours, share 0.75) before the SVC, in an
  imbalanced-learn pipeline.

FloralSVC is randomised (the attacker), so it is run with 5 seeds; the baselines are
deterministic (their standard deviation is 0).
"""

# %%
import itertools
import time

import numpy as np
from imblearn.pipeline import make_pipeline
from sklearn.svm import SVC

from sklpoison import LNSVC, FloralSVC, KNNLabelSanitizer
from sklpoison.datasets import load_floral_moon

SHEETS = [
    "train_adv_5",
    "train_adv_10",
    "train_adv_25",
    "train_adv_5_lfa",
    "train_adv_10_lfa",
    "train_adv_25_lfa",
]
SEEDS = range(5)
X_val, y_val = load_floral_moon("validation", return_X_y=True)
X_test, y_test = load_floral_moon("test", return_X_y=True)
_, y_clean = load_floral_moon("train", return_X_y=True)

# %%
# Model selection on the validation sheet
# ---------------------------------------
# The paper runs 500 rounds with a step of 1e-4, 5% flips per round and the top 2k
# support vectors as candidates. We keep 500 rounds and ``candidate_factor=2`` and pick
# the step size, the flips per round and the kernel width per training sheet by mean
# validation accuracy over two seeds that are not used for the evaluation.
GRID = {
    "lr": [1e-4, 1e-3, 3e-3],
    "poison_rate": [0.05, 0.1, 0.25],
    "gamma": [0.5, 1.0],
}


def select(X, y, **fixed):
    best, best_score = None, -np.inf
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values), **fixed)
        score = np.mean(
            [
                FloralSVC(random_state=100 + s, **params).fit(X, y).score(X_val, y_val)
                for s in range(2)
            ]
        )
        if score > best_score:
            best, best_score = params, score
    return best


t0 = time.perf_counter()
selected, selected_avg = {}, {}
for sheet in SHEETS:
    X, y = load_floral_moon(sheet, return_X_y=True)
    selected[sheet] = select(X, y)
    selected_avg[sheet] = select(X, y, average=True)
    print(f"{sheet:18s} selected {selected[sheet]}, with averaging {selected_avg[sheet]}")
print(f"selection took {time.perf_counter() - t0:.0f} s")

# %%
# Clean-test accuracy, 5 seeds
# ----------------------------
# Besides the selected FloralSVC (the paper's algorithm: the classifier of the last
# round) we report: the same with iterate averaging (``average=True``, selected
# separately), the paper's settings as they are (``FloralSVC()``: lr=1e-4, k=5%,
# gamma=0.5) and, as ablations, the paper's settings and the selected settings without
# attacker (``poison_rate=0``: plain projected gradient descent on the SVM dual, stopped
# after 500 rounds).


def methods(sheet):
    sel = selected[sheet]
    return {
        "FloralSVC (selected)": lambda s: FloralSVC(random_state=s, **sel),
        "FloralSVC (averaged)": lambda s: FloralSVC(random_state=s, **selected_avg[sheet]),
        "FloralSVC (paper)": lambda s: FloralSVC(random_state=s),
        "paper, no attacker": lambda s: FloralSVC(poison_rate=0),
        "same, no attacker": lambda s: FloralSVC(random_state=s, **{**sel, "poison_rate": 0}),
        "SVC": lambda s: SVC(C=10, gamma=0.5),
        "LNSVC": lambda s: LNSVC(mu=0.05, C=10, gamma=0.5),
        "kNN-sanitised SVC": lambda s: make_pipeline(KNNLabelSanitizer(), SVC(C=10, gamma=0.5)),
    }


results = {}
sanitised = {}
for sheet in SHEETS:
    X, y = load_floral_moon(sheet, return_X_y=True)
    poisoned = y != y_clean
    for name, make in methods(sheet).items():
        accs = []
        for seed in SEEDS:
            model = make(seed).fit(X, y)
            accs.append(model.score(X_test, y_test))
            if name == "FloralSVC (selected)":
                # the paper's sanitisation reading: the attacker keeps flipping the
                # influential points, which on poisoned data are mostly the poisoned ones
                top = np.argsort(-model.flip_counts_, kind="stable")[: poisoned.sum()]
                sanitised.setdefault(sheet, []).append(poisoned[top].mean())
        results[sheet, name] = (np.mean(accs), np.std(accs))

names = list(methods(SHEETS[0]))
header = f"{'training sheet':18s}" + "".join(f"{n:>22s}" for n in names)
print("clean-test accuracy, mean ± std over 5 seeds")
print(header)
print("-" * len(header))
for sheet in SHEETS:
    row = f"{sheet:18s}"
    for name in names:
        m, s = results[sheet, name]
        row += f"{m:>15.3f} ± {s:.3f}"
    print(row)
print()
for sheet in SHEETS:
    print(
        f"{sheet:18s} share of poisoned points among the most-flipped "
        f"{int((load_floral_moon(sheet, return_X_y=True)[1] != y_clean).sum())}: "
        f"{np.mean(sanitised[sheet]):.2f}"
    )

# %%
# What we find
# ------------
# - With the paper's settings (lr=1e-4, 500 rounds) the dual variables stay around
#   0.06, far below ``C = 10`` (``lr`` times the largest eigenvalue of the kernel matrix
#   is 0.017 here, so 500 steps are far from convergence): FLORAL is then a heavily
#   early-stopped SVM, close to a kernel mean classifier, and the attacker's random flips
#   of the top-``2k`` support vectors add label noise every round (the returned
#   classifier uses the last round's flipped labels). At 5% and 10% poisoning this loses
#   to the SVC, which is already near its clean accuracy (0.967). With the paper's
#   settings the attacker hardly matters: "FloralSVC (paper)" and "paper, no attacker"
#   are within about one point of each other on every sheet.
# - The no-attacker ablation shows the attacker costs accuracy at low poisoning: the
#   early-stopped SVM alone is as good as the SVC there.
# - At 25% poisoning FLORAL helps: the poisoned points sit deep in the other class, get
#   the largest dual variables, and are flipped (that is, restored) by the attacker in
#   most rounds, so the model effectively trains on partly sanitised labels. Selected on
#   validation, it beats the SVC, LNSVC and k-NN sanitisation there.
# - The projection is not the issue: the fixed-point iteration and the exact QP agree to
#   1e-6 (see the tests), and the whole fit is identical with ``projection="exact"``.

# %%
# Test accuracy along the rounds
# ------------------------------
# The attacker's random draws in round ``t`` do not depend on ``n_rounds``, so fits with
# fewer rounds replay the beginning of the same game. With the paper's settings the test
# accuracy at 25% poisoning peaks early and then declines: the best round, picked on
# ``test``, looks much better than the returned classifier. (The authors' plotting script
# prints both the last round's mean and the maximum over rounds of the seed-averaged test
# accuracy.) We report the last round; the rounds are not tuned here.
ROUNDS = [50, 100, 200, 300, 400, 500]
print("FloralSVC (paper settings): test accuracy after t rounds, mean over 5 seeds")
print(f"{'training sheet':18s}" + "".join(f"{t:>8d}" for t in ROUNDS))
for sheet in SHEETS[:3]:
    X, y = load_floral_moon(sheet, return_X_y=True)
    row = []
    for t in ROUNDS:
        accs = [
            FloralSVC(n_rounds=t, random_state=s).fit(X, y).score(X_test, y_test) for s in SEEDS
        ]
        row.append(np.mean(accs))
    print(f"{sheet:18s}" + "".join(f"{a:>8.3f}" for a in row))

# %%
# A picture
# ---------
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for ax, sheets, title in (
    (axes[0], SHEETS[:3], "paper's attack"),
    (axes[1], SHEETS[3:], "LFA"),
):
    budgets = [5, 10, 25]
    for name in names:
        means = [results[s, name][0] for s in sheets]
        stds = [results[s, name][1] for s in sheets]
        ax.errorbar(budgets, means, yerr=stds, marker="o", label=name, capsize=3)
    ax.set_xlabel("poisoned labels (%)")
    ax.set_title(title)
axes[0].set_ylabel("clean test accuracy")
axes[1].legend(fontsize=7)
fig.tight_layout()

# %%
# Choosing the round on validation data
# -------------------------------------
# ``early_stopping=True`` scores the classifier of every round on the clean ``validation``
# sheet and returns the best round (``best_round_``). Fitting once more with the *test*
# sheet in the validation slot replays the same game (the attacker's draws do not depend on
# the validation data) and gives the test accuracy of every round, for the picture only:
# nothing above or below is selected on ``test``. With the paper's step (left) the curves
# are smooth and the best round (chosen on validation) is a little above the SVC (dotted).
# With ``lr="auto"`` (right) every round is a full gradient step against fresh random flips
# of the largest dual variables (on this sheet mostly the poisoned points, whose labels the
# flips restore), and the accuracy jumps between 0.33 and 0.89 from round to round: the
# returned classifier is the best of 500 very different candidates, found with 500 clean
# validation rows. Validation and test accuracy move together, so the choice is honest, but
# it needs that clean validation set (see the user guide: with a held-out part of the
# poisoned training data instead, FLORAL loses to a cross-validated SVC).
X, y = load_floral_moon("train_adv_25", return_X_y=True)
svc_acc = SVC(C=10, gamma=0.5).fit(X, y).score(X_test, y_test)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for ax, lr in zip(axes, (1e-4, "auto")):
    kw = dict(lr=lr, early_stopping=True, random_state=0)
    clf = FloralSVC(**kw).fit(X, y, X_val=X_val, y_val=y_val)
    curve = FloralSVC(**kw).fit(X, y, X_val=X_test, y_val=y_test).validation_scores_
    ax.plot(clf.validation_scores_, label="validation accuracy", lw=1)
    ax.plot(curve, label="test accuracy (same game)", lw=1)
    ax.axvline(clf.best_round_, color="k", ls="--", lw=1, label="round chosen on validation")
    ax.axhline(svc_acc, color="grey", ls=":", lw=1, label="SVC(C=10, gamma=0.5), test")
    ax.set_xlabel("round")
    ax.set_title(
        f"lr={lr!r}: round {clf.best_round_}, test {clf.score(X_test, y_test):.3f}", fontsize=10
    )
axes[0].set_ylabel("accuracy")
axes[0].legend(fontsize=7, loc="lower right")
fig.suptitle("FloralSVC on train_adv_25 (seed 0)", fontsize=10)
fig.tight_layout()
