"""Tests of the spike-efficacy theory helpers (sklpoison/theory.py)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklpoison import GradRegKRR, GradRegKRRClassifier
from sklpoison.theory import (
    gauss_newton_curvature,
    make_clustered_poisons,
    measure_spike_efficacy,
    poison_efficacy,
    posterior_covariance,
    spike_efficacy_law,
)

M_GRID = [1, 2, 4, 8, 16]


@pytest.fixture
def clean_data():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 2)
    return X, np.sign(X[:, 0])


def _fit_pair(est, X, y, zeta, m, target, spread=0.0):
    Xp, yp = make_clustered_poisons(zeta, m, poison_label=target, spread=spread, random_state=0)
    clean = GradRegKRR(**est).fit(X, y)
    poisoned = GradRegKRR(**est).fit(np.vstack([X, Xp]), np.concatenate([y, yp]))
    return clean, poisoned


# ------------------------------------------------------------- generator
def test_make_clustered_poisons():
    Xp, yp = make_clustered_poisons([1.0, -2.0, 0.5], 4, poison_label=7)
    assert Xp.shape == (4, 3) and yp.shape == (4,)
    assert np.all(Xp == [1.0, -2.0, 0.5]) and np.all(yp == 7)
    Xs, _ = make_clustered_poisons(np.zeros(3), 2000, poison_label=1.0, spread=0.1, random_state=0)
    assert_allclose(Xs.mean(axis=0), 0.0, atol=0.01)
    assert_allclose(Xs.std(axis=0), 0.1, rtol=0.05)
    again, _ = make_clustered_poisons(
        np.zeros(3), 2000, poison_label=1.0, spread=0.1, random_state=0
    )
    assert np.array_equal(Xs, again)
    _, Y = make_clustered_poisons(np.zeros(2), 3, poison_label=[1.0, -1.0])
    assert Y.shape == (3, 2)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"center": [[0.0, 1.0]]}, "center must be one point"),
        ({"center": [np.nan, 1.0]}, "finite"),
        ({"n_poison": 0}, "n_poison"),
        ({"n_poison": 2.5}, "n_poison"),
        ({"spread": -1.0}, "spread"),
    ],
)
def test_make_clustered_poisons_bad_input(kwargs, match):
    params = {"center": [0.0, 1.0], "n_poison": 3, "spread": 0.0} | kwargs
    with pytest.raises(ValueError, match=match):
        make_clustered_poisons(
            params["center"], params["n_poison"], poison_label=1.0, spread=params["spread"]
        )


# ------------------------------------------------------ measured quantities
def test_efficacy_and_curvature_are_what_they_say(clean_data):
    X, y = clean_data
    est = {"alpha": 0.1, "gamma": 0.5, "kappa": 0.05}
    zeta = np.array([2.0, 2.0])
    clean, poisoned = _fit_pair(est, X, y, zeta, 5, -1.0)
    X0 = np.array([[2.3, 2.0], [1.0, 0.0], [2.0, 2.5]])
    assert_allclose(
        poison_efficacy(clean, poisoned, X0), poisoned.predict(X0) - clean.predict(X0), rtol=1e-12
    )
    lam, direction = gauss_newton_curvature(clean, poisoned, X0, return_direction=True)
    g = poisoned.input_gradient(X0) - clean.input_gradient(X0)
    for q in range(3):
        # the top eigenvalue / eigenvector of the rank-one Gauss-Newton term
        w, V = np.linalg.eigh(np.outer(g[q], g[q]))
        assert_allclose(lam[q], w[-1], rtol=1e-10)
        assert_allclose(abs(direction[q] @ V[:, -1]), 1.0, rtol=1e-10)


def test_curvature_multi_output_is_top_eigenvalue(clean_data):
    X, y = clean_data
    Y = np.column_stack([y, X[:, 1]])
    Xp, yp = make_clustered_poisons([2.0, 2.0], 6, poison_label=[-1.0, 3.0])
    clean = GradRegKRR(alpha=0.1, gamma=0.5).fit(X, Y)
    poisoned = GradRegKRR(alpha=0.1, gamma=0.5).fit(np.vstack([X, Xp]), np.vstack([Y, yp]))
    X0 = np.array([[2.3, 2.0], [0.5, 0.5]])
    D = poisoned.input_gradient(X0) - clean.input_gradient(X0)  # (2, 2 outputs, 2)
    lam = gauss_newton_curvature(clean, poisoned, X0)
    for q in range(2):
        assert_allclose(lam[q], np.linalg.eigvalsh(D[q].T @ D[q])[-1], rtol=1e-10)


def test_classifier_pairs_use_the_decision_function(clean_data):
    X, y = clean_data
    Xp, yp = make_clustered_poisons([2.0, 2.0], 5, poison_label=-1.0)
    clean = GradRegKRRClassifier(alpha=0.1, gamma=0.5).fit(X, y)
    poisoned = GradRegKRRClassifier(alpha=0.1, gamma=0.5).fit(np.vstack([X, Xp]), np.r_[y, yp])
    X0 = np.array([[2.2, 2.0]])
    delta = poison_efficacy(clean, poisoned, X0)
    assert_allclose(delta, poisoned.decision_function(X0) - clean.decision_function(X0))
    assert delta[0] < 0  # pushed towards the target class -1


def test_pair_needs_input_gradients(clean_data):
    from sklearn.kernel_ridge import KernelRidge

    X, y = clean_data
    krr = KernelRidge().fit(X, y)
    with pytest.raises(ValueError, match="no input_gradient"):
        poison_efficacy(krr, krr, X[:2])
    with pytest.raises(ValueError, match="Expected a fitted sklpoison.GradRegKRR"):
        spike_efficacy_law(KernelRidge(kernel="linear").fit(X, y), X[:2], X[0], 3, poison_label=1.0)


# ------------------------------------------------------- the exact law
@pytest.mark.parametrize("kernel", ["rbf", "linear"])
def test_closed_form_law_matches_refits(clean_data, kernel):
    X, y = clean_data
    est = {"alpha": 0.2, "gamma": 0.5, "kernel": kernel}
    zeta = np.array([2.0, 1.5])
    X0 = np.array([[2.6, 1.5], [0.5, -1.0], [2.1, 1.4]])
    law = spike_efficacy_law(GradRegKRR(**est).fit(X, y), X0, zeta, M_GRID, poison_label=-1.0)
    for i, m in enumerate(M_GRID):
        clean, poisoned = _fit_pair(est, X, y, zeta, m, -1.0)
        assert_allclose(law.efficacy[i], poison_efficacy(clean, poisoned, X0), rtol=1e-7)
        assert_allclose(law.curvature[i], gauss_newton_curvature(clean, poisoned, X0), rtol=1e-6)
    # Lambda_GN = R_k * Delta f^2 with R_k independent of m
    assert_allclose(law.curvature, law.ratio[None, :] * law.efficacy**2, rtol=1e-10)
    # the gain saturates at 1 / Sigma0(zeta, zeta)
    assert np.all(np.diff(law.gain) > 0)
    cov_zz = posterior_covariance(GradRegKRR(**est).fit(X, y), zeta[None])[0, 0]
    assert np.all(law.gain < 1 / cov_zz)


def test_posterior_covariance(clean_data):
    X, y = clean_data
    model = GradRegKRR(alpha=0.3, gamma=0.5).fit(X, y)
    Z = np.random.RandomState(1).randn(5, 2)
    C = posterior_covariance(model, Z)
    K = np.exp(-0.5 * np.sum((X[:, None] - X[None]) ** 2, -1))
    kz = np.exp(-0.5 * np.sum((X[:, None] - Z[None]) ** 2, -1))
    kzz = np.exp(-0.5 * np.sum((Z[:, None] - Z[None]) ** 2, -1))
    assert_allclose(C, kzz - kz.T @ np.linalg.solve(K + 0.3 * np.eye(50), kz), atol=1e-12)
    assert np.linalg.eigvalsh(C).min() > -1e-12
    with pytest.raises(ValueError, match="kappa=0"):
        posterior_covariance(GradRegKRR(kappa=0.1).fit(X, y), Z)
    with pytest.raises(ValueError, match="alpha > 0"):
        spike_efficacy_law(GradRegKRR(alpha=0.0).fit(X, y), Z, Z[0], 3, poison_label=1.0)


def test_measured_quadratic_law_slope_is_two(clean_data):
    X, y = clean_data
    zeta = np.array([3.0, 3.0])
    X0 = zeta + np.array([[0.5, 0.0], [1.0, 0.5]])
    # alpha large enough that the efficacy spans a decade before the gain saturates
    est = GradRegKRR(alpha=5.0, gamma=0.5)
    exact = measure_spike_efficacy(est, X, y, X0, zeta, M_GRID, poison_label=-1.0)
    assert exact.efficacy.shape == (5, 2) and exact.curvature.shape == (5, 2)
    assert_allclose(exact.slope, 2.0, rtol=1e-8)
    assert np.all(np.diff(np.abs(exact.efficacy), axis=0) > 0)
    jittered = measure_spike_efficacy(
        est, X, y, X0, zeta, M_GRID, poison_label=-1.0, spread=1e-3, random_state=0
    )
    assert_allclose(jittered.slope, 2.0, atol=0.02)


def test_measure_spike_efficacy_verbose_shows_progress(clean_data, capsys):
    X, y = clean_data
    zeta = np.array([3.0, 3.0])
    est = GradRegKRR(alpha=5.0, gamma=0.5)
    quiet = measure_spike_efficacy(est, X, y, zeta[None] + 0.5, zeta, [1, 2], poison_label=-1.0)
    assert "poisoned refits" not in capsys.readouterr().err
    loud = measure_spike_efficacy(
        est, X, y, zeta[None] + 0.5, zeta, [1, 2], poison_label=-1.0, verbose=1
    )
    assert "poisoned refits" in capsys.readouterr().err
    assert_allclose(loud.efficacy, quiet.efficacy)


def test_near_clone_regime_rbf_vs_linear(clean_data):
    # far from the clean data, Sigma0(x, zeta) ~ k(x, zeta): R_k ~ 4 gamma^2 ||x0 - zeta||^2
    X, y = clean_data
    zeta = np.array([6.0, 6.0])
    r = np.array([1.0, 0.1, 0.01, 0.001])
    X0 = zeta + np.column_stack([r, np.zeros_like(r)])
    rbf = spike_efficacy_law(
        GradRegKRR(alpha=0.1, gamma=0.5).fit(X, y), X0, zeta, 10, poison_label=-1.0
    )
    assert_allclose(rbf.ratio[1:], 4 * 0.5**2 * r[1:] ** 2, rtol=0.02)
    assert np.all(np.diff(rbf.curvature[0]) < 0) and rbf.curvature[0, -1] < 1e-5
    assert np.all(np.abs(rbf.efficacy[0]) > 0.5)  # the attack still works
    lin = spike_efficacy_law(
        GradRegKRR(alpha=0.1, kernel="linear").fit(X, y), X0, zeta, 10, poison_label=-1.0
    )
    assert lin.curvature[0].min() > 0.5 * lin.curvature[0].max() > 0  # no vanishing spike
