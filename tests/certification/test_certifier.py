"""Tests of IntervalCertifier: soundness under concrete attacks, collapse, references, API."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits

from sklpoison import IntervalCertifier, IntervalCertifierRegressor
from sklpoison.certification._plan import _forward, _nominal_grads

from ._helpers import (
    _assert_certified_unchanged,
    _assert_inside,
    _cancer,
    _diabetes,
    _digits3,
    _digits17,
    _feature_attacks,
    _flip,
    _moons,
    _random_rows,
    _replay,
    _targets,
)


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
    # up to the underflow slack (multiples of TINY = 2^-1022 on the always-zero pixels'
    # weights, whose count follows the number of generator columns)
    assert np.all(free.coefs_lower_[0] <= est.coefs_lower_[0] + 1e-300)
    assert np.all(free.coefs_upper_[0] >= est.coefs_upper_[0] - 1e-300)


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
            poison_rate=k / len(y),
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
    # a nominal run that ends with non-finite parameters is an error (MLPClassifier's rule)
    with pytest.warns(UserWarning, match=r"exceeds 2 / L"), np.errstate(all="ignore"):
        with pytest.raises(ValueError, match=r"non-finite nominal parameters .* reduce lr"):
            IntervalCertifierRegressor("linear", lr=5.0, n_epochs=200).fit(Xr, yr)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        IntervalCertifier(lr=0.5, n_epochs=2).fit(X * 0.1, y)
