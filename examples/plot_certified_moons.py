"""
Certified accuracy against the number of poisoned samples (half-moons MLP)
==========================================================================

:class:`~sklpoison.IntervalCertifier` trains a small ReLU network by full-batch
gradient descent and, alongside it, propagates a box of parameters that
contains every network that any poisoning of at most ``k`` training samples
could produce (Sosnin et al., 2024). A test prediction is *certified* when
every network in the box agrees; the certified accuracy is a lower bound on
the accuracy of every poisoned model.

As in the paper's half-moons experiment, we train for a few full-batch steps
and plot the certified accuracy against the budget ``k`` for

* label flipping (``n_label_flips = k``), and
* feature poisoning: ``k`` samples moved anywhere inside an l-infinity ball of
  radius ``epsilon`` (``n_poison = k``), for two radii, and
* the unbounded adversary (``k`` samples replaced by anything; gradients
  clipped to ``clip_gamma``).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.preprocessing import StandardScaler

from sklpoison import IntervalCertifier
from sklpoison.plotting import CertificationDisplay

X, y = make_moons(1200, noise=0.1, random_state=0)
X = StandardScaler().fit_transform(X)
X_train, y_train, X_test, y_test = X[:1000], y[:1000], X[1000:], y[1000:]

base = IntervalCertifier(
    "mlp", hidden_layer_sizes=(16,), lr=1.0, n_epochs=3, batch_size=None, random_state=0
)
budgets = [0, 1, 2, 5, 10, 20, 50]

# %%
# Label flipping
# --------------
fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
flips = CertificationDisplay.from_estimator(
    base,
    X_train,
    y_train,
    X_test,
    y_test,
    budgets=budgets,
    budget_param="n_label_flips",
    ax=ax,
)
ax.set_title("label flips")
print("k (label flips):       ", budgets)
print("certified accuracy:    ", np.round(flips.worst[0], 3).tolist())
print("nominal accuracy:      ", np.round(flips.nominal[0], 3).tolist())
print("best-case bound:       ", np.round(flips.best[0], 3).tolist())

# %%
# Feature poisoning inside an epsilon ball
# ----------------------------------------
fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
feats = CertificationDisplay.from_estimator(
    base,
    X_train,
    y_train,
    X_test,
    y_test,
    budgets=budgets,
    budget_param="n_poison",
    epsilons=[0.01, 0.1],
    ax=ax,
)
ax.set_title("feature poisoning")
for eps, row in zip([0.01, 0.1], feats.worst):
    print(f"certified accuracy, n_poison = k, epsilon = {eps}:", np.round(row, 3).tolist())

# %%
# Unbounded adversary with gradient clipping
# ------------------------------------------
fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
unbounded = CertificationDisplay.from_estimator(
    base.set_params(unbounded=True, clip_gamma=0.5),
    X_train,
    y_train,
    X_test,
    y_test,
    budgets=budgets,
    budget_param="n_poison",
    ax=ax,
)
ax.set_title("unbounded (clip 0.5)")
print("certified accuracy, unbounded:", np.round(unbounded.worst[0], 3).tolist())

# %%
# The certified accuracy equals the nominal accuracy at ``k = 0`` (the box
# has zero width) and decreases with ``k`` and ``epsilon``: each poisoned
# sample may push every gradient coordinate by its most extreme amount at
# every step, and interval arithmetic compounds these over the training
# steps, which is why the method is used with few, large steps.
