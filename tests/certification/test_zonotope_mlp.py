"""Zonotopes through ReLU networks: every relaxation against exact arithmetic, exact training
trajectories inside the final set, replayed label flips, never looser than the box."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
from sklearn.datasets import make_moons

from sklpoison import IntervalCertifier, IntervalCertifierRegressor
from sklpoison.certification import _affine_forms as af
from sklpoison.certification import _zonotope_mlp as zm
from sklpoison.utils._testing import replay_training, training_targets

mp = pytest.importorskip("mpmath")


# --------------------------------------------------------------------------
# helpers: random forms and their exact values at symbol points
# --------------------------------------------------------------------------
def _rand_form(rng, shape, m=3, n=4, A=1, flips=True, r=True):
    scale = 10.0 ** rng.randint(-2, 2)
    c = rng.normal(size=shape) * scale
    E = rng.normal(size=shape + (m,)) * scale * 10.0 ** rng.randint(-3, 1, size=shape + (m,))
    F = rng.normal(size=shape + (n, A)) * scale * 0.3 if flips else None
    rad = np.abs(rng.normal(size=shape)) * scale * 0.1 if r else np.zeros(shape)
    return af._Form(c, E, F, rad)


def _points(rng, m, n, A, k, count=6):
    """Symbol values: e in [-1, 1]^m (vertices and random), s with <= k rows, one alt each."""
    out = []
    for t in range(count):
        e = rng.choice([-1.0, 1.0], size=m) if t % 2 else rng.uniform(-1, 1, size=m)
        s = np.zeros((n, A))
        rows = rng.choice(n, size=rng.randint(0, k + 1), replace=False)
        s[rows, rng.randint(A, size=len(rows))] = 1.0
        out.append((e, s, rng.uniform(-1, 1)))
    return out


def _value(f, e, s, rho_t, idx):
    """Exact value of the form at ``idx`` for symbols ``(e, s)`` and local error ``rho_t r``."""
    v = Fraction(f.c[idx]) + sum(Fraction(a) * Fraction(b) for a, b in zip(f.E[idx], e))
    if f.F is not None:
        v += sum(Fraction(a) for a, b in zip(f.F[idx].ravel(), s.ravel()) if b)
    return v + Fraction(rho_t) * Fraction(f.r[idx])


def _linear(f, e, s, idx):
    return _value(f, e, s, 0.0, idx)


def _check_enclosure(out, exact, e, s, idx):
    """``exact`` is within the output radius of its linear part at the same symbols."""
    assert abs(exact - _linear(out, e, s, idx)) <= Fraction(out.r[idx]), idx


# --------------------------------------------------------------------------
# relaxations, one by one, against exact arithmetic
# --------------------------------------------------------------------------
@pytest.mark.parametrize("k, A", [(1, 1), (2, 1), (2, 2)])
def test_flip_range_is_the_exact_sorted_sum(k, A):
    rng = np.random.RandomState(k + A)
    F = rng.normal(size=(3, 5, A)) * 10.0 ** rng.randint(-5, 5, size=(3, 5, A))
    lo, hi = af.flip_range(F, k)
    for q in range(3):
        vals = []
        for rows in itertools.chain.from_iterable(
            itertools.combinations(range(5), j) for j in range(k + 1)
        ):
            for alts in itertools.product(range(A), repeat=len(rows)):
                vals.append(sum((Fraction(F[q, i, a]) for i, a in zip(rows, alts)), Fraction(0)))
        assert Fraction(lo[q]) <= min(vals) and max(vals) <= Fraction(hi[q])
        assert min(vals) - Fraction(lo[q]) <= 1e-12 * (1 + abs(min(vals)))


@pytest.mark.parametrize("seed", range(4))
def test_affine_operations_enclose_the_exact_values(seed):
    """Constant products, sums, shifts, scalings and row sums: exact at every symbol point."""
    rng = np.random.RandomState(seed)
    k, m, n, A = 2, 3, 4, 2
    a = _rand_form(rng, (3, 2), m, n, A)
    b = _rand_form(rng, (2,), m, n, A)
    X = rng.normal(size=(2, 3)) * 10.0 ** rng.randint(-3, 3)
    y = rng.normal(size=(3, 2))
    lam = rng.normal(size=(3, 2))
    ops = {
        "const": (
            af.const_matmul(X, a),
            lambda va, vb, i, j: sum(Fraction(X[i, q]) * va[q, j] for q in range(3)),
        ),
        "add": (af.add(a, b), lambda va, vb, i, j: va[i, j] + vb[j]),
        "shift": (af.shift(a, y), lambda va, vb, i, j: va[i, j] - Fraction(y[i, j])),
        "scale": (
            af.scale(a, lam, 0.25, 0.0),
            lambda va, vb, i, j: Fraction(lam[i, j]) * va[i, j] + Fraction(0.25),
        ),
        "rows": (af.sum_rows(a), lambda va, vb, i, j: sum(va[q, j] for q in range(3))),
    }
    for e, s, rho in _points(rng, m, n, A, k):
        va = {ix: _value(a, e, s, rho, ix) for ix in np.ndindex(3, 2)}
        vb = {j: _value(b, e, s, -rho, (j,)) for j in range(2)}
        va = {(i, j): v for (i, j), v in va.items()}
        for name, (out, fn) in ops.items():
            for idx in np.ndindex(out.c.shape):
                i, j = (0, idx[0]) if len(idx) == 1 else idx
                exact = fn(va, vb, i, j) if name != "rows" else fn(va, vb, None, idx[0])
                _check_enclosure(out, exact, e, s, idx)


@pytest.mark.parametrize("seed", range(5))
def test_product_of_two_forms_encloses_the_exact_product(seed):
    """``a @ b`` of two uncertain matrices (weights times activations): linear part plus the
    interval of the quadratic remainder, exact at every point of both forms' symbols."""
    rng = np.random.RandomState(10 + seed)
    k, m, n, A = 2, 3, 4, 1 + seed % 2
    a = _rand_form(rng, (2, 3), m, n, A, flips=seed != 1)
    b = _rand_form(rng, (3, 2), m, n, A, flips=seed != 2)
    out = af.form_matmul(a, b, k)
    for e, s, rho in _points(rng, m, n, A, k, count=8):
        rho_b = rng.uniform(-1, 1)
        for i, j in np.ndindex(2, 2):
            exact = sum(
                _value(a, e, s, rho, (i, q)) * _value(b, e, s, rho_b, (q, j)) for q in range(3)
            )
            _check_enclosure(out, exact, e, s, (i, j))


