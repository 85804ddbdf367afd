"""Tests of sklpoison/detection/_spectral.py: the standardised scores and extreme inputs."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score

from sklpoison import SpectralSignatureDetector


def test_standardised_scores_are_robust_z_of_the_projection():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 5))
    y = np.repeat([0, 1], 100)
    X[y == 1] *= 10.0
    det = SpectralSignatureDetector().fit(X, y)
    raw = SpectralSignatureDetector(standardize=False).fit(X, y)
    assert_allclose(det.signatures_, raw.signatures_)
    for c in (0, 1):
        Xc = X[y == c]
        p = (Xc - np.median(Xc, axis=0)) @ det.signatures_[c]
        med = np.median(p)
        z = np.abs(p - med) / (1.4826 * np.median(np.abs(p - med)))
        assert_allclose(det.reference_scores_[y == c], z, rtol=1e-10)
    assert det.threshold_ == 3.5
    # one class 10 times wider: raw squared projections rank it first, z-scores do not
    assert np.mean(raw.reference_scores_[y == 1] > np.median(raw.reference_scores_)) > 0.85
    above = det.reference_scores_ > np.median(det.reference_scores_)
    assert abs(np.mean(above[y == 1]) - 0.5) < 0.1


def test_a_large_poisoned_share_is_ranked_first_when_standardised():
    # a third of the class shifted: the class mean sits between the groups, and the
    # squared projection from it ranks the clean majority about as high as the poisons
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 8))
    poison = np.arange(300) < 100
    X[poison, 0] += 4.0
    y = np.zeros(300, dtype=int)
    z = SpectralSignatureDetector().fit(X, y).reference_scores_
    sq = SpectralSignatureDetector(standardize=False).fit(X, y).reference_scores_
    assert roc_auc_score(poison, z) > 0.97 and roc_auc_score(poison, sq) < 0.85


def test_one_huge_entry_is_flagged_not_overflowed():
    # an entry of 1e300 made the squared projections overflow to inf for a whole class
    # (numpy warnings, and half the rows flagged)
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    X[7, 2] = 1e300
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for labels in (y, None):
            det = SpectralSignatureDetector().fit(X, labels)
            flagged = np.flatnonzero(det.predict(X, labels) == -1)
            assert 7 in flagged and len(flagged) <= 10
            assert np.all(np.isfinite(det.score_samples(X, labels)))
    with pytest.raises(ValueError, match=r"overflowed .* Rescale X"):
        SpectralSignatureDetector(standardize=False).fit(X, y)


def test_auto_is_quiet_on_clean_gaussians():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(1000, 10))
    y = rng.randint(0, 5, size=1000)
    for standardize in (True, False):
        det = SpectralSignatureDetector(standardize=standardize).fit(X, y)
        assert np.mean(det.predict(X, y) == -1) <= 0.02


def test_fit_predict_reuses_the_fit_scores(monkeypatch):
    X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    det = SpectralSignatureDetector(contamination=0.1)
    expected = SpectralSignatureDetector(contamination=0.1).fit(X, y).predict(X, y)
    calls = []
    features = SpectralSignatureDetector._features
    monkeypatch.setattr(
        SpectralSignatureDetector, "_features", lambda s, Z: calls.append(1) or features(s, Z)
    )
    assert_array_equal(det.fit_predict(X, y), expected)
    assert len(calls) == 1  # the features are extracted once
