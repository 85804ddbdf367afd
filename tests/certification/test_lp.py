"""LP refinement of the certificates (``bound="lp"``, ``_lp.py``): sound, never looser."""

from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits

from sklpoison import IntervalCertifier
from sklpoison.certification._plan import _forward

from ._helpers import (
    _assert_inside,
    _flip,
    _moons,
    _random_rows,
    _replay,
)
from .test_box import _edge_values


def _F(x):
    return Fraction(float(x))


def test_lp_never_looser_and_sometimes_tighter():
    pytest.importorskip("cvxpy")
    X, y = load_digits(return_X_y=True)
    keep = y < 3
    X, y = X[keep][:40, ::8] / 16.0, y[keep][:40]
    kw = dict(hidden_layer_sizes=(6,), n_label_flips=1, lr=0.3, n_epochs=3, random_state=0)
    est_i = IntervalCertifier("mlp", **kw).fit(X, y)
    est_l = IntervalCertifier("mlp", bound="lp", **kw).fit(X, y)
    Xq = X[:12]
    lo_i, hi_i = est_i.predict_bounds(Xq, epsilon=0.02)
    lo_l, hi_l = est_l.predict_bounds(Xq, epsilon=0.02)
    assert np.all(lo_l >= lo_i) and np.all(hi_l <= hi_i)
    m_i = est_i._margins(*est_i._input_box(Xq, 0.02)[1:], np.zeros(12, dtype=int))
    m_l = est_l._margins(
        *est_l._input_box(Xq, 0.02)[1:], np.zeros(12, dtype=int), lp=est_l._lp_once()
    )
    assert np.all(m_l[0] >= m_i[0]) and np.all(m_l[1] <= m_i[1])
    # the relaxation gains on the class margins (shared hidden activations)
    assert np.any(m_l[0] > m_i[0] + 1e-6)
    # soundness of the LP on models actually reachable by label flips
    rows = _random_rows(rng_flip := np.random.RandomState(9), 60, len(y), 1)
    y_att = _flip(y, rows, est_l.classes_, rng_flip)
    params = _replay(est_l, np.broadcast_to(X, (len(y_att),) + X.shape), y_att)
    _assert_inside(est_l, params)
    cert_l = est_l.certify(Xq, epsilon=0.02)
    z = _forward(params, Xq)[1][-1]
    assert np.all(z >= lo_l - 1e-9) and np.all(z <= hi_l + 1e-9)
    assert np.all(est_l.classes_[np.argmax(z, axis=-1)][:, cert_l] == est_l.predict(Xq)[cert_l])
    # soundness of the LP: networks sampled from the box (vertices and interior)
    # on inputs sampled from the ball stay inside the LP bounds
    rng = np.random.RandomState(7)
    for _ in range(40):
        params = []
        for lo, hi, blo, bhi in est_l._box():
            u = rng.rand(*lo.shape)
            u = np.where(rng.rand(*lo.shape) < 0.5, np.round(u), u)
            v = rng.rand(*blo.shape)
            params.append((lo + u * (hi - lo), blo + v * (bhi - blo)))
        x = Xq + rng.uniform(-0.02, 0.02, size=Xq.shape)
        z = _forward(params, x)[1][-1]
        assert np.all(z >= lo_l - 1e-9) and np.all(z <= hi_l + 1e-9)
        marg = z[:, :1] - z
        assert np.all(marg >= m_l[0] - 1e-9) and np.all(marg <= m_l[1] + 1e-9)
    wi = est_i.certified_accuracy(Xq, y[:12])
    wl = est_l.certified_accuracy(Xq, y[:12])
    assert wl[0] >= wi[0] and wl[2] <= wi[2]


