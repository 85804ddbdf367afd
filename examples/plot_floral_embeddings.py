"""
FLORAL on learned features
==========================

The FLORAL paper also applies its kernel SVM defence to the last-layer embeddings of a
neural network. Here a :class:`sklpoison.nn.GradRegNetClassifier` (skorch) with the
small CNN of :mod:`sklpoison.nn.models` is trained on the poisoned training labels; an
embedding step returns its penultimate-layer activations, and :class:`sklpoison.FloralSVC`
is fitted on them. Everything is one :class:`imblearn.pipeline.Pipeline`:

``ALFALabelFlipper`` (training folds only) → ``PenultimateEmbedding`` (the
CNN, trained on the poisoned labels) → ``StandardScaler`` → ``FloralSVC``.

Data: the 8x8 digits 1 vs 7 (the small analogue of the paper's MNIST-1vs7), 3 seeds.
The FloralSVC settings are fixed in advance (no selection), and the run takes well under
a minute.
"""

# %%
import numpy as np
import torch
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from sklpoison import ALFALabelFlipper, FloralSVC
from sklpoison.datasets import load_digits_images
from sklpoison.nn import GradRegNetClassifier
from sklpoison.nn.models import SmallCNN

torch.set_num_threads(1)


class PenultimateEmbedding(TransformerMixin, BaseEstimator):
    """Train a skorch classifier, then embed inputs with the input of its last Linear layer."""

    def __init__(self, net):
        self.net = net

    def fit(self, X, y):
        self.net_ = clone(self.net).fit(X, y)
        return self

    def transform(self, X):
        check_is_fitted(self, "net_")
        module = self.net_.module_
        last = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]
        captured = []
        handle = last.register_forward_hook(lambda mod, inp, out: captured.append(inp[0]))
        try:
            self.net_.predict_proba(X)  # runs the module batch by batch in eval mode
        finally:
            handle.remove()
        return torch.cat(captured).detach().cpu().numpy().astype(np.float64)


X, y = load_digits_images(return_X_y=True, flat=True, dtype=np.float32)
keep = np.isin(y, [1, 7])
X, y = X[keep], np.where(y[keep] == 7, 1, -1)


def make_net(seed):
    return GradRegNetClassifier(
        SmallCNN,
        image_shape=(1, 8, 8),
        module__channels=(8, 16),
        module__hidden=32,
        max_epochs=15,
        lr=0.01,
        random_state=seed,
    )


def pipeline(seed, budget, head):
    return Pipeline(
        [
            ("poison", ALFALabelFlipper(poison_rate=budget, gamma=1.0 / 64)),
            ("embed", PenultimateEmbedding(make_net(seed))),
            ("scale", StandardScaler()),
            ("head", head),
        ]
    )


# %%
# Clean-test accuracy under ALFA (computed on the raw pixels)
# -----------------------------------------------------------
heads = {
    "CNN alone": None,
    "embedding + SVC": lambda s: SVC(C=10, gamma=1.0 / 32),
    "embedding + FloralSVC": lambda s: FloralSVC(
        gamma=1.0 / 32, lr=1e-3, poison_rate=0.05, average=True, random_state=s
    ),
}
scores = {}
for budget in (0.1, 0.25):
    for seed in range(3):
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.5, random_state=seed, stratify=y
        )
        for name, head in heads.items():
            if head is None:
                model = Pipeline(
                    [
                        ("poison", ALFALabelFlipper(poison_rate=budget, gamma=1 / 64)),
                        ("net", make_net(seed)),
                    ]
                )
            else:
                model = pipeline(seed, budget, head(seed))
            scores.setdefault((budget, name), []).append(model.fit(X_tr, y_tr).score(X_te, y_te))

print("digits 1 vs 7, ALFA on the training labels: clean-test accuracy, mean ± std (3 seeds)")
print(f"{'flips':>6s}" + "".join(f"{n:>24s}" for n in heads))
for budget in (0.1, 0.25):
    row = f"{budget:>6.0%}"
    for name in heads:
        row += f"{np.mean(scores[budget, name]):>17.3f} ± {np.std(scores[budget, name]):.3f}"
    print(row)
