"""Validation helpers shared by sklpoison's estimators."""

import numpy as np
from sklearn.base import clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data


def _default_estimator(estimator):
    if estimator is None:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression()
    return estimator


def _validate_Xy(est, X, y, kind, reset=True):
    """Validate ``X, y``; skorch nets get float32 inputs and int64 labels."""
    if kind == "skorch":
        X, y = validate_data(est, X, y, allow_nd=True, dtype=np.float32, reset=reset)
        if y.dtype.kind in "iub":
            y = y.astype(np.int64)
    else:
        X, y = validate_data(est, X, y, dtype=[np.float64, np.float32], reset=reset)
    check_classification_targets(y)
    return X, y


def _label_codes(classes, y, who):
    classes = np.asarray(classes)
    unknown = np.setdiff1d(np.unique(y), classes)
    if unknown.size:
        raise ValueError(
            f"{who}: y contains labels {unknown.tolist()} that the model does not know "
            f"(its classes are {classes.tolist()})."
        )
    return np.searchsorted(classes, y)


def _fit_clean(estimator, X, y):
    model = clone(estimator)
    model.fit(X, y)
    return model