@pytest.mark.parametrize("seed", range(4))
def test_deepz_relu_encloses_the_exact_relu(seed):
    rng = np.random.RandomState(20 + seed)
    k, m, n, A = 1, 3, 4, 1
    z = _rand_form(rng, (4, 3), m, n, A)
    z.c[0, 0] = 0.0  # a range centred at 0; below, one entry far from it each way
    z.c[1, 0], z.c[2, 0] = 1e3, -1e3
    lo, hi = af.form_bounds(z, k)
    assert np.any((lo < 0) & (hi > 0)) and np.any(lo >= 0) and np.any(hi <= 0)
    out = af.relu(z, lo, hi)
    for e, s, rho in _points(rng, m, n, A, k, count=10):
        for idx in np.ndindex(4, 3):
            v = _value(z, e, s, rho, idx)
            _check_enclosure(out, max(v, Fraction(0)), e, s, idx)


@pytest.mark.parametrize("seed", range(4))
def test_relu_derivative_step_encloses_both_values(seed):
    """``t 1(z > 0)``: for every z in the range (0 and the ends included) and every t."""
    rng = np.random.RandomState(30 + seed)
    k, m, n, A = 2, 3, 4, 2
    t = _rand_form(rng, (3, 4), m, n, A)
    lo = np.array([[-1.0, 0.0, 0.5, -2.0]] * 3)
    hi = np.array([[1.0, 2.0, 3.0, 0.0]] * 3)
    out = af.step01(t, lo, hi, k)
    for e, s, rho in _points(rng, m, n, A, k):
        for idx in np.ndindex(3, 4):
            tv = _value(t, e, s, rho, idx)
            for zv in {lo[idx], hi[idx], 0.0, rng.uniform(lo[idx], hi[idx])}:
                if lo[idx] <= zv <= hi[idx]:
                    _check_enclosure(out, tv if zv > 0 else Fraction(0), e, s, idx)


