"""Zonotopes through hidden layers: certified accuracy and replayed attacks of ReLU MLPs.

Setting (binary head): Linear(2, 16)-ReLU-Linear(16, 1), ``torch.manual_seed(0)``
initialisation, make_moons(500, noise=0.1, random_state=0) for training, a second
make_moons(500, noise=0.1, random_state=1) for testing, ``lr=0.5``, 10 full-batch
epochs, binary cross-entropy. Softmax head: the same with three classes (moons plus a
third blob), Linear(2, 16)-ReLU-Linear(16, 3).

Prints, for ``domain="box"`` and ``domain="zonotope"``, the certified accuracy at
``k`` label flips and the fit times (same run); then replays, with the certifier's own
SGD step (vectorised over attacks):

* every single label flip (exhaustive, ``k = 1``): the true worst-case accuracy;
* targeted multi-flip attacks at ``k = 2, 3, 5, 10`` (75 certified test points
  each, where any): for a test point, the ``k`` rows whose single flips lower its margin most
  (from the exhaustive replays), and a random ``k``-subset of the ``3 k`` worst;
* feature poisoning (``k = 2, 5, 10`` rows in an ``eps = 0.05`` ball, full batch,
  ``domain="zonotope"``): the ``k`` rows nearest a certified test point moved to the
  loss-increasing vertex (FGSM at the nominal model) or a random vertex;
* with ``--unrolled``, label flips chosen by the gradient of a certified test point's
  margin with respect to relaxed labels through the unrolled SGD run (torch autograd),
  the ``k`` and ``k / 2`` most harmful, linearised at the clean and at the attacked labels
  (``k = 2, 5, 10``, 40 points each);

and checks for every attacked model: inside the box, inside the zonotope (exact
sorted-sum support function along every axis and random directions, and LP
membership in its convex hull), and no certified prediction changed. "closest"
is the largest ``(v . theta - v . c) / (h(v) - v . c)`` over the directions (1: on
the boundary) and the smallest certified margin lower bound against the attacked
margin.

Run ``python benchmarks/bench_certifier_mlp.py`` (``--quick``: fewer attacks;
``--unrolled``: the gradient attacks too).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import make_blobs, make_moons


def _net(n_out):
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, n_out))


def _data(n_classes):
    X, y = make_moons(500, noise=0.1, random_state=0)
    Xt, yt = make_moons(500, noise=0.1, random_state=1)
    if n_classes == 3:
        Xb, _ = make_blobs(250, centers=[[0.5, 1.8]], cluster_std=0.25, random_state=0)
        Xbt, _ = make_blobs(250, centers=[[0.5, 1.8]], cluster_std=0.25, random_state=1)
        X, y = np.vstack([X[:250], Xb]), np.concatenate([y[:250], np.full(250, 2)])
        Xt, yt = np.vstack([Xt[:250], Xbt]), np.concatenate([yt[:250], np.full(250, 2)])
    return X, y, Xt, yt


def _fit(domain, k, n_classes, X, y, **threat):
    from sklpoison import IntervalCertifier

    threat = threat or dict(n_label_flips=k)
    est = IntervalCertifier(
        _net(1 if n_classes == 2 else n_classes),
        lr=0.5,
        n_epochs=10,
        domain=domain,
        random_state=0,
        **threat,
    )
    t0 = time.perf_counter()
    est.fit(X, y)
    return est, time.perf_counter() - t0


def _theta(params):
    """Replayed parameters (leading attack axis) -> (n_attacks, P) in the zonotope layout."""
    blocks = [np.concatenate([W, b[..., None, :]], axis=-2) for W, b in params]
    return np.concatenate([b.reshape(b.shape[0], -1) for b in blocks], axis=1)


def _outputs(params, X):
    from sklpoison.certification._plan import _forward

    return _forward(params, X)[1][-1]


def _lp_inside(Z, theta, tol=1e-9):
    """Membership of ``theta`` in the convex hull of ``c + G e + D s`` (HiGHS LP)."""
    from scipy.optimize import linprog

    P, m = Z.gens.shape
    D = np.zeros((P, 0)) if Z.D is None else Z.D.reshape(P, -1)
    n_s = D.shape[1]
    A_eq = np.hstack([Z.gens, D])
    A_ub, b_ub = [], []
    if n_s:
        A_ub.append(np.concatenate([np.zeros(m), np.ones(n_s)]))
        b_ub.append(Z.k)
        n, A = Z.D.shape[1:]
        if A > 1:
            rows = np.zeros((n, m + n_s))
            for i in range(n):
                rows[i, m + i * A : m + (i + 1) * A] = 1.0
            A_ub.extend(rows)
            b_ub.extend([1.0] * n)
    bounds = [(-1, 1)] * m + [(0, 1)] * n_s
    # slack variables on the equalities: minimise their l1 norm (0 if inside)
    A = np.hstack([A_eq, np.eye(P), -np.eye(P)])
    cost = np.concatenate([np.zeros(m + n_s), np.ones(2 * P)])
    A_ub = np.hstack([np.array(A_ub), np.zeros((len(A_ub), 2 * P))]) if A_ub else None
    res = linprog(
        cost,
        A_ub=A_ub,
        b_ub=b_ub or None,
        A_eq=A,
        b_eq=theta - Z.centre,
        bounds=bounds + [(0, None)] * (2 * P),
        method="highs",
    )
    return res.status == 0 and res.fun <= tol * (1 + np.abs(theta).sum())


def _check(est, params, Xt, tag, lp_every=10, seed=0):
    """Box, zonotope support, LP membership and certified predictions of replayed models."""
    Z = est.zonotope_
    theta = _theta(params)
    P = theta.shape[1]
    lo = _theta(
        [
            (np.array(W)[None], np.array(b)[None])
            for W, b in zip(est.coefs_lower_, est.intercepts_lower_)
        ]
    )[0]
    hi = _theta(
        [
            (np.array(W)[None], np.array(b)[None])
            for W, b in zip(est.coefs_upper_, est.intercepts_upper_)
        ]
    )[0]
    out_box = int(np.sum(np.any((theta < lo) | (theta > hi), axis=1)))
    out_zono = out_lp = 0
    closest = 0.0
    if Z is not None:
        rng = np.random.RandomState(seed)
        dev = theta - Z.centre
        V = np.vstack([np.eye(P), rng.normal(size=(40, P)), dev[rng.permutation(len(dev))[:40]]])
        v_lo, v_hi = Z.linear_bounds(V)
        proj = theta @ V.T  # (attacks, dirs)
        vc = V @ Z.centre
        out_zono = int(np.sum(np.any((proj < v_lo) | (proj > v_hi), axis=1)))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.maximum((proj - vc) / (v_hi - vc), (vc - proj) / (vc - v_lo))
        closest = float(np.nanmax(ratio))
        for t in theta[::lp_every]:
            out_lp += not _lp_inside(Z, t)
    cert = est.certify(Xt)
    pred = est.predict(Xt)
    z = _outputs(params, Xt)
    if z.shape[-1] == 1:
        att = est.classes_[(z[..., 0] > 0).astype(int)]
    else:
        att = est.classes_[np.argmax(z, axis=-1)]
    changed = int(np.sum((att != pred[None]) & cert[None]))
    acc = None
    print(
        f"  {tag:<30} attacks {len(theta):>4}  outside box {out_box}  outside zonotope "
        f"{out_zono}  outside LP hull {out_lp}/{len(theta[::lp_every])}  certified changed "
        f"{changed}  closest {closest:.3f}"
    )
    return att, acc


def _replay(est, X, Y):
    from sklpoison.utils._testing import replay_training

    Xs = np.broadcast_to(X, (len(Y),) + X.shape)
    return replay_training(est, Xs, Y)


def _section(n_classes, quick, n_attacks=300):
    X, y, Xt, yt = _data(n_classes)
    print(f"\n== {'binary' if n_classes == 2 else 'softmax (3 classes)'} head ==")
    print(f"{'k':>3} {'box':>6} {'zonotope':>8} {'nominal':>7} {'box s':>6} {'zono s':>7}")
    ests = {}
    for k in (1, 2, 3, 5, 10):
        box, t_b = _fit("box", k, n_classes, X, y)
        zono, t_z = _fit("zonotope", k, n_classes, X, y)
        wb, nom, _ = box.certified_accuracy(Xt, yt)
        wz, _, _ = zono.certified_accuracy(Xt, yt)
        print(f"{k:>3} {wb:6.3f} {wz:8.3f} {nom:7.3f} {t_b:6.2f} {t_z:7.2f}")
        ests[k] = zono
    # exhaustive single flips
    est = ests[1]
    alts = [c for c in range(n_classes)]
    Ys, flips = [], []
    for i in range(len(y)):
        for c in alts:
            if c != y[i]:
                ya = y.copy()
                ya[i] = c
                Ys.append(ya)
                flips.append((i, c))
    Ys = np.array(Ys)
    params = _replay(est, X, Ys)
    att, _ = _check(est, params, Xt, "k=1 exhaustive single flips")
    accs = np.mean(att == yt[None], axis=1)
    print(
        f"  true worst case over single flips: {accs.min():.3f} "
        f"(certified {est.certified_accuracy(Xt, yt)[0]:.3f})"
    )
    # single-flip effect on every test margin of the nominal prediction (targeted attacks)
    ref = np.searchsorted(est.classes_, est.predict(Xt))
    eff = _margins(params, Xt, ref) - _margins(_nominal(est), Xt, ref)[None]
    rng = np.random.RandomState(0)
    n_targets = 20 if quick else n_attacks
    for k in (2, 3, 5, 10):
        est = ests[k]
        ref = np.searchsorted(est.classes_, est.predict(Xt))
        cert = est.certify(Xt)
        m_lo, _ = est._margins(Xt, Xt, ref, which="lo")
        m_lo[np.arange(len(ref)), ref] = np.inf
        bound = m_lo.min(axis=1)  # certified lower bound on the nominal class's margin
        # the certified points with the smallest lower bounds, two attacks each
        if not cert.any():
            print(f"  k={k}: nothing certified, no targeted attacks")
            continue
        targets = np.argsort(np.where(cert, bound, np.inf))[: n_targets // 2]
        targets = targets[cert[targets]]
        Ya = []
        for t in targets:
            worst = np.argsort(eff[:, t])[: 3 * k]
            for pick in (worst[:k], rng.choice(worst, k, replace=False)):
                ya = y.copy()
                for f in pick:
                    i, c = flips[f]
                    if ya[i] == y[i]:  # one alternative per row
                        ya[i] = c
                Ya.append(ya)
        params = _replay(est, X, np.array(Ya))
        _check(est, params, Xt, f"k={k} targeted multi-flip")
        tgt = targets.repeat(2)
        att = _margins(params, Xt, ref)[np.arange(len(tgt)), tgt]
        nom = _margins(_nominal(est), Xt, ref)[tgt]
        gap = (att - bound[tgt]) / (nom - bound[tgt])  # 0: the attack reaches the bound
        print(
            f"  targeted: min (attacked margin - bound) {np.min(att - bound[tgt]):.4f}, "
            f"closest fraction of the certified gap left {np.min(gap):.3f} (median "
            f"{np.median(gap):.3f}); margins lowered by up to {np.max(nom - att):.4f}"
        )


def _input_grad(est, X, y):
    """Gradient of every training row's loss w.r.t. its features, at the nominal model."""
    from sklpoison.certification._plan import _forward, _output_grad
    from sklpoison.utils._testing import training_targets

    params = _nominal(est)
    hs, zs = _forward(params, X)
    kind = "binary" if est.n_outputs_ == 1 else "ce"
    delta = _output_grad(kind, zs[-1], training_targets(est, y))
    for layer in range(len(params) - 1, 0, -1):
        delta = (delta @ params[layer][0].T) * (zs[layer - 1] > 0)
    return delta @ params[0][0].T


