"""Tests of numerics._input_hessian and numerics._lanczos: dense Hessians, closed forms, FD."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

torch = pytest.importorskip("torch")

from sklearn.linear_model import LogisticRegression  # noqa: E402

from sklpoison.numerics import _input_hessian as IH  # noqa: E402
from sklpoison.numerics import _lanczos as H  # noqa: E402
from sklpoison.utils._testing import dense_per_sample_hessians  # noqa: E402

N_CLASSES = 5


def _mlp(d=64):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(d, 24), torch.nn.Tanh(), torch.nn.Linear(24, N_CLASSES)
    ).double()


class _CNN(torch.nn.Module):
    """ReLU + max-pool CNN on 1x10x10 images (d = 100)."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(4, 6, 3, padding=1),
            torch.nn.Softplus(),
        )
        self.fc = torch.nn.Linear(6 * 5 * 5, N_CLASSES)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


def _cnn():
    torch.manual_seed(1)
    return _CNN().double()


def _data(n, d, seed=0):
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, d)), rng.randint(0, N_CLASSES, size=n)


def _dense_hessians(model, X, y, shape):
    """Reference: torch.autograd.functional.hessian, one sample at a time."""
    out = []
    for x, t in zip(X, y, strict=True):
        target = torch.tensor([int(t)])

        def loss(v, target=target):
            return torch.nn.functional.cross_entropy(
                model(v.reshape(1, *shape)), target, reduction="sum"
            )

        out.append(torch.autograd.functional.hessian(loss, torch.tensor(x)).numpy())
    return np.array(out)


MODELS = {
    "mlp": (_mlp, (64,)),
    "cnn": (_cnn, (1, 10, 10)),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request):
    make, shape = MODELS[request.param]
    model = make().eval()
    d = int(np.prod(shape))
    X, y = _data(12, d, seed=3)
    dense = _dense_hessians(model, X, y, shape)
    return request.param, model, shape, X, y, dense


