"""What a fitted certifier keeps and how its methods treat their inputs: its pickle holds
the reachable set, not the work arrays of the fit (the flips' per-row ranges of ``Delta``,
the leaves of the candidate rows); a DataFrame raises no feature-name warning in its own
methods; regression targets are sent to the regressor."""

import pickle

import numpy as np
import pytest

from sklpoison import IntervalCertifier

from ._helpers import _moons


def _kept_bytes(fl):
    """The arrays the certificates read: Phi, the rows, their labels and alternatives."""
    return sum(a.nbytes for a in (fl.phi, fl.Xa, fl.yi, fl.alts))


def test_pickled_flips_hold_no_per_row_work_arrays(monkeypatch):
    import sklpoison.certification._flips as flips

    # candidate rows and leaves (the budgeted path) as well as the exact sums
    monkeypatch.setattr(flips, "STEP_OVERHEAD", 0.0)
    monkeypatch.setattr(flips, "FLIP_COST_RATIO", 1.0)
    X, y = _moons(400)
    est = IntervalCertifier(n_label_flips=2, lr=0.3, n_epochs=3, random_state=0).fit(X, y)
    fl = est.zonotope_.flips
    assert fl.n_candidates < len(y)
    # the (P, n) ranges of Delta would double the rows' share of the pickle
    assert len(pickle.dumps(fl)) < _kept_bytes(fl) + 4 * fl.u_c.nbytes + 4096
    again = pickle.loads(pickle.dumps(est))
    for a, b in zip(est.certified_accuracy(X, y), again.certified_accuracy(X, y)):
        assert a == b
    assert np.array_equal(est.predict(X), again.predict(X))


def test_data_frames_raise_no_feature_name_warning():
    import warnings

    pd = pytest.importorskip("pandas")
    X, y = _moons(40)
    X = pd.DataFrame(X, columns=["a", "b"])
    est = IntervalCertifier(n_label_flips=1, lr=0.5, n_epochs=2, random_state=0)
    est.set_params(poison_target=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cert = est.certify(X, epsilon=0.01)
        worst, nominal, _ = est.certified_accuracy(X, y)
        success = est.certified_attack_success(X, np.array([0.1, 0.0]), epsilon=0.01)
        untargeted = est.certified_attack_success(X, lambda Z: Z + 0.1, target=None, y=y)
    assert nominal == np.mean(est.predict(X) == y)
    assert worst <= nominal and 0.0 <= success <= 1.0 and 0.0 <= untargeted <= 1.0
    with pytest.warns(UserWarning, match="feature names"):  # sklearn's, for an array
        assert np.array_equal(cert, est.certify(X.to_numpy(), epsilon=0.01))


def test_classifier_points_regression_targets_to_the_regressor():
    X, _ = _moons(20)
    y = np.linspace(-1.0, 1.0, 20)
    with pytest.raises(ValueError, match="Unknown label type.*IntervalCertifierRegressor"):
        IntervalCertifier(n_epochs=1).fit(X, y)
