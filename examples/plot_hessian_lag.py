"""
=======================================================================
Attack success versus spectral visibility of a backdoor (input Hessian)
=======================================================================

Granziol et al. (2026) link the efficacy of a clustered dirty-label poison to
the curvature it leaves in *input space*: the input Hessian of the loss gets a
rank-one spike aligned with the trigger, growing like the square of the
attack's efficacy, except in a *near-clone* regime where the poison is as
effective but the curvature vanishes. Here we measure this on scikit-learn's
digits with :class:`sklpoison.HessianSpectrumDetector`:

1. a small CNN trained on digits poisoned with an L trigger at rates
   ``poison_rate`` in {0, 0.005, 0.01, 0.02, 0.05}: attack success, the top
   eigenvalue of the mean input Hessian on triggered inputs (against clean
   inputs) and the best overlap between its top-5 eigenvectors and the
   trigger;
2. kernel ridge regression (:class:`sklpoison.GradRegKRRClassifier`) with RBF
   kernels of decreasing width, where the poisons become near clones of the
   triggered inputs relative to the kernel length scale;
3. the detector as a detector: ROC AUC of its per-sample scores separating
   triggered from clean test inputs, beside the spectral-signature baseline
   of Tran et al. (2018), :class:`sklpoison.SpectralSignatureDetector`.
"""

# %%
# Data and trigger
# ----------------
# Digits are 8x8 images in [0, 1]; the trigger is a bright 3-pixel L in the
# bottom-right corner and the target class is 0.
import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from sklpoison import (
    GradRegKRRClassifier,
    HessianSpectrumDetector,
    PoisonTransformer,
    SpectralSignatureDetector,
)
from sklpoison.datasets import load_digits_images
from sklpoison.metrics import attack_success_rate

torch.set_num_threads(1)
X, y = load_digits_images(return_X_y=True)
order = np.random.RandomState(0).permutation(len(X))
X, y = X[order], y[order]
X_train, y_train, X_test, y_test = X[:1300], y[:1300], X[1300:], y[1300:]
TARGET = 0
clean_test = X_test[y_test != TARGET]


