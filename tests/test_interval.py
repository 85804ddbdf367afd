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