@pytest.mark.parametrize("C", [1, 3])
def test_output_derivative_encloses_sigmoid_and_softmax(C):
    """``p(z) - Y`` (sigmoid DeepZ, softmax mean-value form) at every point of the logits' form
    (mpmath at 100 bits for exp)."""
    rng = np.random.RandomState(40 + C)
    k, m, n, A = 1, 3, 4, 1
    z = _rand_form(rng, (3, C), m, n, A)
    z.c[0] = 8.0  # a saturated row
    Y = np.eye(max(C, 2))[rng.randint(max(C, 2), size=3)][:, -C:] * 1.0
    lo, hi = af.form_bounds(z, k)
    out = af.output_derivative(z, lo, hi, Y, "binary" if C == 1 else "ce")
    with mp.workprec(100):
        for e, s, rho in _points(rng, m, n, A, k, count=8):
            for i in range(3):
                zv = [
                    mp.mpf(_value(z, e, s, rho, (i, c)).numerator)
                    / _value(z, e, s, rho, (i, c)).denominator
                    for c in range(C)
                ]
                if C == 1:
                    p = [1 / (1 + mp.exp(-zv[0]))]
                else:
                    ez = [mp.exp(v) for v in zv]
                    p = [v / mp.fsum(ez) for v in ez]
                for c in range(C):
                    lin = _linear(out, e, s, (i, c))
                    exact = p[c] - mp.mpf(Y[i, c])
                    gap = abs(exact - mp.mpf(lin.numerator) / lin.denominator)
                    assert gap <= mp.mpf(float(out.r[i, c])), (i, c)


# --------------------------------------------------------------------------
# whole training runs in exact arithmetic
# --------------------------------------------------------------------------
def _exact_run(est, X, y_att, prec=80):
    """Final parameters (flat, as in the zonotope) of ``fit``'s SGD on ``X, y_att`` (mpmath)."""
    with mp.workprec(prec):
        n, d = X.shape
        plan = est._training_plan(n, d, est.n_outputs_)
        Y = training_targets(est, y_att)
        params = [
            ([[mp.mpf(float(v)) for v in row] for row in W], [mp.mpf(float(v)) for v in b])
            for W, b in plan.params0
        ]
        Xm = [[mp.mpf(float(v)) for v in row] for row in X]
        for _, idx, eta, decay in plan.steps():
            eta, decay = mp.mpf(eta), mp.mpf(decay)
            grads = [([[mp.mpf(0)] * len(b) for _ in W], [mp.mpf(0)] * len(b)) for W, b in params]
            for i in idx:
                hs, zs = [Xm[i]], []
                for layer, (W, b) in enumerate(params):
                    z = [
                        mp.fsum(hs[-1][j] * W[j][o] for j in range(len(W))) + b[o]
                        for o in range(len(b))
                    ]
                    zs.append(z)
                    if layer < len(params) - 1:
                        hs.append([max(v, mp.mpf(0)) for v in z])
                z = zs[-1]
                if len(z) == 1:
                    delta = [1 / (1 + mp.exp(-z[0])) - mp.mpf(float(Y[i, 0]))]
                else:
                    ez = [mp.exp(v - max(z)) for v in z]
                    delta = [v / mp.fsum(ez) - mp.mpf(float(Y[i, c])) for c, v in enumerate(ez)]
                for layer in range(len(params) - 1, -1, -1):
                    gW, gb = grads[layer]
                    for j, hj in enumerate(hs[layer]):
                        for o, do in enumerate(delta):
                            gW[j][o] += hj * do
                    for o, do in enumerate(delta):
                        gb[o] += do
                    if layer > 0:
                        W = params[layer][0]
                        delta = [
                            mp.fsum(W[j][o] * delta[o] for o in range(len(delta)))
                            * (1 if zs[layer - 1][j] > 0 else 0)
                            for j in range(len(W))
                        ]
            B = len(idx)
            params = [
                (
                    [
                        [decay * W[j][o] - eta * gW[j][o] / B for o in range(len(b))]
                        for j in range(len(W))
                    ],
                    [decay * b[o] - eta * gb[o] / B for o in range(len(b))],
                )
                for (W, b), (gW, gb) in zip(params, grads)
            ]
        flat = []
        for W, b in params:
            for row in W + [b]:
                flat.extend(row)
        return flat


