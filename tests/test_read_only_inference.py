"""Prediction reads the fitted state and writes nothing on the estimator.

scikit-learn's ``check_dict_unchanged`` compares ``__dict__`` before and after ``predict``,
which misses a write of an equal value (``LNSVC.predict`` used to set ``self._gamma`` from
``gamma_`` on every call: a race when threads share a fitted model). Here every attribute
write or deletion during inference is recorded.
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from sklpoison import (
    LNSVC,
    FloralSVC,
    GradPC,
    GradRegKRR,
    GradRegKRRClassifier,
    Sever,
)

INFERENCE = ("predict", "predict_proba", "predict_log_proba", "decision_function", "score")


def _spy_on(estimator):
    """Turn a fitted ``estimator`` into an instance of a subclass that logs its writes."""
    writes = []
    cls = type(estimator)

    def __setattr__(self, name, value):
        writes.append(("set", name))
        cls.__setattr__(self, name, value)

    def __delattr__(self, name):
        writes.append(("del", name))
        cls.__delattr__(self, name)

    spy = type(cls.__name__, (cls,), {"__setattr__": __setattr__, "__delattr__": __delattr__})
    estimator.__class__ = spy
    return writes


@pytest.mark.parametrize(
    "estimator",
    [
        LNSVC(mu=0.1),
        FloralSVC(n_rounds=3, random_state=0),
        GradRegKRRClassifier(alpha=0.1, kappa=0.1),
        GradRegKRR(alpha=0.1, kappa=0.1),
        Sever(removal_fraction=0.1, n_iter=2, random_state=0),
        GradPC(epsilon_w=0.1, max_iter=3),
    ],
    ids=lambda e: type(e).__name__,
)
def test_inference_writes_no_attribute(estimator):
    if type(estimator).__name__ == "GradRegKRR":
        X, y = make_regression(60, 4, random_state=0)
    else:
        X, y = make_classification(60, 4, random_state=0)
    estimator.fit(X, y)
    writes = _spy_on(estimator)
    called = []
    for method in INFERENCE:
        if hasattr(estimator, method):
            args = (X, y) if method == "score" else (X,)
            getattr(estimator, method)(*args)
            called.append(method)
    assert {"predict", "score"} <= set(called)
    assert writes == []
    # the spy itself works: a write is seen
    estimator.some_attribute_ = np.zeros(1)
    assert writes == [("set", "some_attribute_")]
