"""The box domain (``_box.py``): interval passes, per-sample sums, the propagator interface."""

from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklpoison import IntervalCertifier
from sklpoison.certification._box import Intersection, _Propagator, _vacuous
from sklpoison.exceptions import VacuousCertificateWarning

from ._helpers import (
    _assert_inside,
    _feature_attacks,
    _moons,
    _replay,
)


def _F(x):
    return Fraction(float(x))


def _edge_values(rng, n):
    """Edge values mixed with random ones of very different magnitudes."""
    edge = np.array(
        [
            1.0,
            1 + 2.0**-52,
            1 - 2.0**-53,
            -(1 + 2.0**-52),
            2.0**-1074,
            -(2.0**-1022),
            1e300,
            -1e-300,
            3.0,
            1 / 3,
            0.1,
            -0.7,
            0.0,
        ]
    )
    pick = rng.choice(edge, size=n)
    mix = rng.normal(size=n) * 10.0 ** rng.randint(-30, 30, size=n)
    return np.where(rng.rand(n) < 0.5, pick, mix)


def test_box_slacks_contain_exact_values():
    from sklpoison.certification._box import _sgd_box_update, _sum_bounds

    rng = np.random.RandomState(25)
    # batch sums with cancellation and huge / tiny terms
    V = np.array([[1e16, 1.0, -1e16, 2.0**-52, 3.0, -1e-300]]).T * np.ones((1, 3))
    V[:, 1] = _edge_values(rng, 6)
    V[:, 2] = rng.normal(size=6) * 1e8
    lo, hi = _sum_bounds(V, V, axis=0)
    for j in range(3):
        exact = sum(_F(v) for v in V[:, j])
        assert _F(lo[j]) <= exact <= _F(hi[j])
    # one SGD step of a box, at its corners
    p_lo = _edge_values(rng, 50)
    p_hi = p_lo + np.abs(rng.normal(size=50))
    g_lo = _edge_values(rng, 50)
    g_hi = g_lo + np.abs(rng.normal(size=50)) * 1e-3
    decay, eta = 1 - 0.1 * 0.3, 0.1
    n_lo, n_hi = _sgd_box_update(p_lo, p_hi, g_lo, g_hi, decay, eta)
    for i in range(50):
        for p in (p_lo[i], p_hi[i]):
            for g in (g_lo[i], g_hi[i]):
                exact = _F(decay) * _F(p) - _F(eta) * _F(g)
                assert _F(n_lo[i]) <= exact <= _F(n_hi[i])


def _midpoint_radius_diff_ball(x, x_lo, x_hi, clean, poisoned):
    """The former midpoint-radius bound of the first layer's ball term (reference)."""
    from sklpoison.certification._box import _fma2

    radius = max(np.max(x_hi - x, initial=0.0), np.max(x - x_lo, initial=0.0))
    dl, dh = (np.ascontiguousarray(a.T)[None, :, :] for a in clean)
    pl, ph = (np.ascontiguousarray(a.T)[None, :, :] for a in poisoned)
    xl = np.ascontiguousarray(x.T)[:, None, :]
    shape = (xl.shape[0], dl.shape[1], dl.shape[2])
    m = radius * np.maximum(np.abs(pl), np.abs(ph))
    xp, xn = np.maximum(xl, 0.0), np.minimum(xl, 0.0)
    lo = _fma2(xp, pl - dl, xn, ph - dh, shape) - m
    hi = _fma2(xp, ph - dh, xn, pl - dl, shape) + m
    return np.minimum(lo, 0.0), np.maximum(hi, 0.0)


def test_first_layer_ball_uses_exact_corner_products(monkeypatch):
    # issue 12 item 3: the feature-ball term of the first layer is the exact corner product,
    # strictly tighter than the midpoint-radius form it replaced, and still sound
    from sklpoison.certification import _box as _sums

    X, y = _moons(60)
    kw = dict(hidden_layer_sizes=(8,), n_poison=20, epsilon=0.05, lr=0.3, n_epochs=3)
    est = IntervalCertifier("mlp", random_state=0, **kw).fit(X, y)
    with monkeypatch.context() as m:
        m.setattr(_sums, "_outer_diff_ball", _midpoint_radius_diff_ball)
        old = IntervalCertifier("mlp", random_state=0, **kw).fit(X, y)
    widths, old_widths = [], []
    for a, b, c, d in zip(est.coefs_lower_, est.coefs_upper_, old.coefs_lower_, old.coefs_upper_):
        assert np.all(a >= c) and np.all(b <= d)
        widths.append((b - a).ravel())
        old_widths.append((d - c).ravel())
    assert np.mean(np.concatenate(widths)) < np.mean(np.concatenate(old_widths))
    rng = np.random.RandomState(15)
    X_att, _ = _feature_attacks(est, X, y, 20, 0.05, rng, n_random=60)
    params = _replay(est, X_att, np.broadcast_to(y, X_att.shape[:2]))
    _assert_inside(est, params)