def _assert_inside(est, flat, n_dirs=6):
    """Inside the box (the hull intersected with the box: every axis direction) and, exactly,
    inside the zonotope's support in random directions and towards the point."""
    lo = np.concatenate(
        [np.vstack([W, b[None]]).ravel() for W, b in zip(est.coefs_lower_, est.intercepts_lower_)]
    )
    hi = np.concatenate(
        [np.vstack([W, b[None]]).ravel() for W, b in zip(est.coefs_upper_, est.intercepts_upper_)]
    )
    for p, t in enumerate(flat):
        assert mp.mpf(float(lo[p])) <= t <= mp.mpf(float(hi[p])), p
    Z = est.zonotope_
    assert Z is not None
    P = Z.centre.size
    towards = np.array([float(t) for t in flat]) - Z.centre
    V = np.vstack([np.random.RandomState(0).normal(size=(n_dirs, P)), towards, -towards])
    for v in V:
        vm = [mp.mpf(float(a)) for a in v]
        low = mp.fsum(a * mp.mpf(float(c)) for a, c in zip(vm, Z.centre))
        for col in Z.gens.T:
            low -= abs(mp.fsum(a * mp.mpf(float(g)) for a, g in zip(vm, col)))
        if Z.D is not None and Z.k > 0:
            n, A = Z.D.shape[1:]
            best = []
            for i in range(n):
                vals = [
                    mp.fsum(a * mp.mpf(float(g)) for a, g in zip(vm, Z.D[:, i, alt]))
                    for alt in range(A)
                ]
                best.append(min([mp.mpf(0)] + vals))
            low += mp.fsum(sorted(best)[: Z.k])
        assert low <= mp.fsum(a * t for a, t in zip(vm, flat))


def _tiny(C, seed=3):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(6, 2))
    X[0] = [1 + 2.0**-52, -(1 - 2.0**-53)]
    X[1] = [3.0, 1e-8]
    y = np.arange(6) % (2 if C == 1 else C)
    return X, y


@pytest.mark.parametrize(
    "C, kw",
    [
        (1, dict(hidden_layer_sizes=(3,), lr=0.8, n_epochs=4)),
        (1, dict(hidden_layer_sizes=(3, 2), lr=0.5, n_epochs=3, l2=0.1, lr_decay=0.3)),
        (3, dict(hidden_layer_sizes=(3,), lr=0.9, n_epochs=3)),
        (3, dict(hidden_layer_sizes=(3,), lr=0.6, n_epochs=3, poison_target=2)),
    ],
    ids=["bin", "bin-2-hidden-decay-l2", "smx", "smx-target"],
)
def test_exact_trajectories_of_every_flip_are_inside(C, kw):
    """k = 0: the set is rounding slack around the float run, yet holds the exact run;
    k = 1: every single label change, retrained in exact arithmetic, is inside."""
    X, y = _tiny(C)
    zero = IntervalCertifier("mlp", domain="zonotope", random_state=0, **kw).fit(X, y)
    one = IntervalCertifier("mlp", n_label_flips=1, random_state=0, **kw).fit(X, y)
    assert zero.max_width_ < 1e-12 and zero.zonotope_ is not None
    _assert_inside(zero, _exact_run(zero, X, y))
    target = kw.get("poison_target")
    for i, c in itertools.product(range(len(y)), one.classes_):
        if c == y[i] or (target is not None and c != target):
            continue
        y_att = y.copy()
        y_att[i] = c
        _assert_inside(one, _exact_run(one, X, y_att))