def test_lp_dual_bound_is_sound_for_any_multipliers():
    # the LP bound is read off the duals by weak duality: it must hold for *any*
    # non-negative multipliers (so it does not depend on the solver's accuracy),
    # and with the solver's duals it must match the LP optimum closely
    pytest.importorskip("cvxpy")
    X, y = load_digits(return_X_y=True)
    keep = y < 3
    X, y = X[keep][:30, ::8] / 16.0, y[keep][:30]
    est = IntervalCertifier(
        "mlp", hidden_layer_sizes=(5, 4), n_label_flips=1, lr=0.3, n_epochs=2, random_state=0
    ).fit(X, y)
    from sklpoison.certification._lp import LPForwardBounds

    lp = LPForwardBounds(est._box())
    Xq, eps = X[:3], 0.02
    rng = np.random.RandomState(11)
    for i in lp._queries(Xq - eps, Xq + eps):
        c = rng.normal(size=3)
        solver_bound = lp._minimize(c)
        assert lp.problem.value - 1e-9 <= solver_bound <= lp.problem.value
        mu = [tuple(rng.exponential(size=W.shape) for _ in range(4)) for W, *_ in lp.box]
        nu = [tuple(rng.exponential(size=W.shape[1]) for _ in range(4)) for W, *_ in lp.box[:-1]]
        random_bound = lp.dual_bound(c, mu, nu)
        for _ in range(100):
            params = []
            for lo, hi, blo, bhi in lp.box:
                u = rng.rand(*lo.shape)
                u = np.where(rng.rand(*lo.shape) < 0.5, np.round(u), u)
                params.append((lo + u * (hi - lo), blo + rng.rand(*blo.shape) * (bhi - blo)))
            x = Xq[i] + eps * rng.choice([-1.0, 1.0], size=Xq[i].shape)
            value = c @ _forward(params, x[None])[1][-1][0]
            assert value >= solver_bound and value >= random_bound


def test_lp_is_built_once_per_public_call(monkeypatch):
    pytest.importorskip("cvxpy")
    from sklpoison.certification import _lp

    X, y = _moons(30)
    est = IntervalCertifier(
        "mlp",
        hidden_layer_sizes=(4,),
        bound="lp",
        n_label_flips=1,
        lr=0.3,
        n_epochs=2,
        random_state=0,
    ).fit(X, y)
    calls = []
    build = _lp.LPForwardBounds._build
    monkeypatch.setattr(_lp.LPForwardBounds, "_build", lambda s: calls.append(1) or build(s))
    est.certified_accuracy(X[:6], y[:6])
    assert len(calls) == 1
    est.certify(X[:6])  # built only if the interval bounds leave a row undecided
    assert len(calls) in (1, 2)
    n = len(calls)
    est.predict_bounds(X[:3])
    assert len(calls) == n + 1


def test_relu_upper_line_dominates_relu_exactly():
    from sklpoison.certification._lp import relu_upper_line

    rng = np.random.RandomState(24)
    l = -np.abs(_edge_values(rng, 300)) - 2.0**-1074
    u = np.abs(_edge_values(rng, 300)) + 2.0**-1074
    l[:3], u[:3] = [-1.0, -(1 + 2.0**-52), -1e300], [1 + 2.0**-52, 1.0, 1e-300]
    slope, icpt = relu_upper_line(l, u)
    for i in range(len(l)):
        s, t = _F(slope[i]), _F(icpt[i])
        # a line above the convex relu at both end points is above it on [l, u]
        assert s * _F(l[i]) + t >= 0
        assert s * _F(u[i]) + t >= _F(u[i])
        assert 0 <= s <= 1
    # stable units: the identity and the zero line
    s, t = relu_upper_line(np.array([0.5, -2.0]), np.array([1.0, -1.0]))
    assert_array_equal(s, [1.0, 0.0]) and assert_array_equal(t, [0.0, 0.0])
    # the widening is tiny compared with the chord's intercept -u l / (u - l)
    s, t = relu_upper_line(np.array([-1.0]), np.array([3.0]))
    assert 0.75 <= t[0] <= 0.75 * (1 + 1e-15)
