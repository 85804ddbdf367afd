"""What a fitted certifier keeps: its pickle holds the reachable set, not the work arrays
of the fit (the flips' per-row ranges of ``Delta``, the leaves of the candidate rows)."""

import pickle

import numpy as np

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
