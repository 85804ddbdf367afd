"""Persistent label-flip symbols (``_flips.py``): the flip ranges of the logits.

Exact sorted sums, candidate rows with leaf bounds, and the cheap bounds must all contain
the exact range of the flips' effect (every set of at most ``k`` flips, in Fractions),
and the cost rule must pick exact sums when they are affordable.
"""

import itertools
from fractions import Fraction

import numpy as np
import pytest

from sklpoison.certification._flips import _Flips

from ._helpers import (
    _assert_certified_unchanged,
    _assert_inside,
    _flip,
    _moons,
    _replay,
)


def _flips(n, d, C, k, seed, target=None):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d)) * rng.choice([0.1, 1.0, 3.0], size=(n, d))
    Xa = np.hstack([X, np.ones((n, 1))])
    n_cls = 2 if C == 1 else C
    y = rng.randint(n_cls, size=n)
    onehot = np.eye(n_cls, dtype=bool)[y]
    allowed = np.ones_like(onehot)
    if target is not None:
        allowed = onehot.copy()
        allowed[:, target] = True
    fl = _Flips(Xa, (onehot, allowed), k, C)
    P = (d + 1) * C
    # a Phi as after a few steps: near -eta t I plus a mixing part
    fl.phi = -0.5 * np.eye(P) + 0.2 * rng.normal(size=(P, P))
    return fl, Xa


def _exact_range(fl, Xa, logit):
    """Smallest and largest flips' effect on one logit over every set of <= k flips."""
    l, c = divmod(logit, fl.C)
    d1 = Xa.shape[1]
    # r = x_l^T Phi restricted to class c, exactly (from the float Xa and Phi)
    r = [
        sum(Fraction(Xa[l, j]) * Fraction(fl.phi[j * fl.C + c, p]) for j in range(d1))
        for p in range(fl.P)
    ]
    onehot_y, alts = fl.yi, fl.alts
    effects = []
    for i in range(fl.B):
        opts = [Fraction(0)]
        for a in alts[i]:
            if a < 0:
                continue
            delta = [Fraction(0)] * fl.P
            for j in range(d1):
                if fl.C == 1:
                    delta[j] = Fraction(Xa[i, j]) * (onehot_y[i] - a) / fl.B
                else:
                    delta[j * fl.C + onehot_y[i]] += Fraction(Xa[i, j]) / fl.B
                    delta[j * fl.C + a] -= Fraction(Xa[i, j]) / fl.B
            opts.append(sum(rp * dp for rp, dp in zip(r, delta)))
        effects.append((min(opts), max(opts)))
    lows = sorted(e[0] for e in effects)[: fl.k]
    highs = sorted((e[1] for e in effects), reverse=True)[: fl.k]
    return sum(min(v, 0) for v in lows), sum(max(v, 0) for v in highs)


@pytest.fixture
def no_overhead(monkeypatch):
    """Budgets from the counted work alone (no fixed cost per step)."""
    import sklpoison.certification._flips as flips

    monkeypatch.setattr(flips, "STEP_OVERHEAD", 0.0)


@pytest.mark.parametrize("C, target", [(1, None), (3, None), (3, 1)])
def test_every_flip_range_contains_the_exact_range(C, target, no_overhead):
    fl, Xa = _flips(n=60, d=3, C=C, k=3, seed=C, target=target)
    exact = fl.logit_range(Xa)  # no budget: exact sorted sums
    assert fl.n_exact == fl.n_logits
    lo_e, hi_e = (a.ravel() for a in exact)
    fl2, _ = _flips(n=60, d=3, C=C, k=3, seed=C, target=target)
    budgeted = fl2.logit_range(Xa, other_cost=0.0)  # forces candidate rows and leaf bounds
    assert fl2.n_exact == 0 and fl2.n_candidates < fl2.B
    lo_b, hi_b = (a.ravel() for a in budgeted)
    cheap_lo, cheap_hi = fl._cheap_range(
        Xa,
        (Xa @ fl.phi.reshape(Xa.shape[1], -1)).reshape(-1, fl.P),
        (np.abs(Xa) @ np.abs(fl.phi.reshape(Xa.shape[1], -1))).reshape(-1, fl.P),
    )
    for logit in range(0, fl.B * C, 7):
        t_lo, t_hi = _exact_range(fl, Xa, logit)
        for lo, hi in ((lo_e, hi_e), (lo_b, hi_b), (cheap_lo, cheap_hi)):
            assert Fraction(lo[logit]) <= t_lo and t_hi <= Fraction(hi[logit])
        # the exact sums are tight up to rounding
        assert float(t_hi) - hi_e[logit] >= -1e-12 * (1 + abs(float(t_hi)))
    # the budgeted ranges are never looser than the cheap ones
    assert np.all(lo_b >= cheap_lo) and np.all(hi_b <= cheap_hi)


def test_candidate_rows_with_leaf_bounds_are_near_exact_in_low_dimension(no_overhead):
    fl, Xa = _flips(n=400, d=2, C=1, k=5, seed=7)
    lo_e, hi_e = fl.logit_range(Xa)
    fl2, _ = _flips(n=400, d=2, C=1, k=5, seed=7)
    lo_b, hi_b = fl2.logit_range(Xa, other_cost=3e3)
    assert 0 < fl2.n_candidates < fl2.B
    assert np.all(lo_b <= lo_e + 1e-12) and np.all(hi_b >= hi_e - 1e-12)
    # most logits are exact: the leaf bounds rarely enter the sorted sums
    assert np.mean(np.isclose(hi_b, hi_e, rtol=1e-9, atol=1e-14)) > 0.5


def test_budgeted_flip_ranges_keep_every_flip_inside(monkeypatch):
    import sklpoison.certification._flips as flips

    X, y = _moons(120)
    monkeypatch.setattr(flips, "STEP_OVERHEAD", 0.0)
    monkeypatch.setattr(flips, "FLIP_COST_RATIO", 1.0)
    from sklpoison import IntervalCertifier

    est = IntervalCertifier(n_label_flips=2, lr=0.5, n_epochs=6, random_state=0).fit(X, y)
    assert est.zonotope_.flips.n_candidates < len(y)  # the budget applied
    rows = np.array(list(itertools.combinations(range(0, 120, 4), 2)))
    y_att = _flip(y, rows, est.classes_, np.random.RandomState(0))
    params = _replay(est, np.broadcast_to(X, (len(rows),) + X.shape), y_att)
    _assert_inside(est, params)
    _assert_certified_unchanged(est, params, X)