def test_per_sample_and_mean_hvp_match_dense(case):
    _, model, shape, X, y, dense = case
    adapter = IH.make_input_hessian_adapter(model, input_shape=shape)
    rng = np.random.RandomState(0)
    V = rng.normal(size=X.shape)
    assert_allclose(
        H.per_sample_hvp(adapter, X, y, V, batch_size=5),
        np.einsum("nij,nj->ni", dense, V),
        rtol=1e-9,
        atol=1e-12,
    )
    v = rng.normal(size=X.shape[1])
    assert_allclose(
        H.mean_hvp(adapter, X, y, v, batch_size=7), dense.mean(0) @ v, rtol=1e-9, atol=1e-12
    )
    block = rng.normal(size=(X.shape[1], 3))
    assert_allclose(H.mean_hvp(adapter, X, y, block), dense.mean(0) @ block, rtol=1e-9, atol=1e-12)
    for cached in (4, 1):  # graphs kept for all batches, or rebuilt at every product
        op = H.mean_hessian_operator(adapter, X, y, batch_size=4, max_cached_batches=cached)
        assert_allclose(op @ v, dense.mean(0) @ v, rtol=1e-9, atol=1e-12)
        assert_allclose(op @ (2 * v), 2 * dense.mean(0) @ v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", ["lanczos", "eigsh"])
def test_top5_eigenvalues_match_dense(case, solver):
    _, model, shape, X, y, dense = case
    adapter = IH.make_input_hessian_adapter(model, input_shape=shape)
    w, U = np.linalg.eigh(dense.mean(0))
    w, U = w[::-1][:5], U[:, ::-1][:, :5]
    vals, vecs = H.top_eigenpairs(
        adapter, X, y, n_components=5, max_iter=60, solver=solver, batch_size=5, random_state=0
    )
    assert_allclose(vals, w, rtol=1e-4)
    # eigenvectors up to sign (the spectrum is simple here)
    assert_allclose(np.abs(np.sum(vecs * U.T, axis=1)), 1.0, atol=1e-4)


def test_per_sample_top_eigenvalue_matches_dense(case):
    name, model, shape, X, y, dense = case
    adapter = IH.make_input_hessian_adapter(model, input_shape=shape)
    ref = np.linalg.eigvalsh(dense)[:, ::-1]
    d = X.shape[1]
    got = H.per_sample_top_eigenvalues(adapter, X, y, max_iter=d, batch_size=5, random_state=0)
    assert_allclose(got, ref[:, 0], rtol=1e-8, atol=1e-12)
    got3 = H.per_sample_top_eigenvalues(
        adapter, X, y, n_eigen=3, max_iter=d, batch_size=64, random_state=0
    )
    assert_allclose(got3, ref[:, :3], rtol=1e-8, atol=1e-12)


def test_relu_network_per_sample_hessian_is_low_rank_so_ten_steps_are_exact():
    # For a piecewise-linear (ReLU) network the input Hessian of the cross-entropy is
    # J^T (diag p - p p^T) J, of rank <= n_classes - 1: the paper's 10 Lanczos steps
    # then give the exact top eigenvalue.
    torch.manual_seed(2)
    model = (
        torch.nn.Sequential(
            torch.nn.Linear(100, 32), torch.nn.ReLU(), torch.nn.Linear(32, N_CLASSES)
        )
        .double()
        .eval()
    )
    X, y = _data(10, 100, seed=4)
    dense = _dense_hessians(model, X, y, (100,))
    assert np.all(np.linalg.matrix_rank(dense, tol=1e-10) <= N_CLASSES - 1)
    adapter = IH.make_input_hessian_adapter(model, input_shape=(100,))
    got = H.per_sample_top_eigenvalues(adapter, X, y, max_iter=10, random_state=0)
    assert_allclose(got, np.linalg.eigvalsh(dense)[:, -1], rtol=1e-8)


def test_gauss_newton_matches_jacobian_formula(case):
    _, model, shape, X, y, dense = case
    adapter = IH.make_input_hessian_adapter(model, input_shape=shape, curvature="gauss_newton")
    G = dense_per_sample_hessians(adapter, X, y, batch_size=5)
    Xt = torch.tensor(X).reshape(-1, *shape)
    # per-sample Jacobians: rows of the eval-mode model do not interact, so the
    # Jacobian of the batch-summed logits holds every J_i (much faster than vmap(jacrev))
    J = torch.autograd.functional.jacobian(lambda x: model(x).sum(0), Xt, vectorize=True)
    J = J.reshape(N_CLASSES, len(X), -1).permute(1, 0, 2).numpy()
    P = torch.softmax(model(Xt), 1).detach().numpy()
    A = P[:, :, None] * np.eye(N_CLASSES) - P[:, :, None] * P[:, None, :]
    assert_allclose(G, np.einsum("nci,ncd,ndj->nij", J, A, J), rtol=1e-9, atol=1e-12)
    # PSD, and the full Hessian differs from it only by the second-order term
    assert np.linalg.eigvalsh(G).min() > -1e-10


@pytest.mark.parametrize("n_classes", [2, 4])
def test_logistic_regression_closed_form_matches_torch_and_finite_differences(n_classes):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 6))
    y = rng.randint(0, n_classes, size=80)
    clf = LogisticRegression(C=10.0, max_iter=1000).fit(X, y)
    adapter = IH.make_input_hessian_adapter(clf)
    Xq, yq = X[:7], y[:7]
    Hs = dense_per_sample_hessians(adapter, Xq, yq)
    # torch: cross-entropy of the same linear logits (binary: sigmoid of one logit)
    W = torch.tensor(clf.coef_)
    b = torch.tensor(clf.intercept_)
    for x, t, Hi in zip(Xq, yq, Hs, strict=True):
        if n_classes == 2:

            def loss(v, t=t):
                z = v @ W[0] + b[0]
                return torch.nn.functional.binary_cross_entropy_with_logits(
                    z, torch.tensor(float(t), dtype=z.dtype)
                )
        else:

            def loss(v, t=t):
                return torch.nn.functional.cross_entropy((W @ v + b)[None], torch.tensor([t]))

        ref = torch.autograd.functional.hessian(loss, torch.tensor(x)).numpy()
        assert_allclose(Hi, ref, rtol=1e-8, atol=1e-12)

    # finite differences of the analytic input gradient of the log-loss, W^T (p - e_y)
    def grad(x, t):
        p = clf.predict_proba(x[None])[0]
        e = (clf.classes_ == t).astype(float)
        if n_classes == 2:
            return (p[1] - e[1]) * clf.coef_[0]
        return clf.coef_.T @ (p - e)

    h = 1e-5
    x, t = Xq[0], yq[0]
    fd = np.column_stack(
        [(grad(x + h * e, t) - grad(x - h * e, t)) / (2 * h) for e in np.eye(X.shape[1])]
    )
    assert_allclose(Hs[0], fd, rtol=1e-5, atol=1e-8)


