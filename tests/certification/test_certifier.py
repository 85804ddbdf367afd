"""Tests of IntervalCertifier: soundness under concrete attacks, collapse, references, API."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_moons
from sklearn.preprocessing import StandardScaler

from sklpoison import IntervalCertifier, IntervalCertifierRegressor
from sklpoison.certification._plan import _forward, _nominal_grads
from sklpoison.utils._testing import replay_training, training_targets

# --------------------------------------------------------------------------- data


def _moons(n=60):
    X, y = make_moons(n, noise=0.15, random_state=0)
    return X, y


def _cancer(n=80, d=5):
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.RandomState(0)
    idx = rng.choice(len(y), n, replace=False)
    X = StandardScaler().fit_transform(X[:, :d])[idx]
    return X, y[idx]


def _digits17(n=300):
    X, y = load_digits(return_X_y=True)
    keep = (y == 1) | (y == 7)
    X, y = X[keep][:n] / 16.0, y[keep][:n]
    return X, y


def _diabetes(n=60):
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:n]
    y = (y[:n] - y.mean()) / y.std()
    return X, y


# ----------------------------------------------------------------- replay helpers


def _targets(est, y):
    """Targets in the layout of the nominal training (as fit encodes them)."""
    return training_targets(est, y)


def _replay(est, X_att, y_att):
    """Retrain the nominal model on many attacked datasets at once (leading axis), with the
    SGD step ``fit`` itself runs."""
    return replay_training(est, X_att, y_att)


def _assert_inside(est, params):
    """Every replayed parameter vector lies in the certified box (no tolerance)."""
    for layer, (W, b) in enumerate(params):
        assert np.all(W >= est.coefs_lower_[layer]) and np.all(W <= est.coefs_upper_[layer])
        assert np.all(b >= est.intercepts_lower_[layer])
        assert np.all(b <= est.intercepts_upper_[layer])


def _assert_certified_unchanged(est, params, X_test, epsilon=0.0, rng=None):
    """No certified prediction changes under any of the replayed attacks."""
    cert = est.certify(X_test, epsilon=epsilon)
    nominal = est.predict(X_test)
    X_eval = X_test
    if epsilon > 0:
        X_eval = X_test + rng.uniform(-epsilon, epsilon, size=X_test.shape)
    z = _forward(params, X_eval)[1][-1]  # (A, n, out)
    pred = (
        est.classes_[(z[..., 0] > 0).astype(int)]
        if z.shape[-1] == 1
        else (est.classes_[np.argmax(z, axis=-1)])
    )
    assert np.all(pred[:, cert] == nominal[cert])
    return cert


def _flip(y, rows, classes, rng):
    """Flip the labels at ``rows`` (shape (A, k)) to a random other class."""
    y_att = np.broadcast_to(y, rows.shape[:1] + y.shape).copy()
    a = np.arange(rows.shape[0])[:, None]
    cur = np.searchsorted(classes, y_att[a, rows])
    shift = rng.randint(1, len(classes), size=rows.shape)
    y_att[a, rows] = classes[(cur + shift) % len(classes)]
    return y_att


def _random_rows(rng, n_attacks, n, k):
    return np.argsort(rng.rand(n_attacks, n), axis=1)[:, :k]


# ------------------------------------------------------------- soundness: labels


@pytest.mark.parametrize(
    "data, model, k, kw",
    [
        (_moons, "logistic", 2, dict(lr=0.5, n_epochs=6)),
        (_cancer, "logistic", 1, dict(lr=0.2, n_epochs=4, batch_size=40)),
        (_digits17, "logistic", 1, dict(lr=0.5, n_epochs=4)),
        (_moons, "mlp", 1, dict(hidden_layer_sizes=(8,), lr=0.3, n_epochs=5)),
        (_cancer, "mlp", 1, dict(hidden_layer_sizes=(8,), lr=0.1, n_epochs=4, batch_size=40)),
    ],
)
def test_label_flip_attacks_stay_inside_the_box(data, model, k, kw):
    X, y = data()
    est = IntervalCertifier(model, n_label_flips=k, random_state=0, **kw).fit(X, y)
    rng = np.random.RandomState(1)
    n = len(y)
    # random flips
    rows = _random_rows(rng, 150, n, k)
    # adversarial flips: the k most confident / least confident rows, and the
    # rows whose flip pushes the nominal gradient hardest
    margin = np.abs(est.predict_proba(X)[:, 1] - 0.5)
    order = np.argsort(margin)
    # rows with the largest inputs move the first-layer gradient the most,
    # overall and coordinate by coordinate
    big = [np.argsort(-np.abs(X).sum(axis=1))[:k]]
    big += [np.argsort(-np.abs(X[:, j]))[:k] for j in range(min(X.shape[1], 8))]
    rows = np.vstack([rows, order[:k][None], order[-k:][None], *[b[None] for b in big]])
    y_att = _flip(y, rows, est.classes_, rng)
    params = _replay(est, np.broadcast_to(X, (len(y_att),) + X.shape), y_att)
    _assert_inside(est, params)
    cert = _assert_certified_unchanged(est, params, X)
    assert cert.mean() > 0.25  # the certificate is not vacuous


@pytest.mark.parametrize(
    "model, kw",
    [
        ("mlp", dict(hidden_layer_sizes=(6,), lr=0.5, n_epochs=2)),
        ("logistic", dict(lr=0.5, n_epochs=4)),
    ],
)
def test_exhaustive_single_flips_tiny_problem(model, kw):
    X, y = _moons(40)
    est = IntervalCertifier(model, n_label_flips=1, random_state=0, **kw).fit(X, y)
    rows = np.arange(len(y))[:, None]  # every single flip (binary: one alternative each)
    y_att = _flip(y, rows, est.classes_, np.random.RandomState(0))
    params = _replay(est, np.broadcast_to(X, (len(y),) + X.shape), y_att)
    _assert_inside(est, params)
    cert = _assert_certified_unchanged(est, params, X)
    assert cert.mean() > 0.3


def test_exhaustive_single_flips_softmax_with_target():
    X, y = load_digits(return_X_y=True)
    keep = y < 3
    X, y = X[keep][:30, ::4] / 16.0, y[keep][:30]
    est = IntervalCertifier(
        "logistic", n_label_flips=1, poison_target=2, lr=0.5, n_epochs=5, random_state=0
    ).fit(X, y)
    rows = np.flatnonzero(y != 2)
    y_att = np.broadcast_to(y, (len(rows), len(y))).copy()
    y_att[np.arange(len(rows)), rows] = 2
    params = _replay(est, np.broadcast_to(X, (len(rows),) + X.shape), y_att)
    _assert_inside(est, params)
    _assert_certified_unchanged(est, params, X)
    # flips to another class than the target are outside this threat model: the
    # box of the unrestricted threat model must contain the restricted one
    free = IntervalCertifier("logistic", n_label_flips=1, lr=0.5, n_epochs=5, random_state=0).fit(
        X, y
    )
    assert np.all(free.coefs_lower_[0] <= est.coefs_lower_[0])
    assert np.all(free.coefs_upper_[0] >= est.coefs_upper_[0])


# ----------------------------------------------------------- soundness: features


def _feature_attacks(est, X, y, k, eps, rng, n_random=120):
    """Perturbations of ``k`` rows within ``eps``: random vertices, uniform, gradient signs."""
    n, d = X.shape
    A = n_random
    rows = _random_rows(rng, A + 4, n, k)
    delta = np.zeros((A + 4, k, d))
    delta[: A // 2] = eps * rng.choice([-1.0, 1.0], size=(A // 2, k, d))
    delta[A // 2 : A] = rng.uniform(-eps, eps, size=(A - A // 2, k, d))
    # worst-case-ish: the sign of the input gradient of the training loss
    params = list(zip(est.coefs_, est.intercepts_))
    hs, zs = _forward(params, X)
    Y = _targets(est, y)
    from sklpoison.certification._plan import _output_grad

    dz = _output_grad(est._loss_kind(est.n_outputs_), zs[-1], Y)
    gx = dz
    for layer in range(len(params) - 1, -1, -1):
        gx = gx @ params[layer][0].T
        if layer > 0:
            gx = gx * (zs[layer - 1] > 0)
    worst_rows = np.argsort(-np.abs(gx).sum(axis=1))[:k]
    for j, s in enumerate([1.0, -1.0]):
        rows[A + j] = worst_rows
        delta[A + j] = s * eps * np.sign(gx[worst_rows])
    # push along the sign of the weights of the first layer's first unit
    for j, s in enumerate([1.0, -1.0]):
        rows[A + 2 + j] = worst_rows
        delta[A + 2 + j] = s * eps * np.sign(est.coefs_[0][:, 0])
    X_att = np.broadcast_to(X, (A + 4, n, d)).copy()
    a = np.arange(A + 4)[:, None]
    X_att[a, rows] += delta
    return X_att, rows


@pytest.mark.parametrize(
    "data, model, k, kw",
    [
        (_moons, "logistic", 3, dict(lr=0.5, n_epochs=6)),
        (_cancer, "logistic", 3, dict(lr=0.2, n_epochs=6, batch_size=20)),
        (_digits17, "logistic", 3, dict(lr=0.5, n_epochs=4)),
        (_moons, "mlp", 3, dict(hidden_layer_sizes=(8,), lr=0.3, n_epochs=5)),
        (_digits17, "mlp", 1, dict(hidden_layer_sizes=(8,), lr=1.0, n_epochs=3)),
    ],
)
def test_feature_attacks_stay_inside_the_box(data, model, k, kw):
    X, y = data()
    eps = 0.05
    est = IntervalCertifier(model, n_poison=k, epsilon=eps, random_state=0, **kw).fit(X, y)
    rng = np.random.RandomState(2)
    X_att, _ = _feature_attacks(est, X, y, k, eps, rng)
    params = _replay(est, X_att, np.broadcast_to(y, X_att.shape[:2]))
    _assert_inside(est, params)
    cert = _assert_certified_unchanged(est, params, X)
    assert cert.mean() > 0.3


@pytest.mark.parametrize("paired", [False, True])
def test_joint_feature_and_label_attacks(paired):
    X, y = _moons(50)
    k, eps = 2, 0.05
    est = IntervalCertifier(
        "mlp",
        hidden_layer_sizes=(8,),
        n_poison=k,
        epsilon=eps,
        n_label_flips=k,
        paired=paired,
        lr=0.3,
        n_epochs=4,
        random_state=0,
    ).fit(X, y)
    rng = np.random.RandomState(3)
    X_att, rows = _feature_attacks(est, X, y, k, eps, rng, n_random=100)
    flip_rows = rows if paired else _random_rows(rng, len(rows), len(y), k)
    y_att = _flip(y, flip_rows, est.classes_, rng)
    params = _replay(est, X_att, y_att)
    _assert_inside(est, params)
    _assert_certified_unchanged(est, params, X)
    if paired:  # the paired threat model is contained in the unpaired one
        free = IntervalCertifier(
            "mlp",
            hidden_layer_sizes=(8,),
            n_poison=k,
            epsilon=eps,
            n_label_flips=k,
            lr=0.3,
            n_epochs=4,
            random_state=0,
        ).fit(X, y)
        for lo_f, lo_p in zip(free.coefs_lower_, est.coefs_lower_):
            assert np.all(lo_f <= lo_p + 1e-12)


def test_unbounded_attacks_with_clipping():
    X, y = _moons(50)
    k = 1
    est = IntervalCertifier(
        "logistic", n_poison=k, unbounded=True, clip_gamma=0.5, lr=0.3, n_epochs=5, random_state=0
    ).fit(X, y)
    rng = np.random.RandomState(4)
    A = 150
    rows = _random_rows(rng, A, len(y), k)
    X_att = np.broadcast_to(X, (A,) + X.shape).copy()
    X_att[np.arange(A)[:, None], rows] = rng.normal(scale=50.0, size=(A, k, X.shape[1]))
    y_att = np.broadcast_to(y, (A, len(y))).copy()
    y_att[np.arange(A)[:, None], rows] = rng.randint(0, 2, size=(A, k))
    params = _replay(est, X_att, y_att)
    _assert_inside(est, params)
    cert = _assert_certified_unchanged(est, params, X)
    assert cert.mean() > 0.3


@pytest.mark.parametrize(
    "model, paired, batch_size",
    [("linear", False, 20), ("linear", True, None), ("mlp", False, 30)],
)
def test_regression_label_and_feature_attacks(model, paired, batch_size):
    X, y = _diabetes()
    k, eps, nu = 2, 0.05, 0.2
    est = IntervalCertifierRegressor(
        model,
        hidden_layer_sizes=(4,),
        n_poison=k,
        epsilon=eps,
        n_label_flips=k,
        label_epsilon=nu,
        paired=paired,
        lr=0.05,
        n_epochs=5 if model == "linear" else 2,
        batch_size=batch_size,
        random_state=0,
    ).fit(X, y)
    rng = np.random.RandomState(5)
    X_att, rows = _feature_attacks(est, X, y, k, eps, rng, n_random=100)
    y_att = np.broadcast_to(y, X_att.shape[:2]).copy()
    a = np.arange(len(rows))[:, None]
    if not paired:
        rows = _random_rows(rng, len(rows), len(y), k)
    # targets pushed against the residual (worst case for the fit) or randomly
    resid_sign = np.sign(est.predict(X) - y)
    sgn = rng.choice([-1.0, 1.0], size=rows.shape)
    sgn[::2] = resid_sign[rows[::2]]
    y_att[a, rows] += nu * sgn
    params = _replay(est, X_att, y_att)
    _assert_inside(est, params)
    lo, hi = est.predict_bounds(X)
    pred = _forward(params, X)[1][-1][..., 0]
    assert np.all(pred >= lo) and np.all(pred <= hi)
    worst, nominal, best = est.certified_mse(X, y)
    mses = ((pred - y) ** 2).mean(axis=1)
    assert best <= mses.min() and mses.max() <= worst and best <= nominal <= worst


def test_backdoor_test_ball_and_attack_success():
    X, y = _moons(60)
    est = IntervalCertifier(
        "mlp", hidden_layer_sizes=(8,), n_poison=2, epsilon=0.05, lr=0.3, n_epochs=5, random_state=0
    ).fit(X, y)
    rng = np.random.RandomState(6)
    X_att, _ = _feature_attacks(est, X, y, 2, 0.05, rng, n_random=40)
    params = _replay(est, X_att, np.broadcast_to(y, X_att.shape[:2]))
    eps_test = 0.05
    for _ in range(3):  # random test inputs inside the test-time ball
        _assert_certified_unchanged(est, params, X, epsilon=eps_test, rng=rng)
    bound = est.certified_attack_success(X, epsilon=eps_test)
    assert_allclose(bound, 1 - est.certify(X, epsilon=eps_test).mean())
    # targeted success rate of every replayed model stays below the bound
    trigger = np.array([0.05, -0.05])
    b_t = est.certified_attack_success(X, trigger, target=est.classes_[1])
    z = _forward(params, X + trigger)[1][-1][..., 0]
    ref = est.predict(X)
    keep = ref != est.classes_[1]
    rates = (z[:, keep] > 0).mean(axis=1)
    assert rates.max() <= b_t + 1e-12


# ----------------------------------------------------- collapse and references


@pytest.mark.parametrize(
    "model, kw",
    [("logistic", {}), ("mlp", dict(hidden_layer_sizes=(8, 8))), ("linear", {})],
)
def test_zero_budget_collapses(model, kw):
    X, y = _diabetes() if model == "linear" else _moons()
    # interval propagation amplifies the (outward-rounded) float64 noise by the
    # same factor per step as any width: keep the regression run short
    lr, n_epochs = (0.05, 5) if model == "linear" else (0.1, 10)
    Est = IntervalCertifierRegressor if model == "linear" else IntervalCertifier
    est = Est(
        model, lr=lr, n_epochs=n_epochs, batch_size=16, l2=0.01, lr_decay=0.1, random_state=0, **kw
    ).fit(X, y)
    assert est.max_width_ < 1e-10
    for lo, W, hi in zip(est.coefs_lower_, est.coefs_, est.coefs_upper_):
        assert np.all(lo <= W) and np.all(W <= hi)
    if model != "linear":
        worst, nominal, best = est.certified_accuracy(X, y)
        assert worst == nominal == best
        assert est.certify(X).all()
    # epsilon > 0 with n_poison = 0 is no poisoning either
    est2 = Est(model, epsilon=0.3, lr=0.1, n_epochs=3, random_state=0, **kw).fit(X, y)
    assert est2.max_width_ < 1e-10


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


# -------------------------------------------------------------- monotonicity


def test_boxes_nested_and_certified_accuracy_monotone_in_k_and_eps():
    X, y = _moons(60)
    kw = dict(hidden_layer_sizes=(8,), lr=0.3, n_epochs=4, random_state=0)
    prev, prev_acc = None, 1.0
    for k in [0, 1, 2, 4]:
        est = IntervalCertifier("mlp", n_label_flips=k, **kw).fit(X, y)
        acc = est.certified_accuracy(X, y)[0]
        assert acc <= prev_acc
        if prev is not None:
            for a, b in zip(prev.coefs_lower_, est.coefs_lower_):
                assert np.all(b <= a)
            for a, b in zip(prev.coefs_upper_, est.coefs_upper_):
                assert np.all(b >= a)
        prev, prev_acc = est, acc
    prev_acc = 1.0
    prev = None
    for eps in [0.0, 0.02, 0.05, 0.1]:
        est = IntervalCertifier("mlp", n_poison=3, epsilon=eps, **kw).fit(X, y)
        acc = est.certified_accuracy(X, y)[0]
        assert acc <= prev_acc
        if prev is not None:
            for a, b in zip(prev.coefs_upper_, est.coefs_upper_):
                assert np.all(b >= a)
        # test-time epsilon is monotone too
        accs = [est.certified_accuracy(X, y, epsilon=e)[0] for e in (0.0, 0.05, 0.2)]
        assert accs == sorted(accs, reverse=True)
        prev, prev_acc = est, acc


def test_certified_accuracy_bounds_are_ordered():
    X, y = _cancer()
    est = IntervalCertifier("logistic", n_label_flips=3, lr=0.2, n_epochs=5, random_state=0).fit(
        X, y
    )
    worst, nominal, best = est.certified_accuracy(X, y)
    assert 0 <= worst <= nominal <= best <= 1
    cert = est.certify(X)
    correct = est.predict(X) == y
    assert_allclose(worst, np.mean(cert & correct))


# ----------------------------------------------------------------- LP bounds


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


# -------------------------------------------------------------------- API


def test_parameter_errors():
    X, y = _moons(20)
    with pytest.raises(ValueError, match="clip_gamma"):
        IntervalCertifier(unbounded=True, n_poison=1).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        IntervalCertifier("mlp").fit(X, y)
    with pytest.raises(ValueError, match="lr \\* l2"):
        IntervalCertifier(lr=1.0, l2=2.0).fit(X, y)
    with pytest.raises(ValueError, match="poison_target"):
        IntervalCertifier(poison_target=5).fit(X, y)
    # one estimator per task: the classifier trains logistic / softmax models or an MLP
    with pytest.raises(ValueError, match="'model' parameter of IntervalCertifier"):
        IntervalCertifier("linear").fit(X, y)
    with pytest.raises(TypeError, match="label_epsilon"):
        IntervalCertifier(label_epsilon=0.1)
    with pytest.raises(TypeError, match="poison_target"):
        IntervalCertifierRegressor(poison_target=1)
    Xr, yr = _diabetes()
    with pytest.raises(ValueError, match="'model' parameter of IntervalCertifierRegressor"):
        IntervalCertifierRegressor("logistic").fit(Xr, yr)
    with pytest.raises(ValueError, match="and label_epsilon=0"):
        IntervalCertifierRegressor(unbounded=True, clip_gamma=1.0, label_epsilon=0.1).fit(Xr, yr)
    assert not hasattr(IntervalCertifierRegressor(), "certify")
    assert not hasattr(IntervalCertifier(), "certified_mse")
    with pytest.raises(ValueError, match="n_poison"):
        IntervalCertifier(n_poison=-1).fit(X, y)


def test_torch_model_validation():
    torch = pytest.importorskip("torch")
    X, y = _moons(20)
    bad = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="Linear and torch.nn.ReLU"):
        IntervalCertifier(bad).fit(X, y)
    wrong_in = torch.nn.Sequential(torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="input features"):
        IntervalCertifier(wrong_in).fit(X, y)
    nan = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    with torch.no_grad():
        nan[2].weight[0, 1] = float("nan")  # was fitted: predictions of class 0 from NaN
    with pytest.raises(ValueError, match="Linear layer 1 holds NaN or infinite weights"):
        IntervalCertifier(nan).fit(X, y)


def test_inputs_not_modified_and_verbose(capsys):
    X, y = _moons(30)
    X0, y0 = X.copy(), y.copy()
    est = IntervalCertifier("logistic", n_poison=1, epsilon=0.1, n_epochs=2, verbose=1)
    est.fit(X, y)
    est.certify(X, epsilon=0.1)
    est.certified_attack_success(X, lambda Z: Z + 0.1)
    assert_allclose(X, X0)
    assert_allclose(y, y0)


# ------------------------------------------------------------------ display


def test_certification_display():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklpoison.plotting import CertificationDisplay

    X, y = _moons(60)
    est = IntervalCertifier("logistic", lr=0.5, n_epochs=4, random_state=0)
    disp = CertificationDisplay.from_estimator(
        est, X, y, X, y, budgets=[0, 1, 3], budget_param="n_poison", epsilons=[0.02, 0.1]
    )
    assert len(disp.lines_) == 2
    worst = np.asarray(disp.worst)
    assert np.all(np.diff(worst, axis=1) <= 0)  # non-increasing in k
    assert np.all(worst[1] <= worst[0])  # and in epsilon
    assert_allclose(worst[:, 0], disp.nominal[:, 0])  # k = 0 is the nominal accuracy
    assert disp.ax_.get_xlabel() == "n_poison"
    fig, ax = plt.subplots()
    disp2 = CertificationDisplay.from_results([0, 1], [0.8, 0.5], nominal=0.8, ax=ax)
    assert disp2.ax_ is ax and disp2.figure_ is fig
    with pytest.raises(ValueError, match="one value per budget"):
        CertificationDisplay.from_results([0, 1, 2], [0.8, 0.5])
    reg = IntervalCertifierRegressor("linear", lr=0.05, n_epochs=3, random_state=0)
    Xr, yr = _diabetes()
    disp3 = CertificationDisplay.from_estimator(
        reg, Xr, yr, Xr, yr, budgets=[0, 2], budget_param="n_label_flips"
    )
    assert disp3.metric == "mse"
    plt.close("all")


def test_gradient_canceling_poisons_stay_inside_the_unbounded_box():
    # Gradient Canceling poisons (Lu et al.) replacing k clean rows are inside
    # the unbounded threat model (k arbitrary samples, clipped gradients)
    from sklearn.linear_model import LogisticRegression

    from sklpoison import GradientCanceling

    X, y = _moons(50)
    k = 2
    est = IntervalCertifier(
        "logistic",
        n_poison=k,
        unbounded=True,
        clip_gamma=0.5,
        lr=0.3,
        n_epochs=5,
        random_state=0,
    ).fit(X, y)
    X_att, y_att = [], []
    for seed in range(4):
        gc = GradientCanceling(
            LogisticRegression(),
            epsilon_d=k / len(y),
            epsilon_w=1.0,
            max_iter=60,
            random_state=seed,
        )
        X_p, y_p = gc.fit_resample(X, y)
        poisons, labels = X_p[len(y) :], y_p[len(y) :]
        assert len(poisons) == k
        for rows in (np.arange(k), np.arange(len(y) - k, len(y))):
            Xa, ya = X.copy(), y.copy()
            Xa[rows], ya[rows] = poisons, labels
            X_att.append(Xa)
            y_att.append(ya)
    params = _replay(est, np.array(X_att), np.array(y_att))
    _assert_inside(est, params)
    _assert_certified_unchanged(est, params, X)


@pytest.mark.parametrize(
    "model, kw",
    [
        ("logistic", dict(lr=0.2, n_epochs=4, batch_size=40)),
        ("mlp", dict(hidden_layer_sizes=(8,), lr=0.1, n_epochs=3, batch_size=40)),
    ],
)
def test_per_batch_poisoning_stays_inside_the_box(model, kw):
    # the threat model is per batch: k different rows of *every* batch may be
    # poisoned (k * n_batches rows in all), which a fixed poisoned data set
    # cannot do; replay such attacks step by step
    X, y = _cancer()
    k, eps = 1, 0.05
    est = IntervalCertifier(
        model, n_poison=k, epsilon=eps, n_label_flips=k, paired=True, random_state=0, **kw
    ).fit(X, y)
    rng = np.random.RandomState(8)
    A = 100
    plan = est._training_plan(X.shape[0], X.shape[1], est.n_outputs_)
    params0, batches = plan.params0, plan.batches
    params = [(W.copy(), b.copy()) for W, b in params0]
    Y = _targets(est, y)
    for idx in batches:
        Xb = np.broadcast_to(X[idx], (A,) + X[idx].shape).copy()
        Yb = np.broadcast_to(Y[idx], (A,) + Y[idx].shape).copy()
        rows = rng.randint(0, len(idx), size=A)
        a = np.arange(A)
        Xb[a, rows] += eps * rng.choice([-1.0, 1.0], size=(A, X.shape[1]))
        Yb[a, rows] = 1.0 - Yb[a, rows]
        grads = _nominal_grads(params, Xb, Yb, est._loss_kind(est.n_outputs_), None)
        eta = est.lr
        params = [(W - eta * gW, b - eta * gb) for (W, b), (gW, gb) in zip(params, grads)]
    _assert_inside(est, params)
    cert = _assert_certified_unchanged(est, params, X)
    assert cert.mean() > 0.5


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


# ------------------------------------------- soundness: greedy per-batch attacks


def _per_sample_coordinate(params, X, Y, kind, coords, clip):
    """Per-sample gradient of one coordinate per attack: ``coords[a] = (layer, i, j)``.

    ``X`` has shape ``(A, C, d)`` (``A`` attacks, ``C`` candidate samples); ``i < 0``
    selects the bias ``j``. Clipped elementwise like the training.
    """
    from sklpoison.certification._plan import _output_grad

    hs, zs = _forward(params, X)
    delta = _output_grad(kind, zs[-1], Y)
    deltas = [None] * len(params)
    for layer in range(len(params) - 1, -1, -1):
        deltas[layer] = delta
        if layer > 0:
            delta = (delta @ np.swapaxes(params[layer][0], -1, -2)) * (zs[layer - 1] > 0)
    out = np.empty(X.shape[:2])
    for a, (layer, i, j) in enumerate(coords):
        g = deltas[layer][a, :, j]
        out[a] = g if i < 0 else hs[layer][a, :, i] * g
    return out if clip is None else np.clip(out, -clip, clip)


def _greedy_attack(est, X, y, n_coords=6, seed=0):
    """Replay, step by step, attacks that push single parameters towards the box edges.

    At every step each attack picks, for its own target coordinate and direction,
    the most harmful admissible change of every sample of the batch (label
    alternatives, feature-ball vertices along the finite-difference sign of the
    coordinate's per-sample gradient and at random, arbitrary large samples for
    the unbounded adversary) and applies the best ``k`` of them: different rows in
    every batch, as the per-batch threat model allows. Returns the final
    parameters (leading attack axis) and, per attack, how far towards its bound
    the coordinate moved (1 = on the bound).
    """
    rng = np.random.RandomState(seed)
    kind, n_out = est._loss_kind(est.n_outputs_), est.n_outputs_
    n, d = X.shape
    Y = _targets(est, y)
    plan = est._training_plan(n, d, n_out)
    params0, batches = plan.params0, plan.batches
    coords = []
    for layer, (W, b) in enumerate(params0):
        for _ in range(n_coords):
            if rng.rand() < 0.25:
                coords.append((layer, -1, rng.randint(b.shape[0])))
            else:
                coords.append((layer, rng.randint(W.shape[0]), rng.randint(W.shape[1])))
    coords = [c for c in coords for _ in (0, 1)]
    sign = np.tile([1.0, -1.0], len(coords) // 2)[:, None]
    A = len(coords)
    params = [(np.repeat(W[None], A, 0), np.repeat(b[None], A, 0)) for W, b in params0]
    kx = 0 if est.unbounded else est.n_poison * (est.epsilon > 0)
    ky, ku = est.n_label_flips, est.n_poison if est.unbounded else 0
    eps = est.epsilon
    if kind == "squared_error":
        ky = ky if est.label_epsilon > 0 else 0
        nu = est.label_epsilon
        label_sets = [lambda Yb: Yb + nu, lambda Yb: Yb - nu]
    else:
        nc = len(est.classes_)
        target = np.flatnonzero(est.classes_ == est.poison_target)
        alts = range(nc) if est.poison_target is None else [int(target[0])]
        code = (lambda c: float(c)) if n_out == 1 else (lambda c: np.eye(nc)[c])
        label_sets = [lambda Yb, c=c: np.broadcast_to(code(c), Yb.shape).copy() for c in alts]

    def score(p, Xc, Yc):  # what the attacker maximises: minus the signed gradient
        return -sign * _per_sample_coordinate(p, Xc, Yc, kind, coords, est.clip_gamma)

    for step, idx in enumerate(batches):
        B = len(idx)
        Xb = np.repeat(X[idx][None], A, 0)
        Yb = np.repeat(Y[idx][None], A, 0)
        s0 = score(params, Xb, Yb)
        labels = [f(Yb) for f in label_sets] if ky > 0 else []
        feats = []
        if kx > 0:
            grad_sign = np.empty_like(Xb)
            for f in range(d):
                Xp = Xb.copy()
                Xp[..., f] += 1e-6
                grad_sign[..., f] = np.sign(score(params, Xp, Yb) - s0)
            feats = [Xb + eps * grad_sign, Xb - eps * grad_sign]
            feats += [Xb + eps * rng.choice([-1.0, 1.0], size=Xb.shape) for _ in range(4)]
        if ku > 0:
            feats = [rng.normal(scale=30.0, size=Xb.shape) for _ in range(8)]
        # best change per sample for each kind of action: x, y, both
        best = {}
        for name, cands in (
            ("x", [(Xc, Yb) for Xc in feats] if ku == 0 else []),
            ("y", [(Xb, Yc) for Yc in labels]),
            ("xy", [(Xc, Yc) for Xc in feats for Yc in labels]),
            (
                "u",
                [(Xc, Yc) for Xc in feats for Yc in (label_sets and [f(Yb) for f in label_sets])],
            ),
        ):
            if not cands:
                continue
            gain, bx, by = np.full((A, B), -np.inf), Xb.copy(), Yb.copy()
            for Xc, Yc in cands:
                g = score(params, Xc, Yc) - s0
                better = g > gain
                gain = np.where(better, g, gain)
                bx[better], by[better] = Xc[better], Yc[better]
            best[name] = (gain, bx, by)
        Xn, Yn = Xb.copy(), Yb.copy()
        for a in range(A):
            if ku > 0:
                budget, allowed = {"u": ku}, ["u"]
            elif est.paired and kx > 0 and ky > 0:
                budget, allowed = {"p": max(kx, ky)}, ["x", "y", "xy"]
            else:
                budget, allowed = {"x": kx, "y": ky}, [k for k in ("x", "y", "xy") if k in best]
            used = np.zeros(B, dtype=bool)
            while True:
                options = []
                for name in allowed:
                    if name not in best:
                        continue
                    need = {"u": ["u"], "x": ["x"], "y": ["y"], "xy": ["x", "y"]}[name]
                    if "p" in budget:
                        need = ["p"]
                    if any(budget[q] <= 0 for q in need):
                        continue
                    gain = np.where(used, -np.inf, best[name][0][a])
                    r = int(np.argmax(gain))
                    options.append((gain[r], r, name, need))
                if not options:
                    break
                g, r, name, need = max(options, key=lambda o: o[0])
                if not g > 0:
                    break
                used[r] = True
                Xn[a, r], Yn[a, r] = best[name][1][a, r], best[name][2][a, r]
                for q in need:
                    budget[q] -= 1
        eta = max(est.lr / (1 + est.lr_decay * step), est.lr_min)
        grads = _nominal_grads(params, Xn, Yn, kind, est.clip_gamma)
        params = [
            ((1 - eta * est.l2) * W - eta * gW, (1 - eta * est.l2) * b - eta * gb)
            for (W, b), (gW, gb) in zip(params, grads)
        ]
    reach = np.empty(A)
    for a, (layer, i, j) in enumerate(coords):
        pick = (lambda arr, i=i, j=j: arr[i, j]) if i >= 0 else (lambda arr, j=j: arr[j])
        lists = (est.coefs_, est.coefs_lower_, est.coefs_upper_)
        if i < 0:
            lists = (est.intercepts_, est.intercepts_lower_, est.intercepts_upper_)
        nom, lo, hi = (pick(v[layer]) for v in lists)
        val = pick(params[layer][0 if i >= 0 else 1][a])
        reach[a] = (val - nom) / (hi - nom) if sign[a, 0] > 0 else (nom - val) / (nom - lo)
    return params, reach


def _digits3(n=45):
    X, y = load_digits(return_X_y=True)
    keep = y < 3
    return X[keep][:n][:, [2, 3, 10, 13, 20, 27, 36, 43, 50, 53]] / 16.0, y[keep][:n]


_GREEDY_CASES = {
    "mlp-2-hidden-unpaired": (
        _moons,
        dict(model="mlp", hidden_layer_sizes=(6, 5), n_poison=2, epsilon=0.05, n_label_flips=1),
    ),
    "mlp-2-hidden-paired": (
        _moons,
        dict(
            model="mlp",
            hidden_layer_sizes=(6, 5),
            n_poison=1,
            epsilon=0.05,
            n_label_flips=2,
            paired=True,
        ),
    ),
    "softmax-target-features": (
        _digits3,
        dict(model="logistic", n_label_flips=2, poison_target=2, n_poison=1, epsilon=0.05),
    ),
    "mlp-softmax": (
        _digits3,
        dict(model="mlp", hidden_layer_sizes=(5,), n_poison=1, epsilon=0.05, n_label_flips=1),
    ),
    "binary-target-l2-decay": (
        _cancer,
        dict(
            model="mlp",
            hidden_layer_sizes=(6,),
            n_label_flips=2,
            poison_target=1,
            n_poison=1,
            epsilon=0.1,
            l2=0.5,
            lr_decay=0.3,
            lr_min=0.05,
        ),
    ),
    "mlp-unbounded-clip": (
        _moons,
        dict(model="mlp", hidden_layer_sizes=(6,), n_poison=1, unbounded=True, clip_gamma=0.3),
    ),
    "logistic-zonotope-features-flips": (
        _cancer,
        dict(model="logistic", n_poison=2, epsilon=0.1, n_label_flips=1, l2=0.1, lr_decay=0.2),
    ),
    "softmax-zonotope-free-flips": (
        _digits3,
        dict(model="logistic", n_label_flips=1, n_poison=1, epsilon=0.05, paired=True),
    ),
    "logistic-bounded-clip": (
        _cancer,
        dict(model="logistic", n_poison=2, epsilon=0.1, n_label_flips=1, clip_gamma=0.2),
    ),
    "linear-label-epsilon-l2": (
        _diabetes,
        dict(
            model="linear",
            regressor=True,
            n_poison=2,
            epsilon=0.1,
            n_label_flips=2,
            label_epsilon=0.3,
            l2=0.5,
            lr_decay=0.2,
        ),
    ),
    "mlp-regression": (
        _diabetes,
        dict(
            model="mlp",
            regressor=True,
            hidden_layer_sizes=(4, 3),
            n_poison=1,
            epsilon=0.1,
            n_label_flips=1,
            label_epsilon=0.3,
        ),
    ),
}


@pytest.mark.parametrize("case", list(_GREEDY_CASES))
def test_greedy_per_batch_attacks_stay_inside_the_box(case):
    data, kw = _GREEDY_CASES[case]
    kw = dict(kw)
    regressor = kw.pop("regressor", False)
    Est = IntervalCertifierRegressor if regressor else IntervalCertifier
    X, y = data()
    X, y = X[:40], y[:40]
    lr = 0.05 if regressor else 0.3
    # one full-batch step: from a point the per-coordinate bounds are attained by
    # the greedy attacks (up to the relaxation of the MLP's inner layers)
    one = Est(lr=lr, n_epochs=1, random_state=0, **kw).fit(X, y)
    params, reach = _greedy_attack(one, X, y)
    _assert_inside(one, params)
    assert reach.max() <= 1 and reach.max() > 0.9
    # mini-batches, several epochs: different rows attacked in every batch
    est = Est(lr=lr, n_epochs=2, batch_size=10, random_state=0, **kw).fit(X, y)
    params, reach = _greedy_attack(est, X, y, seed=1)
    _assert_inside(est, params)
    assert reach.max() > 0.1  # the attacks do move the parameters
    if regressor:
        lo, hi = est.predict_bounds(X)
        pred = _forward(params, X)[1][-1][..., 0]
        assert np.all(pred >= lo) and np.all(pred <= hi)
    else:
        _assert_certified_unchanged(est, params, X)


# ------------------------------------------- issue 13: nonsense budgets and step sizes


def test_budgets_larger_than_a_batch_are_rejected():
    X, y = _moons(20)
    with pytest.raises(ValueError, match="n_label_flips=1000 exceeds the 20 rows of the training"):
        IntervalCertifier(n_label_flips=1000, n_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="n_poison=21 exceeds the 20 rows"):
        IntervalCertifier(n_poison=21, epsilon=0.1, n_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"n_poison=11 exceeds the 10 rows of a batch \(batch_"):
        IntervalCertifier(n_poison=11, epsilon=0.1, batch_size=10, n_epochs=1).fit(X, y)
    # at most the batch size is allowed (every row of every batch poisonable)
    est = IntervalCertifier(n_label_flips=10, batch_size=10, n_epochs=1).fit(X, y)
    assert est.certified_accuracy(X, y)[0] <= est.certified_accuracy(X, y)[1]


def test_degenerate_learning_rate_warns():
    X, y = _moons(40)
    with pytest.warns(UserWarning, match=r"lr=50 exceeds 2 / L"):
        IntervalCertifier(lr=50, n_epochs=1).fit(X, y)
    Xr, yr = _diabetes()
    with pytest.warns(UserWarning, match=r"exceeds 2 / L"), pytest.warns(RuntimeWarning):
        IntervalCertifierRegressor("linear", lr=5.0, n_epochs=200).fit(Xr, yr)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        IntervalCertifier(lr=0.5, n_epochs=2).fit(X * 0.1, y)


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


# ------------------------------------------ zonotope domain (logistic / softmax)


def _all_flips(est, y):
    """Every single-row label change allowed by the threat model: ``(rows, labels)``."""
    rows, labels = [], []
    for i, yi in enumerate(y):
        for c in est.classes_:
            if c != yi and (est.poison_target is None or c == est.poison_target):
                rows.append(i)
                labels.append(c)
    return np.array(rows), np.array(labels)


def _targeted_flip_sets(est, X, y, k, n_params=None):
    """For each parameter and direction, the k single flips that push it most (measured)."""
    rows, labels = _all_flips(est, y)
    y_att = np.broadcast_to(y, (len(rows), len(y))).copy()
    y_att[np.arange(len(rows)), rows] = labels
    W, b = replay_training(est, np.broadcast_to(X, (len(rows),) + X.shape), y_att)[0]
    theta = np.concatenate([W.reshape(len(rows), -1), b], axis=1)
    theta0 = np.concatenate([est.coefs_[0].ravel(), est.intercepts_[0]])
    effect = theta - theta0  # (n_flips, P)
    sets = []
    for p in range(effect.shape[1] if n_params is None else n_params):
        for sign in (1.0, -1.0):
            order = np.argsort(-sign * effect[:, p])
            chosen, used = [], set()
            for j in order:  # one change per row
                if rows[j] not in used:
                    chosen.append(j)
                    used.add(rows[j])
                if len(chosen) == k:
                    break
            ya = y.copy()
            ya[rows[chosen]] = labels[chosen]
            sets.append(ya)
    return y_att, np.array(sets)


def _random_flip_sets(est, y, k, n_sets, rng):
    y_att = np.broadcast_to(y, (n_sets, len(y))).copy()
    classes = est.classes_
    for a in range(n_sets):
        for i in rng.choice(len(y), k, replace=False):
            if est.poison_target is not None:
                y_att[a, i] = est.poison_target
            else:
                y_att[a, i] = rng.choice(classes[classes != y[i]])
    return y_att


@pytest.mark.parametrize(
    "data, kw",
    [
        (lambda: _cancer(80, 5), dict(n_label_flips=2, lr=0.2, n_epochs=8)),
        (lambda: _digits3(45), dict(n_label_flips=1, lr=0.5, n_epochs=4)),
        (lambda: _digits3(45), dict(n_label_flips=1, poison_target=2, lr=0.5, n_epochs=4)),
    ],
    ids=["binary", "softmax", "softmax-target"],
)
def test_zonotope_label_flip_replays_full_batch(data, kw):
    """>= 300 attacks per model type: every single flip, the k flips pushing each parameter
    most in each direction (measured by retraining), and random k-subsets."""
    X, y = data()
    est = IntervalCertifier("logistic", random_state=0, **kw).fit(X, y)
    assert est.zonotope_ is not None and est.zonotope_.flips is not None  # persistent symbols
    k = kw["n_label_flips"]
    singles, targeted = _targeted_flip_sets(est, X, y, k)
    rng = np.random.RandomState(12)
    n_random = max(160, 300 - len(singles) - len(targeted))
    y_att = np.vstack([singles, targeted, _random_flip_sets(est, y, k, n_random, rng)])
    assert len(y_att) >= 300
    params = _replay(est, np.broadcast_to(X, (len(y_att),) + X.shape), y_att)
    _assert_inside(est, params)
    cert = _assert_certified_unchanged(est, params, X)
    # never looser than the box; informative where the box is not
    box = IntervalCertifier("logistic", domain="box", random_state=0, **kw).fit(X, y)
    assert np.all(est.coefs_lower_[0] >= box.coefs_lower_[0])
    assert np.all(est.coefs_upper_[0] <= box.coefs_upper_[0])
    assert np.all(est.intercepts_lower_[0] >= box.intercepts_lower_[0])
    assert est.certified_accuracy(X, y)[0] >= box.certified_accuracy(X, y)[0]
    assert cert.mean() > 0.5


@pytest.mark.parametrize(
    "data, kw",
    [
        (
            lambda: _cancer(80, 5),
            dict(n_poison=2, epsilon=0.05, n_label_flips=1, lr=0.2, n_epochs=4, batch_size=20),
        ),
        (
            lambda: _digits3(45),
            dict(n_poison=1, epsilon=0.05, n_label_flips=1, paired=True, lr=0.5, n_epochs=4),
        ),
    ],
    ids=["binary-minibatch", "softmax-paired"],
)
def test_zonotope_feature_and_label_replays(data, kw):
    X, y = data()
    est = IntervalCertifier("logistic", random_state=0, **kw).fit(X, y)
    assert est.zonotope_ is not None
    rng = np.random.RandomState(13)
    X_att, rows = _feature_attacks(est, X, y, kw["n_poison"], kw["epsilon"], rng, n_random=300)
    flip_rows = rows[:, : kw["n_label_flips"]]
    if not kw.get("paired"):
        flip_rows = _random_rows(rng, len(rows), len(y), kw["n_label_flips"])
    y_att = _flip(y, flip_rows, est.classes_, rng)
    assert len(y_att) >= 300
    params = _replay(est, X_att, y_att)
    _assert_inside(est, params)
    _assert_certified_unchanged(est, params, X)
    _assert_certified_unchanged(est, params, X, epsilon=0.02, rng=rng)
    box = IntervalCertifier("logistic", domain="box", random_state=0, **kw).fit(X, y)
    assert np.all(est.coefs_lower_[0] >= box.coefs_lower_[0])
    assert np.all(est.coefs_upper_[0] <= box.coefs_upper_[0])
    assert est.certified_accuracy(X, y)[0] >= box.certified_accuracy(X, y)[0]


@pytest.mark.parametrize("data", [lambda: _cancer(80, 5), lambda: _digits3(45)])
def test_zonotope_collapses_and_is_monotone(data):
    X, y = data()
    kw = dict(lr=0.3, n_epochs=5, random_state=0)
    zero = IntervalCertifier("logistic", **kw).fit(X, y)
    assert zero.zonotope_ is not None and zero.max_width_ < 1e-10
    assert zero.certify(X).all()
    prev = 1.0
    for k in [0, 1, 2, 4, 8]:
        acc = (
            IntervalCertifier("logistic", n_label_flips=k, **kw)
            .fit(X, y)
            .certified_accuracy(X, y)[0]
        )
        assert acc <= prev
        prev = acc
    prev = 1.0
    for eps in [0.0, 0.02, 0.05, 0.1]:
        est = IntervalCertifier("logistic", n_poison=2, epsilon=eps, **kw).fit(X, y)
        acc = est.certified_accuracy(X, y)[0]
        assert acc <= prev
        prev = acc
        accs = [est.certified_accuracy(X, y, epsilon=e)[0] for e in (0.0, 0.05, 0.2)]
        assert accs == sorted(accs, reverse=True)


def test_zonotope_domain_validation_and_box_selectable():
    X, y = _moons(30)
    with pytest.raises(ValueError, match="domain='zonotope' needs a single-layer"):
        IntervalCertifier("mlp", hidden_layer_sizes=(3,), domain="zonotope").fit(X, y)
    with pytest.raises(ValueError, match="domain='zonotope'"):
        IntervalCertifier(domain="zonotope", clip_gamma=1.0).fit(X, y)
    box = IntervalCertifier(domain="box", n_label_flips=1, n_epochs=2).fit(X, y)
    assert box.zonotope_ is None and box.n_generators_ == 0
    z = IntervalCertifier(n_label_flips=1, n_epochs=2).fit(X, y)
    assert z.zonotope_ is not None and z.n_generators_ > 0


def test_sigmoid_and_softmax_relaxations_are_sound():
    mp = pytest.importorskip("mpmath")
    from sklpoison.certification._zonotope import relax_sigmoid, relax_softmax

    mp.mp.prec = 120
    rng = np.random.RandomState(14)
    lo = np.concatenate([rng.normal(scale=4, size=40), [0.0, -30.0, 700.0, -1e-300]])
    hi = lo + np.concatenate([rng.exponential(2, size=40), [0.0, 1e-12, 1.0, 2e-300]])
    lam, mu, beta = relax_sigmoid(lo, hi)
    for i in range(len(lo)):
        for u in np.linspace(0, 1, 7):
            z = mp.mpf(float(lo[i])) + mp.mpf(u) * (mp.mpf(float(hi[i])) - mp.mpf(float(lo[i])))
            s = 1 / (1 + mp.exp(-z))
            lin = mp.mpf(float(lam[i])) * z + mp.mpf(float(mu[i]))
            assert abs(s - lin) <= mp.mpf(float(beta[i]))
    Lo = rng.normal(scale=3, size=(15, 3))
    Hi = Lo + rng.exponential(0.5, size=(15, 3))
    J0, m0, err = relax_softmax(Lo, Hi)
    for i in range(15):
        for _ in range(20):
            u = rng.rand(3)
            vert = rng.rand(3) < 0.5  # box vertices and interior points
            u[vert] = np.round(u[vert])
            z = [
                mp.mpf(float(Lo[i, j]))
                + mp.mpf(float(u[j])) * (mp.mpf(float(Hi[i, j])) - mp.mpf(float(Lo[i, j])))
                for j in range(3)
            ]
            den = mp.fsum(mp.exp(v) for v in z)
            for c in range(3):
                p = mp.exp(z[c]) / den
                lin = mp.fsum(mp.mpf(float(J0[i, c, j])) * z[j] for j in range(3)) + mp.mpf(
                    float(m0[i, c])
                )
                assert abs(p - lin) <= mp.mpf(float(err[i, c]))


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


@pytest.mark.parametrize("data", [lambda: _cancer(60, 5), lambda: _digits3(45)])
def test_zonotope_output_bounds_contain_replayed_logits(data):
    X, y = data()
    est = IntervalCertifier("logistic", n_label_flips=1, lr=0.3, n_epochs=4, random_state=0)
    est.fit(X, y)
    box = IntervalCertifier(
        "logistic", domain="box", n_label_flips=1, lr=0.3, n_epochs=4, random_state=0
    ).fit(X, y)
    rng = np.random.RandomState(16)
    y_att = _random_flip_sets(est, y, 1, 120, rng)
    params = _replay(est, np.broadcast_to(X, (len(y_att),) + X.shape), y_att)
    for eps in (0.0, 0.03):
        lo, hi = est.predict_bounds(X, epsilon=eps)
        b_lo, b_hi = box.predict_bounds(X, epsilon=eps)
        assert np.all(lo >= b_lo) and np.all(hi <= b_hi) and np.any(hi - lo < b_hi - b_lo)
        X_eval = X + rng.uniform(-eps, eps, size=X.shape) if eps else X
        z = _forward(params, X_eval)[1][-1]
        z = z[..., 0] if z.shape[-1] == 1 else z
        assert np.all(z >= lo) and np.all(z <= hi)


@pytest.mark.parametrize("k", [1, 2, 4, 5, 70])
def test_sorted_sums_match_sorting_with_ties(k):
    from sklpoison.certification._threat import _topk_last

    rng = np.random.RandomState(17)
    V = rng.normal(size=(6, 3, 80))
    V[..., :6] = V[..., :1]  # ties
    V0 = V.copy()
    s = np.sort(V, axis=-1)
    assert_allclose(_topk_last(V, k, largest=True), s[..., -k:].sum(-1), rtol=0, atol=1e-12)
    assert_allclose(_topk_last(V, k, largest=False), s[..., :k].sum(-1), rtol=0, atol=1e-12)
    assert np.array_equal(V, V0)  # without overwrite, the values are left as they are
