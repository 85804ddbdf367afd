"""A certifier fitted on a pandas DataFrame takes the same DataFrame in every method.

Its certificates used to validate ``X`` once and then call ``predict`` on the
validated ndarray, which warned "X does not have valid feature names, but
IntervalCertifier was fitted with feature names" on the caller's own DataFrame.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification

from sklpoison.certification import IntervalCertifier, IntervalCertifierRegressor

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def frames():
    X, y = make_classification(60, 4, n_informative=2, n_redundant=0, random_state=0)
    return X, y, pd.DataFrame(X, columns=["a", "b", "c", "d"])


def _quietly(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    names = [str(w.message) for w in caught if "feature names" in str(w.message)]
    assert not names, names
    return out


def test_classifier_certificates_on_the_fitted_dataframe(frames):
    X, y, df = frames
    est = IntervalCertifier("logistic", n_label_flips=1, lr=0.5, n_epochs=20, random_state=0)
    ref = IntervalCertifier(**est.get_params()).fit(X, y)
    _quietly(lambda: est.fit(df, y))
    calls = {
        "certify": lambda e, A: e.certify(A, epsilon=0.01),
        "certified_accuracy": lambda e, A: e.certified_accuracy(A, y),
        "certified_attack_success": lambda e, A: e.certified_attack_success(
            A, np.full(4, 0.1), target=1
        ),
        "certified_attack_success_callable": lambda e, A: e.certified_attack_success(
            A, lambda Z: Z + 0.1
        ),
        "predict_bounds": lambda e, A: e.predict_bounds(A, epsilon=0.01),
        "predict_proba": lambda e, A: e.predict_proba(A),
        "score": lambda e, A: e.score(A, y),
    }
    for name, call in calls.items():
        got = _quietly(lambda call=call: call(est, df))
        # a DataFrame converts to a Fortran-ordered array: sums may differ in the last bit
        want = np.asarray(call(ref, X), dtype=float)
        np.testing.assert_allclose(np.asarray(got, dtype=float), want, rtol=1e-12, err_msg=name)


def test_regressor_certificates_on_the_fitted_dataframe(frames):
    X, y, df = frames
    t = X @ np.array([1.0, -2.0, 0.5, 0.0])
    est = IntervalCertifierRegressor("linear", n_poison=1, epsilon=0.01, lr=0.05, n_epochs=20)
    _quietly(lambda: est.fit(df, t))
    worst, nominal, best = _quietly(lambda: est.certified_mse(df, t))
    assert best <= nominal <= worst
    _quietly(lambda: est.predict_bounds(df, epsilon=0.01))
