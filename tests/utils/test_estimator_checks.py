"""The common checks of sklpoison.utils.estimator_checks catch what they claim to catch.

Each check runs on a deliberately broken toy estimator and must fail there; the
real estimators pass them in tests/test_common.py.
"""

import numpy as np
import pytest

from sklpoison import RandomLabelFlipper, SpectralSignatureDetector
from sklpoison.base import BaseSampler
from sklpoison.utils import estimator_checks as ec


class _Float64Flipper(RandomLabelFlipper):
    """Casts X to float64 and lists one row too many."""

    def _resample(self, X, y, **params):
        X_res, y_res, rows = super()._resample(X, y, **params)
        extra = np.setdiff1d(np.arange(len(y)), rows)[:1]
        return X_res.astype(np.float64), y_res, np.union1d(rows, extra)


class _SilentFlipper(RandomLabelFlipper):
    """Flips labels but reports nothing."""

    def _resample(self, X, y, **params):
        X_res, y_res, _ = super()._resample(X, y, **params)
        return X_res, y_res, np.array([], dtype=np.intp)


class _InvertedDetector(SpectralSignatureDetector):
    """score_samples with the wrong sign, predict from it as if it were right."""

    def score_samples(self, X, y=None):
        return -super().score_samples(X, y)

    def predict(self, X, y=None):
        return np.where(super().score_samples(X, y) < self.offset_, -1, 1)


class _ConsistentlyInvertedDetector(SpectralSignatureDetector):
    """Suspicion negated everywhere: self-consistent, but pointing the wrong way."""

    def _raw(self, X, y):
        return -super()._raw(X, y)

    def fit(self, X, y=None):
        super().fit(X, y)
        self.reference_scores_ = -self.reference_scores_
        self._set_offset(self.reference_scores_)
        return self


class _VagueNaNFlipper(RandomLabelFlipper):
    """Rejects NaN with a message that does not name it."""

    def _fit(self, X, y, **params):
        if y is not None and np.isnan(np.asarray(X, dtype=float)).any():
            raise ValueError("financial data invalid")
        return super()._fit(X, y, **params)


class _VagueYFlipper(RandomLabelFlipper):
    """Rejects y=None with a message that does not name y."""

    def _fit(self, X, y, **params):
        if y is None:
            raise ValueError("Expected 2D array, got scalar array instead")
        return super()._fit(X, y, **params)


class _LabelDroppingDetector(SpectralSignatureDetector):
    """fit_predict forgets the labels (predict falls back on predicted labels)."""

    def fit_predict(self, X, y=None):
        return self.fit(X, y).predict(X)


def test_base_sampler_is_the_base_of_the_samplers():
    assert issubclass(RandomLabelFlipper, BaseSampler)


def test_sampler_checks_catch_dtype_and_index_bugs():
    with pytest.raises(AssertionError, match="dtype not preserved"):
        ec.check_sampler_preserve_dtype(_Float64Flipper(poison_rate=0.2, random_state=0))
    with pytest.raises(AssertionError, match="listed but unchanged"):
        ec.check_sampler_changed_indices(_Float64Flipper(poison_rate=0.2, random_state=0))
    with pytest.raises(AssertionError, match="unlisted label changed"):
        ec.check_sampler_changed_indices(_SilentFlipper(poison_rate=0.2, random_state=0))
    ec.check_sampler_changed_indices(RandomLabelFlipper(poison_rate=0.2, random_state=0))


def test_sampler_check_wants_messages_that_name_nan_and_y():
    # a substring test passed these ("financial" holds "nan", "array" holds a "y")
    with pytest.raises(AssertionError, match="unclear message: financial"):
        ec.check_sampler_rejects_nan_and_missing_y(_VagueNaNFlipper(poison_rate=0.2))
    with pytest.raises(AssertionError, match="unclear message: Expected 2D array"):
        ec.check_sampler_rejects_nan_and_missing_y(_VagueYFlipper(poison_rate=0.2))
    ec.check_sampler_rejects_nan_and_missing_y(RandomLabelFlipper(poison_rate=0.2))


def test_detector_fit_predict_check_catches_dropped_labels():
    with pytest.raises(AssertionError, match="fit_predict differs with"):
        ec.check_detector_fit_predict(_LabelDroppingDetector())
    ec.check_detector_fit_predict(SpectralSignatureDetector())


