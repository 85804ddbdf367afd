"""
====================================================================
Safety-efficacy trade-off of a small CNN under an L-trigger backdoor
====================================================================

Granziol et al. (2026) defend against dirty-label backdoors with an
input-gradient penalty: the training loss of the network becomes

.. math::

    \\frac{1}{n}\\sum_i \\ell_i + \\frac{\\kappa}{2}\\,\\frac{1}{n}\\sum_i
    \\lVert \\nabla_{x_i} \\ell_i \\rVert^2 ,

which contracts the input-space curvature that a clustered poison creates, at
a price in clean accuracy (the *safety-efficacy trade-off*). They also report
that data augmentation and the penalty act jointly.

Here we reproduce the experiment in miniature on scikit-learn's embedded 8x8
digits with the small CNN of Lu et al. (two 3x3 convolutions, two fully
connected layers) trained for a few epochs on CPU:

1. an L-shaped 3-pixel trigger stamped on 5 % of the training digits, relabelled
   as ``0`` (θ = 0.05);
2. a :class:`~sklearn.model_selection.GridSearchCV` over κ and over
   augmentation (off, or random crops with one pixel of padding), scored with
   clean accuracy and attack success;
3. the trade-off plot and the κ chosen by
   :func:`sklpoison.model_selection.select_kappa`.

Poisoning happens inside an :class:`imblearn.pipeline.Pipeline`, so only the
training folds are poisoned; every score is measured on clean held-out digits
(with the trigger stamped for the attack success rate).
"""

# %%
# The sweep
# ---------
# Horizontal flips are not label-preserving for digits (a flipped 2 is not a
# 2), so we augment with random crops only (``augment="crop"``);
# ``augment=True`` adds flips for natural images such as CIFAR-10.
import time

import matplotlib.pyplot as plt
import numpy as np
from imblearn.pipeline import make_pipeline
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sklpoison import PoisonTransformer
from sklpoison.datasets import load_digits_images
from sklpoison.metrics import neg_asr_scorer
from sklpoison.model_selection import select_kappa, tradeoff_table
from sklpoison.nn import GradRegNetClassifier
from sklpoison.nn.models import SmallCNN
from sklpoison.plotting import SafetyEfficacyDisplay

X, y = load_digits_images(return_X_y=True)  # (1797, 1, 8, 8) float32 in [0, 1]

pipe = make_pipeline(
    PoisonTransformer(poison_rate=0.05, target_class=0, trigger_size=3, random_state=0),
    GradRegNetClassifier(SmallCNN, max_epochs=10, lr=3e-3, batch_size=64, random_state=0),
)
grid = {
    "poisontransformer__poison_rate": [0.05],
    "gradregnetclassifier__kappa": [0.0, 0.5, 1.0, 2.0, 3.0, 5.0],
    "gradregnetclassifier__augment": [False, "crop"],
}
search = GridSearchCV(
    pipe,
    grid,
    scoring={"clean_accuracy": "accuracy", "neg_asr": neg_asr_scorer},
    refit=False,
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
    n_jobs=1,
)
start = time.perf_counter()
search.fit(X, y)
print(f"{len(search.cv_results_['params']) * 3} fits in {time.perf_counter() - start:.0f} s")

# %%
# The table
# ---------
# One table per augmentation setting (θ = 0.05 throughout).
res = search.cv_results_
augment = np.array([str(a) for a in res["param_gradregnetclassifier__augment"]])


def subset(cv_results, mask):
    """The rows of cv_results_ selected by a boolean mask."""
    return {
        k: (v[mask] if isinstance(v, np.ndarray) else [e for e, m in zip(v, mask) if m])
        for k, v in cv_results.items()
    }


for name in ("False", "crop"):
    part = subset(res, augment == name)
    print(f"\naugment={name}")
    table = tradeoff_table(part)
    print(f"{'poison_rate':>11} {'kappa':>6} {'clean accuracy':>15} {'attack success':>15}")
    for row in zip(table.poison_rate, table.kappa, table.clean_accuracy, table.asr, strict=True):
        print("{:>11.3g} {:>6.3g} {:>15.3f} {:>15.3f}".format(*row))
    try:
        choice = select_kappa(part, min_clean_accuracy=0.9)
        print(
            f"best kappa with clean accuracy >= 0.9: {choice.kappa:g} "
            f"(attack success {choice.asr:.3f}, clean accuracy {choice.clean_accuracy:.3f})"
        )
    except ValueError as exc:
        print(exc)

# %%
# The trade-off plot
# ------------------
# Each point is one κ; the dashed staircase marks the points that no other
# point of the same panel beats in both clean accuracy and attack success.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
for ax, name in zip(axes, ("False", "crop")):
    SafetyEfficacyDisplay.from_cv_results(subset(res, augment == name), ax=ax)
    ax.set_title(f"SmallCNN on digits, θ = 0.05, augment={name}")
fig.tight_layout()
plt.show()

# %%
# What we measured
# ----------------
# On this machine (10 epochs, 3-fold CV; 36 fits in about 4 minutes on one
# loaded CPU core) the backdoor is learnt without any defence: attack success
# 0.98 at clean accuracy 0.97. Without augmentation, small κ does **not**
# remove it: attack success stays at 0.99-1.0 up to κ = 3 while clean accuracy
# falls to 0.85; only κ = 5 lowers it (0.82 ± 0.17), at a clean accuracy of
# 0.70. With random crops the picture changes: at κ = 0 attack success is 0.92
# (clean accuracy 0.92), κ = 0.5 brings it to 0.64 at the same clean accuracy
# (0.92) and κ = 1 to 0.48 at 0.82. Augmentation and the penalty act jointly,
# and together reach points of the trade-off the penalty alone does not, as
# the paper reports. Larger κ underfits towards predicting the target class,
# where "attack success" rises again trivially (0.93 at κ = 5, clean accuracy
# 0.33). The numbers vary with the seed and the number of epochs (the fold
# standard deviations are large on 1200 training digits); the printed table is
# the measurement.
