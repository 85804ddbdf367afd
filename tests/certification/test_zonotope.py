"""The zonotope domain (``_zonotope.py``): linear, logistic and softmax regression.

Logistic / softmax certificates (zonotope and box) checked adversarially.

Exact-arithmetic trajectories (mpmath) must lie in the certified sets, also at k = 0 where the
sets are only the rounding slack around the float64 run; attacks optimised through the
unrolled SGD (torch autograd) must stay inside; order reduction must contain its input.
"""

import itertools
import warnings
from fractions import Fraction

import numpy as np
import pytest

from sklpoison import IntervalCertifier, IntervalCertifierRegressor
from sklpoison.certification._plan import _forward
from sklpoison.exceptions import VacuousCertificateWarning
from sklpoison.utils._testing import replay_training, training_targets

from ._helpers import (
    _assert_certified_unchanged,
    _assert_inside,
    _cancer,
    _digits3,
    _feature_attacks,
    _flip,
    _moons,
    _random_flip_sets,
    _random_rows,
    _replay,
    _targeted_flip_sets,
)
from .test_box import _edge_values


def _F(x):
    return Fraction(float(x))


mp = pytest.importorskip("mpmath")


def _exact_run(est, X, y_att, prec=80):
    """Final parameters of ``fit``'s SGD on ``X, y_att``, in mpmath at ``prec`` bits."""
    with mp.workprec(prec):
        n, d = X.shape
        plan = est._training_plan(n, d, est.n_outputs_)
        Y = training_targets(est, y_att)
        (W0, b0), C = plan.params0[0], est.n_outputs_
        theta = [[mp.mpf(float(W0[j, c])) for c in range(C)] for j in range(d)]
        theta.append([mp.mpf(float(b0[c])) for c in range(C)])
        Xm = [[mp.mpf(float(v)) for v in row] + [mp.mpf(1)] for row in X]
        for _, idx, eta, decay in plan.steps():
            eta, decay = mp.mpf(eta), mp.mpf(decay)  # the floats fit uses, exactly
            grad = [[mp.mpf(0)] * C for _ in range(d + 1)]
            for i in idx:
                z = [mp.fsum(Xm[i][j] * theta[j][c] for j in range(d + 1)) for c in range(C)]
                if C == 1:
                    p = [1 / (1 + mp.exp(-z[0]))]
                else:
                    top = max(z)
                    e = [mp.exp(v - top) for v in z]
                    p = [v / mp.fsum(e) for v in e]
                for j in range(d + 1):
                    for c in range(C):
                        grad[j][c] += Xm[i][j] * (p[c] - mp.mpf(float(Y[i, c])))
            B = len(idx)
            theta = [
                [decay * theta[j][c] - eta * grad[j][c] / B for c in range(C)] for j in range(d + 1)
            ]
        return theta


def _assert_exact_inside(est, theta):
    d = len(theta) - 1
    lo = np.vstack([est.coefs_lower_[0], est.intercepts_lower_[0][None]])
    hi = np.vstack([est.coefs_upper_[0], est.intercepts_upper_[0][None]])
    for j in range(d + 1):
        for c in range(len(theta[0])):
            assert mp.mpf(float(lo[j, c])) <= theta[j][c] <= mp.mpf(float(hi[j, c])), (j, c)
    if est.zonotope_ is not None:
        _assert_in_zonotope(est.zonotope_, [t for row in theta for t in row])


def _assert_in_zonotope(Z, flat, n_dirs=6):
    """``flat`` lies in ``c + G e + Phi Delta s`` (float entries taken as exact reals): the
    exact support function in every axis and a few random directions, no slack."""
    rng = np.random.RandomState(0)
    P = Z.centre.size
    V = np.vstack([np.eye(P), -np.eye(P), rng.normal(size=(n_dirs, P))])
    F = Z.flips
    if F is not None:
        change = F._change()  # (n, A, C), small integers
        n, A, _ = change.shape
        d1 = F.Xa.shape[1]
    for v in V:
        vm = [mp.mpf(float(a)) for a in v]
        low = mp.fsum(a * mp.mpf(float(c)) for a, c in zip(vm, Z.centre))
        for col in Z.gens.T:
            low -= abs(mp.fsum(a * mp.mpf(float(g)) for a, g in zip(vm, col)))
        if F is not None and F.k > 0:
            w = [mp.fsum(vm[p] * mp.mpf(float(F.phi[p, q])) for p in range(P)) for q in range(P)]
            best = []
            for i in range(n):
                vals = [mp.mpf(0)]
                for a in range(A):
                    vals.append(
                        mp.fsum(
                            w[j * F.C + c] * mp.mpf(float(F.Xa[i, j])) * int(change[i, a, c])
                            for j in range(d1)
                            for c in range(F.C)
                        )
                        / F.B
                    )
                best.append(min(vals))
            low += mp.fsum(sorted(best)[: F.k])
        assert low <= mp.fsum(a * t for a, t in zip(vm, flat))


