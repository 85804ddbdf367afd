"""Zonotope (affine-arithmetic) propagation through ReLU networks (MLPs).

The parameters ``theta`` (every layer's ``vec([W; b])``, row-major, stacked) reachable
under the threat model are kept, as for logistic regression
(:mod:`~sklpoison.certification._zonotope`), as

    theta = c + G e + D s,    e in [-1, 1]^m,

with ``s`` the persistent label-flip symbols of a full-batch run (``s`` in
``{0, 1}^(n x A)``, at most one alternative label per row, at most ``k`` rows).
Unlike logistic regression, a flip's effect on the gradient depends on the
parameters (it is ``J_i(theta)^T (y_i - y'_i)`` with ``J_i`` the Jacobian of the
outputs), so ``D`` is kept column by column, ``(P, n, A)``.

Every quantity of one step is an *affine form* over the symbols,
``c + E e + F s + [-r, r]`` (:class:`_Form`; ``r`` collects the errors that are
local to one row or one step). One SGD step ``theta <- decay theta - eta g``:

* forward pass of every training row: the first layer is linear in
  ``theta`` (exact); the products of activations and uncertain weights of later
  layers are products of two affine forms: the linear part plus the range of the
  product of the two deviations (interval of the quadratic remainder);
* ReLU: DeepZ (``relu(z) in lam z + T/2 +/- T/2`` on the pre-activation range,
  intersected with the interval range of the box propagated alongside); the
  output: the sigmoid's DeepZ relaxation or the softmax's mean-value form of
  the logistic zonotope;
* backward pass: products with the uncertain weights as above, and the ReLU
  derivative, a {0, 1} step: exact where the pre-activation keeps its sign,
  otherwise ``1(z > 0) t in t / 2 +/- max|t| / 2``;
* the flips: the clean gradient (original labels) is taken through the forms
  above; row ``i`` flipped to ``a`` adds ``J_i(theta)^T (Y_i - Y'_a) / B``, which
  is ``J0_ia + [-rad_ia, rad_ia]`` over the set (interval Jacobian, ``J0`` its
  midpoint): ``J0_ia / B`` enters ``D``'s column ``(i, a)`` and the remainder, the
  sorted sum of the ``k`` largest ``rad``, a new generator;
* ``theta' = decay theta - eta g`` maps ``c``, ``G`` and ``D`` exactly (one
  rounding per entry); the local errors ``eta r`` enter as one new diagonal
  generator; Girard's order reduction keeps ``max_generators`` columns.

The box propagated alongside is intersected with the zonotope's hull after
every step, so the set is never looser than the box.
All rounding is accounted for (:mod:`sklpoison.numerics.rounding`): every
operation adds ``gamma(n)`` times the magnitude of its terms to ``r``.
"""

import numpy as np

from ..numerics import interval as ia
from ..numerics.rounding import U, gamma, round_down, round_up
from ._affine_forms import (
    _Form,
    _intersect_dev,
    _n_flip,
    _rad,
    add,
    const_matmul,
    dev_range,
    form_bounds,
    form_matmul,
    form_mul,
    output_derivative,
    relu,
    scale,
    step01,
    sum_rows,
)
from ._box import _interval_deltas, _interval_forward, _Propagator
from ._flips import _alternatives
from ._threat import _combine_chunk, _topk_last, _variant_terms
from ._zonotope import _reduce

# domain="auto" takes the network zonotope when its counted cost per step is at most this many
# times the box's (see network_zonotope_affordable); domain="zonotope" always takes it
NETWORK_COST_RATIO = 50.0
# the box's interval forward and backward passes, in multiply-adds per row and parameter
BOX_OPS_PER_PARAM = 10.0


