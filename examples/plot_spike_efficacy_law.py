"""
The spike-efficacy law: curvature grows as the square of the efficacy
=====================================================================

Granziol (2026) shows that ``m`` clustered dirty-label poisons at a point
``zeta`` change a kernel model's prediction at a trigger point ``x0`` by the
*efficacy* ``Delta f(x0)``, and add to the input Hessian at ``x0`` a rank-one
Gauss-Newton spike ``Lambda_GN(x0) = ||grad_x Delta f(x0)||^2``. For kernel
ridge regression the two are tied by

``Lambda_GN(x0) = R_k(x0, zeta) * Delta f(x0)^2``,

with ``R_k`` independent of ``m``: on a log-log plot of the spike against the
efficacy, the poisons of every budget ``m`` lie on a line of slope 2.

We fit :class:`~sklpoison.GradRegKRR` on a two-class 2-D problem with and
without ``m`` poisons (:func:`sklpoison.theory.measure_spike_efficacy`),
compare with the closed form (:func:`sklpoison.theory.spike_efficacy_law`) and
print the fitted slopes, also for jittered poisons and for the
gradient-regularised model (``kappa > 0``), where the law is not exact.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from sklpoison import GradRegKRR
from sklpoison.theory import measure_spike_efficacy, spike_efficacy_law

rng = np.random.RandomState(0)
X = rng.randn(200, 2)
y = np.sign(X[:, 0] + 0.3 * X[:, 1])  # labels +-1

zeta = np.array([2.5, 2.5])  # the poison cluster, at the edge of the +1 class
x0 = zeta + np.array([[0.6, 0.0]])  # the trigger point
target = -1.0  # dirty label
ms = np.unique(np.geomspace(1, 256, 12).astype(int))
params = {"alpha": 5.0, "gamma": 0.5}  # length scale 1

# %%
# Measured (refits) and predicted (closed form), identical poisons, ``kappa = 0``.
res = measure_spike_efficacy(GradRegKRR(**params), X, y, x0, zeta, ms, poison_label=target)
law = spike_efficacy_law(res.clean, x0, zeta, ms, poison_label=target)
print(f"{'m':>4} {'Delta f':>10} {'law':>10} {'Lambda_GN':>11} {'law':>11} {'S(m)':>7}")
for i, m in enumerate(ms):
    print(
        f"{m:>4} {res.efficacy[i, 0]:>10.4f} {law.efficacy[i, 0]:>10.4f} "
        f"{res.curvature[i, 0]:>11.5f} {law.curvature[i, 0]:>11.5f} {law.gain[i]:>7.3f}"
    )
far_field = 4 * params["gamma"] ** 2 * np.sum((x0[0] - zeta) ** 2)
print(f"R_k(x0, zeta) = {law.ratio[0]:.4f}")
print(f"far-field value 4 gamma^2 ||x0 - zeta||^2 = {far_field:.4f}")
print(f"log-log slope of Lambda_GN against |Delta f| (kappa = 0): {res.slope[0]:.4f}")

# %%
# The same experiment with jittered poisons and with the gradient penalty.
variants = {
    "kappa=0, spread=0.01": ({"kappa": 0.0}, 0.01),
    "kappa=0, spread=0.05": ({"kappa": 0.0}, 0.05),
    "kappa=0.01": ({"kappa": 0.01}, 0.0),
    "kappa=0.1": ({"kappa": 0.1}, 0.0),
}
results = {"kappa=0 (exact)": res}
for name, (extra, spread) in variants.items():
    results[name] = measure_spike_efficacy(
        GradRegKRR(**params, **extra),
        X,
        y,
        x0,
        zeta,
        ms,
        poison_label=target,
        spread=spread,
        random_state=0,
    )
print(f"{'model':>22} {'slope':>7} {'Delta f at m=1':>15} {'at m=256':>9}")
for name, r in results.items():
    print(f"{name:>22} {r.slope[0]:>7.3f} {r.efficacy[0, 0]:>15.4f} {r.efficacy[-1, 0]:>9.4f}")

# %%
fig, ax = plt.subplots(figsize=(5, 4))
for name, r in results.items():
    ax.loglog(np.abs(r.efficacy[:, 0]), r.curvature[:, 0], "o-", ms=3, label=name)
e = np.abs(law.efficacy[:, 0])
ax.loglog(e, law.ratio[0] * e**2, "k--", lw=1, label="slope 2 (closed form)")
ax.set_xlabel(r"efficacy $|\Delta f(x_0)|$")
ax.set_ylabel(r"Gauss-Newton spike $\Lambda_{GN}(x_0)$")
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()