def _point_box(W, b):
    return [(W.copy(), W.copy(), b.copy(), b.copy())]


def test_meet_is_the_exact_intersection():
    from sklpoison.certification._box import meet

    rng = np.random.RandomState(3)
    a = [tuple(rng.normal(size=s) for s in ((3, 2), (3, 2), (2,), (2,)))]
    b = [tuple(rng.normal(size=s) for s in ((3, 2), (3, 2), (2,), (2,)))]
    ((W_lo, W_hi, b_lo, b_hi),) = meet(a, b)
    assert_array_equal(W_lo, np.maximum(a[0][0], b[0][0]))
    assert_array_equal(W_hi, np.minimum(a[0][1], b[0][1]))
    assert_array_equal(b_lo, np.maximum(a[0][2], b[0][2]))
    assert_array_equal(b_hi, np.minimum(a[0][3], b[0][3]))
    # the vacuous box is the identity of the intersection
    assert all(np.array_equal(x, y) for x, y in zip(meet(a, _vacuous(a))[0], a[0]))


class _Scripted(_Propagator):
    """A propagator whose boxes are given in advance (records the boxes it starts from)."""

    def __init__(self, boxes):
        self.boxes, self.starts, self.box = list(boxes), [], None

    def bounds(self):
        return self.box

    def step(self, Xb, Yb, idx, eta, decay, box=None):
        self.starts.append(box)
        self.box = self._check_finite(self.boxes.pop(0))


def test_intersection_starts_every_member_from_the_intersection():
    W0, b0 = np.zeros((1, 1)), np.zeros(1)
    inf = [
        (np.full((1, 1), -np.inf), np.full((1, 1), np.inf), np.full(1, -np.inf), np.full(1, np.inf))
    ]

    def box(lo, hi):
        return [(np.full((1, 1), lo), np.full((1, 1), hi), np.full(1, lo), np.full(1, hi))]

    # member a diverges at step 2 (the other still bounds the set), b at step 3: the
    # intersection diverges only then, and stops stepping its members
    a = _Scripted([box(-1, 2), inf, box(-5, 5), box(-9, 9)])
    b = _Scripted([box(-2, 1), box(-3, 3), inf, box(-9, 9)])
    a.box = b.box = _point_box(W0, b0)
    both = Intersection(a, b)
    step = (None, None, None, 0.1, 1.0)
    both.step(*step)
    assert both.bounds()[0][0][0, 0] == -1 and both.bounds()[0][1][0, 0] == 1
    assert not both.diverged
    both.step(*step)
    assert a.diverged and not both.diverged
    assert both.bounds()[0][0][0, 0] == -3 and both.bounds()[0][1][0, 0] == 3
    # every member started from the intersection of the step before
    assert a.starts[1][0][1][0, 0] == 1 and b.starts[1][0][0][0, 0] == -1
    both.step(*step)  # a recovers from the finite start; b diverges
    assert not both.diverged and both.bounds()[0][1][0, 0] == 5
    a.boxes, b.boxes = [inf, inf], [inf, inf]
    both.step(*step)
    assert both.diverged and both.reachable_set() is None
    assert all(np.all(np.isinf(x)) for x in both.bounds()[0])
    n_starts = len(a.starts)
    both.step(*step)  # diverged: the members are not stepped any more
    assert len(a.starts) == n_starts


def test_divergence_warns_once_and_makes_the_box_vacuous():
    from sklearn.datasets import make_moons

    X, y = make_moons(40, noise=0.2, random_state=0)
    # the box overflows while the nominal run stays finite (a nominal run that
    # overflows too, lr=1e100 say, is a ValueError)
    est = IntervalCertifier("mlp", hidden_layer_sizes=(8,), n_label_flips=5, lr=100, n_epochs=100)
    with pytest.warns(VacuousCertificateWarning) as record, np.errstate(all="ignore"):
        est.fit(X, y)
    messages = [str(w.message) for w in record if "parameter box diverged" in str(w.message)]
    assert len(messages) == 1 and "at step" in messages[0]
    assert est.bounds_diverged_ and est.max_width_ == np.inf
    assert np.all(np.isinf(est.coefs_lower_[0])) and est.certified_accuracy(X, y)[0] == 0.0