def make_cnn():
    """A small CNN as a scikit-learn classifier (sklpoison.nn when available)."""
    try:
        from sklpoison.nn import GradRegNetClassifier
        from sklpoison.nn.models import SmallCNN
    except ImportError:  # pragma: no cover - fallback: a plain skorch net
        from skorch import NeuralNetClassifier

        torch.manual_seed(0)
        module = torch.nn.Sequential(
            torch.nn.Conv2d(1, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(256, 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 10),
        )
        return NeuralNetClassifier(
            module,
            criterion=torch.nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=0.003,
            max_epochs=15,
            batch_size=64,
            train_split=None,
            verbose=0,
        )
    return GradRegNetClassifier(SmallCNN, lr=0.003, max_epochs=15, batch_size=64, random_state=0)


def auc(detector, clean, triggered):
    """ROC AUC of the detector's suspiciousness (−score_samples), triggered = positive."""
    labels = np.r_[np.zeros(len(clean)), np.ones(len(triggered))]
    return roc_auc_score(labels, -detector.score_samples(np.r_[clean, triggered]))


# %%
# A small CNN: attack success against curvature
# ---------------------------------------------
# For every poisoning rate we train the CNN on the poisoned training set, then
# fit one detector on triggered test inputs and one on the same inputs without
# the trigger (labels: the model's predictions). ``lam1`` is the top eigenvalue
# of the mean input Hessian (10 Lanczos steps, as in the paper), ``overlap`` the
# best absolute cosine between the top-5 eigenvectors and the trigger mask (and the index
# of that eigenvector), and the AUCs compare per-sample curvature scores with the
# spectral-signature scores of penultimate features (detector fitted on the
# poisoned training set, as Tran et al. do).
rows, cnn_models = [], {}
for poison_rate in [0.0, 0.005, 0.01, 0.02, 0.05]:
    poisoner = PoisonTransformer(poison_rate=poison_rate, target_class=TARGET, random_state=0)
    X_pois, y_pois = poisoner.fit_resample(X_train, y_train)
    net = make_cnn().fit(X_pois, y_pois)
    triggered = poisoner.apply_trigger(clean_test)
    hess_trig = HessianSpectrumDetector(net, random_state=0).fit(triggered)
    hess_clean = HessianSpectrumDetector(net, random_state=0).fit(clean_test)
    best = hess_trig.overlap(poisoner.trigger_mask_)
    signature = SpectralSignatureDetector(net).fit(X_pois, y_pois)
    if poison_rate > 0:
        is_poison = np.isin(np.arange(len(X_pois)), poisoner.changed_indices_)
        auc_train = roc_auc_score(is_poison, -signature.score_samples(X_pois, y_pois))
    else:
        auc_train = np.nan
    rows.append(
        (
            poison_rate,
            net.score(X_test, y_test),
            attack_success_rate(net, X_test, y_test, poisoner=poisoner),
            hess_trig.eigenvalues_[0],
            hess_clean.eigenvalues_[0],
            best.max,
            best.argmax,
            hess_clean.overlap(poisoner.trigger_mask_).max,
            auc(hess_trig, clean_test, triggered),
            auc(signature, clean_test, triggered),
            auc_train,
        )
    )
    cnn_models[poison_rate] = (hess_trig, poisoner)

print(
    f"{'poison_rate':>6} {'clean acc':>9} {'ASR':>6} {'lam1 trig':>9} {'lam1 clean':>10} "
    f"{'overlap':>10} {'ovl clean':>9} {'AUC Hess':>8} {'AUC SS':>7} {'AUC SS train':>12}"
)
for r in rows:
    auc_train = "--" if np.isnan(r[10]) else f"{r[10]:.3f}"  # no poisons at theta = 0
    print(
        f"{r[0]:6.3f} {r[1]:9.3f} {r[2]:6.3f} {r[3]:9.3f} {r[4]:10.3f} "
        f"{r[5]:6.3f} (v{r[6] + 1}) {r[7]:9.3f} {r[8]:8.3f} {r[9]:7.3f} {auc_train:>12}"
    )

# %%
# The eigenvectors next to the trigger
# ------------------------------------
# At ``poison_rate = 0.01`` the top eigenvector of the input Hessian on triggered
# inputs concentrates on the trigger's pixels.
import matplotlib.pyplot as plt  # noqa: E402

from sklpoison.plotting import SpectrumDisplay  # noqa: E402

detector, poisoner = cnn_models[0.01]
SpectrumDisplay.from_detector(detector, poisoner.trigger_mask_)
plt.show()

# %%
# Kernel ridge regression: the near-clone regime
# ----------------------------------------------
# For an RBF kernel ``exp(-gamma ||x - x'||^2)`` (length scale
# ``l = 1 / sqrt(2 gamma)``) the poison-induced Gauss-Newton spike at a
# triggered input ``x0`` is ``||grad_x Delta f(x0)||^2``, about
# ``4 gamma^2 ||x0 - zeta||^2 Delta f^2``: when the poisons ``zeta`` are near
# clones of ``x0`` on the kernel's scale (``r / l`` small), the attack is fully
# effective (``Delta f`` of order one) yet the spike vanishes. ``r`` is the
# median distance from a triggered test input to its nearest poison. We use the
# Gauss-Newton part (the spike's carrier) of the input Hessian of the squared loss.
X_flat_train = X_train.reshape(len(X_train), -1).astype(np.float64)
X_flat_test = X_test.reshape(len(X_test), -1).astype(np.float64)
clean_flat = X_flat_test[y_test != TARGET]
krr_rows = []
for gamma in [0.005, 0.02, 0.05, 0.2]:
    for poison_rate in [0.01, 0.05]:
        poisoner = PoisonTransformer(
            poison_rate=poison_rate, target_class=TARGET, image_shape=(8, 8), random_state=0
        )
        X_pois, y_pois = poisoner.fit_resample(X_flat_train, y_train)
        krr = GradRegKRRClassifier(alpha=0.1, gamma=gamma).fit(X_pois, y_pois)
        triggered = poisoner.apply_trigger(clean_flat)
        kw = dict(curvature="gauss_newton", image_shape=(8, 8), random_state=0)
        hess_trig = HessianSpectrumDetector(krr, **kw).fit(triggered)
        hess_clean = HessianSpectrumDetector(krr, **kw).fit(clean_flat)
        poisons = X_pois[poisoner.changed_indices_]
        d2 = (triggered**2).sum(1)[:, None] - 2 * triggered @ poisons.T + (poisons**2).sum(1)
        r = float(np.median(np.sqrt(np.maximum(d2.min(axis=1), 0))))
        krr_rows.append(
            (
                gamma,
                poison_rate,
                r * np.sqrt(2 * gamma),
                krr.score(X_flat_test, y_test),
                attack_success_rate(krr, X_flat_test, y_test, poisoner=poisoner),
                hess_trig.eigenvalues_[0] / hess_clean.eigenvalues_[0],
                hess_trig.overlap(poisoner.trigger_mask_).max,
                auc(hess_trig, clean_flat, triggered),
            )
        )

print(
    f"{'gamma':>6} {'poison_rate':>6} {'r/l':>5} {'clean acc':>9} {'ASR':>6} "
    f"{'lam1 trig/clean':>15} {'overlap':>7} {'AUC Hess':>8}"
)
for r in krr_rows:
    print(
        f"{r[0]:6.3f} {r[1]:6.3f} {r[2]:5.2f} {r[3]:9.3f} {r[4]:6.3f} {r[5]:15.3f} "
        f"{r[6]:7.3f} {r[7]:8.3f}"
    )

# %%
# What we measured
# ----------------
# Numbers from one run of this script (torch CPU, seeds fixed, sklpoison.nn
# shuffling training batches; they move by a few hundredths between torch
# versions and with any change to the training loop):
#
# ====== ===== ========= ========== ============ ======== ====== ============
# θ      ASR   lam1 trig lam1 clean overlap      AUC Hess AUC SS AUC SS train
# ====== ===== ========= ========== ============ ======== ====== ============
# 0      0.000 5.81      1.35       0.41 (v1)    0.68     0.58   --
# 0.005  0.374 6.92      1.39       0.63 (v1)    0.85     0.64   0.81
# 0.01   0.863 6.02      1.62       0.76 (v1)    0.77     0.70   0.86
# 0.02   0.985 2.83      1.78       0.69 (v1)    0.46     0.70   0.69
# 0.05   1.000 1.09      1.54       0.77 (v1)    0.40     0.69   0.71
# ====== ===== ========= ========== ============ ======== ====== ============
#
# - Curvature is not a monotone witness of the attack. While the backdoor is
#   being learnt (ASR 0.37-0.86 at poison_rate = 0.005-0.01) the triggered inputs are
#   markedly more curved than clean ones (6.9 vs 1.4, 6.0 vs 1.6) and the top
#   eigenvector turns towards the trigger (overlap 0.41 -> 0.63 -> 0.76). Once the
#   backdoor saturates (ASR 0.985-1.0 at poison_rate = 0.02-0.05) the spike falls back
#   to, then *below*, the clean level (2.8 vs 1.8, then 1.1 vs 1.5): triggered
#   inputs are classified with confidence, the softmax curvature
#   diag(p) - ppᵀ collapses, and the attack becomes spectrally invisible in
#   magnitude, as the paper's near-clone argument (neural collapse of triggered
#   features onto the target class) predicts. The top eigenvector stays
#   trigger-aligned (overlap 0.69-0.77, v1) when the eigenvalue no longer stands
#   out: direction outlasts magnitude.
# - Even an unpoisoned CNN has higher curvature on triggered inputs (5.8 vs 1.4,
#   overlap 0.41): a bright corner L is off the data distribution. A detector
#   must be calibrated against this baseline, not against zero.
# - As a per-input detector, the top input-Hessian eigenvalue separates
#   triggered from clean inputs best at low poisoning rates (AUC 0.85 at
#   poison_rate = 0.005, where the spectral signature reaches 0.64) and fails at
#   saturation (0.46 and 0.40: triggered inputs are *flatter*), where the
#   spectral signature of penultimate features holds at about 0.70. The two are
#   complementary.
# - Kernel ridge regression shows the near-clone regime cleanly: with a wide
#   RBF kernel (gamma = 0.005, r/l = 0.16) the attack succeeds on 99.6% of the
#   inputs while the top Gauss-Newton eigenvalue on triggered inputs is *no
#   larger* than on clean ones (ratio 0.97, AUC 0.32). As the kernel narrows
#   (gamma = 0.2, r/l ~ 1) the same attack leaves a visible spike (ratio 1.44,
#   overlap 0.89, AUC 0.65). The curvature spike therefore tracks r/l, not the
#   attack's success, as Corollary 3.7 of the paper states.
