"""Bases shared across sklpoison: the sampler base and a delegating classifier mixin.

:class:`BaseSampler` is the public base of every sklpoison sampler (the attacks
that resample a training set and the sanitisers that relabel it); third-party
samplers may derive from it too.
"""

import functools
import inspect

import imblearn.base  # noqa: F401  (adds fit_resample to scikit-learn's metadata routing)
import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils.validation import check_is_fitted, validate_data

from .utils.validation import _skorch_input_dtype


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


class BaseSampler(BaseEstimator):
    """Base class of every sklpoison sampler (imbalanced-learn's sampler API).

    A sampler has ``fit`` and ``fit_resample`` and no ``transform``: inside
    :class:`imblearn.pipeline.Pipeline` it changes the training set during
    ``fit`` and is skipped at ``predict`` and ``score`` time. Pandas inputs come
    back as pandas (columns, dtypes and the name of ``y`` kept).

    Every sampler records what its last :meth:`fit_resample` did under the same
    two names, whatever it is (a poisoning attack or a sanitiser):

    - ``changed_indices_`` (ndarray of int, sorted): the rows of the *returned*
      arrays that the sampler created or changed (stamped, flipped, appended,
      relabelled). Every other returned row is an unchanged copy of an input row.
    - ``n_changed_`` (int): ``changed_indices_.size``.

    Subclasses implement ``_fit(X, y, **params)`` (validate, store fitted attributes
    and return the validated arrays) and ``_resample(X, y, **params)``, which returns
    ``(X_res, y_res, changed_indices)``; ``params`` are the keyword arguments given to
    :meth:`fit_resample` (data that is not the training set, such as the attacker's
    validation set ``X_val, y_val``, is a fit parameter, as in scikit-learn). A sampler
    that fits an estimator given as a parameter sets
    ``_prefer_skip_nested_validation = False``.
    """

    _estimator_type = "sampler"
    _prefer_skip_nested_validation = True

    @_sampler_fit_context
    def fit(self, X, y, **params):
        """Validate the data and learn what the resampling needs.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs.
        y : array-like of shape (n_samples,)
            Training labels.
        **params : dict
            Fit parameters of the sampler (see its :meth:`fit_resample`).

        Returns
        -------
        self : object
            The fitted sampler.
        """
        self._check_fit_params("fit", params)
        self._fit(X, y, **params)
        return self

    @_sampler_fit_context
    def fit_resample(self, X, y, **params):
        """Fit and return the resampled (poisoned or sanitised) training set.

        Records the rows it created or changed in ``changed_indices_`` and their
        number in ``n_changed_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs. Never modified.
        y : array-like of shape (n_samples,)
            Training labels. Never modified.
        **params : dict
            Fit parameters of the sampler, if it has any (such as an attacker's
            validation set ``X_val, y_val``).

        Returns
        -------
        X_res : ndarray or DataFrame
            The resampled inputs (a new array; a DataFrame for a DataFrame ``X``).
        y_res : ndarray or Series of shape (n_res,)
            The resampled labels (a new array; a Series for a Series ``y``).
        """
        self._check_fit_params("fit_resample", params)
        X_in, y_in = X, y
        X, y = self._fit(X, y, **params)
        X_res, y_res, changed = self._resample(X, y, **params)
        self.changed_indices_ = np.asarray(changed, dtype=np.intp)
        self.n_changed_ = int(self.changed_indices_.size)
        return _restore_containers(X_in, y_in, X_res, y_res)

    def _check_fit_params(self, method, params):
        """A ``TypeError`` naming the public method for a fit parameter ``_fit`` lacks."""
        accepted = inspect.signature(self._fit).parameters
        if any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
            return
        own = [name for name in accepted if name not in ("X", "y")]
        for name in params:
            if name not in own:
                takes = f"its fit parameters are {own}" if own else "it takes no fit parameters"
                raise TypeError(
                    f"{type(self).__name__}.{method}() got an unexpected keyword argument "
                    f"{name!r}: {takes}."
                )

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
    if hasattr(y_in, "columns") and hasattr(y_in, "iloc"):  # a one-column DataFrame
        import pandas as pd

        y_res = pd.DataFrame({y_in.columns[0]: y_res}).astype(y_in.dtypes.to_dict())
    elif hasattr(y_in, "name") and hasattr(y_in, "iloc"):
        import pandas as pd

        y_res = pd.Series(y_res, name=y_in.name, dtype=y_in.dtype)
    return X_res, y_res


class _DelegatingClassifierMixin:
    """predict / predict_proba / decision_function delegated to ``self._model()``."""

    def _checked_X(self, X):
        check_is_fitted(self)
        model = self._model()
        if self._kind_ == "skorch":
            dtype = _skorch_input_dtype(model)  # float32 unless the module is float64
            X = validate_data(self, X, reset=False, allow_nd=True, dtype=dtype)
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