def _feature_section(n_classes, quick, eps=0.05):
    """Feature poisoning (k rows moved within eps, full batch), domain='zonotope'."""
    from sklpoison.utils._testing import replay_training

    X, y, Xt, yt = _data(n_classes)
    print(f"\n-- feature poisoning, eps={eps}, full batch ({n_classes} classes) --")
    print(f"{'k':>3} {'box':>6} {'zonotope':>8} {'nominal':>7} {'box s':>6} {'zono s':>7}")
    rng = np.random.RandomState(1)
    n_targets = 30 if quick else 150
    for k in (2, 5, 10):
        threat = dict(n_poison=k, epsilon=eps)
        box, t_b = _fit("box", k, n_classes, X, y, **threat)
        est, t_z = _fit("zonotope", k, n_classes, X, y, **threat)
        wb, nom, _ = box.certified_accuracy(Xt, yt)
        wz, _, _ = est.certified_accuracy(Xt, yt)
        print(f"{k:>3} {wb:6.3f} {wz:8.3f} {nom:7.3f} {t_b:6.2f} {t_z:7.2f}")
        ref = np.searchsorted(est.classes_, est.predict(Xt))
        cert = est.certify(Xt)
        m_lo, _ = est._margins(Xt, Xt, ref, which="lo")
        m_lo[np.arange(len(ref)), ref] = np.inf
        bound = m_lo.min(axis=1)
        targets = np.argsort(np.where(cert, bound, np.inf))[: n_targets // 2]
        targets = targets[cert[targets]]
        if len(targets) == 0:
            print(f"  k={k}: nothing certified, no attacks")
            continue
        sign = np.sign(_input_grad(est, X, y))
        Xa = []
        for t in targets:
            near = np.argsort(((X - Xt[t]) ** 2).sum(axis=1))[:k]  # the rows nearest the target
            up = X.copy()
            up[near] += eps * sign[near]  # loss-increasing vertices (FGSM on the rows)
            rand = X.copy()
            rand[near] += eps * rng.choice([-1.0, 1.0], size=(k, X.shape[1]))
            Xa.extend([up, rand])
        Xa = np.array(Xa)
        params = replay_training(est, Xa, np.broadcast_to(y, Xa.shape[:2]))
        _check(est, params, Xt, f"k={k} feature vertices")
        tgt = targets.repeat(2)
        att = _margins(params, Xt, ref)[np.arange(len(tgt)), tgt]
        nom_m = _margins(_nominal(est), Xt, ref)[tgt]
        gap = (att - bound[tgt]) / (nom_m - bound[tgt])
        print(
            f"  targeted: min (attacked margin - bound) {np.min(att - bound[tgt]):.4f}, "
            f"closest fraction of the certified gap left {np.min(gap):.3f} (median "
            f"{np.median(gap):.3f}); margins moved by up to {np.max(np.abs(nom_m - att)):.4f}"
        )


def _torch_training(est, X):
    """``fit``'s SGD run as a differentiable torch function of the targets ``Y``."""
    import torch

    plan = est._training_plan(X.shape[0], X.shape[1], est.n_outputs_)
    Xt = torch.as_tensor(X)

    def train(Y):
        ps = [
            (torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
            for W, b in plan.params0
        ]
        for _, idx, eta, decay in plan.steps():
            h = Xt[idx]
            for layer, (W, b) in enumerate(ps):
                h = h @ W + b
                if layer < len(ps) - 1:
                    h = torch.relu(h)
            if est.n_outputs_ == 1:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    h, Y[idx], reduction="sum"
                )
            else:
                loss = -(Y[idx] * torch.log_softmax(h, -1)).sum()
            flat = [p for wb in ps for p in wb]
            gs = torch.autograd.grad(loss / len(idx), flat, create_graph=True)
            ps = [
                (decay * W - eta * gs[2 * i], decay * b - eta * gs[2 * i + 1])
                for i, (W, b) in enumerate(ps)
            ]
        return ps

    return train


def _label_gradient(est, train, Y, x, ref):
    """Gradient of the trained model's margin of class ``ref`` at ``x`` w.r.t. the targets."""
    import torch

    Yv = torch.tensor(Y, requires_grad=True)
    h = torch.as_tensor(x[None])
    ps = train(Yv)
    for layer, (W, b) in enumerate(ps):
        h = h @ W + b
        if layer < len(ps) - 1:
            h = torch.relu(h)
    z = h[0] if est.n_outputs_ > 1 else torch.cat([torch.zeros(1, dtype=h.dtype), h[0]])
    margin = z[ref] - torch.cat([z[:ref], z[ref + 1 :]]).max()
    return torch.autograd.grad(margin, Yv)[0].numpy()


def _unrolled_section(n_classes, quick):
    """Label flips chosen by the margin's gradient w.r.t. relaxed labels through training.

    For each certified test point with the smallest certified margins: the first-order
    effect of every flip (the gradient through the unrolled SGD run, as a torch graph),
    the ``k`` (and ``k / 2``) most harmful flips, then the same again linearised at the
    attacked labels; replayed with the certifier's own step.
    """
    from sklpoison.utils._testing import training_targets

    X, y, Xt, yt = _data(n_classes)
    print(f"\n-- label flips through the unrolled training ({n_classes} classes) --")
    eye = np.eye(n_classes)
    for k in (2, 5, 10):
        est, _ = _fit("zonotope", k, n_classes, X, y)
        ref = np.searchsorted(est.classes_, est.predict(Xt))
        cert = est.certify(Xt)
        if not cert.any():
            print(f"  k={k}: nothing certified, no attacks")
            continue
        m_lo, _ = est._margins(Xt, Xt, ref, which="lo")
        m_lo[np.arange(len(ref)), ref] = np.inf
        bound = m_lo.min(axis=1)
        targets = np.argsort(np.where(cert, bound, np.inf))[: 8 if quick else 40]
        targets = targets[cert[targets]]
        train = _torch_training(est, X)
        Ya = []
        for t in targets:
            ya = y
            for _ in range(2):  # linearised at the clean labels, then at the attacked ones
                g = _label_gradient(est, train, training_targets(est, ya), Xt[t], ref[t])
                if n_classes == 2:
                    gain = g[:, 0] * (1 - 2 * y)  # flipping row i from y_i to 1 - y_i
                    alt = 1 - y
                else:
                    gain = g - (g * eye[y]).sum(axis=1, keepdims=True)
                    gain[np.arange(len(y)), y] = np.inf
                    alt, gain = gain.argmin(axis=1), gain.min(axis=1)
                order = np.argsort(gain)
                for kk in sorted({k, max(1, k // 2)}):
                    ya = y.copy()
                    ya[order[:kk]] = alt[order[:kk]]
                    Ya.append(ya)
        params = _replay(est, X, np.array(Ya))
        _check(est, params, Xt, f"k={k} unrolled-gradient flips")
        tgt = targets.repeat(len(Ya) // len(targets))
        att = _margins(params, Xt, ref)[np.arange(len(tgt)), tgt]
        nom = _margins(_nominal(est), Xt, ref)[tgt]
        used = (nom - att) / (nom - bound[tgt])  # 1: the attack reaches the certified bound
        print(
            f"  {len(Ya)} attacks on {len(targets)} points: largest share of the certified "
            f"margin used {np.max(used):.3f} (median {np.median(used):.3f})"
        )


def _nominal(est):
    return list(zip(est.coefs_, est.intercepts_))


def _margins(params, X, ref):
    """Margin of class ``ref`` over the best other class (single logit: logits (0, z))."""
    z = _outputs(params, X)
    if z.shape[-1] == 1:
        z = np.concatenate([np.zeros_like(z), z], axis=-1)
    rows = np.arange(len(ref))
    zr = z[..., rows, ref]
    z = z.copy()
    z[..., rows, ref] = -np.inf
    return zr - z.max(axis=-1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer attacks")
    parser.add_argument("--binary-only", action="store_true", help="no softmax head")
    parser.add_argument("--no-features", action="store_true", help="label flips only")
    parser.add_argument("--softmax-only", action="store_true", help="no binary head")
    parser.add_argument(
        "--attacks", type=int, default=150, help="targeted flip attacks per budget (default 150)"
    )
    parser.add_argument(
        "--unrolled",
        action="store_true",
        help="also flips chosen by gradients through the unrolled training (torch)",
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    parser_sections = [2] if args.binary_only else ([3] if args.softmax_only else [2, 3])
    for n_classes in parser_sections:
        _section(n_classes, args.quick, args.attacks)
    if not args.no_features:
        for n_classes in parser_sections:
            _feature_section(n_classes, args.quick)
    if args.unrolled:
        for n_classes in parser_sections:
            _unrolled_section(n_classes, args.quick)


if __name__ == "__main__":
    main()
