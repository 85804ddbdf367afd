"""Softmax regression on 10-class digits: how tight and how sound are the certificates?

IntervalCertifier (zonotope domain, persistent label-flip symbols) on 1,000 rows of
``load_digits`` (64 pixels standardised over all 1,797 rows; the first 1,000 rows train,
the other 797 are held out), ``lr=0.1``, 10 full-batch epochs. Prints the certified
accuracy on the training rows and the held-out rows for ``k`` label flips, and replays
attacks with the certifier's own SGD steps:

* every one of the ``9 n`` single flips (k = 1): the true worst case of the accuracy,
  whether any retrained model leaves the certified set (the parameter box, and the logit
  bounds of ``predict_bounds`` on every held-out row, which come from the zonotope) and
  whether any certified prediction changes;
* ``--n-targeted`` targeted k-flip attacks (k = 5): for a held-out row near the decision
  boundary, the k rows whose single flips lowered its margin most (distinct rows, from the
  exhaustive single-flip replay), flipped together.

Run ``python benchmarks/bench_certifier_softmax.py`` (``--quick``: 300 rows, 3 epochs).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from sklpoison import IntervalCertifier
from sklpoison.utils._testing import replay_training


def _data(n_train):
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _replay_many(est, X, Y, chunk=200):
    """Final ``(W, b)`` of the nominal SGD on every label vector of ``Y`` (rows), in chunks."""
    Ws, bs = [], []
    for a in range(0, len(Y), chunk):
        Yc = Y[a : a + chunk]
        ((W, b),) = replay_training(est, np.broadcast_to(X, (len(Yc),) + X.shape), Yc)
        Ws.append(W)
        bs.append(b)
    return np.concatenate(Ws), np.concatenate(bs)


def _check(est, W, b, X_test, name):
    """Replayed models against the certificates: (outside box, outside logit bounds,
    certified predictions changed, per-model accuracy on X_test given labels later)."""
    out_box = ~(
        np.all((W >= est.coefs_lower_[0]) & (W <= est.coefs_upper_[0]), axis=(1, 2))
        & np.all((b >= est.intercepts_lower_[0]) & (b <= est.intercepts_upper_[0]), axis=1)
    )
    lo, hi = est.predict_bounds(X_test)
    logits = X_test @ W + b[:, None, :]  # (models, rows, classes)
    out_logits = ~np.all((logits >= lo) & (logits <= hi), axis=(1, 2))
    cert = est.certify(X_test)
    nominal = est.predict(X_test)
    pred = est.classes_[np.argmax(logits, axis=2)]
    changed = (pred[:, cert] != nominal[cert]).any(axis=1)
    print(
        f"  {name}: {len(W)} models, {out_box.sum()} outside the box, {out_logits.sum()} "
        f"outside the logit bounds, {changed.sum()} with a certified prediction changed"
    )
    return pred


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 rows, 3 epochs")
    parser.add_argument("--budgets", type=int, nargs="*", default=[0, 1, 2, 5])
    parser.add_argument("--n-targeted", type=int, default=300)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    n, epochs = (300, 3) if args.quick else (1000, 10)
    X, y, X_test, y_test = _data(n)
    kw = dict(lr=0.1, n_epochs=epochs, random_state=0)
    print(f"softmax regression, digits: {n} training rows, {X.shape[1]} features, 10 classes,")
    print(f"lr={kw['lr']}, {epochs} full-batch epochs; certified accuracy (worst, nominal, best)")
    print(f"{'k':>3} {'fit s':>7} {'train rows':>24} {'held-out rows':>24}")
    fitted = {}
    for k in args.budgets:
        est = IntervalCertifier("logistic", n_label_flips=k, **kw)
        t0 = time.perf_counter()
        est.fit(X, y)
        t_fit = time.perf_counter() - t0
        tr = est.certified_accuracy(X, y)
        te = est.certified_accuracy(X_test, y_test)
        fitted[k] = est
        print(
            f"{k:>3} {t_fit:7.1f}   {tr[0]:.3f} {tr[1]:.3f} {tr[2]:.3f}        "
            f"{te[0]:.3f} {te[1]:.3f} {te[2]:.3f}"
        )

    if 1 not in fitted:
        return
    est1 = fitted[1]
    classes = est1.classes_
    # every single flip: row i to each other class
    rows, alts = np.nonzero(classes[None, :] != y[:, None])
    Y = np.repeat(y[None], len(rows), axis=0)
    Y[np.arange(len(rows)), rows] = classes[alts]
    print(f"\nreplayed attacks (the certifier's own SGD), {len(rows)} single flips:")
    t0 = time.perf_counter()
    W, b = _replay_many(est1, X, Y)
    pred = _check(est1, W, b, X_test, "k=1 exhaustive")
    acc = (pred == y_test).mean(axis=1)
    cert = est1.certified_accuracy(X_test, y_test)[0]
    print(
        f"  held-out accuracy over the single flips: worst {acc.min():.3f}, median "
        f"{np.median(acc):.3f} (certified {cert:.3f}); replay {time.perf_counter() - t0:.0f} s"
    )
    # single-flip margin decreases on the held-out rows (the nominal class against the rest)
    z0 = est1._decision(X_test)
    ref = np.argmax(z0, axis=1)
    r = np.arange(len(X_test))

    def margins(Z):
        own = Z[..., r, ref]
        other = np.where(np.arange(Z.shape[-1]) == ref[:, None], -np.inf, Z).max(axis=-1)
        return own - other

    m0 = margins(z0)
    drop = np.empty((len(rows), len(X_test)))
    for a in range(0, len(rows), 500):
        drop[a : a + 500] = m0 - margins(X_test @ W[a : a + 500] + b[a : a + 500, None, :])
    worst = drop.max(axis=0)
    print(
        f"  largest margin decrease over the single flips, per held-out row: median "
        f"{np.median(worst):.3f}, max {worst.max():.3f}"
    )

    k = 5
    if k not in fitted:
        return
    est5 = fitted[k]
    # targeted k-flip attacks on the held-out rows closest to the boundary
    targets = np.argsort(m0)[: args.n_targeted]
    Yk = np.repeat(y[None], len(targets), axis=0)
    for j, t in enumerate(targets):
        order = np.argsort(-drop[:, t])
        chosen, used = [], set()
        for f in order:
            if rows[f] not in used:
                chosen.append(f)
                used.add(rows[f])
            if len(chosen) == k:
                break
        Yk[j, rows[chosen]] = classes[alts[chosen]]
    print(f"\n{len(targets)} targeted {k}-flip attacks (largest single-flip drops per target):")
    W5, b5 = _replay_many(est5, X, Yk)
    pred5 = _check(est5, W5, b5, X_test, f"k={k} targeted")
    acc5 = (pred5 == y_test).mean(axis=1)
    hit = (pred5[np.arange(len(targets)), targets] != est5.predict(X_test)[targets]).mean()
    # the certified lower bound of each target's margin (nominal class against the rest)
    lo5 = est5._margins(X_test[targets], X_test[targets], ref[targets], which="lo")[0]
    m_lo = np.where(np.arange(lo5.shape[1]) == ref[targets][:, None], np.inf, lo5).min(axis=1)
    j = np.arange(len(targets))
    z5 = np.einsum("jd,jdc->jc", X_test[targets], W5) + b5  # each attack on its own target
    m_att = z5[j, ref[targets]] - np.where(np.arange(10) == ref[targets][:, None], -np.inf, z5).max(
        axis=1
    )
    print(
        f"  worst held-out accuracy {acc5.min():.3f} (certified "
        f"{est5.certified_accuracy(X_test, y_test)[0]:.3f}); {hit:.1%} of the targets flipped"
    )
    print(
        f"  target margins: nominal median {np.median(m0[targets]):.3f}, attacked median "
        f"{np.median(m_att):.3f}, certified lower bound median {np.median(m_lo):.3f}"
    )


if __name__ == "__main__":
    main()