def test_samplers_record_changes_under_one_name():
    # one name per attribute: no historical aliases next to changed_indices_ / n_changed_
    X, y = ec._data()
    f = RandomLabelFlipper(poison_rate=0.2, random_state=0).fit(X, y)
    assert not hasattr(f, "changed_indices_")  # set by fit_resample only
    f.fit_resample(X, y)
    assert f.n_changed_ == f.changed_indices_.size == 12
    for old in ("flipped_indices_", "n_flipped_", "poison_indices_", "n_poisoned_"):
        assert not hasattr(f, old)


def test_detector_checks_catch_an_inverted_score():
    with pytest.raises(AssertionError):
        ec.check_detector_score_convention(_InvertedDetector())
    ec.check_detector_score_convention(SpectralSignatureDetector())


def test_planted_anomaly_check_catches_a_consistently_inverted_detector():
    inverted = _ConsistentlyInvertedDetector(contamination=0.1)
    ec.check_detector_score_convention(inverted)  # the convention alone cannot tell
    ec.check_detector_fit_predict(inverted)
    with pytest.raises(AssertionError, match="ranks a planted anomaly as normal"):
        ec.check_detector_flags_planted_anomaly(inverted)
    ec.check_detector_flags_planted_anomaly(SpectralSignatureDetector())


class _RawMADCutDetector(SpectralSignatureDetector):
    """'auto' as the MAD cut on the raw squared projections (heavy-tailed)."""

    def _auto_threshold(self, raw):
        med = np.median(raw)
        return med + 3.5 * 1.4826 * np.median(np.abs(raw - med))


def test_quiet_check_catches_a_heavy_tailed_auto_cut():
    with pytest.raises(AssertionError, match="flags .* of clean data"):
        ec.check_detector_quiet_on_clean_data(_RawMADCutDetector(standardize=False))
    ec.check_detector_quiet_on_clean_data(SpectralSignatureDetector(standardize=False))
    ec.check_detector_quiet_on_clean_data(SpectralSignatureDetector())


def test_certifier_checks_catch_a_box_without_the_nominal_model(monkeypatch):
    from sklpoison import IntervalCertifier

    cert = IntervalCertifier("logistic", n_label_flips=1, lr=0.5, n_epochs=5, random_state=0)
    ec.check_certifier_box_contains_nominal(cert)
    fit = IntervalCertifier.fit

    def broken_fit(self, X, y):
        fit(self, X, y)
        self.coefs_upper_ = [lo - 1.0 for lo in self.coefs_lower_]
        return self

    monkeypatch.setattr(IntervalCertifier, "fit", broken_fit)
    with pytest.raises(AssertionError, match="contain the nominal"):
        ec.check_certifier_box_contains_nominal(cert)
    with pytest.raises(AssertionError):
        ec.check_certifier_monotone_in_budget(cert)


class _DensifyingFlipper(RandomLabelFlipper):
    """Quietly densifies sparse X although its tags say it does not take sparse input."""

    def _fit(self, X, y, **params):
        return super()._fit(X.toarray() if hasattr(X, "toarray") else X, y)


def test_sparse_check_catches_a_sampler_that_accepts_sparse_silently():
    with pytest.raises(AssertionError, match="accepted sparse X"):
        ec.check_sampler_sparse_rejected(_DensifyingFlipper(poison_rate=0.2, random_state=0))
    ec.check_sampler_sparse_rejected(RandomLabelFlipper(poison_rate=0.2, random_state=0))


def test_certifier_check_catches_a_certify_that_claims_too_much(monkeypatch):
    # certify() was only checked for its dtype and shape: certifying every row passed
    from sklpoison import IntervalCertifier

    cert = IntervalCertifier("logistic", n_label_flips=1, lr=0.5, n_epochs=5, random_state=0)
    ec.check_certifier_metrics_bracket_nominal(cert)
    monkeypatch.setattr(IntervalCertifier, "certify", lambda self, X, **kw: np.ones(len(X), bool))
    with pytest.raises(AssertionError, match=r"certify\(\) certifies .* of the rows correct"):
        ec.check_certifier_metrics_bracket_nominal(cert)
