"""Bases shared across sklpoison: the poisoning sampler base and a delegating classifier mixin."""

import functools

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils.validation import check_is_fitted, validate_data


def _sampler_fit_context(method):
    """``sklearn.base._fit_context`` with the subclass's ``_prefer_skip_nested_validation``.

    Samplers that take an estimator (GradientCanceling) validate it when it is fitted
    inside (scikit-learn's rule for meta-estimators); the others skip nested validation.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        skip = self._prefer_skip_nested_validation
        return _fit_context(prefer_skip_nested_validation=skip)(method)(self, *args, **kwargs)

    return wrapper


class BasePoisonSampler(BaseEstimator):
    """Base class of sklpoison's samplers (imbalanced-learn convention).

    Subclasses implement ``_fit(X, y)`` (validate, store fitted attributes and
    return the validated arrays) and ``_resample(X, y)``.
    """

    _estimator_type = "sampler"
    _prefer_skip_nested_validation = True

    @_sampler_fit_context
    def fit(self, X, y):
        """Validate the data and learn what the resampling needs.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs.
        y : array-like of shape (n_samples,)
            Training labels.

        Returns
        -------
        self : object
            The fitted sampler.
        """
        self._fit(X, y)
        return self

    @_sampler_fit_context
    def fit_resample(self, X, y):
        """Fit and return the poisoned training set.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs. Never modified.
        y : array-like of shape (n_samples,)
            Training labels. Never modified.

        Returns
        -------
        X_res : ndarray
            The resampled inputs (a new array).
        y_res : ndarray of shape (n_res,)
            The resampled labels (a new array).
        """
        X_in, y_in = X, y
        X, y = self._fit(X, y)
        X_res, y_res = self._resample(X, y)
        return _restore_containers(X_in, y_in, X_res, y_res)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


def _restore_containers(X_in, y_in, X_res, y_res):
    """Give pandas inputs back as pandas (columns, dtypes and the name of y kept)."""
    if hasattr(X_in, "columns") and hasattr(X_in, "iloc") and X_res.ndim == 2:
        import pandas as pd

        X_res = pd.DataFrame(X_res, columns=X_in.columns).astype(X_in.dtypes.to_dict())
    if hasattr(y_in, "name") and hasattr(y_in, "iloc"):
        import pandas as pd

        y_res = pd.Series(y_res, name=y_in.name, dtype=y_in.dtype)
    return X_res, y_res


class _DelegatingClassifierMixin:
    """predict / predict_proba / decision_function delegated to ``self._model()``."""

    def _checked_X(self, X):
        check_is_fitted(self)
        model = self._model()
        if self._kind_ == "skorch":
            X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        else:
            X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return model, X

    def predict(self, X):
        """Predict class labels with the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        model, X = self._checked_X(X)
        return model.predict(X)

    def predict_proba(self, X):
        """Class probabilities of the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        model, X = self._checked_X(X)
        return model.predict_proba(X)