def test_linear_model_without_softmax_probabilities_is_rejected():
    # a one-vs-rest log-loss SGDClassifier has coef_ and predict_proba, but its
    # probabilities are not the softmax of X @ coef_.T + b: the closed form is wrong there
    from sklearn.linear_model import SGDClassifier

    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 4))
    y = rng.randint(0, 3, size=90)
    sgd = SGDClassifier(loss="log_loss", random_state=0).fit(X, y)
    adapter = IH.make_input_hessian_adapter(sgd)
    with pytest.raises(ValueError, match="not the softmax of its linear decision function"):
        H.per_sample_hvp(adapter, X[:3], y[:3], X[:3])
    # the binary SGD model is a sigmoid of one logit: accepted, and it is the closed form
    sgd2 = SGDClassifier(loss="log_loss", random_state=0).fit(X, y % 2)
    Hs = dense_per_sample_hessians(IH.make_input_hessian_adapter(sgd2), X[:3], y[:3] % 2)
    p = sgd2.predict_proba(X[:3])[:, 1]
    w = sgd2.coef_[0]
    assert_allclose(Hs, (p * (1 - p))[:, None, None] * np.outer(w, w), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_krr_analytic_adapter_matches_finite_differences(kind):
    krr = pytest.importorskip("sklpoison.defences._krr")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 4))
    if kind == "regressor":
        y = np.sin(X[:, 0]) + X[:, 1]
        model = krr.GradRegKRR(alpha=0.1, gamma=0.3).fit(X, y)
    else:
        y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
        model = krr.GradRegKRRClassifier(alpha=0.1, gamma=0.3).fit(X, y)
    for curvature in ("hessian", "gauss_newton"):
        adapter = IH.make_input_hessian_adapter(model, curvature=curvature)
        Xq, yq = X[:3] + 0.1, y[:3]
        Hs = dense_per_sample_hessians(adapter, Xq, yq)

        def f(x):
            if kind == "regressor":
                return np.atleast_1d(model.predict(x[None])[0])
            return np.atleast_1d(model.decision_function(x[None])[0])

        def targets(t):
            if kind == "regressor":
                return np.atleast_1d(t)
            return np.where(model.classes_ == t, 1.0, -1.0)

        h = 1e-4
        for x, t, Hi in zip(Xq, yq, Hs, strict=True):
            E = np.eye(4) * h
            # Jacobian of f by central differences, then the loss 1/2 ||f - t||^2
            J = np.column_stack([(f(x + e) - f(x - e)) / (2 * h) for e in E])
            if curvature == "gauss_newton":
                ref = J.T @ J
            else:

                def grad(z, E=E, h=h, t=t):
                    Jz = np.column_stack([(f(z + e) - f(z - e)) / (2 * h) for e in E])
                    return Jz.T @ (f(z) - targets(t))

                ref = np.column_stack([(grad(x + e) - grad(x - e)) / (2 * h) for e in E])
            assert_allclose(Hi, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kernel", ["rbf", "linear"])
def test_krr_matrix_free_products_match_the_dense_hessians(n_classes, kernel):
    krr = pytest.importorskip("sklpoison.defences._krr")

    class DenseOnly(krr.GradRegKRRClassifier):  # no input_hessian_operator: the dense path
        @property
        def input_hessian_operator(self):
            raise AttributeError("input_hessian_operator")

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5))
    y = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5][: n_classes - 1])
    model = krr.GradRegKRRClassifier(alpha=0.1, kernel=kernel).fit(X, y)
    free = IH.make_input_hessian_adapter(model)
    dense = IH.make_input_hessian_adapter(DenseOnly(alpha=0.1, kernel=kernel).fit(X, y))
    V = rng.normal(size=(20, 5))
    Xq, yq = X[:20] + 0.3, y[:20]
    assert_allclose(
        free.batch_operator(Xq, yq)(V), dense.batch_operator(Xq, yq)(V), rtol=1e-10, atol=1e-12
    )


def test_batched_lanczos_exact_and_independent_of_batching():
    rng = np.random.RandomState(0)
    d, B = 20, 6
    A = rng.normal(size=(B, d, d))
    A = A + A.transpose(0, 2, 1)

    def matvec(V, A=A):
        return np.einsum("bij,bj->bi", A, V)

    vals, vecs = H.batched_lanczos(matvec, B, d, n_iter=d, n_eigen=3, random_state=0)
    ref_w, ref_U = np.linalg.eigh(A)
    assert_allclose(vals, ref_w[:, ::-1][:, :3], rtol=1e-10, atol=1e-10)
    # Ritz vectors are eigenvectors
    assert_allclose(np.einsum("bij,bkj->bki", A, vecs), vals[:, :, None] * vecs, atol=1e-8)
    # each operator's result does not depend on the others (shared start vectors)
    few = H.batched_lanczos(matvec, B, d, n_iter=5, random_state=7, return_eigenvectors=False)
    for b in range(B):
        one = H.batched_lanczos(
            lambda V, b=b: A[b] @ V[0],
            1,
            d,
            n_iter=5,
            random_state=7,
            return_eigenvectors=False,
        )
        assert_allclose(one[0], few[b], rtol=1e-12)
    # deterministic
    again = H.batched_lanczos(matvec, B, d, n_iter=5, random_state=7, return_eigenvectors=False)
    assert np.array_equal(again, few)


