"""Data and replay helpers shared by the certification tests."""

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_moons
from sklearn.preprocessing import StandardScaler

from sklpoison.certification._plan import _forward
from sklpoison.utils._testing import replay_training, training_targets


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


def _digits3(n=45):
    X, y = load_digits(return_X_y=True)
    keep = y < 3
    return X[keep][:n][:, [2, 3, 10, 13, 20, 27, 36, 43, 50, 53]] / 16.0, y[keep][:n]


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