def _rounding_edge_data(C, seed):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(6, 2))
    X[0] = [1 + 2.0**-52, -(1 - 2.0**-53)]  # neighbours of +-1
    X[1] = [3.0, 1e-8]
    y = np.arange(6) % (2 if C == 1 else C)
    return X, y


@pytest.mark.parametrize("domain", ["auto", "box"])
@pytest.mark.parametrize(
    "C, kw",
    [
        (1, dict(lr=0.7, n_epochs=6)),
        (1, dict(lr=0.5, n_epochs=5, l2=0.3, lr_decay=0.5, batch_size=4)),
        (3, dict(lr=0.9, n_epochs=5)),
        (3, dict(lr=0.5, n_epochs=4, poison_target=2, batch_size=3, l2=0.1)),
        (3, dict(lr=0.8, n_epochs=4, poison_target=1, lr_decay=0.3)),
    ],
    ids=["bin-full", "bin-mb-decay-l2", "smx-full", "smx-mb-target", "smx-full-target"],
)
def test_exact_trajectories_of_every_flip_are_inside(C, kw, domain):
    """k = 0: the set is only rounding slack around the float run, yet holds the exact run;
    k = 1: every single label change, retrained exactly, is inside too."""
    X, y = _rounding_edge_data(C, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        zero = IntervalCertifier(random_state=0, domain=domain, **kw).fit(X, y)
        one = IntervalCertifier(n_label_flips=1, random_state=0, domain=domain, **kw).fit(X, y)
    assert (zero.zonotope_ is not None) == (domain == "auto")
    assert zero.max_width_ < 1e-12
    _assert_exact_inside(zero, _exact_run(zero, X, y))
    target = kw.get("poison_target")
    for i, c in itertools.product(range(len(y)), one.classes_):
        if c == y[i] or (target is not None and c != target):
            continue
        y_att = y.copy()
        y_att[i] = c
        _assert_exact_inside(one, _exact_run(one, X, y_att))


def test_saturated_logits_exact_run_is_inside():
    """Logits of several hundred (sigmoid and softmax saturate in float64): still sound."""
    torch = pytest.importorskip("torch")
    X, y = _rounding_edge_data(1, 4)
    for C, scale in [(1, 300.0), (3, 250.0)]:
        lin = torch.nn.Linear(2, C).double()
        with torch.no_grad():
            lin.weight.copy_(scale * torch.tensor([[1.0, -1.0], [-2.0, 0.5], [0.3, 1.0]][:C]))
            lin.bias.fill_(40.0)
        yc = np.arange(6) % (2 if C == 1 else C)
        for k in (0, 1):
            est = IntervalCertifier(
                torch.nn.Sequential(lin), n_label_flips=k, lr=0.5, n_epochs=4, random_state=0
            ).fit(X, yc)
            assert est.zonotope_ is not None
            _assert_exact_inside(est, _exact_run(est, X, yc))
            y_att = yc.copy()
            y_att[0] = yc[1]
            if k:
                _assert_exact_inside(est, _exact_run(est, X, y_att))


def test_order_reduction_contains_its_input():
    """Girard's reduction: the support function of the result dominates the original's in
    every direction, checked exactly (Fractions) on the coordinate axes and sampled ones."""
    from fractions import Fraction

    from sklpoison.certification._zonotope import _reduce

    rng = np.random.RandomState(5)
    for _ in range(20):
        P = rng.randint(2, 5)
        m = rng.randint(P + 1, 12)
        G = rng.normal(size=(P, m)) * 10.0 ** rng.randint(-8, 8, size=(1, m))
        R = _reduce(G, rng.randint(P, m))
        assert R.shape[1] <= max(P, m)
        V = np.vstack([np.eye(P), rng.choice([-1.0, 0.0, 1.0, 0.5], size=(30, P))])
        for v in V:
            hG = sum(abs(sum(Fraction(a) * Fraction(g) for a, g in zip(v, col))) for col in G.T)
            hR = sum(abs(sum(Fraction(a) * Fraction(g) for a, g in zip(v, col))) for col in R.T)
            assert hR >= hG


@pytest.mark.parametrize("C", [1, 3])
def test_logit_ranges_with_one_entry_columns_contain_the_exact_ranges(C):
    """The logit range takes the trailing one-entry generator columns (radii, reduction
    box) as |x|^T r: its ends contain the exact range x.c -/+ sum_g |x.g| (Fractions)."""
    from fractions import Fraction

    from sklpoison.certification._zonotope import _trailing_single_entry

    prop, _, X, _, _, rng = _excess_setup(C, 0, 0, False, 0.0, 3)
    P = prop.P
    for n_single in [0, 1, P, 2 * P]:
        dense = rng.normal(size=(P, 4)) * 10.0 ** rng.randint(-3, 3, size=(1, 4))
        single = np.zeros((P, n_single))
        single[rng.randint(P, size=n_single), np.arange(n_single)] = rng.normal(size=n_single)
        prop.gens = np.hstack([dense, single])
        t, rows = _trailing_single_entry(prop.gens)
        assert t == n_single
        assert np.array_equal(prop.gens[rows, 4 + np.arange(t)], single.sum(axis=0))
        Xa = np.hstack([X, np.ones((len(X), 1))])
        lo, hi = prop._logit_ranges(Xa)
        c3 = prop.centre.reshape(-1, C)
        G3 = prop.gens.reshape(-1, C, prop.gens.shape[1])
        for i, x in enumerate(Xa):
            for c in range(C):
                zc = sum(Fraction(a) * Fraction(w) for a, w in zip(x, c3[:, c]))
                zg = sum(
                    abs(sum(Fraction(a) * Fraction(g) for a, g in zip(x, G3[:, c, j])))
                    for j in range(G3.shape[2])
                )
                assert Fraction(lo[i, c]) <= zc - zg and Fraction(hi[i, c]) >= zc + zg


@pytest.mark.parametrize("C, B", [(1, 1), (3, 2), (3, 5)])
def test_generator_map_is_within_its_rounding_bound(C, B):
    """M G (dense or factorised through the rows, with one-entry columns as scaled columns
    of M) against the exact product (Fractions) with the exact A = 1/B sum x x^T (x) S."""
    from fractions import Fraction

    from sklpoison.certification._zonotope import _kron_gram
    from sklpoison.numerics.rounding import gamma

    prop, _, X, _, _, rng = _excess_setup(C, 0, 0, False, 0.0, 4)
    P, d1 = prop.P, X.shape[1] + 1
    Xa = np.hstack([X[:B], np.ones((B, 1))])
    S = rng.normal(size=(B, C, C))
    single = np.zeros((P, 3))
    single[rng.randint(P, size=3), np.arange(3)] = rng.normal(size=3)
    prop.gens = np.hstack([rng.normal(size=(P, 4)), single])
    eta, decay = 0.3, 0.99
    M = -eta * _kron_gram(Xa, S, B)
    M[np.diag_indices(P)] += decay
    out = prop._map_generators(M, Xa, S, eta, decay)
    Fx = [[Fraction(v) for v in row] for row in Xa]
    A = [[Fraction(0)] * P for _ in range(P)]
    A_abs = np.zeros((P, P))
    for i in range(B):
        for j in range(d1):
            for c in range(C):
                for j2 in range(d1):
                    for c2 in range(C):
                        A[j * C + c][j2 * C + c2] += Fx[i][j] * Fx[i][j2] * Fraction(S[i, c, c2])
                        A_abs[j * C + c, j2 * C + c2] += abs(Xa[i, j] * Xa[i, j2] * S[i, c, c2])
    M_ex = [[decay * (p == q) - Fraction(eta) * A[p][q] / B for q in range(P)] for p in range(P)]
    bound = gamma(d1 + C + B + 6 + P) * (np.abs(M) + eta * A_abs / B) @ np.abs(prop.gens)
    for p in range(P):
        for col in range(prop.gens.shape[1]):
            ex = sum(M_ex[p][q] * Fraction(prop.gens[q, col]) for q in range(P))
            assert abs(Fraction(out[p, col]) - ex) <= Fraction(bound[p, col]) * 2


def _excess_setup(C, kx, ky, paired, eps, seed):
    from sklpoison.certification._threat import _Threat
    from sklpoison.certification._zonotope import LogitZonotopePropagator

    rng = np.random.RandomState(seed)
    B, d = 5, 3
    X = rng.normal(size=(B, d)) * 3.0
    y = np.arange(B) % (2 if C == 1 else C)
    n_cls = 2 if C == 1 else C
    onehot = np.eye(n_cls, dtype=bool)[y]
    label_sets = (onehot, np.ones_like(onehot))
    W = rng.normal(size=(d, C))
    b = rng.normal(size=C)
    threat = _Threat(
        kind="binary" if C == 1 else "ce",
        kx=kx,
        ky=ky,
        eps=eps,
        nu=0.0,
        paired=paired,
        unbounded=False,
        n_poison=kx,
        clip=None,
        label_sets=label_sets,
    )
    params = [(W, b)]
    prop = LogitZonotopePropagator(params, threat, False, 10)
    r = 0.3
    box = [(W - r, W + r, b - r, b + r)]
    return prop, box, X, y, onehot, rng


@pytest.mark.parametrize("C", [1, 3])
@pytest.mark.parametrize(
    "kx, ky, paired", [(1, 0, False), (0, 1, False), (1, 1, False), (1, 1, True)]
)
def test_zonotope_poisoning_excess_bounds_every_exact_change(C, kx, ky, paired):
    """The per-step excess of the poisoned over the clean batch-mean gradient, for parameters
    in the box: exact changes (mpmath) at adversarial parameters (logits at 0, where the
    sigmoid / softmax move most), feature vertices along the weights and every label."""
    eps = 0.2
    prop, box, X, y, onehot, rng = _excess_setup(C, kx, ky, paired, eps, 7 + C)
    B, d = X.shape
    Xa = np.hstack([X, np.ones((B, 1))])
    e_lo, e_hi, e_slack = prop._excess(Xa, box, np.arange(B))
    W_lo, W_hi, b_lo, b_hi = box[0]
    n_cls = onehot.shape[1]

    def grad(x, theta_W, theta_b, label):
        z = [mp.fsum(x[j] * theta_W[j][c] for j in range(d)) + theta_b[c] for c in range(C)]
        if C == 1:
            p = [1 / (1 + mp.exp(-z[0]))]
            t = [mp.mpf(int(label))]
        else:
            e = [mp.exp(v) for v in z]
            p = [v / mp.fsum(e) for v in e]
            t = [mp.mpf(int(c == label)) for c in range(C)]
        xa = list(x) + [mp.mpf(1)]
        return [xa[j] * (p[c] - t[c]) for j in range(d + 1) for c in range(C)]

    lo = [mp.mpf(float(v)) - mp.mpf(float(s)) for v, s in zip(e_lo, e_slack)]
    hi = [mp.mpf(float(v)) + mp.mpf(float(s)) for v, s in zip(e_hi, e_slack)]
    for trial in range(12):
        # parameters in the box; half the trials put row i's logits at 0 through the bias
        Wt = W_lo + (W_hi - W_lo) * rng.rand(*W_lo.shape)
        bt = b_lo + (b_hi - b_lo) * rng.rand(*b_lo.shape)
        thW = [[mp.mpf(float(v)) for v in row] for row in Wt]
        for i in range(B):
            x = [mp.mpf(float(v)) for v in X[i]]
            thb = [mp.mpf(float(v)) for v in bt]
            if trial % 2 == 0:  # z = 0 (the bias range allows it only approximately)
                thb = [-mp.fsum(x[j] * thW[j][c] for j in range(d)) for c in range(C)]
                if not all(b_lo[c] - 1e-9 <= float(thb[c]) <= b_hi[c] + 1e-9 for c in range(C)):
                    thb = [mp.mpf(float(v)) for v in bt]
            g0 = grad(x, thW, thb, y[i])
            moves = [np.zeros(d)]
            if kx:
                s = np.sign(Wt[:, 0] - (Wt[:, 1] if C > 1 else 0.0))
                moves += [eps * s, -eps * s, eps * rng.choice([-1.0, 1.0], size=d)]
            labels = [y[i]] + ([c for c in range(n_cls) if c != y[i]] if ky else [])
            for D, lab in itertools.product(moves, labels):
                moved, flipped = np.any(D != 0), lab != y[i]
                if paired and kx and ky and (moved or flipped):
                    pass  # one poisoned row with both changes: within max(kx, ky) = 1
                elif (moved and not kx) or (flipped and not ky):
                    continue
                xp = [xi + mp.mpf(float(v)) for xi, v in zip(x, D)]
                g1 = grad(xp, thW, thb, lab)
                for p_ in range(len(g0)):
                    change = (g1[p_] - g0[p_]) / B
                    assert lo[p_] <= change <= hi[p_], (trial, i, p_)


def test_exact_trajectories_of_every_flip_pair_are_inside():
    """k = 2 with persistent flip symbols (full batch): every pair of label changes."""
    X, y = _rounding_edge_data(1, 5)
    est = IntervalCertifier(n_label_flips=2, lr=0.8, n_epochs=5, random_state=0).fit(X, y)
    assert est.zonotope_.flips is not None and est.zonotope_.flips.k == 2
    for rows in itertools.combinations(range(len(y)), 2):
        y_att = y.copy()
        y_att[list(rows)] = 1 - y_att[list(rows)]
        _assert_exact_inside(est, _exact_run(est, X, y_att))


def test_lr_min_times_l2_must_keep_the_decay_positive():
    """The step size reaches lr_min > lr; with lr_min * l2 >= 1 the decay factor 1 - eta l2 is
    negative, which the box update does not handle (an MLP's box came out inverted, replays
    outside it, every prediction 'certified'): rejected like lr * l2 >= 1."""
    from sklearn.datasets import make_moons

    X, y = make_moons(40, noise=0.2, random_state=0)
    kw = dict(hidden_layer_sizes=(4,), n_label_flips=1, lr=0.1, l2=2.0, n_epochs=3)
    with pytest.raises(ValueError, match=r"lr \* l2 must be < 1.*max\(lr, lr_min\)"):
        IntervalCertifier("mlp", lr_min=0.6, random_state=0, **kw).fit(X, y)
    # just below the limit: accepted, and every single flip replays inside the box
    est = IntervalCertifier("mlp", lr_min=0.45, random_state=0, **kw).fit(X, y)
    Ya = np.repeat(y[None], len(y), axis=0)
    Ya[np.arange(len(y)), np.arange(len(y))] ^= 1
    for layer, (W, b) in enumerate(
        replay_training(est, np.broadcast_to(X, (len(y),) + X.shape), Ya)
    ):
        assert np.all((W >= est.coefs_lower_[layer]) & (W <= est.coefs_upper_[layer]))
        assert np.all((b >= est.intercepts_lower_[layer]) & (b <= est.intercepts_upper_[layer]))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_infinite_test_ball_keeps_the_certified_accuracies_ordered(n_classes):
    """epsilon=inf (a legal float): the zonotope's margins are NaN (the ball's centre is
    (-inf + inf) / 2); they must leave the interval bounds, not turn the best case into 0."""
    from sklearn.datasets import make_moons

    X, y = make_moons(40, noise=0.2, random_state=0)
    y = np.arange(40) % n_classes if n_classes > 2 else y
    est = IntervalCertifier(n_label_flips=1, lr=0.3, n_epochs=3, random_state=0).fit(X, y)
    assert est.zonotope_ is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # an infinite test ball certifies nothing: that warning is the expected one
        warnings.simplefilter("ignore", VacuousCertificateWarning)
        worst, nominal, best = est.certified_accuracy(X, y, epsilon=np.inf)
        assert not est.certify(X, epsilon=np.inf).any()
        lo, hi = est.predict_bounds(X, epsilon=np.inf)
    assert np.all(lo == -np.inf) and np.all(hi == np.inf)
    assert worst == 0.0 and best == 1.0 and worst <= nominal <= best


def test_lp_bounds_with_an_infinite_or_huge_test_ball_fall_back_to_intervals():
    """bound='lp' with epsilon=inf raised cvxpy's 'Parameter value must be real', and with
    epsilon=1e300 'Cannot unpack invalid solution' (HiGHS status UNKNOWN) although a failed
    solve is documented to give -inf: now the interval bounds stand."""
    pytest.importorskip("cvxpy")
    from sklearn.datasets import make_moons

    X, y = make_moons(30, noise=0.2, random_state=0)
    est = IntervalCertifier(
        "mlp",
        hidden_layer_sizes=(4,),
        bound="lp",
        n_label_flips=1,
        lr=0.3,
        n_epochs=2,
        random_state=0,
    ).fit(X, y)
    for eps in (np.inf, 1e300):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            worst, nominal, best = est.certified_accuracy(X[:4], y[:4], epsilon=eps)
            lo, hi = est.predict_bounds(X[:2], epsilon=eps)
        assert worst == 0.0 and best == 1.0
        assert np.all(lo <= -1e250) and np.all(hi >= 1e250)


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
    with pytest.raises(ValueError, match="domain='zonotope' needs .* network classifier"):
        IntervalCertifierRegressor("mlp", hidden_layer_sizes=(3,), domain="zonotope").fit(
            X, y.astype(float)
        )
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


def test_linear_zonotope_hull_contains_the_exact_hull():
    from sklpoison.certification._zonotope import _zonotope_box

    rng = np.random.RandomState(25)
    # interval hull of a zonotope
    c = _edge_values(rng, 4)
    G = rng.normal(size=(4, 6)) * 10.0 ** rng.randint(-5, 5, size=(4, 6))
    W_lo, W_hi, b_lo, b_hi = _zonotope_box(c, G)
    lo, hi = np.concatenate([W_lo[:, 0], b_lo]), np.concatenate([W_hi[:, 0], b_hi])
    for i in range(4):
        r = sum(abs(_F(g)) for g in G[i])
        assert _F(lo[i]) <= _F(c[i]) - r and _F(c[i]) + r <= _F(hi[i])


def test_linear_zonotope_step_contains_the_exact_step():
    from sklpoison.certification._zonotope import _affine_zonotope_update

    rng = np.random.RandomState(26)
    B, d, m = 5, 2, 3
    Xb = rng.normal(size=(B, d))
    Xb[0] = [1 + 2.0**-52, -1.0]
    Yb = rng.normal(size=(B, 1))
    c = rng.normal(size=d + 1)
    G = rng.normal(size=(d + 1, m)) * 0.1
    e_r = np.abs(rng.normal(size=d + 1)) * 0.01
    excess = (-e_r[:d, None], e_r[:d, None], -e_r[d:], e_r[d:])
    decay, eta = 0.97, 0.1
    nc, nG = _affine_zonotope_update(c, G, Xb, Yb, excess, decay, eta)
    assert nG.shape[1] == m + d + 1
    Xa = [[_F(v) for v in row] + [Fraction(1)] for row in Xb]
    for _ in range(6):
        e = rng.choice([-1.0, 1.0], size=m)
        E = [_F(v) for v in rng.uniform(-1, 1, size=d + 1) * e_r]
        theta = [_F(c[i]) + sum(_F(G[i, j]) * _F(e[j]) for j in range(m)) for i in range(d + 1)]
        # exact gradient 2/B Xa^T (Xa theta - y), step theta - eta (g + E) with decay
        resid = [
            sum(x[k] * theta[k] for k in range(d + 1)) - _F(Yb[b, 0]) for b, x in enumerate(Xa)
        ]
        grad = [Fraction(2, B) * sum(Xa[b][i] * resid[b] for b in range(B)) for i in range(d + 1)]
        new = [_F(decay) * theta[i] - _F(eta) * (grad[i] + E[i]) for i in range(d + 1)]
        # same old symbols e; the new (diagonal) generators must cover the rest
        for i in range(d + 1):
            old = _F(nc[i]) + sum(_F(nG[i, j]) * _F(e[j]) for j in range(m))
            assert abs(new[i] - old) <= sum(abs(_F(v)) for v in nG[i, m:])
