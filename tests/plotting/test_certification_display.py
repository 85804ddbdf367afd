"""CertificationDisplay with both kinds of certificate: a certifier's and a certified defence's."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from sklpoison import IntervalCertifier, PartitionAggregationClassifier
from sklpoison.plotting import CertificationDisplay


@pytest.fixture
def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt


def _digits(n_train=300, n_test=60):
    X, y = load_digits(return_X_y=True)
    keep = y < 3
    X, y = X[keep] / 16.0, y[keep]
    return X[:n_train], y[:n_train], X[n_train : n_train + n_test], y[n_train : n_train + n_test]


def test_both_kinds_of_curve_on_one_axes(plt):
    import matplotlib

    X, y, Xt, yt = _digits()
    budgets = [0, 1, 2, 5]
    fig, ax = plt.subplots()
    cert = IntervalCertifier("logistic", lr=0.3, n_epochs=4, random_state=0)
    first = CertificationDisplay.from_estimator(
        cert, X, y, Xt, yt, budgets=budgets, ax=ax, name="IntervalCertifier (label flips)"
    )
    dpa = PartitionAggregationClassifier(LogisticRegression(max_iter=300), n_partitions=10)
    second = CertificationDisplay.from_estimator(
        dpa, X, y, Xt, yt, budgets=budgets, ax=ax, name="DPA"
    )
    # the defence's curve is its certified_accuracy, from one fit
    worst, nominal, best = dpa.fit(X, y).certified_accuracy(Xt, yt, budgets)
    assert_allclose(second.worst[0], worst)
    assert_allclose(second.best[0], best)
    assert second.nominal == nominal
    assert second.ax_ is ax and first.ax_ is ax
    assert ax.get_xlabel() == "k (poisoned training rows)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "IntervalCertifier (label flips)",
        "DPA",
        "certified (lower bound)",
        "best case (upper bound)",
        "nominal",
    ]
    # each display's nominal accuracy in its own colour (a black line would be ambiguous)
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--" and len(ln.get_xdata())]
    colors = {matplotlib.colors.to_hex(ln.get_color()) for ln in dashed}
    assert colors == {
        matplotlib.colors.to_hex(first.lines_[0].get_color()),
        matplotlib.colors.to_hex(second.lines_[0].get_color()),
    }


def test_defence_rejects_feature_perturbation_options(plt):
    X, y, Xt, yt = _digits(90, 20)
    dpa = PartitionAggregationClassifier(LogisticRegression(max_iter=300), n_partitions=3)
    with pytest.raises(ValueError, match="epsilons and test_epsilon do not apply"):
        CertificationDisplay.from_estimator(dpa, X, y, Xt, yt, epsilons=[0.1])
    disp = CertificationDisplay.from_estimator(dpa, X, y, Xt, yt, budgets=np.arange(3))
    assert np.all(np.diff(disp.worst[0]) <= 0)
    legend = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert legend == ["certified (lower bound)", "best case (upper bound)", "nominal"]