def test_exact_trajectories_of_every_flip_pair_are_inside():
    X, y = _tiny(1, seed=5)
    est = IntervalCertifier(
        "mlp", hidden_layer_sizes=(3,), n_label_flips=2, lr=0.8, n_epochs=4, random_state=0
    ).fit(X, y)
    assert est.zonotope_.k == 2
    for rows in itertools.combinations(range(len(y)), 2):
        y_att = y.copy()
        y_att[list(rows)] = 1 - y_att[list(rows)]
        _assert_inside(est, _exact_run(est, X, y_att))


# --------------------------------------------------------------------------
# replays with the certifier's own step, and the box
# --------------------------------------------------------------------------
def _flat(params):
    blocks = [np.concatenate([W, b[..., None, :]], axis=-2) for W, b in params]
    return np.concatenate([b.reshape(b.shape[0], -1) for b in blocks], axis=1)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_single_flip_replays_inside_and_certificates_hold(n_classes):
    """Every single flip, retrained with fit's own SGD (vectorised): inside the box and the
    zonotope's support, no certified prediction changes; never looser than the box."""
    X, y = make_moons(60, noise=0.15, random_state=0)
    if n_classes == 3:
        y = np.where(X[:, 1] > 0.8, 2, y)
    kw = dict(hidden_layer_sizes=(8,), lr=0.5, n_epochs=5, n_label_flips=1, random_state=0)
    est = IntervalCertifier("mlp", **kw).fit(X, y)
    box = IntervalCertifier("mlp", domain="box", **kw).fit(X, y)
    assert est.zonotope_ is not None
    Ya = []
    for i, c in itertools.product(range(len(y)), range(n_classes)):
        if c != y[i]:
            ya = y.copy()
            ya[i] = c
            Ya.append(ya)
    params = replay_training(est, np.broadcast_to(X, (len(Ya),) + X.shape), np.array(Ya))
    theta = _flat(params)
    for layer, (W, b) in enumerate(params):
        assert np.all((W >= est.coefs_lower_[layer]) & (W <= est.coefs_upper_[layer]))
        assert np.all((b >= est.intercepts_lower_[layer]) & (b <= est.intercepts_upper_[layer]))
        assert np.all(est.coefs_lower_[layer] >= box.coefs_lower_[layer])
        assert np.all(est.coefs_upper_[layer] <= box.coefs_upper_[layer])
    rng = np.random.RandomState(0)
    V = np.vstack([rng.normal(size=(20, theta.shape[1])), theta - est.zonotope_.centre])
    v_lo, v_hi = est.zonotope_.linear_bounds(V)
    proj = theta @ V.T
    assert np.all((proj >= v_lo) & (proj <= v_hi))
    Xt, _ = make_moons(80, noise=0.15, random_state=1)
    cert, pred = est.certify(Xt), est.predict(Xt)
    from sklpoison.certification._plan import _forward

    z = _forward(params, Xt)[1][-1]
    att = (z[..., 0] > 0).astype(int) if z.shape[-1] == 1 else np.argmax(z, axis=-1)
    assert not np.any((est.classes_[att] != pred) & cert)
    assert cert.mean() >= box.certify(Xt).mean()
    assert est.certified_accuracy(Xt, pred)[0] > box.certified_accuracy(Xt, pred)[0]
    # the margins and output bounds are at least as tight as the box's
    lo_z, hi_z = est.predict_bounds(Xt)
    lo_b, hi_b = box.predict_bounds(Xt)
    assert np.all(lo_z >= lo_b) and np.all(hi_z <= hi_b)


