"""One extreme but finite input value (1e300) gives a clear error, never a silent NaN.

numpy overflows silently: a single entry of 1e300 turns a squared distance into
``inf - inf = nan`` and then a whole kernel matrix, every dual coefficient and
every prediction into NaN (or, through ``argmax``/``> 0``, a constant class).
Each estimator that computes kernels, weights or gradients checks them with
:func:`sklpoison.utils.validation.check_finite_result`, whose message follows
scikit-learn's MLPClassifier ("The input data may contain large values and need
to be preprocessed").
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification

from sklpoison import (
    LNSVC,
    FloralSVC,
    GradientCanceling,
    GradPC,
    GradRegKRR,
    GradRegKRRClassifier,
    IntervalCertifierRegressor,
    Sever,
)
from sklpoison.utils.validation import check_finite_result

LARGE = "may contain large values and need to be preprocessed"


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(200, 5, random_state=0)
    X_big = X.copy()
    X_big[3, 2] = 1e300
    return X, X_big, y


def _quiet():
    return np.errstate(over="ignore", invalid="ignore")


FITS = [
    GradRegKRR(),
    GradRegKRR(kappa=0.1),
    GradRegKRRClassifier(),
    GradRegKRRClassifier(kappa=0.1, kernel="linear"),
    LNSVC(),
    Sever(n_iter=2, random_state=0),
    GradPC(max_iter=3),
    GradientCanceling(poison_rate=0.1, max_iter=3, random_state=0),
    # its nominal SGD run ends with non-finite parameters (was: a warning and NaN predictions)
    IntervalCertifierRegressor("linear", n_poison=1, epsilon=0.01, lr=0.05, n_epochs=20),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("est", FITS, ids=repr)
def test_fit_on_one_extreme_value_raises(est, data):
    _, X_big, y = data
    fit = est.fit_resample if hasattr(est, "fit_resample") else est.fit
    with _quiet(), pytest.raises(ValueError, match=LARGE) as info:
        fit(X_big, y)
    # the message points at the offending entry
    assert "X[3, 2] = 1e+300" in str(info.value)
    # the estimator that failed: GradientCanceling's default target is a GradPC
    assert type(est).__name__ in str(info.value) or "GradPC.fit" in str(info.value)


@pytest.mark.parametrize(
    "est, far",
    [
        (GradRegKRR(), lambda est: 0.0),
        (GradRegKRRClassifier(), lambda est: 0.0),
        (LNSVC(), lambda est: est.intercept_[0]),
        (FloralSVC(n_rounds=20, random_state=0), lambda est: est.intercept_[0]),
    ],
    ids=lambda p: "" if callable(p) else repr(p),
)
def test_a_far_query_gets_the_kernel_limit(est, far, data):
    # an RBF kernel value between a far query and every centre is exactly 0 (the
    # squared distance overflows to +inf, never to inf - inf = nan): the far row's
    # decision value is the limit (0, or the intercept), the other rows are unchanged
    X, X_big, y = data
    est.fit(X, y)
    decide = getattr(est, "decision_function", getattr(est, "predict", None))
    with _quiet():
        scores = decide(X_big)
    assert scores[3] == far(est)
    np.testing.assert_array_equal(np.delete(scores, 3), np.delete(decide(X), 3))


def test_floral_fit_on_one_extreme_value_predicts_the_clean_rows(data):
    # FloralSVC's training kernel (scikit-learn's rbf_kernel, which sets the
    # diagonal of a self-distance matrix to 0) stays finite: the extreme row is an
    # isolated point with k = 0 to the others, the fit is correct, and only a
    # prediction at the extreme row itself is refused
    X, X_big, y = data
    keep = np.arange(len(X)) != 3
    est = FloralSVC(n_rounds=20, random_state=0).fit(X_big, y)
    with _quiet(), pytest.raises(ValueError, match=LARGE):
        est.predict(X_big)
    assert np.isfinite(est.decision_function(X[keep])).all()


def test_check_finite_result():
    check_finite_result(np.ones((3, 3)), "M.fit", what="kernel matrix")
    # finite entries whose sum overflows are still finite
    check_finite_result(np.full(4, 1e308), "M.fit", what="weights")
    for bad in (np.nan, np.inf, -np.inf):
        v = np.ones(5)
        v[2] = bad
        with pytest.raises(ValueError, match=r"M.fit produced a non-finite weights .*" + LARGE):
            check_finite_result(v, "M.fit", what="weights")
    X = np.zeros((3, 2))
    X[1, 0] = -3e200
    with pytest.raises(ValueError, match=r"X\[1, 0\] = -3e\+200"):
        check_finite_result(np.array([np.nan]), "M.fit", what="weights", X=X)
