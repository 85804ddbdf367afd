"""The softmax relaxation and the relaxation-error generators of the logit zonotope.

Checked against exact arithmetic (mpmath, fractions) and by replayed 10-class label-flip
attacks retrained with the certifier's own SGD steps.
"""

import warnings
from fractions import Fraction

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from sklpoison import IntervalCertifier
from sklpoison.certification._zonotope import LogitZonotopePropagator, relax_softmax
from sklpoison.utils._testing import replay_training

mp = pytest.importorskip("mpmath")


def _boxes(rng, n, C):
    """Logit boxes from narrow to very wide (the constant relaxation wins on the wide ones)."""
    lo = rng.normal(scale=3, size=(n, C))
    width = rng.exponential(1.0, size=(n, C)) * 10.0 ** rng.uniform(-3, 1.3, size=(n, 1))
    return lo, lo + width


def test_softmax_relaxation_contains_the_exact_softmax():
    """p(z) - J0 z - mu within err at box vertices and interior points (mpmath, 100 bits),
    on narrow boxes (sliced mean-value bound) and wide ones (constant relaxation)."""
    rng = np.random.RandomState(3)
    C = 4
    lo, hi = _boxes(rng, 40, C)
    J0, mu, err = relax_softmax(lo, hi)
    flat = np.all(J0 == 0, axis=2)
    assert flat.any() and (~flat).any()  # both relaxations occur
    with mp.workprec(100):
        for i in range(len(lo)):
            for _ in range(24):
                u = rng.rand(C)
                vert = rng.rand(C) < 0.6
                u[vert] = np.round(u[vert])
                z = [
                    mp.mpf(float(lo[i, j]))
                    + mp.mpf(float(u[j])) * (mp.mpf(float(hi[i, j])) - mp.mpf(float(lo[i, j])))
                    for j in range(C)
                ]
                den = mp.fsum(mp.exp(v) for v in z)
                for c in range(C):
                    lin = mp.fsum(mp.mpf(float(J0[i, c, j])) * z[j] for j in range(C))
                    lin += mp.mpf(float(mu[i, c]))
                    assert abs(mp.exp(z[c]) / den - lin) <= mp.mpf(float(err[i, c])), (i, c)


def test_sliced_remainder_is_never_looser_than_the_plain_mean_value_bound():
    """Four nested boxes bound the integral form below the one-box mean-value bound, and
    close to half of it on narrow boxes (the remainder is quadratic in the radius)."""
    rng = np.random.RandomState(4)
    lo = rng.normal(scale=2, size=(200, 10))
    hi = lo + rng.exponential(0.05, size=(200, 10))
    _, _, sliced = relax_softmax(lo, hi)
    _, _, plain = relax_softmax(lo, hi, n_slices=1)
    assert np.all(sliced <= plain * (1 + 1e-12))
    assert np.median(sliced / plain) < 0.7


def _propagator(C, d, n_error_generators):
    prop = LogitZonotopePropagator.__new__(LogitZonotopePropagator)
    prop.C, prop.d, prop.P = C, d, (d + 1) * C
    prop.n_error_generators = n_error_generators
    return prop


@pytest.mark.parametrize("n_cols", [0, 4, 15])
def test_relaxation_error_generators_contain_every_error(n_cols):
    """eta / B sum_i x_i (x) r_i with |r_ic| <= err_ic lies in the returned columns plus the
    diagonal eta * relax + rounding: exact support functions (Fractions) of sign vertices."""
    rng = np.random.RandomState(n_cols)
    B, d, C, eta = 5, 2, 3, 0.3
    Xa = np.hstack(
        [rng.normal(size=(B, d)) * 10.0 ** rng.randint(-2, 3, size=(B, 1)), np.ones((B, 1))]
    )
    err = rng.exponential(1e-3, size=(B, C))
    err[0, 1] = 0.0
    prop = _propagator(C, d, n_cols)
    gens, relax, rounding = prop._relaxation_generators(Xa, err, eta)
    assert gens.shape == (prop.P, min(n_cols, B * C - 1))  # the zero error gives no column
    P = prop.P
    radius = [Fraction(eta) * Fraction(r) + Fraction(s) for r, s in zip(relax, rounding)]
    dirs = np.vstack([np.eye(P), -np.eye(P), rng.normal(size=(10, P))])
    G = [[Fraction(v) for v in col] for col in gens.T]
    for _ in range(6):
        signs = rng.choice([-1, 1], size=(B, C))
        vec = [Fraction(0)] * P
        for i in range(B):
            for j in range(d + 1):
                for c in range(C):
                    r = Fraction(err[i, c]) * int(signs[i, c])
                    vec[j * C + c] += Fraction(eta) * Fraction(Xa[i, j]) * r / B
        for w in dirs:
            wf = [Fraction(v) for v in w]
            support = sum(abs(sum(a * g for a, g in zip(wf, col))) for col in G)
            support += sum(abs(a) * r for a, r in zip(wf, radius))
            assert sum(a * v for a, v in zip(wf, vec)) <= support


