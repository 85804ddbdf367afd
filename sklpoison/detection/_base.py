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


def _robust_threshold(raw):
    """``median + 3.5 * 1.4826 * MAD`` of raw suspiciousness scores."""
    med = float(np.median(raw))
    mad = float(np.median(np.abs(raw - med)))
    return med + _AUTO_Z * 1.4826 * mad


class _BaseScoreDetector(OutlierMixin, BaseEstimator):
    """Outlier-detector plumbing shared by the two detectors.

    Subclasses implement ``_raw_scores(X, y)`` (higher is more suspicious) on
    validated inputs and call ``_set_offset(raw_reference_scores)`` in ``fit``.
    """

    def _set_offset(self, raw):
        if self.contamination == "auto":
            threshold = _robust_threshold(raw)
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
            :class:`SpectralSignatureDetector`).
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
        """
        return self.fit(X, y).predict(X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


_CONTAMINATION = [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")]
