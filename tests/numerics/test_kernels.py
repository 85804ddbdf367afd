"""Tests of the shared kernel math (sklpoison/numerics/kernels.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel

from sklpoison.numerics import kernels as _kernels
from sklpoison.numerics.kernels import (
    gradient_gram,
    input_gradient,
    input_hessian,
    input_hessian_operator,
    kernel_gradient,
    kernel_hessian,
    kernel_matrix,
    regularised_system,
)

KERNELS = ["rbf", "linear"]


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    return rng.randn(15, 4), rng.randn(6, 4), rng.randn(15), rng.randn(15, 3)


def _central_diff(fun, X, h=1e-5):
    """d fun(x) / dx for each row of X by central differences; fun maps (n, d) -> (n, ...)."""
    out = []
    for j in range(X.shape[1]):
        E = np.zeros_like(X)
        E[:, j] = h
        out.append((fun(X + E) - fun(X - E)) / (2 * h))
    return np.stack(out, axis=-1)


def test_kernel_matrix_matches_sklearn(data):
    X, Z, _, _ = data
    assert_allclose(kernel_matrix(X, Z, gamma=0.3), rbf_kernel(X, Z, gamma=0.3), rtol=1e-12)
    assert_allclose(kernel_matrix(X), rbf_kernel(X, gamma=1 / 4), rtol=1e-12)
    assert_allclose(kernel_matrix(X, Z, kernel="linear"), linear_kernel(X, Z), rtol=1e-12)
    K = kernel_matrix(X, gamma=0.7)
    assert np.array_equal(K, K.T) and np.all(np.diag(K) == 1.0)


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_gradient_and_hessian_vs_finite_differences(data, kernel):
    X, Z, _, _ = data
    g = 0.3
    grad = kernel_gradient(Z, X, kernel=kernel, gamma=g)
    fd = _central_diff(lambda P: kernel_matrix(P, X, kernel=kernel, gamma=g), Z)
    assert grad.shape == (6, 15, 4)
    assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    hess = kernel_hessian(Z, X, kernel=kernel, gamma=g)
    fd2 = _central_diff(lambda P: kernel_gradient(P, X, kernel=kernel, gamma=g), Z)
    assert hess.shape == (6, 15, 4, 4)
    assert_allclose(hess, fd2, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("multi", [False, True])
def test_input_gradient_vs_finite_differences(data, kernel, multi):
    X, Z, a, A = data
    coef = A if multi else a
    g = 0.2

    def f(P):
        return kernel_matrix(P, X, kernel=kernel, gamma=g) @ coef

    grad = input_gradient(Z, X, coef, kernel=kernel, gamma=g)
    assert grad.shape == ((6, 3, 4) if multi else (6, 4))
    assert_allclose(grad, _central_diff(f, Z), rtol=1e-6, atol=1e-8)
    # the contracted form equals the explicit per-centre tensor contracted with coef
    dense = np.einsum("qid,i...->q...d", kernel_gradient(Z, X, kernel=kernel, gamma=g), coef)
    assert_allclose(grad, dense, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("multi", [False, True])
def test_input_hessian_vs_finite_differences(data, kernel, multi):
    X, Z, a, A = data
    coef = A if multi else a
    g = 0.2
    hess = input_hessian(Z, X, coef, kernel=kernel, gamma=g)
    assert hess.shape == ((6, 3, 4, 4) if multi else (6, 4, 4))
    fd = _central_diff(lambda P: input_gradient(P, X, coef, kernel=kernel, gamma=g), Z)
    assert_allclose(hess, fd, rtol=1e-6, atol=1e-8)
    assert_allclose(hess, np.swapaxes(hess, -1, -2), atol=1e-12)
    dense = np.einsum("qide,i...->q...de", kernel_hessian(Z, X, kernel=kernel, gamma=g), coef)
    assert_allclose(hess, dense, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("multi", [False, True])
def test_input_hessian_operator_matches_dense_and_finite_differences(data, kernel, multi):
    X, Z, a, A = data
    Z = Z + 3.0  # away from the centres' mean: exercises the shift
    coef = A if multi else a
    g = 0.2
    rng = np.random.RandomState(1)
    V = rng.randn(*Z.shape)
    weights = rng.randn(Z.shape[0], 3) if multi else None
    got = input_hessian_operator(Z, X, coef, kernel=kernel, gamma=g, output_weights=weights)(V)
    dense = input_hessian(Z, X, coef, kernel=kernel, gamma=g)
    if multi:
        dense = np.einsum("qt,qtde->qde", weights, dense)
    assert_allclose(got, np.einsum("qde,qe->qd", dense, V), rtol=1e-10, atol=1e-12)
    # directional finite differences of the (weighted) input gradient
    h = 1e-5

    def weighted_grad(P):
        G = input_gradient(P, X, coef, kernel=kernel, gamma=g)
        return np.einsum("qt,qtd->qd", weights, G) if multi else G

    fd = (weighted_grad(Z + h * V) - weighted_grad(Z - h * V)) / (2 * h)
    assert_allclose(got, fd, rtol=1e-6, atol=1e-8)
    # one output, one weight per query point: the same as scaling the products
    if not multi:
        w = rng.rand(Z.shape[0], 1)
        scaled = input_hessian_operator(Z, X, a, kernel=kernel, gamma=g, output_weights=w)(V)
        assert_allclose(scaled, w * got, rtol=1e-12, atol=1e-14)


def test_input_hessian_operator_needs_weights_for_several_outputs(data):
    X, Z, _, A = data
    with pytest.raises(ValueError, match="output_weights is required"):
        input_hessian_operator(Z, X, A)


def test_input_hessian_blocks_agree(data, monkeypatch):
    X, Z, a, _ = data
    full = input_hessian(Z, X, a, gamma=0.2)
    # force blocks of one query point
    monkeypatch.setattr(_kernels, "_HESSIAN_BLOCK_BYTES", 1)
    assert_allclose(input_hessian(Z, X, a, gamma=0.2), full, rtol=1e-13, atol=1e-15)


def _dense_gram_reference(X, kernel, gamma):
    """G = sum_m J_m^T J_m from explicit per-point Jacobians (test-only reference)."""
    n = X.shape[0]
    G = np.zeros((n, n))
    for m in range(n):
        if kernel == "rbf":
            k = np.exp(-gamma * np.sum((X[m] - X) ** 2, axis=1))
            J = (-2 * gamma * k[:, None] * (X[m] - X)).T  # (d, n): column i = grad k(x_m, x_i)
        else:
            J = X.T
        G += J.T @ J
    return G


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("gamma", [None, 0.05, 0.8])
def test_gradient_gram_closed_form_vs_dense(data, kernel, gamma):
    X = data[0]
    g = 1 / X.shape[1] if gamma is None else gamma
    G = gradient_gram(X, kernel=kernel, gamma=gamma)
    ref = _dense_gram_reference(X, kernel, g)
    assert_allclose(G, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    assert_allclose(G, G.T, atol=1e-12 * np.abs(G).max())
    assert np.linalg.eigvalsh(G).min() > -1e-10 * np.abs(G).max()


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_matrix_blocks_are_exact(kernel):
    # n = 300 spans many column blocks of the in-place symmetrisation
    X = np.random.RandomState(1).randn(300, 3)
    K = kernel_matrix(X, kernel=kernel, gamma=0.2)
    ref = rbf_kernel(X, gamma=0.2) if kernel == "rbf" else linear_kernel(X)
    assert_allclose(K, ref, rtol=1e-12, atol=1e-14)
    assert np.array_equal(K, K.T)
    assert K.flags.c_contiguous


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("alpha,kappa", [(0.7, 0.3), (0.0, 2.0), (1.5, 0.0)])
def test_regularised_system_lower_triangle_vs_dense(kernel, alpha, kappa):
    # lower triangle of K^2 + alpha K + kappa G (dsyrk / dsyr2k) against dense products
    X = np.random.RandomState(2).randn(300, 3)
    K = kernel_matrix(X, kernel=kernel, gamma=0.3)
    ref = K @ K + alpha * K + kappa * _dense_gram_reference(X, kernel, 0.3)
    A = regularised_system(X, alpha=alpha, kappa=kappa, kernel=kernel, gamma=0.3)
    assert A.flags.f_contiguous and A.shape == (300, 300)
    assert_allclose(np.tril(A), np.tril(ref), rtol=1e-10, atol=1e-12 * np.abs(ref).max())


def test_gradient_gram_blocks_match_the_per_point_sum():
    # several column blocks (n = 300) in the Hadamard step and the symmetrisation
    X = np.random.RandomState(3).randn(300, 2)
    G = gradient_gram(X, gamma=0.6)
    ref = _dense_gram_reference(X, "rbf", 0.6)
    assert_allclose(G, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    assert np.array_equal(G, G.T)


@pytest.mark.parametrize("kernel", KERNELS)
def test_gradient_gram_is_the_penalty(data, kernel):
    # a^T G a = sum_m ||grad f(x_m)||^2, with the gradient from input_gradient
    X, _, a, _ = data
    G = gradient_gram(X, kernel=kernel, gamma=0.4)
    grads = input_gradient(X, X, a, kernel=kernel, gamma=0.4)
    assert_allclose(a @ G @ a, np.sum(grads**2), rtol=1e-10)


def test_gradient_gram_accepts_precomputed_matrices(data):
    X = data[0]
    K = kernel_matrix(X, gamma=0.3)
    assert_allclose(
        gradient_gram(X, gamma=0.3, K=K, KK=K @ K), gradient_gram(X, gamma=0.3), rtol=1e-13
    )


def test_unknown_kernel_raises(data):
    X = data[0]
    for fun in (kernel_matrix, gradient_gram):
        with pytest.raises(ValueError, match="kernel must be one of"):
            fun(X, kernel="poly")
    with pytest.raises(ValueError, match="kernel must be one of"):
        input_gradient(X, X, data[2], kernel="poly")


def test_far_from_origin_data_keeps_gram_psd_and_gradients_accurate():
    # the closed forms expand differences; centring keeps them accurate for offset data
    rng = np.random.RandomState(0)
    X = rng.normal(loc=100.0, size=(100, 2))
    K = kernel_matrix(X, gamma=0.5)
    dist = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    assert_allclose(K, np.exp(-0.5 * dist), rtol=1e-13)
    G = gradient_gram(X, gamma=0.5)
    ref = _dense_gram_reference(X, "rbf", 0.5)
    assert_allclose(G, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    a = rng.randn(100)
    Z = X[:3] + 0.1
    assert_allclose(
        input_gradient(Z, X, a, gamma=0.5),
        np.einsum("qid,i->qd", kernel_gradient(Z, X, gamma=0.5), a),
        rtol=1e-11,
        atol=1e-13,
    )
    assert_allclose(
        input_hessian(Z, X, a, gamma=0.5),
        np.einsum("qide,i->qde", kernel_hessian(Z, X, gamma=0.5), a),
        rtol=1e-11,
        atol=1e-13,
    )


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 12),
    d=st.integers(1, 4),
    gamma=st.floats(0.05, 2.0),
    offset=st.floats(-50.0, 50.0),
    seed=st.integers(0, 2**16),
    kernel=st.sampled_from(KERNELS),
)
def test_gradient_gram_property(n, d, gamma, offset, seed, kernel):
    X = np.random.RandomState(seed).randn(n, d) + offset
    if kernel == "linear":
        X -= offset  # keep the linear kernel's scale moderate
    G = gradient_gram(X, kernel=kernel, gamma=gamma)
    ref = _dense_gram_reference(X, kernel, gamma)
    scale = max(np.abs(ref).max(), 1e-300)
    if kernel == "rbf":
        # the closed form cancels terms of size (2 gamma)^2 (K K)_ij ||x - mean||^2 (the
        # l = i term of sum_l K_li K_lj (x_l - x_i).(x_l - x_j) is zero but computed as
        # a difference): entries far below that scale carry absolute, not relative, error
        K = kernel_matrix(X, gamma=gamma)
        Xc = X - X.mean(axis=0)
        terms = 4 * gamma**2 * np.max(K @ K) * np.max(np.sum(Xc**2, axis=1))
        scale = max(scale, terms)
    assert_allclose(G, ref, rtol=1e-9, atol=1e-11 * scale)
    assert np.linalg.eigvalsh(0.5 * (G + G.T)).min() > -1e-10 * scale