def _digits(n, n_features=20):
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:, 20 : 20 + n_features])
    return X[:n], y[:n], X[n : n + 100], y[n : n + 100]


def _replayed(est, X, Y):
    ((W, b),) = replay_training(est, np.broadcast_to(X, (len(Y),) + X.shape), Y)
    return W, b


def _assert_sound(est, W, b, X_test):
    assert np.all((W >= est.coefs_lower_[0]) & (W <= est.coefs_upper_[0]))
    assert np.all((b >= est.intercepts_lower_[0]) & (b <= est.intercepts_upper_[0]))
    lo, hi = est.predict_bounds(X_test)
    Z = X_test @ W + b[:, None, :]
    assert np.all((Z >= lo) & (Z <= hi))
    cert = est.certify(X_test)
    pred = est.classes_[np.argmax(Z, axis=2)]
    assert np.all(pred[:, cert] == est.predict(X_test)[cert])


def test_ten_class_single_flips_replay_inside_and_certificates_informative():
    """Softmax on 10-class digits: every single label flip, retrained with fit's own SGD,
    stays in the set and changes no certified prediction; and the zonotope certifies more
    than half of the test rows, the box domain far fewer."""
    X, y, X_test, _ = _digits(120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = IntervalCertifier(n_label_flips=1, lr=0.1, n_epochs=4, random_state=0).fit(X, y)
    assert est.zonotope_ is not None and est.zonotope_.flips is not None
    rows, alts = np.nonzero(est.classes_[None, :] != y[:, None])
    Y = np.repeat(y[None], len(rows), axis=0)
    Y[np.arange(len(rows)), rows] = est.classes_[alts]
    W, b = _replayed(est, X, Y)
    _assert_sound(est, W, b, X_test)
    box = IntervalCertifier(n_label_flips=1, lr=0.1, n_epochs=4, random_state=0, domain="box")
    assert est.certify(X_test).mean() > 0.5 > box.fit(X, y).certify(X_test).mean()


def test_ten_class_targeted_multi_flips_replay_inside():
    """k = 3: for the test rows closest to the boundary, the three rows whose single flips
    lower the margin most (greedy on replayed single flips), flipped together."""
    X, y, X_test, _ = _digits(120)
    kw = dict(lr=0.1, n_epochs=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        one = IntervalCertifier(n_label_flips=1, **kw).fit(X, y)
        est = IntervalCertifier(n_label_flips=3, **kw).fit(X, y)
    rows, alts = np.nonzero(one.classes_[None, :] != y[:, None])
    Y = np.repeat(y[None], len(rows), axis=0)
    Y[np.arange(len(rows)), rows] = one.classes_[alts]
    W, b = _replayed(one, X, Y)
    Z = X_test @ W + b[:, None, :]
    ref = np.argmax(one._decision(X_test), axis=1)
    r = np.arange(len(X_test))
    margin = Z[:, r, ref] - np.where(np.arange(10) == ref[:, None], -np.inf, Z).max(axis=2)
    targets = np.argsort(margin.mean(axis=0))[:40]
    Y3 = np.repeat(y[None], len(targets), axis=0)
    for j, t in enumerate(targets):
        chosen = []
        for f in np.argsort(margin[:, t]):
            if rows[f] not in rows[chosen]:
                chosen.append(f)
            if len(chosen) == 3:
                break
        Y3[j, rows[chosen]] = one.classes_[alts[chosen]]
    W3, b3 = _replayed(est, X, Y3)
    _assert_sound(est, W3, b3, X_test)
