"""Tests of sklpoison.defences.Sever (gradient-outlier removal)."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression

from sklpoison import Sever
from tests._skorch_nets import small_net


def test_sever_removes_planted_outliers():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    X[:20] = rng.normal(loc=[6.0, 6.0, 0.0], scale=0.3, size=(20, 3))
    y[:20] = 0  # far on the positive side, labelled negative
    sever = Sever(removal_fraction=0.1, n_iter=3, random_state=0).fit(X, y)
    assert sever.outlier_mask_.sum() == 30
    assert sever.outlier_mask_[:20].mean() >= 0.95
    plain = LogisticRegression().fit(X, y)
    Xt = rng.normal(size=(500, 3))
    yt = (Xt[:, 0] + 0.5 * Xt[:, 1] > 0).astype(int)
    assert sever.score(Xt, yt) > plain.score(Xt, yt)
    assert sever.scores_.shape == (300,)


def test_sever_never_removes_a_whole_class():
    # a class of one row has the largest gradient; removing it would leave classes_ with 10
    # labels but predict_proba with 9 columns
    from sklearn.datasets import load_digits
    from sklearn.metrics import log_loss

    X, y = load_digits(return_X_y=True)
    X = X / 16
    rare = np.flatnonzero(y == 9)
    keep = np.setdiff1d(np.arange(len(y)), rare[1:])[:400]
    X, y = X[keep], y[keep]
    assert np.sum(y == 9) == 1
    sever = Sever(LogisticRegression(max_iter=500), removal_fraction=0.2, n_iter=2)
    sever.fit(X, y)
    assert sever.outlier_mask_.sum() == round(0.2 * len(y))
    assert not sever.outlier_mask_[y == 9].any()
    assert_array_equal(sever.estimator_.classes_, sever.classes_)
    proba = sever.predict_proba(X)
    assert proba.shape == (len(y), 10)
    assert np.isfinite(log_loss(y, proba, labels=sever.classes_))


def test_sever_removal_keeps_one_row_per_class():
    from sklpoison.defences._sever import _highest_keeping_each_class

    rng = np.random.RandomState(0)
    for _ in range(50):
        n = rng.randint(1, 30)
        codes = rng.randint(0, 4, size=n)
        scores = rng.permutation(n).astype(float)
        rows = np.sort(rng.choice(100, size=n, replace=False))
        target = rng.randint(0, n + 1)
        drop = _highest_keeping_each_class(rows, scores, codes, target)
        # reference: greedy by decreasing score, skipping a class's last kept row
        left = np.bincount(codes, minlength=4)
        expected = []
        for i in np.argsort(-scores, kind="stable"):
            if len(expected) < target and left[codes[i]] > 1:
                expected.append(rows[i])
                left[codes[i]] -= 1
        assert_array_equal(drop, expected)


def test_sever_warns_when_classes_cap_the_removals():
    X = np.array([[0.0], [0.1], [1.0], [1.1], [2.0], [2.1]])
    y = np.array([0, 0, 1, 1, 2, 2])
    with pytest.warns(UserWarning, match=r"removed 3 rows instead of .* = 5") as record:
        sever = Sever(removal_fraction=0.9, n_iter=2, random_state=0).fit(X, y)
    assert record[0].filename == __file__  # points at the caller's line
    assert sever.outlier_mask_.sum() == 3
    assert_array_equal(np.unique(y[~sever.outlier_mask_]), [0, 1, 2])


def test_sever_on_a_skorch_net():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    X[:8] = [5.0, 5.0]
    y[:8] = 0
    sever = Sever(small_net(epochs=10), removal_fraction=0.1, n_iter=2, random_state=0).fit(X, y)
    assert sever.outlier_mask_.sum() == 12
    assert sever.outlier_mask_[:8].mean() >= 0.75
    assert sever.predict(X).shape == (120,)
