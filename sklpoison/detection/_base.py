"""Shared base of the score-based backdoor detectors."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_consistent_length
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import FLOAT_DTYPES, validate_data

# modified z-score cut of Iglewicz and Hoaglin (1993), used by contamination="auto"
_AUTO_Z = 3.5
# 1.4826 * MAD and 1.2533 * mean absolute deviation estimate a normal standard deviation
_MAD_TO_SD = 1.4826
_MEAN_AD_TO_SD = 1.2533


def _robust_threshold(raw):
    """``median + 3.5 * 1.4826 * MAD`` of raw suspiciousness scores."""
    med = float(np.median(raw))
    mad = float(np.median(np.abs(raw - med)))
    return med + _AUTO_Z * _MAD_TO_SD * mad


def _robust_location_scale(P):
    """Column-wise median and robust standard deviation of ``P`` (n, k).

    The scale is ``1.4826 * MAD``; where the MAD is zero (more than half the
    values tied) ``1.2533 * mean absolute deviation`` from the median, and ``1``
    where every value is the same (all z-scores are then zero).
    """
    P = np.asarray(P, dtype=np.float64)
    med = np.median(P, axis=0)
    dev = np.abs(P - med)
    scale = _MAD_TO_SD * np.median(dev, axis=0)
    tied = ~(scale > 0)
    if np.any(tied):
        scale = np.where(tied, _MEAN_AD_TO_SD * dev.mean(axis=0), scale)
        scale = np.where(scale > 0, scale, 1.0)
    return med, scale


def _check_finite_scores(scores, name):
    if not np.all(np.isfinite(scores)):
        bad = int(np.sum(~np.isfinite(scores)))
        raise ValueError(
            f"{name}: {bad} suspicion score(s) overflowed to infinity or NaN: the features "
            "span more than the float64 range allows (an entry near 1e300?). Rescale X "
            "(e.g. sklearn.preprocessing.StandardScaler) or fix the offending rows."
        )
    return scores


class _BaseScoreDetector(OutlierMixin, BaseEstimator):
    """Outlier-detector plumbing shared by the detectors.

    Subclasses implement ``_raw(X, y)`` (higher is more suspicious), store the
    raw scores of the reference data in the attribute named by
    ``_reference_attr`` and call ``_set_offset(raw_reference_scores)`` in
    ``fit``; they may override ``_auto_threshold`` (the cut of
    ``contamination="auto"``).
    """

    _reference_attr = "reference_scores_"

    def _auto_threshold(self, raw):
        return _robust_threshold(raw)

    def _set_offset(self, raw):
        if self.contamination == "auto":
            threshold = float(self._auto_threshold(raw))
        else:
            threshold = float(np.percentile(raw, 100.0 * (1.0 - self.contamination)))
        self.threshold_ = threshold
        self.offset_ = -threshold

    def _validate_X(self, X, reset):
        X = validate_data(
            self, X, reset=reset, allow_nd=True, dtype=FLOAT_DTYPES, ensure_all_finite=True
        )
        if not reset and tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but {type(self).__name__} was "
                f"fitted on samples of shape {self.input_shape_}."
            )
        return X

    @staticmethod
    def _check_y(X, y):
        if y is None:
            return None
        y = np.asarray(y)
        if y.ndim != 1:
            y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (one label per sample); got shape {y.shape}.")
        check_consistent_length(X, y)
        type_of_target(y, input_name="y", raise_unknown=True)
        return y

    def score_samples(self, X, y=None):
        """Normality score of each input: the negated raw suspiciousness.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs, in the layout seen at fit.
        y : array-like of shape (n_samples,) or None, default=None
            Labels (``None``: the model's predictions).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher is more normal (scikit-learn's convention): the *negated*
            raw suspiciousness (``-top_eigenvalues(X, y)`` for
            :class:`HessianSpectrumDetector`, ``-signature_scores(X, y)`` for
            :class:`SpectralSignatureDetector`, ``-cluster_scores(X, y)`` for
            :class:`ActivationClusteringDetector`).
        """
        return -self._raw(X, y)

    def decision_function(self, X, y=None):
        """``score_samples(X, y) - offset_``: negative for suspicious inputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs, in the layout seen at fit.
        y : array-like of shape (n_samples,) or None, default=None
            Labels (``None``: the model's predictions).

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        return self.score_samples(X, y) - self.offset_

    def predict(self, X, y=None):
        """Flag suspicious inputs: ``-1`` suspicious, ``+1`` normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs, in the layout seen at fit.
        y : array-like of shape (n_samples,) or None, default=None
            Labels (``None``: the model's predictions).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        decision = self.decision_function(X, y)
        out = np.ones(decision.shape[0], dtype=int)
        out[decision < 0] = -1
        return out

    def fit_predict(self, X, y=None):
        """Fit on ``X`` and flag its suspicious rows (``-1``).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Reference inputs.
        y : array-like of shape (n_samples,) or None, default=None
            Labels (``None``: the model's predictions).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The reference scores computed by ``fit`` are thresholded, not
            recomputed: the result equals ``fit(X, y).predict(X, y)`` at the
            cost of ``fit`` alone.
        """
        raw = getattr(self.fit(X, y), self._reference_attr)
        return np.where(raw > self.threshold_, -1, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


_CONTAMINATION = [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")]
