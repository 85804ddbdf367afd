"""Tests of the interval arithmetic in sklpoison.numerics.interval: enclosure of sampled values."""

from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklpoison.numerics import interval as ia


def _box(rng, shape, scale=1.0, width=0.5):
    c = rng.normal(scale=scale, size=shape)
    r = rng.uniform(0, width, size=shape)
    return c - r, c + r


def _sample(rng, lo, hi, n):
    u = rng.uniform(size=(n,) + lo.shape)
    # include the vertices: half the samples at the end points
    u[: n // 2] = np.round(u[: n // 2])
    return np.clip(lo + u * (hi - lo), lo, hi)


def test_matmul_encloses_samples_and_point_case_is_exact():
    rng = np.random.RandomState(0)
    a_lo, a_hi = _box(rng, (5, 7))
    b_lo, b_hi = _box(rng, (7, 3))
    lo, hi = ia.interval_matmul(a_lo, a_hi, b_lo, b_hi)
    A = _sample(rng, a_lo, a_hi, 400)
    B = _sample(rng, b_lo, b_hi, 400)
    P = A @ B
    assert np.all(P >= lo) and np.all(P <= hi)
    # a point operand (same object) and zero-width intervals give the product
    A0 = rng.normal(size=(4, 6))
    B0 = rng.normal(size=(6, 2))
    lo, hi = ia.interval_matmul(A0, A0, B0, B0.copy())
    assert np.all(lo <= A0 @ B0) and np.all(A0 @ B0 <= hi)
    assert np.max(hi - lo) < 1e-13
    # point left operand, interval right operand, broadcasting over a leading axis
    Xs = rng.normal(size=(3, 4, 6))
    lo, hi = ia.interval_matmul(Xs, Xs, b_lo[:6], b_hi[:6])
    assert lo.shape == (3, 4, 3)
    Bs = _sample(rng, b_lo[:6], b_hi[:6], 200)
    P = np.einsum("aij,sjk->saik", Xs, Bs)
    assert np.all(P >= lo) and np.all(P <= hi)


def test_matmul_without_rounding_is_rumps_formula():
    rng = np.random.RandomState(1)
    a_lo, a_hi = _box(rng, (3, 4))
    b_lo, b_hi = _box(rng, (4, 2))
    lo, hi = ia.interval_matmul(a_lo, a_hi, b_lo, b_hi, round_outward=False)
    ac, ar = (a_lo + a_hi) / 2, (a_hi - a_lo) / 2
    bc, br = (b_lo + b_hi) / 2, (b_hi - b_lo) / 2
    r = np.abs(ac) @ br + ar @ np.abs(bc) + ar @ br
    assert_allclose(lo, ac @ bc - r, rtol=1e-12, atol=1e-14)
    assert_allclose(hi, ac @ bc + r, rtol=1e-12, atol=1e-14)
    # the rounded version is (slightly) wider
    lo2, hi2 = ia.interval_matmul(a_lo, a_hi, b_lo, b_hi)
    assert np.all(lo2 < lo) and np.all(hi2 > hi)
    assert np.max(hi2 - hi) < 1e-12


def test_elementwise_product_is_exact_hull():
    rng = np.random.RandomState(2)
    a_lo, a_hi = _box(rng, (50,))
    b_lo, b_hi = _box(rng, (50,))
    lo, hi = ia.interval_mul(a_lo, a_hi, b_lo, b_hi, round_outward=False)
    corners = np.stack([a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi])
    assert_array_equal(lo, corners.min(0))
    assert_array_equal(hi, corners.max(0))
    P = _sample(rng, a_lo, a_hi, 300) * _sample(rng, b_lo, b_hi, 300)
    lo, hi = ia.interval_mul(a_lo, a_hi, b_lo, b_hi)
    assert np.all(P >= lo) and np.all(P <= hi)


def test_relu_and_its_derivative():
    lo = np.array([-2.0, -1.0, 0.5, 0.0])
    hi = np.array([-1.0, 2.0, 3.0, 0.0])
    assert_array_equal(ia.relu(lo, hi)[0], [0, 0, 0.5, 0])
    assert_array_equal(ia.relu(lo, hi)[1], [0, 2, 3, 0])
    s_lo, s_hi = ia.relu_derivative(lo, hi)
    assert_array_equal(s_lo, [0, 0, 1, 0])
    assert_array_equal(s_hi, [0, 1, 1, 0])
    d_lo = np.array([-1.0, -1.0, -1.0, -1.0])
    d_hi = np.array([2.0, 2.0, 2.0, 2.0])
    o_lo, o_hi = ia.mul_by_01_interval(d_lo, d_hi, s_lo, s_hi)
    assert_array_equal(o_lo, [0, -1, -1, 0])
    assert_array_equal(o_hi, [0, 2, 2, 0])
    pos = np.array([0.5, 1.0])
    o_lo, o_hi = ia.mul_by_01_interval(pos, pos + 1, np.zeros(2), np.ones(2))
    assert_array_equal(o_lo, [0, 0])  # a [0, 1] factor reaches 0


def test_softmax_interval_encloses_and_is_tight_at_points():
    rng = np.random.RandomState(3)
    lo, hi = _box(rng, (20, 4), scale=3)
    p_lo, p_hi = ia.softmax_interval(lo, hi)
    Z = _sample(rng, lo, hi, 500)
    P = np.exp(Z - Z.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    assert np.all(P >= p_lo) and np.all(P <= p_hi)
    # the bound is attained at the corner (own logit low, others high)
    z = np.where(np.eye(4, dtype=bool)[0], lo[0], hi[0])
    p = np.exp(z) / np.exp(z).sum()
    assert_allclose(p_lo[0, 0], p[0], rtol=1e-12)
    z0 = rng.normal(size=(5, 3))
    q_lo, q_hi = ia.softmax_interval(z0, z0)
    q = np.exp(z0) / np.exp(z0).sum(1, keepdims=True)
    assert_allclose(q_lo, q, rtol=1e-12)
    assert_allclose(q_hi, q, rtol=1e-12)
    # extreme logits stay finite and inside [0, 1]
    big = np.array([[-800.0, 800.0]])
    b_lo, b_hi = ia.softmax_interval(big, big + 1)
    assert np.all(np.isfinite(b_lo)) and np.all((0 <= b_lo) & (b_hi <= 1))


def test_loss_derivative_intervals_enclose_every_allowed_label():
    rng = np.random.RandomState(4)
    # softmax cross-entropy with label sets
    lo, hi = _box(rng, (30, 3), scale=2)
    allowed = rng.rand(30, 3) < 0.5
    allowed[np.arange(30), rng.randint(0, 3, 30)] = True
    g_lo, g_hi = ia.softmax_cross_entropy_grad(lo, hi, allowed)
    Z = _sample(rng, lo, hi, 300)
    P = np.exp(Z) / np.exp(Z).sum(-1, keepdims=True)
    for c in range(3):
        G = P - np.eye(3)[c]
        ok = allowed[:, c]
        assert np.all(G[:, ok] >= g_lo[ok]) and np.all(G[:, ok] <= g_hi[ok])
    # binary cross-entropy, with and without flips
    lo, hi = _box(rng, (30, 1), scale=2)
    Z = _sample(rng, lo, hi, 300)
    S = 1 / (1 + np.exp(-Z))
    y = rng.randint(0, 2, 30)
    clean = np.eye(2, dtype=bool)[y]
    g_lo, g_hi = ia.binary_cross_entropy_grad(lo, hi, clean)
    G = S - y[:, None]
    assert np.all(G >= g_lo) and np.all(G <= g_hi)
    g_lo, g_hi = ia.binary_cross_entropy_grad(lo, hi, np.ones((30, 2), dtype=bool))
    for yy in (0, 1):
        assert np.all(S - yy >= g_lo) and np.all(S - yy <= g_hi)
    assert_allclose(g_lo, ia.sigmoid(lo) - 1, atol=1e-14)
    # squared error with moved targets
    lo, hi = _box(rng, (30, 1))
    y = rng.normal(size=(30, 1))
    g_lo, g_hi = ia.squared_error_grad(lo, hi, y, 0.3)
    Z = _sample(rng, lo, hi, 200)
    for t in (-0.3, 0.0, 0.3):
        G = 2 * (Z - y - t)
        assert np.all(G >= g_lo) and np.all(G <= g_hi)


@pytest.mark.parametrize("k", [0, 1, 3, 7, 9])
def test_topk_sum_matches_sorting(k):
    rng = np.random.RandomState(5)
    V = rng.normal(size=(7, 4, 3))
    s = np.sort(V, axis=0)
    expect_hi = s[::-1][: min(k, 7)].sum(0)
    expect_lo = s[: min(k, 7)].sum(0)
    assert_allclose(ia.topk_sum(V, k, largest=True), expect_hi, atol=1e-14)
    assert_allclose(ia.topk_sum(V, k, largest=False), expect_lo, atol=1e-14)
    assert ia.topk_sum(V, k).shape == (4, 3)


def test_topk_sum_bounds_every_subset_sum():
    rng = np.random.RandomState(6)
    V = rng.normal(size=(6, 5))
    hi = ia.topk_sum(V, 2)
    lo = ia.topk_sum(V, 2, largest=False)
    for i in range(6):
        for j in range(i + 1, 6):
            s = V[i] + V[j]
            assert np.all(lo <= s + 1e-15) and np.all(s <= hi + 1e-15)


def test_clip_and_outward():
    lo, hi = ia.clip_interval(np.array([-3.0, 0.2]), np.array([-2.0, 5.0]), 1.0)
    assert_array_equal(lo, [-1.0, 0.2])
    assert_array_equal(hi, [-1.0, 1.0])
    a = np.array([0.0, 1.0, -1.0])
    lo, hi = ia.outward(a, a)
    assert np.all(lo < a) and np.all(hi > a)
    s_lo, s_hi = ia.sigmoid_interval(np.array([-1e3, 0.0]), np.array([1e3, 0.0]))
    assert s_lo[0] == 0.0 and s_hi[0] == 1.0 and s_lo[1] < 0.5 < s_hi[1]


def test_matmul_enclosure_property_with_hypothesis():
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None)
    @given(
        n=st.integers(1, 4),
        m=st.integers(1, 6),
        p=st.integers(1, 3),
        scale=st.sampled_from([1e-8, 1.0, 1e6]),
        seed=st.integers(0, 10_000),
    )
    def check(n, m, p, scale, seed):
        rng = np.random.RandomState(seed)
        a_lo, a_hi = _box(rng, (n, m), scale=scale, width=scale * rng.rand())
        b_lo, b_hi = _box(rng, (m, p), scale=1.0, width=rng.rand())
        lo, hi = ia.interval_matmul(a_lo, a_hi, b_lo, b_hi)
        A = _sample(rng, a_lo, a_hi, 50)
        B = _sample(rng, b_lo, b_hi, 50)
        # exact (rational) products of the float samples lie inside
        for s in range(0, 50, 10):
            for i in range(n):
                for j in range(p):
                    exact = sum(Fraction(A[s, i, t]) * Fraction(B[s, t, j]) for t in range(m))
                    assert Fraction(lo[i, j]) <= exact <= Fraction(hi[i, j])
        e_lo, e_hi = ia.interval_mul(a_lo[:, :1], a_hi[:, :1], b_lo[:1], b_hi[:1])
        P = A[:, :, :1] * B[:, :1, :]
        assert np.all(P >= e_lo) and np.all(P <= e_hi)

    assert hypothesis is not None
    check()


# ------------------------------------------------ exact arithmetic at rounding edges

from sklpoison.numerics import rounding as rd  # noqa: E402

_EDGE = np.array(
    [
        1.0,
        1 + 2.0**-52,
        1 - 2.0**-53,
        -(1 + 2.0**-52),
        2.0**-1074,  # smallest subnormal
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


def _F(x):
    return Fraction(float(x))


def _edge_values(rng, n):
    """Edge values mixed with random ones of very different magnitudes."""
    pick = rng.choice(_EDGE, size=n)
    mix = rng.normal(size=n) * 10.0 ** rng.randint(-30, 30, size=n)
    return np.where(rng.rand(n) < 0.5, pick, mix)


def test_rounding_constants_and_directed_steps_bound_exact_results():
    assert rd.U == 2.0**-53 and rd.TINY == 2.0**-1022
    assert rd.gamma(1) == rd.U / (1 - rd.U)
    assert_allclose(rd.gamma(10), 10 * 2.0**-53 / (1 - 10 * 2.0**-53), rtol=1e-15)
    rng = np.random.RandomState(20)
    a, b = _edge_values(rng, 400), _edge_values(rng, 400)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        results = {
            "+": (a + b, lambda x, y: x + y),
            "-": (a - b, lambda x, y: x - y),
            "*": (a * b, lambda x, y: x * y),
        }
        for name, (res, op) in results.items():
            lo, hi = rd.round_down(res), rd.round_up(res)
            for i in range(len(a)):
                if not np.isfinite(res[i]):
                    continue
                exact = op(_F(a[i]), _F(b[i]))
                assert _F(lo[i]) <= exact <= _F(hi[i]), (name, a[i], b[i])
    # outward widens by at least (1 - gamma(2)) (rel |x| + abs) and is sound for the
    # value it was asked to cover
    x = _edge_values(rng, 200)
    x = x[np.abs(x) < 1e299]
    lo, hi = rd.outward(x, x, rel=4 * rd.U)
    for xi, li, hi_ in zip(x, lo, hi):
        need = (1 - Fraction(rd.gamma(2))) * (4 * Fraction(rd.U) * abs(_F(xi)) + _F(rd.TINY))
        assert _F(li) <= _F(xi) - need and _F(hi_) >= _F(xi) + need


def test_interval_ops_contain_exact_results_at_rounding_edges():
    rng = np.random.RandomState(21)
    n = 300
    a_lo = _edge_values(rng, n) / 1e10
    a_hi = a_lo + np.abs(_edge_values(rng, n)) * (rng.rand(n) < 0.5) / 1e10
    b_lo = _edge_values(rng, n) / 1e10
    b_hi = b_lo + np.abs(_edge_values(rng, n)) * (rng.rand(n) < 0.5) / 1e10
    with np.errstate(over="ignore", invalid="ignore"):
        m_lo, m_hi = ia.interval_mul(a_lo, a_hi, b_lo, b_hi)
        s_lo, s_hi = ia.interval_add(a_lo, a_hi, b_lo, b_hi)
    ok = np.isfinite(m_lo) & np.isfinite(m_hi) & np.isfinite(s_lo) & np.isfinite(s_hi)
    assert ok.mean() > 0.8
    for i in np.flatnonzero(ok):
        for ua in (0, 1):
            for ub in (0, 1):
                a = _F(a_hi[i] if ua else a_lo[i])
                b = _F(b_hi[i] if ub else b_lo[i])
                assert _F(m_lo[i]) <= a * b <= _F(m_hi[i])
                assert _F(s_lo[i]) <= a + b <= _F(s_hi[i])
    # cancellation: squared-error derivative 2 (z - y -/+ eps) around zero
    z = np.array([1 + 2.0**-52, 0.3, 1e16, -1e-300, 0.1 + 0.2])
    y = np.array([1.0, 0.2, 1e16 - 2.0, 0.0, 0.3])
    for eps in (0.0, 0.1, 2.0**-60):
        g_lo, g_hi = ia.squared_error_grad(z, z, y, eps)
        for i in range(len(z)):
            for t in (-eps, eps):
                exact = 2 * (_F(z[i]) - _F(y[i]) - _F(t))
                assert _F(g_lo[i]) <= exact <= _F(g_hi[i])


def test_matmul_contains_exact_products_with_cancellation_and_extreme_magnitudes():
    rng = np.random.RandomState(22)
    for trial in range(20):
        n, m, p = rng.randint(1, 4), rng.randint(2, 7), rng.randint(1, 3)
        A = _edge_values(rng, n * m).reshape(n, m) * 1e-150
        B = _edge_values(rng, m * p).reshape(m, p) * 1e-140
        if trial % 2:  # a row that cancels: x + (1 + 2^-52) - x - 1 style
            A[0, :2] = [1e16, -1e16]
            B[:2, 0] = [1 + 2.0**-52, 1.0]
        R = np.abs(rng.normal(size=B.shape)) * (rng.rand(*B.shape) < 0.5)
        b_lo, b_hi = B, B + R
        lo, hi = ia.interval_matmul(A, A, b_lo, b_hi)
        for _ in range(4):
            U_ = rng.rand(*B.shape) < 0.5
            Bs = np.where(U_, b_lo, b_hi)
            for i in range(n):
                for j in range(p):
                    exact = sum(_F(A[i, t]) * _F(Bs[t, j]) for t in range(m))
                    assert _F(lo[i, j]) <= exact <= _F(hi[i, j])


def test_sigmoid_and_softmax_intervals_contain_high_precision_values():
    mp = pytest.importorskip("mpmath")
    mp.mp.prec = 200
    z = np.array([-745.0, -700.0, -36.9, -1e-300, 0.0, 2.0**-52, 1 + 2.0**-52, 37.0, 700.0])
    s_lo, s_hi = ia.sigmoid_interval(z, z)
    for i, zi in enumerate(z):
        exact = 1 / (1 + mp.exp(-mp.mpf(float(zi))))
        assert mp.mpf(float(s_lo[i])) <= exact <= mp.mpf(float(s_hi[i]))
    rng = np.random.RandomState(23)
    logits = [
        np.array([[700.0, -700.0, 0.0]]),
        np.array([[1 + 2.0**-52, 1.0, 1 - 2.0**-53]]),
        np.array([[-740.0, -739.0, 5.0, 5.0]]),
        rng.normal(scale=30.0, size=(6, 4)),
    ]
    for Z in logits:
        p_lo, p_hi = ia.softmax_interval(Z, Z)
        for r in range(Z.shape[0]):
            den = mp.fsum(mp.exp(mp.mpf(float(v))) for v in Z[r])
            for j in range(Z.shape[1]):
                exact = mp.exp(mp.mpf(float(Z[r, j]))) / den
                assert mp.mpf(float(p_lo[r, j])) <= exact <= mp.mpf(float(p_hi[r, j]))
        g_lo, g_hi = ia.softmax_cross_entropy_grad(Z, Z, np.ones(Z.shape, dtype=bool))
        for r in range(Z.shape[0]):
            den = mp.fsum(mp.exp(mp.mpf(float(v))) for v in Z[r])
            for j in range(Z.shape[1]):
                exact = mp.exp(mp.mpf(float(Z[r, j]))) / den
                assert mp.mpf(float(g_lo[r, j])) <= exact - 1 and exact <= mp.mpf(float(g_hi[r, j]))
