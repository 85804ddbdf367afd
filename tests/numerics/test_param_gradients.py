"""Tests of sklpoison.numerics._param_gradients: the adapters' parameter gradients and the
Gradient Canceling objective's gradient in the poisons, against finite differences and autograd."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, SGDClassifier

from sklpoison.datasets import make_or
from sklpoison.numerics._param_gradients import ParamGradLinearAdapter, make_param_grad_adapter
from sklpoison.utils._testing import linear_torch_adapter
from tests._skorch_nets import small_net

torch = pytest.importorskip("torch")


def _fd_grad(adapter, theta, g_eff, Xp, yp, n, h=1e-6):
    def obj(Z):
        u, _ = adapter.gc_grad(theta, g_eff, Z, yp, n)
        return 0.5 * u @ u

    grad = np.zeros_like(Xp)
    for idx in np.ndindex(*Xp.shape):
        Zp, Zm = Xp.copy(), Xp.copy()
        Zp[idx] += h
        Zm[idx] -= h
        grad[idx] = (obj(Zp) - obj(Zm)) / (2 * h)
    return grad


@pytest.mark.parametrize(
    "est, n_classes",
    [
        (LogisticRegression(), 2),
        (LogisticRegression(), 3),
        (LogisticRegression(fit_intercept=False, C=0.3), 3),
        (SGDClassifier(loss="log_loss", random_state=0), 3),
        (SGDClassifier(loss="log_loss", penalty="elasticnet", random_state=0), 2),
    ],
)
def test_gc_poison_gradient_matches_finite_differences(est, n_classes):
    X, y = make_classification(
        60, 4, n_informative=3, n_redundant=0, n_classes=n_classes, random_state=0
    )
    model = est.fit(X, y)
    adapter = make_param_grad_adapter(model)
    rng = np.random.RandomState(0)
    theta = adapter.get_theta() + 0.3 * rng.standard_normal(adapter.n_params)
    yi = np.searchsorted(adapter.classes_, y)
    g_eff = adapter.data_grad(theta, X, yi) + adapter.penalty_grad(theta, 60, 6)
    Xp, yp = X[:6] + 0.1 * rng.standard_normal((6, 4)), yi[:6]
    _, grad = adapter.gc_grad(theta, g_eff, Xp, yp, 60)
    assert_allclose(grad, _fd_grad(adapter, theta, g_eff, Xp, yp, 60), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_linear_numpy_path_matches_torch(n_classes):
    X, y = make_classification(
        50, 5, n_informative=3, n_redundant=0, n_classes=n_classes, random_state=1
    )
    lin = make_param_grad_adapter(LogisticRegression().fit(X, y))
    twin = linear_torch_adapter(lin)
    theta = lin.get_theta()
    yi = np.searchsorted(lin.classes_, y)
    assert_allclose(lin.data_grad(theta, X, yi), twin.data_grad(theta, X, yi), atol=1e-12)
    assert_allclose(lin.data_loss(theta, X, yi), twin.data_loss(theta, X, yi), rtol=1e-12)
    assert_allclose(
        lin.per_sample_grads(theta, X, yi), twin.per_sample_grads(theta, X, yi), atol=1e-12
    )
    assert_allclose(lin.margins(theta, X, yi), twin.margins(theta, X, yi), atol=1e-12)
    g_eff = lin.data_grad(theta, X, yi)
    u1, gx1 = lin.gc_grad(theta, g_eff, X[:7], yi[:7], 50)
    u2, gx2 = twin.gc_grad(theta, g_eff, X[:7], yi[:7], 50)
    assert_allclose(u1, u2, atol=1e-12)
    assert_allclose(gx1, gx2, atol=1e-12)


def test_skorch_gc_gradient_matches_finite_differences():
    X, y = make_or(10, random_state=0)
    net = small_net().fit(X.astype(np.float32), y)
    net.module_.double()
    adapter = make_param_grad_adapter(net, classes=np.array([0, 1]))
    assert adapter.dtype == torch.float64
    theta = adapter.get_theta()
    yi = y
    g_eff = adapter.data_grad(theta, X, yi)
    Xp, yp = X[:4] + 0.05, yi[:4]
    _, grad = adapter.gc_grad(theta, g_eff, Xp, yp, X.shape[0])
    assert_allclose(
        grad, _fd_grad(adapter, theta, g_eff, Xp, yp, X.shape[0]), rtol=1e-5, atol=1e-10
    )
    # per-sample gradients (vmap) average to the full-batch gradient
    assert_allclose(adapter.per_sample_grads(theta, X, yi).mean(0), g_eff, atol=1e-12)


def test_linear_adapter_with_theta_roundtrip():
    X, y = make_classification(60, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=0)
    model = LogisticRegression().fit(X, y)
    adapter = ParamGradLinearAdapter.from_estimator(model)
    theta = adapter.get_theta() * 2
    twin = adapter.with_theta(theta)
    assert_allclose(twin.decision_function(X), 2 * model.decision_function(X))
    assert_allclose(model.coef_, adapter.coef)  # the fitted model is untouched


def _fd_grad_masked(adapter, theta, g_eff, Xp, yp, n, mask, h=1e-6):
    def obj(Z):
        u, _ = adapter.gc_grad(theta, g_eff, Z, yp, n)  # unmasked u, masked by hand
        return 0.5 * np.sum(u[mask] ** 2)

    grad = np.zeros_like(Xp)
    for idx in np.ndindex(*Xp.shape):
        Zp, Zm = Xp.copy(), Xp.copy()
        Zp[idx] += h
        Zm[idx] -= h
        grad[idx] = (obj(Zp) - obj(Zm)) / (2 * h)
    return grad


@pytest.mark.parametrize(
    "est, n_classes",
    [
        (LogisticRegression(), 2),
        (LogisticRegression(), 3),
        (LogisticRegression(fit_intercept=False, C=0.3), 3),
        (SGDClassifier(loss="log_loss", random_state=0), 3),
    ],
)
def test_first_layer_cancel_gradient_is_exact_for_linear_models(est, n_classes):
    X, y = make_classification(
        60, 4, n_informative=3, n_redundant=0, n_classes=n_classes, random_state=0
    )
    adapter = make_param_grad_adapter(est.fit(X, y))
    mask = adapter.cancel_mask("first_layer")
    assert adapter.cancel_mask("all") is None
    # the coefficients, not the intercepts
    assert mask.sum() == adapter.coef.size and mask[: adapter.coef.size].all()
    rng = np.random.RandomState(1)
    theta = adapter.get_theta() + 0.3 * rng.standard_normal(adapter.n_params)
    yi = np.searchsorted(adapter.classes_, y)
    g_eff = adapter.data_grad(theta, X, yi) + adapter.penalty_grad(theta, 60, 6)
    Xp, yp = X[:6] + 0.1 * rng.standard_normal((6, 4)), yi[:6]
    u_full, _ = adapter.gc_grad(theta, g_eff, Xp, yp, 60)
    u, grad = adapter.gc_grad(theta, g_eff, Xp, yp, 60, mask)
    assert_allclose(u[mask], u_full[mask])
    assert np.all(u[~mask] == 0)
    fd = _fd_grad_masked(adapter, theta, g_eff, Xp, yp, 60, mask)
    assert_allclose(grad, fd, rtol=1e-5, atol=1e-9)
    # the intercept's block matters: the masked gradient differs from the full one
    if adapter.fit_intercept:
        assert not np.allclose(grad, adapter.gc_grad(theta, g_eff, Xp, yp, 60)[1], atol=1e-6)
    # the closed form equals torch autograd on the same masked objective
    if adapter.link == "softmax" or adapter.K == 1:
        twin = linear_torch_adapter(adapter)
        assert_allclose(twin.cancel_mask("first_layer"), mask)
        u2, grad2 = twin.gc_grad(theta, g_eff, Xp, yp, 60, mask)
        assert_allclose(u2, u, atol=1e-12)
        assert_allclose(grad2, grad, atol=1e-12)


def test_first_layer_cancel_gradient_is_exact_for_a_two_layer_net():
    X, y = make_or(10, random_state=0)
    net = small_net().fit(X.astype(np.float32), y)
    net.module_.double()
    adapter = make_param_grad_adapter(net, classes=np.array([0, 1]))
    mask = adapter.cancel_mask("first_layer")
    # the first layer's weight (8 x 2), not its bias nor the second layer
    assert adapter.names[0] == "body.0.weight" and mask.sum() == 16 and mask[:16].all()
    theta = adapter.get_theta()
    g_eff = adapter.data_grad(theta, X, y)
    Xp, yp = X[:4] + 0.05, y[:4]
    u, grad = adapter.gc_grad(theta, g_eff, Xp, yp, X.shape[0], mask)
    assert np.all(u[~mask] == 0)
    fd = _fd_grad_masked(adapter, theta, g_eff, Xp, yp, X.shape[0], mask)
    assert_allclose(grad, fd, rtol=1e-5, atol=1e-10)