def test_test_time_ball_is_sound_and_monotone():
    """Certificates with an input ball: sampled inputs in the ball, the nominal and replayed
    flips, keep every certified prediction; wider balls certify less."""
    X, y = make_moons(50, noise=0.15, random_state=2)
    est = IntervalCertifier(
        "mlp", hidden_layer_sizes=(6,), n_label_flips=1, lr=0.5, n_epochs=4, random_state=0
    ).fit(X, y)
    accs = [est.certified_accuracy(X, y, epsilon=e)[0] for e in (0.0, 0.02, 0.1)]
    assert accs == sorted(accs, reverse=True)
    cert = est.certify(X, epsilon=0.05)
    pred = est.predict(X)
    rng = np.random.RandomState(0)
    Ya = np.repeat(y[None], len(y), axis=0)
    Ya[np.arange(len(y)), np.arange(len(y))] ^= 1
    params = replay_training(est, np.broadcast_to(X, (len(y),) + X.shape), Ya)
    from sklpoison.certification._plan import _forward

    for _ in range(5):
        Xp = X + rng.choice([-0.05, 0.05], size=X.shape)
        z = _forward(params, Xp)[1][-1][..., 0]
        assert not np.any((est.classes_[(z > 0).astype(int)] != pred) & cert)


@pytest.mark.parametrize(
    "C, kw",
    [
        (1, dict(n_poison=1, epsilon=0.2)),
        (3, dict(n_poison=1, epsilon=0.2, n_label_flips=1, paired=True)),
        (1, dict(n_poison=1, epsilon=0.1, n_label_flips=1, batch_size=3)),
    ],
    ids=["bin-features", "smx-paired", "bin-mini-batch-both"],
)
def test_exact_trajectories_of_feature_and_mini_batch_attacks_are_inside(C, kw):
    """The per-step excess (no persistent symbols): one row moved to every vertex of its
    eps-ball (and relabelled where the threat allows), retrained in exact arithmetic."""
    X, y = _tiny(C)
    est = IntervalCertifier(
        "mlp", hidden_layer_sizes=(3,), lr=0.7, n_epochs=3, random_state=0, **kw
    )
    assert est.fit(X, y).zonotope_ is None  # "auto": the box for these threats
    est.set_params(domain="zonotope").fit(X, y)
    assert est.zonotope_ is not None and est.zonotope_.D is None
    eps = kw["epsilon"]
    flips = kw.get("n_label_flips", 0)
    for i in (0, 1, 4):
        for corner in itertools.product([-eps, eps], repeat=X.shape[1]):
            X_att = X.copy()
            X_att[i] += corner
            y_att = y.copy()
            if flips and corner[0] > 0:
                y_att[i] = (y[i] + 1) % (2 if C == 1 else C)
            _assert_inside(est, _exact_run(est, X_att, y_att))


def test_unsupported_network_threats_use_the_box():
    """Regression networks have no zonotope: 'auto' uses the box, 'zonotope' says why."""
    X, y = make_moons(30, noise=0.2, random_state=0)
    kw = dict(hidden_layer_sizes=(3,), n_epochs=2)
    est = IntervalCertifierRegressor("mlp", **kw).fit(X, y.astype(float))
    assert est.zonotope_ is None
    with pytest.raises(ValueError, match="domain='zonotope' needs .* network classifier"):
        IntervalCertifierRegressor("mlp", domain="zonotope", **kw).fit(X, y.astype(float))


def test_auto_takes_the_network_zonotope_only_within_its_cost_budget():
    """'auto': the network zonotope while 2 P + n A <= 500 symbols per row and parameter
    (its counted cost within 50 times the box's), the box beyond; 'zonotope' forces it."""
    assert zm.network_zonotope_affordable(9, 482, 1)  # 18 + 482 = 500
    assert not zm.network_zonotope_affordable(9, 483, 1)
    assert not zm.network_zonotope_affordable(9, 250, 2)  # 18 + 500 (three classes)
    kw = dict(hidden_layer_sizes=(2,), n_epochs=1, n_label_flips=2, random_state=0)  # P = 9
    for n, affordable in [(40, True), (600, False)]:
        X, y = make_moons(n, noise=0.2, random_state=0)
        auto = IntervalCertifier("mlp", **kw).fit(X, y)
        assert (auto.zonotope_ is not None) == affordable
        forced = IntervalCertifier("mlp", domain="zonotope", **kw).fit(X, y)
        assert forced.zonotope_ is not None
        # mini-batch flips: the box under 'auto' at any size
        batched = IntervalCertifier("mlp", batch_size=n // 2, **kw).fit(X, y)
        assert batched.zonotope_ is None
