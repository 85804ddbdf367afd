"""A certificate that certifies nothing says so, with what to try.

``IntervalCertifier(n_label_flips=200)`` on 1,000 digits used to return a certified
accuracy of 0.0 (nominal 0.89) without a word. Every certificate method now warns
with :class:`sklpoison.exceptions.VacuousCertificateWarning` when no prediction is
certified or the bounds diverged, naming a smaller budget, fewer epochs, tighter
bounds and a defence certified by construction.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_moons

import sklpoison
from sklpoison.certification import IntervalCertifier, IntervalCertifierRegressor
from sklpoison.datasets import load_digits_images
from sklpoison.exceptions import VacuousCertificateWarning

WHAT_TO_TRY = [
    "smaller poisoning budget (n_label_flips=40)",
    "fewer epochs (n_epochs=3)",
    "bound='lp'",
    "PartitionAggregationClassifier",
]


@pytest.fixture(scope="module")
def digits_certifier():
    X, y = load_digits_images(return_X_y=True, flat=True)
    est = IntervalCertifier(n_label_flips=40, n_epochs=3, random_state=0).fit(X[:200], y[:200])
    return est, X[200:400], y[200:400]


def test_no_certified_prediction_warns_with_what_to_try(digits_certifier):
    est, X, y = digits_certifier
    with pytest.warns(VacuousCertificateWarning) as record:
        worst, nominal, _ = est.certified_accuracy(X, y)
    assert worst == 0.0 and nominal > 0.5
    message = str(record[0].message)
    assert "IntervalCertifier.certified_accuracy: no prediction is certified" in message
    assert f"nominal {nominal:.3g}" in message
    for hint in WHAT_TO_TRY:
        assert hint in message, hint
    assert record[0].filename == __file__  # points at the caller's line
    with pytest.warns(VacuousCertificateWarning, match="certify: no prediction"):
        assert not est.certify(X).any()
    with pytest.warns(VacuousCertificateWarning, match="certified_attack_success"):
        assert est.certified_attack_success(X) == 1.0


def test_diverged_bounds_warn_at_fit_and_at_every_certificate():
    X, y = make_moons(40, noise=0.2, random_state=0)
    est = IntervalCertifier("mlp", hidden_layer_sizes=(8,), n_label_flips=5, lr=100, n_epochs=100)
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        est.fit(X, y)
    vacuous = [w for w in caught if issubclass(w.category, VacuousCertificateWarning)]
    assert len(vacuous) == 1 and "parameter box diverged" in str(vacuous[0].message)
    assert "fewer epochs (n_epochs=100)" in str(vacuous[0].message)
    with pytest.warns(VacuousCertificateWarning, match="bounds diverged during fit"):
        est.certify(X)


def test_regressor_with_diverged_bounds_warns():
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    t = X @ np.array([1.0, -1.0, 0.5])
    est = IntervalCertifierRegressor("mlp", hidden_layer_sizes=(4,), n_poison=3, epsilon=1.0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        est.set_params(lr=0.1, n_epochs=20).fit(X, t)
    assert est.bounds_diverged_
    with pytest.warns(VacuousCertificateWarning, match="certified_mse: the parameter bounds") as w:
        est.certified_mse(X, t)
    # a classifier defence is no advice for a regression
    assert "PartitionAggregationClassifier" not in str(w[0].message)


def test_a_useful_certificate_does_not_warn():
    X, y = make_moons(60, noise=0.1, random_state=0)
    est = IntervalCertifier(n_label_flips=1, lr=0.5, n_epochs=30, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", VacuousCertificateWarning)
        assert est.certified_accuracy(X, y)[0] > 0.5
        assert est.certify(X).any()


def test_the_warning_class_is_exported():
    assert "exceptions" in sklpoison.__all__
    assert issubclass(sklpoison.exceptions.VacuousCertificateWarning, UserWarning)