def network_zonotope_affordable(n_params, n_samples, n_alts):
    """Whether ``domain="auto"`` takes the network zonotope (full-batch label flips).

    Counted in multiply-adds per step: every row's forms carry, for every parameter,
    the kept generators (``max_generators = 2 P``) and the persistent flip symbols
    (``n A``): ``n P (2 P + n A)``, against ``BOX_OPS_PER_PARAM n P`` for the box's
    interval passes. Affordable when the ratio is at most ``NETWORK_COST_RATIO``, i.e.
    ``2 P + n A <= 500`` symbols (measured on the half-moons MLP with 65 parameters:
    the fit takes about ``(2 P + n A) / 9`` times the box's).
    """
    symbols = 2 * n_params + n_samples * max(n_alts, 1)
    return symbols <= NETWORK_COST_RATIO * BOX_OPS_PER_PARAM


# --------------------------------------------------------------------------
# the network over the set of parameters
# --------------------------------------------------------------------------
class _Layout:
    """Where every layer's ``[W; b]`` sits in ``theta``."""

    def __init__(self, shapes):
        self.shapes = shapes  # [(n_in, n_out), ...]
        sizes = [(i + 1) * o for i, o in shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.P = int(self.offsets[-1])

    def split(self, theta):
        """``theta`` (P, ...) -> per layer ``(W (n_in, n_out, ...), b (n_out, ...))`` views."""
        out = []
        for (i, o), a in zip(self.shapes, self.offsets[:-1]):
            block = theta[a : a + (i + 1) * o].reshape((i + 1, o) + theta.shape[1:])
            out.append((block[:-1], block[-1]))
        return out

    def param_forms(self, centre, gens, D):
        """Per layer the forms ``(W, b)`` of the parameters (zero radius)."""
        cs, Es = self.split(centre), self.split(gens)
        Ds = self.split(D) if D is not None else [(None, None)] * len(cs)
        out = []
        for (cW, cb), (EW, Eb), (DW, Db) in zip(cs, Es, Ds):
            out.append(
                (
                    _Form(cW, EW, DW, np.zeros(cW.shape)),
                    _Form(cb, Eb, Db, np.zeros(cb.shape)),
                )
            )
        return out

    def join(self, per_layer, trailing):
        """Stack per-layer ``(gW, gb)`` arrays (trailing shape ``trailing``) into ``(P, ...)``."""
        out = np.empty((self.P,) + trailing)
        for (gW, gb), (i, o), a in zip(per_layer, self.shapes, self.offsets[:-1]):
            block = out[a : a + (i + 1) * o].reshape((i + 1, o) + trailing)
            block[:-1], block[-1] = gW, gb
        return out


def _param_devs(params, box, k):
    """Deviation ranges of the parameter forms, intersected with the (sound) box."""
    devs = []
    for (Wf, bf), (W_lo, W_hi, b_lo, b_hi) in zip(params, box):
        devs.append(
            (
                _intersect_dev(dev_range(Wf, k), Wf.c, W_lo, W_hi),
                _intersect_dev(dev_range(bf, k), bf.c, b_lo, b_hi),
            )
        )
    return devs


def forward_forms(params, devs, box_zs, x, k, x_rad=None, box=None):
    """Forms of every layer input and pre-activation for the rows ``x``.

    ``box_zs``: the interval pre-activation ranges over the box (intersected with the
    forms' ranges for the relaxations); ``x_rad``: radii of an l-infinity input ball
    (its contribution ``r |W_1|`` goes to the radius of the first layer).
    Returns ``(hs, zs, ranges)``: layer inputs from the second layer on, pre-activation
    forms and their intersected ranges.
    """
    hs, zs, ranges = [], [], []
    L = len(params)
    for layer, ((Wf, bf), (W_dev, _)) in enumerate(zip(params, devs)):
        if layer == 0:
            z = add(const_matmul(x, Wf), bf)
            if x_rad is not None:
                W_lo, W_hi = box[0][0], box[0][1]
                Wabs = np.maximum(np.abs(W_lo), np.abs(W_hi))
                z = _Form(z.c, z.E, z.F, _rad(z.r, x_rad @ Wabs, n=x.shape[1]))
        else:
            z = add(form_matmul(hs[-1], Wf, k, b_dev=W_dev), bf)
        lo, hi = form_bounds(z, k)
        lo, hi = np.maximum(lo, box_zs[layer][0]), np.minimum(hi, box_zs[layer][1])
        zs.append(z)
        ranges.append((lo, hi))
        if layer < L - 1:
            hs.append(relu(z, lo, hi))
    return hs, zs, ranges


def backward_forms(params, devs, x, hs, ranges, delta, k):
    """Forms of the batch-summed gradient ``[(gW, gb), ...]`` from the output derivative."""
    out = [None] * len(params)
    for layer in range(len(params) - 1, -1, -1):
        if layer == 0:
            gW = const_matmul(x.T, delta)
        else:
            gW = form_matmul(hs[layer - 1].T, delta, k)
        out[layer] = (gW, sum_rows(delta))
        if layer > 0:
            Wf, (W_dev, _) = params[layer][0], devs[layer]
            t = form_matmul(delta, Wf.T, k, b_dev=(W_dev[0].T, W_dev[1].T))
            delta = step01(t, *ranges[layer - 1], k)
    return out


def per_row_gradients(params, devs, x, x_rad, hs, ranges, delta):
    """Forms ``(N, P)`` of every row's gradient (no flip symbols), in the layout of ``theta``.

    The first layer's input ``x`` may carry the radii ``x_rad`` of an input ball.
    """
    N, d = x.shape
    m = delta.E.shape[-1]
    blocks = []
    for layer in range(len(params) - 1, -1, -1):
        if layer == 0:
            r = np.zeros(x.shape) if x_rad is None else x_rad
            h = _Form(x, np.zeros((N, d, m)), None, r)
        else:
            h = hs[layer - 1]
        gW = form_mul(h.expand(2), delta.expand(1), 0)
        size = (gW.c.shape[1] + 1) * gW.c.shape[2]
        blocks.append(
            _Form(
                np.concatenate([gW.c, delta.c[:, None]], axis=1).reshape(N, -1),
                np.concatenate([gW.E, delta.E[:, None]], axis=1).reshape(N, size, m),
                None,
                np.concatenate([gW.r, delta.r[:, None]], axis=1).reshape(N, -1),
            )
        )
        if layer > 0:
            Wf, (W_dev, _) = params[layer][0], devs[layer]
            t = form_matmul(delta, Wf.T, 0, b_dev=(W_dev[0].T, W_dev[1].T))
            delta = step01(t, *ranges[layer - 1], 0)
    blocks = blocks[::-1]
    return _Form(
        np.concatenate([b.c for b in blocks], axis=1),
        np.concatenate([b.E for b in blocks], axis=1),
        None,
        np.concatenate([b.r for b in blocks], axis=1),
    )


def flip_jacobians(box, x, ranges, change, x_hi=None):
    """Interval ``J_i(theta)^T v_i`` per row (``(lo, hi)``, ``(N, P)``) for output changes ``v``.

    Interval backward pass of the constant output derivative ``v`` through the box,
    with the ReLU derivatives of the (intersected) pre-activation ranges; the first
    layer's inputs are ``x`` or the boxes ``[x, x_hi]``.
    """
    deltas = _interval_deltas(box, ranges, change, change)
    lows, highs = [], []
    for layer, (d_lo, d_hi) in enumerate(deltas):
        if layer == 0:
            h_lo, h_hi = x, (x if x_hi is None else x_hi)
        else:
            h_lo, h_hi = ia.relu(*ranges[layer - 1])
        W_lo, W_hi = ia.interval_mul(
            h_lo[:, :, None], h_hi[:, :, None], d_lo[:, None], d_hi[:, None]
        )
        lows.append((W_lo, d_lo))
        highs.append((W_hi, d_hi))
    return lows, highs


def _row_chunks(N, width, elems=1 << 21):
    step = max(1, elems // max(width, 1))
    return [slice(s, min(s + step, N)) for s in range(0, N, step)]


def _flip_changes(label_sets, C):
    """``(n, A, C)`` output-derivative changes ``Y_i - Y'_a`` of every alternative (0: none)."""
    onehot, _ = label_sets
    alts = _alternatives(label_sets)
    yi = np.argmax(onehot, axis=1)
    if C == 1:
        return np.where(alts >= 0, yi[:, None] - alts, 0)[:, :, None] * 1.0, alts
    E = np.eye(C)
    own = E[yi][:, None, :]
    return np.where(alts[..., None] >= 0, own - E[np.maximum(alts, 0)], 0.0), alts


class MLPZonotope:
    """The final set of a fit, ``theta = c + G e + D s``, for certificates."""

    def __init__(self, layout, centre, gens, D, k, n_alts):
        self.layout, self.centre, self.gens, self.D, self.k = layout, centre, gens, D, k
        self._n_alts = n_alts
        self.n_out = layout.shapes[-1][1]

    @property
    def n_generators(self):
        return self.gens.shape[1] + self._n_alts

    def linear_bounds(self, V):
        """Lower and upper bounds on ``v . theta`` over the set for every row of ``V`` (q, P)."""
        F = None if self.D is None else np.einsum("qp,pia->qia", V, self.D)
        theta = _Form(self.centre, self.gens, self.D, np.zeros(self.layout.P))
        # Higham (3.5): every entry of V c, V G, V D errs by <= gamma(P) |V| |.|
        r = _rad(2 * gamma(self.layout.P + 2) * (np.abs(V) @ theta.mag()))
        return form_bounds(_Form(V @ self.centre, V @ self.gens, F, r), self.k)

    def output_forms(self, x_lo, x_hi, box):
        """Forms of the outputs ``(N, C)`` for inputs in the boxes ``[x_lo, x_hi]``.

        ``box``: a box containing the set (the estimator's final bounds), intersected
        with the forms' parameter and pre-activation ranges.
        """
        xc = 0.5 * (x_lo + x_hi)
        xr = np.where(x_lo == x_hi, 0.0, np.maximum(round_up(x_hi - xc), round_up(xc - x_lo)))
        point = not np.any(xr > 0)
        params = self.layout.param_forms(self.centre, self.gens, self.D)
        devs = _param_devs(params, box, self.k)
        _, box_zs = _interval_forward(box, x_lo, x_hi)
        _, zs, _ = forward_forms(params, devs, box_zs, xc, self.k, None if point else xr, box)
        return zs[-1]

    def _chunks(self, n):
        width = self.layout.P + self.gens.shape[1] + (0 if self.D is None else self.D[0].size)
        width *= max(s[1] for s in self.layout.shapes)
        return _row_chunks(n, width, elems=1 << 22)

    def outputs(self, x_lo, x_hi, box):
        """Bounds ``(lo, hi)`` of the outputs over the set, ``(N, C)``."""
        lo, hi = np.empty((len(x_lo), self.n_out)), np.empty((len(x_lo), self.n_out))
        for rows in self._chunks(len(x_lo)):
            z = self.output_forms(x_lo[rows], x_hi[rows], box)
            lo[rows], hi[rows] = form_bounds(z, self.k)
        return lo, hi

    def margins(self, x_lo, x_hi, ref, box):
        """Bounds on ``z_ref - z_j`` (the single-logit layout reads as logits ``(0, z)``)."""
        n = len(x_lo)
        K = 2 if self.n_out == 1 else self.n_out
        m_lo, m_hi = np.empty((n, K)), np.empty((n, K))
        for rows in self._chunks(n):
            z = self.output_forms(x_lo[rows], x_hi[rows], box)
            if self.n_out == 1:
                zero = _Form(
                    np.zeros_like(z.c),
                    np.zeros_like(z.E),
                    None if z.F is None else np.zeros_like(z.F),
                    np.zeros_like(z.r),
                )
                z = _concat([zero, z])
            q = np.arange(rows.stop - rows.start)
            rr = ref[rows]
            F = None if z.F is None else z.F[q, rr][:, None] - z.F
            d = _Form(
                z.c[q, rr][:, None] - z.c,
                z.E[q, rr][:, None] - z.E,
                F,
                z.r[q, rr][:, None] + z.r,
            )
            # one rounded subtraction per entry
            d = _Form(d.c, d.E, d.F, _rad(d.r, 2 * gamma(1) * (z.mag()[q, rr][:, None] + z.mag())))
            m_lo[rows], m_hi[rows] = form_bounds(d, self.k)
        return m_lo, m_hi


def _concat(forms):
    F = None
    if forms[0].F is not None:
        F = np.concatenate([f.F for f in forms], axis=1)
    return _Form(
        np.concatenate([f.c for f in forms], axis=1),
        np.concatenate([f.E for f in forms], axis=1),
        F,
        np.concatenate([f.r for f in forms], axis=1),
    )


class MLPZonotopePropagator(_Propagator):
    """Zonotope propagation of a ReLU network's training (see module notes).

    Meant to run in an :class:`~sklpoison.certification._box.Intersection` with a
    :class:`~sklpoison.certification._box.BoxPropagator`: every step starts from the
    box intersected with the zonotope's hull, whose parameter and pre-activation
    ranges tighten the relaxations. Supports the loss derivative of binary (sigmoid)
    and softmax heads. Full-batch label flips (without feature poisoning) keep persistent
    symbols; other threats (feature poisoning in an ``eps`` ball, label flips in
    mini-batches) bound the poisoning's excess over the clean gradient per step: every
    row's gradient change, as the range of the difference of two forms over the same
    symbols (poisoned features) or as the interval Jacobian times the label change,
    summed over the ``k`` rows that change it most (the box's sorted sums).
    """

    def __init__(self, params, threat, n_samples, full_batch, max_generators):
        self.threat = threat
        self.layout = _Layout([W.shape for W, _ in params])
        P = self.layout.P
        self.centre = self.layout.join(params, ())
        self.gens = np.zeros((P, 0))
        self.box = [(W.copy(), W.copy(), b.copy(), b.copy()) for W, b in params]
        self.max_generators = max_generators
        persistent = full_batch and threat.ky > 0 and threat.kx == 0
        self.k = threat.ky if persistent else 0
        self.D, self.change, self.alts = None, None, None
        if threat.ky > 0:
            C = params[-1][0].shape[1]
            self.change, self.alts = _flip_changes(threat.label_sets, C)
        if persistent:
            self.D = np.zeros((P, n_samples, self.alts.shape[1]))

    def bounds(self):
        """The interval hull after the last step (vacuous once it is not finite)."""
        return self.box

    def reachable_set(self):
        if self.diverged:
            return None
        n_alts = 0 if self.D is None else int(np.sum(self.alts >= 0))
        return MLPZonotope(self.layout, self.centre, self.gens, self.D, self.k, n_alts)

    def step(self, Xb, Yb, idx, eta, decay, box=None):
        if self.diverged:
            return
        start = self.box if box is None else box  # a box of the parameters before the step
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            self._zonotope_step(Xb, Yb, idx, eta, decay, start)
            lo, hi = form_bounds(self._theta(), self.k)
        hull = zip(self.layout.split(lo), self.layout.split(hi))
        self.box = self._check_finite([(Wl, Wh, bl, bh) for (Wl, bl), (Wh, bh) in hull])

    def _theta(self):
        return _Form(self.centre, self.gens, self.D, np.zeros(self.layout.P))

    def _zonotope_step(self, Xb, Yb, idx, eta, decay, start_box):
        kind, k, B = self.threat.kind, self.k, Xb.shape[0]
        params = self.layout.param_forms(self.centre, self.gens, self.D)
        devs = _param_devs(params, start_box, k)
        _, box_zs = _interval_forward(start_box, Xb, Xb)
        P, m = self.layout.P, self.gens.shape[1]
        g_c, g_E, g_r = np.zeros(P), np.zeros((P, m)), np.zeros(P)
        g_F = None if self.D is None else np.zeros(self.D.shape)
        g_mag = np.zeros(P)
        if k > 0:
            n, A = self.alts.shape
            J0 = np.zeros((P, n, A))
            J_rad = np.zeros((P, n))
        t = self.threat
        excess = self.k == 0 and (t.kx > 0 or t.ky > 0)
        diffs = {}
        width = (m + _n_flip(self.D)) * max(o for _, o in self.layout.shapes)
        if excess:
            width = max(width, m * P)
        for rows in _row_chunks(B, width):
            x = Xb[rows]
            zb = [(lo[rows], hi[rows]) for lo, hi in box_zs]
            hs, zs, ranges = forward_forms(params, devs, zb, x, k)
            delta = output_derivative(zs[-1], *ranges[-1], Yb[rows], kind)
            grads = backward_forms(params, devs, x, hs, ranges, delta, k)
            g, mag = self._stack(grads)
            g_c += g.c
            g_E += g.E
            g_r += g.r
            g_mag += mag
            if g_F is not None:
                g_F += g.F
            if k > 0:
                self._flip_terms(start_box, x, ranges, rows, J0, J_rad)
            if excess:
                clean = per_row_gradients(params, devs, x, None, hs, ranges, delta)
                for name, (lo, hi) in self._row_excess(
                    params, devs, start_box, x, Yb[rows], idx[rows], ranges, clean
                ).items():
                    diffs.setdefault(name, []).append((lo, hi))
        # the chunk sums: <= n_chunks roundings of the running sums
        g_r = _rad(g_r, 2 * gamma(B + 2) * g_mag)
        if excess:
            e_c, e_r = self._sorted_excess(diffs, B)
            g_c = g_c + e_c
            g_mag = g_mag + np.abs(e_c) + e_r
            g_r = _rad(g_r, e_r, 2 * gamma(2) * g_mag)
        # theta' = decay theta - eta g / B: per entry a product, a division and a
        # subtraction: gamma(4) of the magnitudes (summed over the symbols)
        a = eta / B
        new_c = decay * self.centre - a * g_c
        new_G = decay * self.gens - a * g_E
        mag = decay * np.abs(self.centre) + decay * np.abs(self.gens).sum(axis=1)
        mag = mag + a * (np.abs(g_c) + np.abs(g_E).sum(axis=1))
        radius = [a * g_r]
        if k > 0:
            new_D = decay * self.D - a * (g_F + J0)
            mag = mag + (decay * np.abs(self.D) + a * (np.abs(g_F) + np.abs(J0))).sum(axis=(1, 2))
            # the flips' remainder: sum s_ia (J_ia - J0_ia) / B over <= k rows
            radius.append(a * _topk_last(J_rad, k, largest=True) * (1 + gamma(k + 1)))
            self.D = new_D
        radius.append(2 * gamma(6) * mag * (1 + eta))
        radius = _rad(*radius, n=4)
        gens = np.hstack([new_G, np.diag(radius)])
        keep = np.any(gens != 0, axis=0)
        self.centre, self.gens = new_c, _reduce(gens[:, keep], self.max_generators)

    def _stack(self, grads):
        """Per-layer gradient forms -> one form of shape (P,) and its magnitudes."""
        c = self.layout.join([(gW.c, gb.c) for gW, gb in grads], ())
        E = self.layout.join([(gW.E, gb.E) for gW, gb in grads], (self.gens.shape[1],))
        r = self.layout.join([(gW.r, gb.r) for gW, gb in grads], ())
        mag = self.layout.join([(gW.mag(), gb.mag()) for gW, gb in grads], ())
        F = None
        if self.D is not None:
            F = self.layout.join([(gW.F, gb.F) for gW, gb in grads], self.D.shape[1:])
        return _Form(c, E, F, r), mag

    def _row_excess(self, params, devs, box, x, Y, idx, ranges, clean):
        """Per-row ranges ``(lo, hi)`` ``(N, P)`` of the gradient change of every variant."""
        t = self.threat
        out = {}
        if t.kx > 0:
            eps = np.full(x.shape, t.eps)
            x_lo, x_hi = ia.outward(x - t.eps, x + t.eps, rel=4 * U)
            _, bz = _interval_forward(box, x_lo, x_hi)
            hs, zs, rg = forward_forms(params, devs, bz, x, 0, eps, box)
            delta = output_derivative(zs[-1], *rg[-1], Y, t.kind)
            moved = per_row_gradients(params, devs, x, eps, hs, rg, delta)
            dx = form_bounds(add(moved, scale(clean, -1.0)), 0)
            out["x"] = dx
        if t.ky > 0:
            dy = self._label_change(box, x, x, ranges, idx)
            out["y"] = dy
            if t.kx > 0:
                j_lo, j_hi = self._label_change(box, x_lo, x_hi, rg, idx)
                out["xy"] = (round_down(dx[0] + j_lo), round_up(dx[1] + j_hi))
        return out

    def _label_change(self, box, x_lo, x_hi, ranges, idx):
        """Range over the alternative labels of ``J_i(theta)^T (Y_i - Y'_a)``, ``(N, P)``."""
        lo = hi = None
        for alt in range(self.alts.shape[1]):
            lows, highs = flip_jacobians(box, x_lo, ranges, self.change[idx, alt], x_hi)
            a = self._rows_layout(lows, len(idx))
            b = self._rows_layout(highs, len(idx))
            lo = a if lo is None else np.minimum(lo, a)
            hi = b if hi is None else np.maximum(hi, b)
        return lo, hi

    def _rows_layout(self, per_layer, N):
        return self.layout.join([(W.transpose(1, 2, 0), b.T) for W, b in per_layer], (N,)).T

    def _sorted_excess(self, diffs, B):
        """Centre and radius ``(P,)`` of the batch-summed excess: the box's sorted sums."""
        t = self.threat
        P = self.layout.P
        pre, mag = {}, np.zeros(P)
        for name, parts in diffs.items():
            lo = np.concatenate([a for a, _ in parts], axis=0).T  # (P, B)
            hi = np.concatenate([b for _, b in parts], axis=0).T
            pre[name] = (np.minimum(lo, 0.0), np.maximum(hi, 0.0))
            mag += np.maximum(np.abs(lo), np.abs(hi)).sum(axis=1)
        zero = np.zeros(P)
        terms = _variant_terms(t.kx, t.ky, t.paired)
        s_lo, s_hi = _combine_chunk({}, B, terms, None, None, pre, (zero, zero))
        # the joint term's subtractions and the top-k sums: <= B + 4 roundings of terms
        # bounded by the magnitudes (at most three variants per row), as for the logit model
        slack = 4 * gamma(B + 12) * mag
        e_c = 0.5 * (s_lo + s_hi)
        e_r = np.maximum(round_up(s_hi - e_c), round_up(e_c - s_lo))
        return e_c, _rad(e_r, slack)

    def _flip_terms(self, box, x, ranges, rows, J0, J_rad):
        """Midpoints (into ``J0``) and radii (max over alternatives, into ``J_rad``)."""
        A = self.alts.shape[1]
        for alt in range(A):
            v = self.change[rows, alt]  # (N, C)
            lows, highs = flip_jacobians(box, x, ranges, v)
            lo = self.layout.join([(W.transpose(1, 2, 0), b.T) for W, b in lows], (x.shape[0],))
            hi = self.layout.join([(W.transpose(1, 2, 0), b.T) for W, b in highs], (x.shape[0],))
            mid = 0.5 * (lo + hi)
            rad = np.maximum(round_up(hi - mid), round_up(mid - lo))
            J0[:, rows, alt] = mid
            np.maximum(J_rad[:, rows], rad, out=J_rad[:, rows])
