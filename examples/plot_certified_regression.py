"""
Certified bounds on the test MSE of a poisoned regression (diabetes)
====================================================================

For regression, :class:`~sklpoison.IntervalCertifierRegressor` bounds every reachable
prediction by an interval, hence the test mean squared error of *every* model
that a poisoning inside the threat model could produce:
``certified_mse`` returns ``(worst, nominal, best)``, ``worst`` an upper bound
and ``best`` a lower bound on that MSE.

We train on :func:`~sklearn.datasets.load_diabetes` (features and target
standardised) by full-batch gradient descent and let ``k`` training targets
move by up to ``label_epsilon`` (in target standard deviations), or ``k`` rows
move inside an l-infinity ball of radius ``epsilon``.

For linear regression the clean part of each step is affine in the
parameters, so the certifier propagates a zonotope (exact under the step)
instead of a box and bounds the poisoning's contribution in closed form; the
bounds then grow only linearly with the number of steps. A ReLU network uses
plain interval bounds, whose over-approximation compounds: it is certified
for a few large steps.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklpoison import IntervalCertifierRegressor
from sklpoison.plotting import CertificationDisplay

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
mu, sd = y_train.mean(), y_train.std()
y_train, y_test = (y_train - mu) / sd, (y_test - mu) / sd

budgets = [0, 1, 2, 5, 10, 20]

# %%
# Linear regression: moved targets and moved features
# ---------------------------------------------------
fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
linear = IntervalCertifierRegressor(
    "linear", lr=0.1, n_epochs=50, label_epsilon=0.5, random_state=0
)
labels = CertificationDisplay.from_estimator(
    linear,
    X_train,
    y_train,
    X_test,
    y_test,
    budgets=budgets,
    budget_param="n_label_flips",
    ax=ax,
    name="k targets moved by 0.5 sd",
)
print("linear regression, 50 full-batch steps, test MSE (standardised target)")
print("k poisoned samples:            ", budgets)
print("targets moved by 0.5 sd, upper:", np.round(labels.worst[0], 3).tolist())
print("                        lower: ", np.round(labels.best[0], 3).tolist())
feats = CertificationDisplay.from_estimator(
    linear.set_params(label_epsilon=0.0),
    X_train,
    y_train,
    X_test,
    y_test,
    budgets=budgets,
    budget_param="n_poison",
    epsilons=[0.05],
    ax=ax,
    name="k features moved",
)
print("features moved by 0.05, upper: ", np.round(feats.worst[0], 3).tolist())
print("nominal MSE:                   ", round(float(labels.nominal[0, 0]), 3))
ax.set_title("linear regression")
ax.set_xlabel("k poisoned samples")
ax.set_yscale("log")

# %%
# ReLU network: a few large steps
# -------------------------------
fig, ax = plt.subplots(figsize=(5, 3.8), layout="constrained")
mlp = IntervalCertifierRegressor(
    "mlp",
    hidden_layer_sizes=(16,),
    lr=0.2,
    n_epochs=5,
    label_epsilon=0.1,
    random_state=0,
)
net = CertificationDisplay.from_estimator(
    mlp,
    X_train,
    y_train,
    X_test,
    y_test,
    budgets=budgets[:5],
    budget_param="n_label_flips",
    ax=ax,
)
print("MLP(16), 5 steps, targets moved by 0.1 sd, k =", budgets[:5])
print("  MSE upper bound:", np.round(net.worst[0], 3).tolist())
print("  MSE lower bound:", np.round(net.best[0], 3).tolist())
print("  nominal MSE:    ", round(float(net.nominal[0, 0]), 3))
ax.set_title("MLP(16), label_epsilon = 0.1")
ax.set_yscale("log")

# %%
# At ``k = 0`` the three numbers coincide (the parameter set has zero width).
# The gap between the bounds widens with the budget and the perturbation
# size; the lower bound reaches zero once the reachable predictions straddle
# the targets.
