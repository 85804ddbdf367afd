"""A backdoored digits MLP shared by the detection tests (trained once per session)."""

import numpy as np
import pytest

from sklpoison import PoisonTransformer
from sklpoison.datasets import load_digits_images


def make_poisoner(rate, **params):
    """PoisonTransformer at a poison rate, whatever the rate parameter is called."""
    name = "poison_rate" if "poison_rate" in PoisonTransformer().get_params() else "theta"
    return PoisonTransformer(**{name: rate}, **params)


@pytest.fixture(scope="session")
def backdoored_mlp():
    """5% dirty-label L-trigger poisons into class 0 of 1300 digits; an MLP (64,) on them.

    Returns a dict: ``X``, ``y`` (the poisoned training set), ``mask`` (its poisons),
    ``net``, ``poisoner`` and ``X_test``, ``y_test`` (the 497 held-out clean digits).
    """
    pytest.importorskip("skorch")
    nn = pytest.importorskip("sklpoison.nn")
    import torch

    X, y = load_digits_images(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))
    X, y = X[order], y[order]
    poisoner = make_poisoner(0.05, target_class=0, random_state=0)
    Xp, yp = poisoner.fit_resample(X[:1300], y[:1300])
    mask = np.zeros(len(Xp), dtype=bool)
    mask[poisoner.changed_indices_] = True
    torch.manual_seed(0)
    net = nn.GradRegNetClassifier(
        nn.models.MLP, module__hidden_sizes=(64,), max_epochs=30, random_state=0
    ).fit(Xp, yp)
    return dict(X=Xp, y=yp, mask=mask, net=net, poisoner=poisoner, X_test=X[1300:], y_test=y[1300:])
