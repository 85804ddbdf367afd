"""
Certified fine-tuning on frozen embeddings (digits)
===================================================

The paper's third setting: a network is pre-trained on trusted data, then
its last layer is fine-tuned on data that may be poisoned. Only the
fine-tuned layer is certified: the embedding is a fixed feature map, so the
certifier sees the embeddings as its inputs.

We pre-train a one-hidden-layer network on part of
:func:`~sklearn.datasets.load_digits`, wrap its hidden ReLU layer as a frozen
scikit-learn transformer, and fine-tune a softmax layer (initialised from the
pre-trained output layer, given to the certifier as a ``torch.nn.Sequential``)
on another part inside a :class:`~sklearn.pipeline.Pipeline`. We report the
certified accuracy on held-out digits against the number of poisoned
fine-tuning samples, for label flipping and for feature poisoning of the
embeddings within an l-infinity ball.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

from sklpoison import IntervalCertifier
from sklpoison.plotting import CertificationDisplay


class FrozenEmbedding(TransformerMixin, BaseEstimator):
    """Hidden ReLU layer of a pre-trained MLPClassifier as a fixed feature map.

    ``fit`` does not train anything: the network is frozen.
    """

    def __init__(self, network):
        self.network = network

    def fit(self, X, y=None):
        check_is_fitted(self.network)
        validate_data(self, X)
        return self

    def transform(self, X):
        X = validate_data(self, X, reset=False)
        W, b = self.network.coefs_[0], self.network.intercepts_[0]
        return np.maximum(X @ W + b, 0.0)


X, y = load_digits(return_X_y=True)
X = X / 16.0
X_pre, y_pre = X[:700], y[:700]  # trusted pre-training data
X_ft, y_ft = X[700:1400], y[700:1400]  # fine-tuning data (may be poisoned)
X_test, y_test = X[1400:], y[1400:]

pretrained = MLPClassifier(hidden_layer_sizes=(32,), max_iter=1000, random_state=0)
pretrained.fit(X_pre, y_pre)
print(f"pre-trained network, test accuracy: {pretrained.score(X_test, y_test):.3f}")

# the output layer, to be fine-tuned, as a torch module (float64 copy inside the certifier)
head = torch.nn.Sequential(torch.nn.Linear(32, 10))
with torch.no_grad():
    head[0].weight.copy_(torch.tensor(pretrained.coefs_[1].T))
    head[0].bias.copy_(torch.tensor(pretrained.intercepts_[1]))

pipe = Pipeline(
    [
        ("embed", FrozenEmbedding(pretrained)),
        ("head", IntervalCertifier(head, lr=0.1, n_epochs=5, random_state=0)),
    ]
).fit(X_ft, y_ft)
print(f"fine-tuned pipeline, test accuracy: {pipe.score(X_test, y_test):.3f}")

# %%
# Certified accuracy against the number of poisoned fine-tuning samples
# ---------------------------------------------------------------------
E_ft = pipe[:-1].transform(X_ft)
E_test = pipe[:-1].transform(X_test)
budgets = [0, 1, 2, 5, 10, 20, 50]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
flips = CertificationDisplay.from_estimator(
    pipe[-1],
    E_ft,
    y_ft,
    E_test,
    y_test,
    budgets=budgets,
    budget_param="n_label_flips",
    ax=axes[0],
)
axes[0].set_title("label flips")
feats = CertificationDisplay.from_estimator(
    pipe[-1],
    E_ft,
    y_ft,
    E_test,
    y_test,
    budgets=budgets,
    budget_param="n_poison",
    epsilons=[0.01, 0.05],
    ax=axes[1],
)
axes[1].set_title("embedding perturbations")
print("k poisoned fine-tuning samples:      ", budgets)
print("certified accuracy, label flips:     ", np.round(flips.worst[0], 3).tolist())
for eps, row in zip([0.01, 0.05], feats.worst):
    print(f"certified accuracy, epsilon = {eps}:  ", np.round(row, 3).tolist())
print("nominal accuracy:                    ", round(float(flips.nominal[0, 0]), 3))
plt.tight_layout()

# %%
# Certifying the fitted pipeline directly
# ---------------------------------------
# The last step of a fitted pipeline is an ordinary fitted certifier: pass it
# the embedded test inputs.
robust = Pipeline(
    [
        ("embed", FrozenEmbedding(pretrained)),
        ("head", IntervalCertifier(head, n_label_flips=5, lr=0.1, n_epochs=5, random_state=0)),
    ]
).fit(X_ft, y_ft)
worst, nominal, best = robust[-1].certified_accuracy(robust[:-1].transform(X_test), y_test)
print(f"5 label flips: certified {worst:.3f} <= nominal {nominal:.3f} <= best {best:.3f}")
