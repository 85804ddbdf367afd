"""
=====================================================================
The poisonability phase transition of logistic regression (Lu et al.)
=====================================================================

Lu, Kamath and Yu (2023) show that a target logistic-regression model
:math:`w` can be reached by retraining on clean :math:`\\cup` poisoned data only
if the relative number of poisons :math:`\\varepsilon_d` exceeds

.. math:: \\tau = \\langle w, g(\\mu)\\rangle / W(1/e),

with :math:`g(\\mu)` the mean clean gradient at :math:`w` and :math:`W` Lambert's
function (their equation 20). Without an intercept and with unconstrained
features the condition is also sufficient (Corollary 2), and the Gradient
Canceling attack (:class:`sklpoison.GradientCanceling`) finds the poisons.

We reproduce the two synthetic experiments of the paper: the OR data of its
Figure 1 and a 10-dimensional ``make_classification`` problem of its Figure 2.
For targets with (near) zero accuracy, we sweep :math:`\\varepsilon_d` around
:math:`\\tau`, retrain on clean :math:`\\cup` poison and print the retrained
accuracy, the relative distance of the retrained model to the target and the
final norm of the gradient over the mixed data :math:`\\|g(\\chi)\\|`.
"""

# %%
# Setup
# -----
# The victim is a logistic regression without intercept and without penalty,
# the setting in which :math:`\tau` is necessary *and* sufficient.
import numpy as np
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from sklpoison import GradientCanceling, poisonability_threshold
from sklpoison.datasets import make_or

victim = LogisticRegression(fit_intercept=False, C=np.inf)
FACTORS = (0.25, 0.5, 0.75, 0.9, 1.1, 1.5, 2.0)


def with_coef(model, coef):
    """A fitted copy of ``model`` carrying other coefficients."""
    target = clone(model).fit(X, y)
    target.coef_ = np.atleast_2d(np.asarray(coef, dtype=float))
    return target


def sweep(X, y, target, factors=FACTORS, max_iter=1000):
    """GC at poison_rate = factor * tau; returns rows of the table."""
    tau = poisonability_threshold(target, X, y).tau
    w = target.coef_.ravel()
    rows = []
    for f in factors:
        gc = GradientCanceling(
            victim, target=target, poison_rate=f * tau, max_iter=max_iter, lr=0.01, random_state=0
        )
        X_res, y_res = gc.fit_resample(X, y)
        retrained = clone(victim).fit(X_res, y_res)
        dist = np.linalg.norm(retrained.coef_.ravel() - w) / np.linalg.norm(w)
        rows.append((f * tau, f, retrained.score(X, y), dist, gc.gradient_norm_history_[-1]))
    return tau, rows


def print_table(title, tau, target_acc, rows):
    print(f"\n{title}: tau = {tau:.3f}, target accuracy = {target_acc:.3f}")
    print(
        f"{'eps_d':>8} {'eps_d/tau':>9} {'retrained acc':>13} {'|w_re-w|/|w|':>12} "
        f"{'||g(chi)||':>11}"
    )
    for eps, f, acc, dist, gnorm in rows:
        print(f"{eps:8.3f} {f:9.2f} {acc:13.3f} {dist:12.3f} {gnorm:11.2e}")


# %%
# The OR data (Figure 1)
# ----------------------
# Four points repeated 50 times with Gaussian noise. The clean model separates
# them; every target with two negative weights labels the three positive
# corners negative (accuracy 0 on them; the noisy (0, 0) corner sits on the
# boundary, so the accuracy is about 0.125).
X, y = make_or(50, random_state=0)
clean = clone(victim).fit(X, y)
print(f"clean model {clean.coef_.ravel().round(2)}, accuracy {clean.score(X, y):.3f}")

# the heat map of Figure 1 (left): tau over a grid of zero-accuracy targets
grid = np.linspace(-2.0, -0.25, 8)
tau_grid = np.array(
    [[poisonability_threshold(None, X, y, coef=[[w1, w2]]).tau for w1 in grid] for w2 in grid]
)
print("\ntau on a grid of targets (rows w2, columns w1):")
print("w2\\w1 " + " ".join(f"{w1:6.2f}" for w1 in grid))
for w2, row in zip(grid, tau_grid):
    print(f"{w2:5.2f} " + " ".join(f"{t:6.2f}" for t in row))

or_results = {}
for w in ([-0.5, -1.0], [-1.0, -1.0], [-2.0, -1.0]):
    target = with_coef(victim, w)
    tau, rows = sweep(X, y, target)
    or_results[tuple(w)] = (tau, rows)
    print_table(f"OR data, target w = {w}", tau, target.score(X, y), rows)

# %%
# Below :math:`\tau` the mixed gradient stalls at a clearly non-zero value and
# retraining lands elsewhere; just above :math:`\tau` it collapses by orders
# of magnitude and retraining returns the target.
#
# A 10-dimensional Gaussian problem (Figure 2)
# --------------------------------------------
# ``make_classification(1000, 10)``; the targets are the negated clean model
# (accuracy = 1 - clean accuracy) at two scales: a smaller scale is a less
# confident model with a smaller :math:`\tau` (Appendix C.8).
X, y = make_classification(1000, 10, random_state=0)
clean = clone(victim).fit(X, y)
print(f"\nclean accuracy {clean.score(X, y):.3f}")
gauss_results = {}
for scale in (0.5, 0.25):
    target = with_coef(victim, -scale * clean.coef_)
    tau, rows = sweep(X, y, target, factors=(0.5, 0.9, 1.1, 2.0))
    gauss_results[scale] = (tau, rows)
    print_table(f"make_classification, target = -{scale} * w_clean", tau, target.score(X, y), rows)

# %%
# Plots
# -----
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
im = axes[0].imshow(tau_grid, origin="lower", extent=[grid[0], grid[-1], grid[0], grid[-1]])
axes[0].set(xlabel="$w_1$", ylabel="$w_2$", title=r"OR: $\tau$ of zero-accuracy targets")
fig.colorbar(im, ax=axes[0])
for w, (_tau, rows) in or_results.items():
    f = [r[1] for r in rows]
    axes[1].semilogy(f, [r[4] for r in rows], "o-", label=f"w={list(w)}")
    axes[2].plot(f, [r[3] for r in rows], "o-", label=f"w={list(w)}")
for scale, (_tau, rows) in gauss_results.items():
    f = [r[1] for r in rows]
    axes[1].semilogy(f, [r[4] for r in rows], "s--", label=f"Gaussian, -{scale}w")
    axes[2].plot(f, [r[3] for r in rows], "s--", label=f"Gaussian, -{scale}w")
for ax in axes[1:]:
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel(r"$\varepsilon_d / \tau$")
axes[1].set(ylabel=r"$\|g(\chi)\|$ after GC", title="gradient over the mixed data")
axes[2].set(ylabel=r"$\|w_{re} - w\| / \|w\|$", title="retrained vs target")
axes[2].legend(fontsize=7)
fig.tight_layout()
plt.show()
