"""The training plan and the nominal SGD step (``_plan.py``): references and replay."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits

from sklpoison import IntervalCertifier
from sklpoison.certification._plan import _forward, _nominal_grads
from sklpoison.utils._testing import replay_training

from ._helpers import (
    _cancer,
    _moons,
    _replay,
    _targets,
)


def test_nominal_matches_torch_sgd():
    torch = pytest.importorskip("torch")
    X, y = _moons(40)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.ReLU(), torch.nn.Linear(6, 1))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    est = IntervalCertifier(
        net, lr=0.2, n_epochs=4, batch_size=16, l2=0.01, lr_decay=0.05, random_state=0
    ).fit(X, y)
    # the module is not modified
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key])
    ref = torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.ReLU(), torch.nn.Linear(6, 1))
    ref.load_state_dict(state)
    ref = ref.double()
    opt = torch.optim.SGD(ref.parameters(), lr=0.2, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + 0.05 * t))
    batches = est._training_plan(len(y), 2, 1).batches
    Xt = torch.tensor(X)
    yt = torch.tensor(y, dtype=torch.float64)
    for idx in batches:
        opt.zero_grad()
        out = ref(Xt[idx])[:, 0]
        torch.nn.functional.binary_cross_entropy_with_logits(out, yt[idx]).backward()
        opt.step()
        sched.step()
    assert_allclose(est.coefs_[0], ref[0].weight.detach().numpy().T, rtol=1e-10, atol=1e-12)
    assert_allclose(est.coefs_[1], ref[2].weight.detach().numpy().T, rtol=1e-10, atol=1e-12)
    assert_allclose(est.intercepts_[1], ref[2].bias.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_nominal_gradients_match_finite_differences():
    X, y = load_digits(return_X_y=True)
    X, y = X[:20, ::8] / 16.0, y[:20] % 3
    est = IntervalCertifier("mlp", hidden_layer_sizes=(5,), n_epochs=1, random_state=0).fit(X, y)
    params = list(zip(est.coefs_, est.intercepts_))
    Y = _targets(est, y)
    g = _nominal_grads(params, X, Y, "ce", None)

    def loss(p):
        z = _forward(p, X)[1][-1]
        z = z - z.max(axis=1, keepdims=True)
        return -np.mean(np.sum(Y * (z - np.log(np.exp(z).sum(axis=1, keepdims=True))), axis=1))

    h = 1e-6
    for layer in range(2):
        W = params[layer][0]
        for i, j in [(0, 0), (W.shape[0] - 1, W.shape[1] - 1)]:
            plus = [(a.copy(), b.copy()) for a, b in params]
            minus = [(a.copy(), b.copy()) for a, b in params]
            plus[layer][0][i, j] += h
            minus[layer][0][i, j] -= h
            fd = (loss(plus) - loss(minus)) / (2 * h)
            assert_allclose(g[layer][0][i, j], fd, rtol=1e-5, atol=1e-8)


def test_replay_equals_refit_on_attacked_data():
    X, y = _moons(40)
    est = IntervalCertifier(
        "mlp",
        hidden_layer_sizes=(4,),
        n_label_flips=1,
        lr=0.3,
        n_epochs=3,
        batch_size=16,
        random_state=0,
    ).fit(X, y)
    params = _replay(est, X[None], y[None])
    assert_allclose(params[0][0][0], est.coefs_[0], rtol=0, atol=1e-13)
    y_att = y.copy()
    y_att[3] = 1 - y_att[3]
    refit = IntervalCertifier(**est.get_params()).fit(X, y_att)
    params = _replay(est, X[None], y_att[None])
    assert_allclose(params[1][0][0], refit.coefs_[1], rtol=0, atol=1e-13)


def test_fit_and_replay_run_the_same_step():
    # the replay used by every soundness test is fit's own SGD step: bit-identical
    X, y = _cancer()
    for kw in (
        dict(model="logistic", batch_size=16, lr_decay=0.1, l2=0.01),
        dict(model="mlp", hidden_layer_sizes=(4,), clip_gamma=0.5),
    ):
        est = IntervalCertifier(n_epochs=3, random_state=0, **kw).fit(X, y)
        params = replay_training(est, X, y)
        for (W, b), W0, b0 in zip(params, est.coefs_, est.intercepts_):
            assert np.array_equal(W, W0) and np.array_equal(b, b0)
