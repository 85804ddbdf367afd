"""Tests of GradRegKRR and GradRegKRRClassifier (sklpoison/defences/_krr.py)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.linalg import LinAlgWarning
from scipy.optimize import minimize
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import RidgeClassifier

from sklpoison import GradRegKRR, GradRegKRRClassifier
from sklpoison.defences import _krr


@pytest.fixture
def reg_data():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    y = np.sin(X[:, 0]) + 0.3 * X[:, 1] + 0.1 * rng.randn(40)
    return X, y


def _dense_objective_parts(X, kernel, gamma):
    """K and the per-point Jacobians J_m (n, d, n) from explicit formulas (reference)."""
    diff = X[:, None, :] - X[None, :, :]  # x_m - x_i
    if kernel == "rbf":
        K = np.exp(-gamma * np.sum(diff**2, axis=-1))
        J = np.transpose(-2 * gamma * K[:, :, None] * diff, (0, 2, 1))  # (m, d, i)
    else:
        K = X @ X.T
        J = np.broadcast_to(X.T, (X.shape[0],) + X.T.shape)
    return K, J


def _objective(a, y, K, J, alpha, kappa):
    r = K @ a - y
    grads = np.einsum("mdi,i->md", J, a)
    return 0.5 * r @ r + 0.5 * alpha * a @ K @ a + 0.5 * kappa * np.sum(grads**2)


def _objective_grad(a, y, K, J, alpha, kappa):
    grads = np.einsum("mdi,i->md", J, a)
    return K @ (K @ a - y) + alpha * K @ a + kappa * np.einsum("mdi,md->i", J, grads)


# --------------------------------------------------------------- KernelRidge
@pytest.mark.parametrize("gamma", [None, 0.5])
def test_kappa_zero_reproduces_kernel_ridge(reg_data, gamma):
    X, y = reg_data
    Xt = np.random.RandomState(1).randn(25, 3)
    ours = GradRegKRR(alpha=0.7, kappa=0.0, gamma=gamma).fit(X, y)
    ref = KernelRidge(alpha=0.7, kernel="rbf", gamma=1 / 3 if gamma is None else gamma)
    ref.fit(X, y)
    assert_allclose(ours.predict(Xt), ref.predict(Xt), rtol=1e-8, atol=1e-8)
    assert_allclose(ours.dual_coef_, ref.dual_coef_, rtol=1e-8, atol=1e-10)
    assert ours.solver_ == "cholesky"


def test_tiny_kappa_is_continuous_with_kernel_ridge(reg_data):
    # exercises the K^2 + alpha K + kappa G path in the regime closest to KernelRidge
    X, y = reg_data
    ours = GradRegKRR(alpha=0.7, kappa=1e-9).fit(X, y)
    ref = KernelRidge(alpha=0.7, kernel="rbf", gamma=1 / 3).fit(X, y)
    assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n_samples", [30, 3])  # n > d (range path) and n < d (Cholesky)
@pytest.mark.parametrize("kappa", [0.0, 0.05, 2.0])
def test_linear_kernel_penalty_is_ridge(n_samples, kappa):
    rng = np.random.RandomState(0)
    X, y = rng.randn(n_samples, 5), rng.randn(n_samples)
    Xt = rng.randn(10, 5)
    ours = GradRegKRR(alpha=0.3, kappa=kappa, kernel="linear").fit(X, y)
    ref = KernelRidge(alpha=0.3 + n_samples * kappa, kernel="linear").fit(X, y)
    assert_allclose(ours.predict(Xt), ref.predict(Xt), rtol=1e-8, atol=1e-10)


def test_multi_output(reg_data):
    X, y = reg_data
    Y = np.column_stack([y, -2 * y + 1, X[:, 2]])
    for kappa in (0.0, 0.3):
        model = GradRegKRR(alpha=0.5, kappa=kappa).fit(X, Y)
        assert model.dual_coef_.shape == (40, 3)
        pred = model.predict(X[:7])
        assert pred.shape == (7, 3)
        for j in range(3):
            single = GradRegKRR(alpha=0.5, kappa=kappa).fit(X, Y[:, j])
            assert_allclose(pred[:, j], single.predict(X[:7]), rtol=1e-10, atol=1e-12)
        assert model.input_gradient(X[:4]).shape == (4, 3, 3)
        assert model.input_hessian(X[:4]).shape == (4, 3, 3, 3)
    ref = KernelRidge(alpha=0.5, kernel="rbf", gamma=1 / 3).fit(X, Y)
    assert_allclose(GradRegKRR(alpha=0.5).fit(X, Y).predict(X), ref.predict(X), rtol=1e-8)


# ------------------------------------------------------ objective and solution
@pytest.mark.parametrize("kernel", ["rbf", "linear"])
@pytest.mark.parametrize("alpha,kappa", [(0.5, 0.2), (0.01, 3.0), (1.0, 0.0)])
def test_solution_is_stationary_and_minimises_the_objective(reg_data, kernel, alpha, kappa):
    X, y = reg_data
    X, y = X[:25], y[:25]
    gamma = 0.4
    model = GradRegKRR(alpha=alpha, kappa=kappa, kernel=kernel, gamma=gamma).fit(X, y)
    K, J = _dense_objective_parts(X, kernel, gamma)
    a = model.dual_coef_
    G = np.einsum("mdi,mdj->ij", J, J)
    # the stationarity condition (K^2 + alpha K + kappa G) a = K y
    lhs = (K @ K + alpha * K + kappa * G) @ a
    assert_allclose(lhs, K @ y, atol=1e-8 * np.abs(K @ y).max())
    grad = _objective_grad(a, y, K, J, alpha, kappa)
    assert np.linalg.norm(grad) < 1e-8 * np.linalg.norm(K @ y)
    # and a direct numerical minimisation of J finds nothing lower
    res = minimize(
        _objective,
        np.zeros_like(y),
        args=(y, K, J, alpha, kappa),
        jac=_objective_grad,
        method="L-BFGS-B",
        options={"maxiter": 5000, "gtol": 1e-12, "ftol": 1e-15},
    )
    ours = _objective(a, y, K, J, alpha, kappa)
    assert ours <= res.fun + 1e-9 * max(1.0, abs(res.fun))
    assert_allclose(K @ res.x, K @ a, atol=1e-3)


def test_duplicated_rows_do_not_break_the_fit(reg_data):
    # duplicates make K (and the kappa > 0 system) singular; predictions must not care
    X, y = reg_data
    Xd, yd = np.vstack([X, X[:5]]), np.concatenate([y, y[:5]])
    with np.errstate(all="raise"):
        model = GradRegKRR(alpha=0.5, kappa=0.3, gamma=0.4).fit(Xd, yd)
    K, J = _dense_objective_parts(Xd, "rbf", 0.4)
    grad = _objective_grad(model.dual_coef_, yd, K, J, 0.5, 0.3)
    assert np.linalg.norm(grad) < 1e-7 * np.linalg.norm(K @ yd)
    assert np.all(np.isfinite(model.predict(X)))


def test_data_far_from_the_origin_fits_without_fallback():
    # scikit-learn's check_fit_idempotent data: 100 points around (100, 100)
    rng = np.random.RandomState(0)
    X, y = rng.normal(loc=100, size=(100, 2)), rng.normal(size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        model = GradRegKRR(alpha=0.5, kappa=0.1).fit(X, y)
    shifted = GradRegKRR(alpha=0.5, kappa=0.1).fit(X - 100, y)
    assert model.solver_ == "cholesky"
    assert_allclose(model.predict(X), shifted.predict(X - 100), rtol=1e-6, atol=1e-6)


def test_singular_system_falls_back_with_a_warning(reg_data):
    X, y = reg_data
    Xd, yd = np.vstack([X, X[:5]]), np.concatenate([y, y[:5]])
    with pytest.warns(LinAlgWarning, match="not numerically positive definite"):
        model = GradRegKRR(alpha=0.0, kappa=0.0, gamma=0.4).fit(Xd, yd)
    assert model.solver_ == "range"
    # alpha = 0: interpolation of the (consistent) data on the numerical range of K
    assert_allclose(model.predict(X), y, atol=1e-3)


# ------------------------------------------------------- input derivatives
def _fd(fun, X, h=1e-5):
    cols = []
    for j in range(X.shape[1]):
        E = np.zeros_like(X)
        E[:, j] = h
        cols.append((fun(X + E) - fun(X - E)) / (2 * h))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("kernel", ["rbf", "linear"])
def test_input_gradient_and_hessian_vs_finite_differences(reg_data, kernel):
    X, y = reg_data
    model = GradRegKRR(alpha=0.3, kappa=0.1, kernel=kernel).fit(X, y)
    Xq = np.random.RandomState(3).randn(6, 3)
    grad = model.input_gradient(Xq)
    assert grad.shape == (6, 3)
    assert_allclose(grad, _fd(model.predict, Xq), rtol=1e-6, atol=1e-8)
    hess = model.input_hessian(Xq)
    assert hess.shape == (6, 3, 3)
    assert_allclose(hess, _fd(model.input_gradient, Xq), rtol=1e-5, atol=1e-7)


def test_gradient_penalty_flattens_the_fit(reg_data):
    X, y = reg_data
    norms = [
        np.sum(GradRegKRR(alpha=0.1, kappa=k).fit(X, y).input_gradient(X) ** 2)
        for k in (0.0, 0.01, 0.1, 1.0, 10.0)
    ]
    assert np.all(np.diff(norms) < 0)


# ------------------------------------------------------------------ capacity
def test_effective_dof_decreases_with_kappa(reg_data):
    X, y = reg_data
    dofs = [
        GradRegKRR(alpha=0.2, kappa=k, compute_dof=True).fit(X, y).effective_dof_
        for k in (0, 0.01, 0.1, 1, 10)
    ]
    assert np.all(np.diff(dofs) < 0)
    assert 0 < dofs[-1] < dofs[0] < X.shape[0]


def test_effective_dof_matches_dense_smoother(reg_data):
    X, y = reg_data
    gamma = 0.4
    K, J = _dense_objective_parts(X, "rbf", gamma)
    G = np.einsum("mdi,mdj->ij", J, J)
    for alpha, kappa in [(0.3, 0.0), (0.3, 0.5)]:
        S = K @ np.linalg.solve(K @ K + alpha * K + kappa * G, K)
        model = GradRegKRR(alpha=alpha, kappa=kappa, gamma=gamma, compute_dof=True).fit(X, y)
        assert_allclose(model.effective_dof_, np.trace(S), rtol=1e-7)
        assert_allclose(S @ y, model.predict(X), rtol=1e-7, atol=1e-9)


def test_effective_dof_linear_closed_form():
    # linear kernel: sum_k s_k^2 / (s_k^2 + alpha + n kappa), on the range path
    rng = np.random.RandomState(0)
    X, y = rng.randn(30, 4), rng.randn(30)
    s2 = np.linalg.svd(X, compute_uv=False) ** 2
    model = GradRegKRR(alpha=0.5, kappa=0.1, kernel="linear", compute_dof=True).fit(X, y)
    assert model.solver_ == "range"
    assert_allclose(model.effective_dof_, np.sum(s2 / (s2 + 0.5 + 30 * 0.1)), rtol=1e-10)


# ---------------------------------------------------------------- classifier
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kappa", [0.0, 0.02])
def test_classifier_matches_ridge_classifier_linear(n_classes, kappa):
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    y = np.array(["a", "b", "c"])[:n_classes][rng.randint(0, n_classes, 60)]
    Xt = rng.randn(20, 4)
    ours = GradRegKRRClassifier(alpha=0.4, kappa=kappa, kernel="linear").fit(X, y)
    ref = RidgeClassifier(alpha=0.4 + 60 * kappa, fit_intercept=False).fit(X, y)
    assert_allclose(ours.decision_function(Xt), ref.decision_function(Xt), rtol=1e-8, atol=1e-10)
    assert np.array_equal(ours.predict(Xt), ref.predict(Xt))
    assert np.array_equal(ours.classes_, ref.classes_)
    shape = (20,) if n_classes == 2 else (20, n_classes)
    assert ours.decision_function(Xt).shape == shape


def test_classifier_rbf_fits_blobs():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(120, centers=3, random_state=0)
    clf = GradRegKRRClassifier(alpha=0.1, kappa=0.01, gamma=0.5).fit(X, y)
    assert clf.score(X, y) > 0.9
    # its decision function is GradRegKRR on the +-1 one-vs-rest targets
    Y = np.where(y[:, None] == np.arange(3), 1.0, -1.0)
    reg = GradRegKRR(alpha=0.1, kappa=0.01, gamma=0.5).fit(X, Y)
    assert_allclose(clf.decision_function(X), reg.predict(X), rtol=1e-10)
    assert clf.input_gradient(X[:2]).shape == (2, 3, 2)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("Est", [GradRegKRR, GradRegKRRClassifier])
@pytest.mark.parametrize(
    "params,match",
    [
        ({"alpha": -1.0}, "alpha"),
        ({"kappa": -0.1}, "kappa"),
        ({"gamma": -2.0}, "gamma"),
        ({"gamma": 0.0}, "gamma"),
        ({"kernel": "poly"}, "kernel"),
    ],
)
def test_bad_parameters(reg_data, Est, params, match):
    X, y = reg_data
    y = y > 0 if Est is GradRegKRRClassifier else y
    with pytest.raises(ValueError, match=match):
        Est(**params).fit(X, y)


def test_nan_and_inf_inputs(reg_data):
    X, y = reg_data
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GradRegKRR().fit(Xn, y)
    yn = y.copy()
    yn[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GradRegKRR().fit(X, yn)
    Xi = X.copy()
    Xi[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        GradRegKRR(kappa=1.0).fit(Xi, y)
    model = GradRegKRR().fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        model.predict(Xn)
    with pytest.raises(ValueError, match="NaN"):
        model.input_gradient(Xn)


def _no_memory(*args, **kwargs):
    raise MemoryError("Unable to allocate 12.5 KiB for an array with shape (40, 40)")


def test_out_of_memory_names_the_fit_and_the_fix(reg_data, monkeypatch):
    X, y = reg_data
    monkeypatch.setattr(_krr._kernels, "kernel_matrix", _no_memory)
    with pytest.raises(MemoryError, match=r"kernel matrix alone needs 12800 bytes.*Nystroem"):
        GradRegKRR().fit(X, y)
    with pytest.raises(MemoryError, match=r"n_samples=40"):
        GradRegKRRClassifier(kappa=1.0).fit(X, y > 0)
    # the message uses the real figure: a million samples would need 8e12 bytes per matrix
    with pytest.raises(MemoryError, match=r"8000000000000 bytes"):
        with _krr._memory_error_message(1_000_000, 0.0, "GradRegKRR"):
            _no_memory()


def test_memory_estimate_is_the_measured_peak():
    # the MemoryError message counts _BUFFERS_* n x n matrices: check that a fit (with and without
    # compute_dof) really peaks there, with tracemalloc (sees numpy buffers)
    import tracemalloc

    rng = np.random.RandomState(0)
    n = 320
    X, y = rng.randn(n, 4), rng.randn(n)
    matrix = 8 * n * n
    for kappa, buffers in ((0.0, _krr._BUFFERS_KAPPA0), (0.3, _krr._BUFFERS_KAPPA)):
        tracemalloc.start()
        try:
            model = GradRegKRR(alpha=0.5, kappa=kappa).fit(X, y)
            fit_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            model = GradRegKRR(alpha=0.5, kappa=kappa, compute_dof=True).fit(X, y)
            assert model.effective_dof_ > 0
            dof_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert model.solver_ == "cholesky"
        assert (buffers - 0.5) * matrix < fit_peak < (buffers + 0.5) * matrix
        assert dof_peak < (buffers + 0.5) * matrix


def test_range_fallback_solves_the_same_problem(reg_data, monkeypatch):
    # force the fallback (Cholesky "fails") and compare with the Cholesky solution,
    # the stationarity condition and the dense smoother trace
    X, y = reg_data
    gamma, alpha, kappa = 0.4, 0.3, 0.5
    ref = GradRegKRR(alpha=alpha, kappa=kappa, gamma=gamma, compute_dof=True).fit(X, y)
    ref_dof = ref.effective_dof_

    def failing_cho_factor(*args, **kwargs):
        raise _krr.linalg.LinAlgError("forced")

    monkeypatch.setattr(_krr.linalg, "cho_factor", failing_cho_factor)
    with pytest.warns(LinAlgWarning, match="falling back"):
        model = GradRegKRR(alpha=alpha, kappa=kappa, gamma=gamma, compute_dof=True).fit(X, y)
    assert model.solver_ == "range"
    K, J = _dense_objective_parts(X, "rbf", gamma)
    G = np.einsum("mdi,mdj->ij", J, J)
    a = model.dual_coef_
    assert_allclose((K @ K + alpha * K + kappa * G) @ a, K @ y, atol=1e-8 * np.abs(K @ y).max())
    assert_allclose(model.predict(X), ref.predict(X), rtol=1e-7, atol=1e-9)
    assert_allclose(model.effective_dof_, ref_dof, rtol=1e-7)


def test_effective_dof_of_interpolation_is_the_rank(reg_data):
    # alpha = kappa = 0 with duplicated rows: the fit projects y onto the range of K,
    # whose dimension is the number of distinct points (range fallback)
    X, y = reg_data
    Xd, yd = np.vstack([X, X[:5]]), np.concatenate([y, y[:5]])
    with pytest.warns(LinAlgWarning):
        model = GradRegKRR(alpha=0.0, kappa=0.0, gamma=0.4, compute_dof=True).fit(Xd, yd)
    assert model.solver_ == "range"
    assert_allclose(model.effective_dof_, 40, rtol=1e-8)
    # the linear kernel's range is the row space of X: dof = n_features
    lin = GradRegKRR(alpha=0.0, kernel="linear", compute_dof=True).fit(X, y)
    assert lin.solver_ == "range"
    assert_allclose(lin.effective_dof_, 3, rtol=1e-10)


@pytest.mark.parametrize("kappa", [0.0, 0.5])
@pytest.mark.parametrize("Model", [GradRegKRR, GradRegKRRClassifier])
def test_effective_dof_is_computed_by_fit_only_when_asked(reg_data, kappa, Model, monkeypatch):
    X, y = reg_data
    y = y if Model is GradRegKRR else y > 0
    plain = Model(alpha=0.3, kappa=kappa, gamma=0.4).fit(X, y)
    with pytest.raises(AttributeError, match=r"only when compute_dof=True.*Refit with"):
        getattr(plain, "effective_dof_")  # noqa: B009
    assert not hasattr(plain, "effective_dof_")
    model = Model(alpha=0.3, kappa=kappa, gamma=0.4, compute_dof=True).fit(X, y)
    # the same coefficients: the trace comes from the fit's factor, after the solve
    assert_allclose(model.dual_coef_, plain.dual_coef_, rtol=1e-12)
    assert model.solver_ == plain.solver_ == "cholesky"

    # reading it solves nothing
    def no_solve(*args, **kwargs):
        raise AssertionError("effective_dof_ must not solve on access")

    monkeypatch.setattr(_krr, "_solve", no_solve)
    assert 0 < model.effective_dof_ < X.shape[0]
    with pytest.raises(AssertionError, match="must not solve"):
        Model(alpha=0.3, kappa=kappa, gamma=0.4).fit(X, y)


def test_inputs_are_not_modified(reg_data):
    X, y = reg_data
    X0, y0 = X.copy(), y.copy()
    model = GradRegKRR(kappa=0.5).fit(X, y)
    model.predict(X)
    model.input_hessian(X[:3])
    assert np.array_equal(X, X0) and np.array_equal(y, y0)


def test_classifier_single_class(reg_data):
    X, _ = reg_data
    with pytest.raises(ValueError, match=r"needs at least 2 classes in y; got 1 class \(0"):
        GradRegKRRClassifier().fit(X, np.zeros(40))


def test_simplified_system_is_a_different_objective(reg_data):
    # (K + alpha I + kappa G) a = y is not the minimiser of J for kappa > 0
    X, y = reg_data
    gamma, alpha, kappa = 0.4, 0.5, 0.3
    K, J = _dense_objective_parts(X, "rbf", gamma)
    G = np.einsum("mdi,mdj->ij", J, J)
    simplified = np.linalg.solve(K + alpha * np.eye(40) + kappa * G, y)
    ours = GradRegKRR(alpha=alpha, kappa=kappa, gamma=gamma).fit(X, y).dual_coef_
    assert _objective(ours, y, K, J, alpha, kappa) < _objective(simplified, y, K, J, alpha, kappa)
    assert np.linalg.norm(_objective_grad(simplified, y, K, J, alpha, kappa)) > 1e-3


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 15),
    d=st.integers(1, 3),
    alpha=st.floats(1e-3, 10.0),
    kappa=st.floats(0.0, 10.0),
    n_dup=st.integers(0, 3),
    seed=st.integers(0, 2**16),
    kernel=st.sampled_from(["rbf", "linear"]),
)
def test_stationarity_property(n, d, alpha, kappa, n_dup, seed, kernel):
    # backward-stable solve of (K^2 + alpha K + kappa G) a = K y, duplicates included
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    X = np.vstack([X, X[:n_dup]])
    y = rng.randn(X.shape[0])
    model = GradRegKRR(alpha=alpha, kappa=kappa, kernel=kernel, gamma=0.5).fit(X, y)
    K, J = _dense_objective_parts(X, kernel, 0.5)
    G = np.einsum("mdi,mdj->ij", J, J)
    A = K @ K + alpha * K + kappa * G
    a = model.dual_coef_
    residual = np.linalg.norm(A @ a - K @ y)
    assert residual <= 1e-8 * (np.linalg.norm(A, 2) * np.linalg.norm(a) + np.linalg.norm(K @ y))
    assert np.all(np.isfinite(model.predict(X)))