def test_batched_lanczos_survives_invariant_subspaces():
    # rank-2 operators: the Krylov space is exhausted after 3 steps; the iteration
    # restarts orthogonally and still returns the exact spectrum (two nonzero, rest 0)
    rng = np.random.RandomState(1)
    d = 12
    U = np.linalg.qr(rng.normal(size=(d, 2)))[0]
    A = U @ np.diag([3.0, -1.0]) @ U.T
    vals = H.batched_lanczos(
        lambda V: V @ A, 2, d, n_iter=8, n_eigen=8, random_state=0, return_eigenvectors=False
    )
    assert_allclose(vals[:, 0], 3.0, rtol=1e-10)
    assert_allclose(vals[:, -1], -1.0, rtol=1e-10)
    assert_allclose(vals[:, 1:-1], 0.0, atol=1e-10)
    # the zero operator
    zero = H.batched_lanczos(
        lambda V: 0 * V, 3, d, n_iter=4, random_state=0, return_eigenvectors=False
    )
    assert_allclose(zero, 0.0)


def test_skorch_net_uses_its_own_loss():
    skorch = pytest.importorskip("skorch")

    class Softmaxed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(8, 3)

        def forward(self, x):
            return torch.softmax(torch.tanh(self.lin(x)) * 3, dim=-1)

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 8)).astype(np.float32)
    y = rng.randint(0, 3, size=60)
    net = skorch.NeuralNetClassifier(Softmaxed, max_epochs=2, train_split=None, verbose=0)
    net.fit(X, y)  # default criterion NLLLoss on log-probabilities
    adapter = IH.make_input_hessian_adapter(net, input_shape=(8,))
    Hs = dense_per_sample_hessians(adapter, X[:4], y[:4])
    module = net.module_
    for x, t, Hi in zip(X[:4], y[:4], Hs, strict=True):

        def loss(v, t=t):
            p = module(v[None])
            return torch.nn.functional.nll_loss(
                torch.log(p + torch.finfo(p.dtype).eps), torch.tensor([t])
            )

        ref = torch.autograd.functional.hessian(loss, torch.tensor(x)).numpy()
        assert_allclose(Hi, ref, rtol=2e-3, atol=1e-5)
    # labels from the model when y is None
    assert_allclose(adapter.loss_labels(X[:10]), net.predict(X[:10]))
    # a FrozenEstimator (fitted model kept through clone) is unwrapped: same loss
    from sklearn.frozen import FrozenEstimator

    frozen = IH.make_input_hessian_adapter(FrozenEstimator(net), input_shape=(8,))
    assert_allclose(dense_per_sample_hessians(frozen, X[:4], y[:4]), Hs, rtol=1e-12)


def test_adapter_errors():
    model = _mlp()
    with pytest.raises(ValueError, match="input_shape is required"):
        IH.make_input_hessian_adapter(model)
    with pytest.raises(ValueError, match="curvature must be one of"):
        IH.make_input_hessian_adapter(model, input_shape=(64,), curvature="fisher")
    with pytest.raises(ValueError, match="Cannot take input Hessians"):
        IH.make_input_hessian_adapter(object())
    with pytest.raises(ValueError, match="not fitted"):
        IH.make_input_hessian_adapter(LogisticRegression())
    adapter = IH.make_input_hessian_adapter(model, input_shape=(64,))
    X, _ = _data(3, 64)
    with pytest.raises(ValueError, match=r"class indices in \[0, 4\]"):
        adapter.batch_operator(X, np.array([0, 1, 7]))
    with pytest.raises(ValueError, match="integer class indices"):
        adapter.loss_labels(X, np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="one label per sample"):
        adapter.loss_labels(X, np.array([0, 1]))
    with pytest.raises(ValueError, match="solver must be"):
        H.top_eigenpairs(adapter, X, np.array([0, 1, 2]), solver="power")


def test_torch_is_imported_lazily():
    code = (
        "import sys, sklpoison, sklpoison.numerics._input_hessian, sklpoison.numerics._lanczos, "
        "sklpoison.detection, "
        "sklpoison.plotting._spectrum; "
        "sklpoison.HessianSpectrumDetector; sklpoison.SpectralSignatureDetector; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
