"""The box (interval) domain: :class:`BoxPropagator` and its interval passes.

Interval forward and backward passes through a parameter box, the per-sample
gradient bounds of every poisoning variant (outer products laid out ``(n_in, n_out,
B)``, their differences from the clean bounds), their combination into bounds on the
batch gradient (with the threat's sorted sums, :mod:`._threat`), and the SGD update of
the box. :class:`BoxPropagator` runs one step of all this (Sosnin et al., 2024).

Every propagator (box here, zonotopes in :mod:`._zonotope`) has the same interface: it
is built from the initial parameters and the threat model, advanced by :meth:`step`
once per SGD step (after the nominal step, on the same batch), and read with
:meth:`bounds`, the per-layer box ``(W_lo, W_hi, b_lo, b_hi)`` that contains every
parameter vector reachable under the threat model.
"""

from abc import ABC, abstractmethod

import numpy as np

from ..numerics import interval as ia
from ..numerics.rounding import TINY, U, gamma
from ._threat import _combine_chunk, _variant_terms


# --------------------------------------------------------------------------
# interval passes
# --------------------------------------------------------------------------
def _interval_forward(box, x_lo, x_hi):
    """Interval forward pass through the parameter box.

    Returns the layer inputs ``[(h_lo, h_hi), ...]`` and pre-activations
    ``[(z_lo, z_hi), ...]``.
    """
    hs, zs = [(x_lo, x_hi)], []
    for layer, (W_lo, W_hi, b_lo, b_hi) in enumerate(box):
        h_lo, h_hi = hs[-1]
        z_lo, z_hi = ia.interval_matmul(h_lo, h_hi, W_lo, W_hi)
        z_lo, z_hi = ia.interval_add(z_lo, z_hi, b_lo, b_hi)
        zs.append((z_lo, z_hi))
        if layer < len(box) - 1:
            hs.append(ia.relu(z_lo, z_hi))
    return hs, zs


def _output_grad_interval(kind, z_lo, z_hi, labels):
    if kind == "squared_error":
        y, eps = labels
        return ia.squared_error_grad(z_lo, z_hi, y, eps)
    if kind == "binary":
        return ia.binary_cross_entropy_grad(z_lo, z_hi, labels)
    return ia.softmax_cross_entropy_grad(z_lo, z_hi, labels)


def _interval_backward(box, hs, zs, d_lo, d_hi):
    """Batch-summed gradient intervals ``(gW_lo, gW_hi, gb_lo, gb_hi)`` of every layer.

    Computed with BLAS in centre/radius form (no per-sample arrays): used when
    no sample can be poisoned and gradients are not clipped.
    """
    out = [None] * len(box)
    for layer in range(len(box) - 1, -1, -1):
        h_lo, h_hi = hs[layer]
        if h_lo is h_hi:
            hT = h_lo.T
            gW_lo, gW_hi = ia.interval_matmul(hT, hT, d_lo, d_hi)
        else:
            gW_lo, gW_hi = ia.interval_matmul(h_lo.T, h_hi.T, d_lo, d_hi)
        gb_lo, gb_hi = _sum_bounds(d_lo, d_hi, axis=0)
        out[layer] = (gW_lo, gW_hi, gb_lo, gb_hi)
        if layer > 0:
            W_lo, W_hi = box[layer][0], box[layer][1]
            n_lo, n_hi = ia.interval_matmul(d_lo, d_hi, W_lo.T, W_hi.T)
            s_lo, s_hi = ia.relu_derivative(*zs[layer - 1])
            d_lo, d_hi = ia.mul_by_01_interval(n_lo, n_hi, s_lo, s_hi)
    return out


def _sum_bounds(lo, hi, axis=0):
    """Batch sums with the float64 rounding error of the summation added outward."""
    n = lo.shape[axis]
    # Higham (3.5) for a sum of n terms: error <= gamma(n - 1) sum |x_i|; +2 for the
    # rounded |x| sum and the subtraction of the slack; n TINY covers underflow
    g = gamma(n + 1)
    s_lo = lo.sum(axis=axis)
    s_hi = hi.sum(axis=axis)
    return (
        s_lo - g * np.abs(lo).sum(axis=axis) - n * TINY,
        s_hi + g * np.abs(hi).sum(axis=axis) + n * TINY,
    )


def _sgd_box_update(p_lo, p_hi, g_lo, g_hi, decay, eta):
    """Box after ``p <- decay p - eta g``: the lower end moves by the upper gradient bound.

    Each product and the difference round once; the bounds are widened by
    ``4 u (|decay p| + |eta g|)`` plus the smallest normal number.
    """
    # a = fl(decay p), b = fl(eta g), fl(a - b): the exact decay p - eta g differs
    # from the result by <= U (|decay p| + |eta g|) + U |a - b| <= 2 U (1 + U)(|a| + |b|);
    # the widening's own multiply-add and subtraction round by <= U (|a| + |b|) + U |lo|,
    # so 4 U (|a| + |b|) covers all (Higham (2.4)); TINY covers underflow.
    a_lo, a_hi = decay * p_lo, decay * p_hi
    b_lo, b_hi = eta * g_hi, eta * g_lo
    lo = a_lo - b_lo
    hi = a_hi - b_hi
    return (
        lo - 4 * U * (np.abs(a_lo) + np.abs(b_lo)) - TINY,
        hi + 4 * U * (np.abs(a_hi) + np.abs(b_hi)) + TINY,
    )


def _interval_deltas(box, zs, d_lo, d_hi):
    """Interval of the loss derivative w.r.t. every layer's output, ``[(d_lo, d_hi), ...]``."""
    out = [None] * len(box)
    for layer in range(len(box) - 1, -1, -1):
        out[layer] = (d_lo, d_hi)
        if layer > 0:
            W_lo, W_hi = box[layer][0], box[layer][1]
            n_lo, n_hi = ia.interval_matmul(d_lo, d_hi, W_lo.T, W_hi.T)
            s_lo, s_hi = ia.relu_derivative(*zs[layer - 1])
            d_lo, d_hi = ia.mul_by_01_interval(n_lo, n_hi, s_lo, s_hi)
    return out


# --------------------------------------------------------------------------
# per-sample gradient bounds and their batch sums
# --------------------------------------------------------------------------
def _outer_bounds(h_lo, h_hi, d_lo, d_hi):
    """Per-sample interval products ``h_b (x) d_b`` laid out as ``(n_in, n_out, B)``.

    Every end point is a single rounded product (the sign split keeps one
    non-zero term), so its relative rounding error is at most one unit roundoff.
    """
    hl = np.ascontiguousarray(h_lo.T)[:, None, :]
    dl = np.ascontiguousarray(d_lo.T)[None, :, :]
    dh = np.ascontiguousarray(d_hi.T)[None, :, :]
    shape = (hl.shape[0], dl.shape[1], dl.shape[2])
    if h_lo is h_hi:
        if np.all(h_lo >= 0):
            return hl * dl, hl * dh
        hp, hn = np.maximum(hl, 0.0), np.minimum(hl, 0.0)
        return _fma2(hp, dl, hn, dh, shape), _fma2(hp, dh, hn, dl, shape)
    hh = np.ascontiguousarray(h_hi.T)[:, None, :]
    if np.all(h_lo >= 0):
        lo = _fma2(hh, np.minimum(dl, 0.0), hl, np.maximum(dl, 0.0), shape)
        hi = _fma2(hh, np.maximum(dh, 0.0), hl, np.minimum(dh, 0.0), shape)
        return lo, hi
    return ia.interval_mul(hl, hh, dl, dh, round_outward=False)


def _fma2(a, b, c, d, shape):
    """``a * b + c * d`` with broadcasting and a single temporary."""
    out = np.multiply(a, b)
    tmp = np.empty(shape)
    np.multiply(c, d, out=tmp)
    out += tmp
    return out


def _outer_diff(h_lo, h_hi, clean, poisoned):
    """``(p_lo - g_lo, p_hi - g_hi)`` of per-sample products sharing the factor ``h``.

    ``g = h (x) d`` and ``p = h (x) d'`` with the same ``h`` (a point or a
    non-negative interval): the end points are linear in the sign-split ``d``
    bounds, so the differences are products of ``h`` with differences of ``d``
    bounds (clamped to the sound side of zero). Returns ``None`` for an
    interval ``h`` of mixed sign.
    """
    dl, dh = (np.ascontiguousarray(a.T)[None, :, :] for a in clean)
    pl, ph = (np.ascontiguousarray(a.T)[None, :, :] for a in poisoned)
    hl = np.ascontiguousarray(h_lo.T)[:, None, :]
    shape = (hl.shape[0], dl.shape[1], dl.shape[2])
    if h_lo is h_hi:
        if np.all(h_lo >= 0):
            lo, hi = hl * (pl - dl), hl * (ph - dh)
        else:
            hp, hn = np.maximum(hl, 0.0), np.minimum(hl, 0.0)
            lo = _fma2(hp, pl - dl, hn, ph - dh, shape)
            hi = _fma2(hp, ph - dh, hn, pl - dl, shape)
    elif np.all(h_lo >= 0):
        hh = np.ascontiguousarray(h_hi.T)[:, None, :]
        lo = _fma2(
            hh,
            np.minimum(pl, 0.0) - np.minimum(dl, 0.0),
            hl,
            np.maximum(pl, 0.0) - np.maximum(dl, 0.0),
            shape,
        )
        hi = _fma2(
            hh,
            np.maximum(ph, 0.0) - np.maximum(dh, 0.0),
            hl,
            np.minimum(ph, 0.0) - np.minimum(dh, 0.0),
            shape,
        )
    else:
        return None
    np.minimum(lo, 0.0, out=lo)
    np.maximum(hi, 0.0, out=hi)
    return lo, hi


def _outer_diff_ball(x, x_lo, x_hi, clean, poisoned):
    """Bounds on ``p - g`` for ``g = x (x) d`` and ``p = x' (x) d'`` with ``x' in [x_lo, x_hi]``.

    ``x`` is a point (the clean inputs) and ``[x_lo, x_hi]`` the (outward-rounded)
    ball around it. The poisoned product's end points are the exact corner
    products of the two intervals (as the clipping path computes them), minus the
    clean end points ``x+ d_hi + x- d_lo`` (upper) and ``x+ d_lo + x- d_hi``
    (lower); clamped to the sound side of zero. Never looser than the
    midpoint-radius form ``x (p - d) +/- radius max|d'|``.
    """
    dl, dh = (np.ascontiguousarray(a.T)[None, :, :] for a in clean)
    pl, ph = (np.ascontiguousarray(a.T)[None, :, :] for a in poisoned)
    xl = np.ascontiguousarray(x.T)[:, None, :]
    lo_x = np.ascontiguousarray(x_lo.T)[:, None, :]
    hi_x = np.ascontiguousarray(x_hi.T)[:, None, :]
    shape = (xl.shape[0], dl.shape[1], dl.shape[2])
    p_lo, p_hi = ia.interval_mul(lo_x, hi_x, pl, ph, round_outward=False)
    if np.all(x >= 0):
        lo, hi = p_lo - xl * dl, p_hi - xl * dh
    else:
        xp, xn = np.maximum(xl, 0.0), np.minimum(xl, 0.0)
        lo = p_lo - _fma2(xp, dl, xn, dh, shape)
        hi = p_hi - _fma2(xp, dh, xn, dl, shape)
    np.minimum(lo, 0.0, out=lo)
    np.maximum(hi, 0.0, out=hi)
    return lo, hi


def _outer_sums(h_lo, h_hi, d_lo, d_hi):
    """Batch sums of the per-sample bounds of :func:`_outer_bounds`, by BLAS.

    Returns ``None`` for an interval ``h`` of mixed sign (no sign split).
    """
    if h_lo is h_hi:
        if np.all(h_lo >= 0):
            return h_lo.T @ d_lo, h_lo.T @ d_hi
        hp, hn = np.maximum(h_lo, 0.0).T, np.minimum(h_lo, 0.0).T
        return hp @ d_lo + hn @ d_hi, hp @ d_hi + hn @ d_lo
    if np.all(h_lo >= 0):
        lo = h_hi.T @ np.minimum(d_lo, 0.0) + h_lo.T @ np.maximum(d_lo, 0.0)
        hi = h_hi.T @ np.maximum(d_hi, 0.0) + h_lo.T @ np.minimum(d_hi, 0.0)
        return lo, hi
    return None


_CHUNK_ELEMENTS = 1 << 21


def _combine_per_sample(variants, n_layers, B, terms, k_unbounded, clip):
    """Batch-mean gradient bounds from per-sample bounds of every variant, per layer.

    Works on blocks of weight rows so that the ``(rows, n_out, B)`` temporaries
    stay small. Rounding: every per-sample end point carries a relative error of
    at most ``u``; sums, differences and sorted sums add at most a few
    ``gamma_{B+8}`` times the sum of the magnitudes, which is bounded by the
    BLAS product ``max|h|^T max|d|`` over all variants; the bounds are widened
    by ``16 gamma_{B+8}`` times that product.
    """
    # With M_b = max|h_b| max|d_b| over the variants (>= |p_b|, |g_b| of every end point):
    # per-sample end points round once (<= U M_b); the clean sum errs by <= gamma(B) sum M_b
    # (Higham (3.5)); each difference p - g (<= 2 U (1 + U) * 2 M_b), joint excess (two more
    # subtractions, <= 3 U * 3 M_b) and top-k sum (<= gamma(k) of its terms; selecting the
    # top k of perturbed values moves the sum by <= the sum of the perturbations) adds
    # <= 4 gamma(B + 8) sum M_b per term, with at most three terms: 13 gamma(B + 8) sum M_b.
    # The final subtraction of the slack and division by B (each <= U |result|, and
    # |result| <= 7 sum M_b) fit in the remaining 3 gamma(B + 8) >= 27 U; h_mag.T @ d_mag is
    # sum M_b up to a relative gamma(B) (positive terms), absorbed by the same margin.
    g = gamma(B + 8)
    out = []
    for layer in range(n_layers):
        h_mag = None
        d_mag = None
        for hs, ds in variants.values():
            hm = np.maximum(np.abs(hs[layer][0]), np.abs(hs[layer][1]))
            dm = np.maximum(np.abs(ds[layer][0]), np.abs(ds[layer][1]))
            h_mag = hm if h_mag is None else np.maximum(h_mag, hm)
            d_mag = dm if d_mag is None else np.maximum(d_mag, dm)
        slack_W = 16 * g * (h_mag.T @ d_mag) + 16 * B * TINY
        slack_b = 16 * g * d_mag.sum(axis=0) + 16 * B * TINY
        n_in = h_mag.shape[1]
        n_out = d_mag.shape[1]
        rows = max(1, _CHUNK_ELEMENTS // max(1, n_out * B))
        gW_lo = np.empty((n_in, n_out))
        gW_hi = np.empty((n_in, n_out))
        for r0 in range(0, n_in, rows):
            sl = slice(r0, r0 + rows)
            arrays, pre_diffs = {}, {}
            clean_hs, clean_ds = variants["clean"]
            for name, (hs, ds) in variants.items():
                if name == "clean":
                    continue
                h_lo, h_hi = hs[layer]
                h_lo_c = h_lo[:, sl]
                h_hi_c = h_lo_c if h_lo is h_hi else h_hi[:, sl]
                diff = None
                c_lo, c_hi = clean_hs[layer]
                if hs is clean_hs and clip is None:
                    # same layer inputs as the clean samples (label poisoning):
                    # the increase is h (x) (change of the delta bounds), directly
                    diff = _outer_diff(h_lo_c, h_hi_c, clean_ds[layer], ds[layer])
                elif clip is None and c_lo is c_hi and h_lo is not h_hi:
                    # inputs in a ball around the clean point inputs (first layer)
                    diff = _outer_diff_ball(c_lo[:, sl], h_lo_c, h_hi_c, clean_ds[layer], ds[layer])
                if diff is None:
                    arrays[name] = _outer_bounds(h_lo_c, h_hi_c, *ds[layer])
                else:
                    pre_diffs[name] = diff
            h_lo, h_hi = clean_hs[layer]
            h_lo_c = h_lo[:, sl]
            h_hi_c = h_lo_c if h_lo is h_hi else h_hi[:, sl]
            clean_sums = None
            if not arrays and terms is not None and clip is None:
                # every variant's increase is known: the clean per-sample bounds
                # are only summed, which BLAS does without materialising them
                clean_sums = _outer_sums(h_lo_c, h_hi_c, *clean_ds[layer])
            if clean_sums is None:
                arrays["clean"] = _outer_bounds(h_lo_c, h_hi_c, *clean_ds[layer])
            gW_lo[sl], gW_hi[sl] = _combine_chunk(
                arrays, B, terms, k_unbounded, clip, pre_diffs, clean_sums
            )
        arrays = {
            name: (np.ascontiguousarray(ds[layer][0].T), np.ascontiguousarray(ds[layer][1].T))
            for name, (_, ds) in variants.items()
        }
        gb_lo, gb_hi = _combine_chunk(arrays, B, terms, k_unbounded, clip)
        out.append(
            (
                (gW_lo - slack_W) / B,
                (gW_hi + slack_W) / B,
                (gb_lo - slack_b) / B,
                (gb_hi + slack_b) / B,
            )
        )
    return out


def _labels_for(threat, Yb, idx, flipped):
    t = threat
    if t.kind == "squared_error":
        return (Yb, float(t.nu) if flipped else 0.0)
    onehot, flip = t.label_sets
    return flip[idx] if flipped else onehot[idx]


def _gradient_bounds(threat, box, Xb, Yb, idx):
    """Bounds ``(gW_lo, gW_hi, gb_lo, gb_hi)`` per layer on the batch-mean gradient over box."""
    t = threat
    kind, kx, ky, eps, clip = t.kind, t.kx, t.ky, t.eps, t.clip
    B = Xb.shape[0]
    hs, zs = _interval_forward(box, Xb, Xb)
    clean_lab = _labels_for(t, Yb, idx, False)
    d_lo, d_hi = _output_grad_interval(kind, *zs[-1], clean_lab)
    poisoned = (kx > 0 or ky > 0 or t.unbounded) and B > 0
    if not (poisoned or clip is not None):
        clean = _interval_backward(box, hs, zs, d_lo, d_hi)
        return [tuple(a / B for a in layer) for layer in clean]

    # per-sample bounds: (layer inputs, output deltas) of every variant
    variants = {"clean": (hs, _interval_deltas(box, zs, d_lo, d_hi))}
    hs_x = zs_x = None
    if kx > 0:
        # x -/+ eps: one rounded operation each, 2 U plus a nextafter step covers it
        x_lo, x_hi = ia.outward(Xb - eps, Xb + eps, rel=2 * U)
        hs_x, zs_x = _interval_forward(box, x_lo, x_hi)
    flip_lab = _labels_for(t, Yb, idx, True) if ky > 0 else None
    wanted = []
    if kx > 0 and not (t.paired and ky > 0):
        wanted.append(("x", hs_x, zs_x, clean_lab))
    if ky > 0 and not (t.paired and kx > 0):
        wanted.append(("y", hs, zs, flip_lab))
    if kx > 0 and ky > 0:
        wanted.append(("xy", hs_x, zs_x, flip_lab))
    for name, hv, zv, lab in wanted:
        pd_lo, pd_hi = _output_grad_interval(kind, *zv[-1], lab)
        variants[name] = (hv, _interval_deltas(box, zv, pd_lo, pd_hi))
    if t.unbounded:
        terms = None
    else:
        terms = _variant_terms(kx, ky, t.paired)
    return _combine_per_sample(variants, len(box), B, terms, min(t.n_poison, B), clip)


def _add_intervals(*terms):
    """Sum of intervals ``(lo, hi)``, left to right, rounded outward.

    Each term is a float or a single rounded product; the sum of ``n`` of them errs by
    at most ``gamma(n)`` times the sum of their magnitudes (Higham (3.5)), and the
    widening's own operations by a few ``U`` more: ``gamma(n + 2)``.
    """
    lo, hi = terms[0]
    for t_lo, t_hi in terms[1:]:
        lo, hi = lo + t_lo, hi + t_hi
    g = gamma(len(terms) + 2)
    mag_lo = sum(np.abs(t[0]) for t in terms)
    mag_hi = sum(np.abs(t[1]) for t in terms)
    return lo - g * mag_lo - TINY, hi + g * mag_hi + TINY


def _penalty_terms(p_lo, p_hi, m_lo, m_hi, momentum, l1):
    """``momentum buf`` and ``l1 sign(theta)`` as intervals (both exact or one rounding)."""
    return (momentum * m_lo, momentum * m_hi), (l1 * np.sign(p_lo), l1 * np.sign(p_hi))


def _penalty_excess(box, bufs, momentum, l1):
    """Per layer ``(W_lo, W_hi, b_lo, b_hi)``: ``momentum buf + l1 sign(theta)`` over the boxes.

    What SGD with momentum and an L1 penalty adds to the gradient in the update
    ``theta' = decay theta - eta (g + momentum buf + l1 sign(theta))`` (see
    :func:`._plan._penalised_step`); ``sign`` is monotone, so its range over ``[lo, hi]``
    is ``[sign(lo), sign(hi)]``.
    """
    out = []
    for layer, layer_buf in zip(box, bufs):
        terms = []
        for j in (0, 2):  # the weights, then the biases
            m, s = _penalty_terms(
                layer[j], layer[j + 1], layer_buf[j], layer_buf[j + 1], momentum, l1
            )
            terms += _add_intervals(m, s)
        out.append(tuple(terms))
    return out


def _buffer_update(box, bufs, grads, momentum, l1, l2):
    """Box of ``buf' = momentum buf + g + l2 theta + l1 sign(theta)`` (``g`` in ``grads``)."""
    out = []
    for layer, layer_buf, layer_g in zip(box, bufs, grads):
        terms = []
        for j in (0, 2):
            p_lo, p_hi = layer[j], layer[j + 1]
            m, s = _penalty_terms(p_lo, p_hi, layer_buf[j], layer_buf[j + 1], momentum, l1)
            terms += _add_intervals(m, (layer_g[j], layer_g[j + 1]), (l2 * p_lo, l2 * p_hi), s)
        out.append(tuple(terms))
    return out


def _penalised_box_update(box, bufs, grads, eta, decay, momentum, l1, l2):
    """Boxes of ``theta`` and the momentum buffer after a step (see :func:`_penalty_excess`)."""
    pen = _penalty_excess(box, bufs, momentum, l1)
    theta = []
    for layer, g, e in zip(box, grads, pen):
        out = []
        for j in (0, 2):  # the weights, then the biases
            lo, hi = _add_intervals((g[j], g[j + 1]), (e[j], e[j + 1]))
            out += _sgd_box_update(layer[j], layer[j + 1], lo, hi, decay, eta)
        theta.append(tuple(out))
    return theta, _buffer_update(box, bufs, grads, momentum, l1, l2)


# --------------------------------------------------------------------------
# the propagator
# --------------------------------------------------------------------------
def meet(box_a, box_b):
    """Intersection of two per-layer boxes ``[(W_lo, W_hi, b_lo, b_hi), ...]``.

    Both contain the reachable set, so their intersection does; ``max`` / ``min``
    are exact in floating point.
    """
    return [
        (
            np.maximum(a[0], b[0]),
            np.minimum(a[1], b[1]),
            np.maximum(a[2], b[2]),
            np.minimum(a[3], b[3]),
        )
        for a, b in zip(box_a, box_b)
    ]


def _is_finite(box):
    return all(np.all(np.isfinite(a)) for layer in box for a in layer)


def _vacuous(box):
    """The box ``(-inf, inf)`` of every parameter: an unbounded set, vacuous certificates."""
    return [
        tuple(np.full_like(a, s * np.inf) for a, s in zip(layer, (-1, 1, -1, 1))) for layer in box
    ]


class _Propagator(ABC):
    """The interface of every propagator of the reachable parameter set.

    :meth:`step` advances the set by one SGD step (after the nominal step, on the
    same batch); its ``box`` argument, when given, is a box known to contain the
    parameters before the step (e.g. the intersection with other domains), which the
    propagator may use to tighten its own bounds. :meth:`bounds` is the per-layer box
    ``(W_lo, W_hi, b_lo, b_hi)`` that contains the set after the last step (``(-inf,
    inf)`` when the set is unbounded: :attr:`diverged`); :meth:`final_bounds` the
    tightest such box, read once after training (possibly at more cost), and
    :meth:`reachable_set` the set itself for certificates (``None``: the box only).
    """

    diverged = False

    @abstractmethod
    def step(self, Xb, Yb, idx, eta, decay, box=None):
        """Advance the set by one SGD step on the batch ``Xb, Yb`` (rows ``idx``)."""

    @abstractmethod
    def bounds(self):
        """The per-layer box ``(W_lo, W_hi, b_lo, b_hi)`` containing the set now."""

    def final_bounds(self):
        return self.bounds()

    def reachable_set(self):
        return None

    def _check_finite(self, box):
        """``box``, or the vacuous box when it is unbounded (the propagation then stops)."""
        self.diverged = not _is_finite(box)
        return _vacuous(box) if self.diverged else box


class BoxPropagator(_Propagator):
    """Interval (box) propagation of every layer (Sosnin et al., 2024).

    Per step: bounds on every clean sample's gradient over the box and on
    every poisonable sample's gradient over the box and the allowed changes;
    the sorted sums of the differences bound the batch gradient; the box is
    mapped by the SGD update (the lower end moves by the upper gradient bound).
    """

    def __init__(self, params, threat, *, momentum=0.0, l1=0.0, l2=0.0):
        self.threat = threat
        self.box = [(W.copy(), W.copy(), b.copy(), b.copy()) for W, b in params]
        self.momentum, self.l1, self.l2 = momentum, l1, l2
        # the momentum buffers' box (zero before the first step); None: plain SGD
        self.bufs = None
        if momentum > 0 or l1 > 0:
            self.bufs = [tuple(np.zeros_like(a) for a in layer) for layer in self.box]

    def bounds(self):
        return self.box

    def step(self, Xb, Yb, idx, eta, decay, box=None):
        if box is None:
            if self.diverged:
                return
            box = self.box
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            grads = _gradient_bounds(self.threat, box, Xb, Yb, idx)
            if self.bufs is not None:
                new, self.bufs = _penalised_box_update(
                    box, self.bufs, grads, eta, decay, self.momentum, self.l1, self.l2
                )
                self.box = self._check_finite(new)
                return
            new = []
            for (W_lo, W_hi, b_lo, b_hi), (gW_lo, gW_hi, gb_lo, gb_hi) in zip(box, grads):
                nW_lo, nW_hi = _sgd_box_update(W_lo, W_hi, gW_lo, gW_hi, decay, eta)
                nb_lo, nb_hi = _sgd_box_update(b_lo, b_hi, gb_lo, gb_hi, decay, eta)
                new.append((nW_lo, nW_hi, nb_lo, nb_hi))
        self.box = self._check_finite(new)


class Intersection(_Propagator):
    """Propagators of the same reachable set run side by side, intersected after every step.

    Every member starts each step from the intersection of all the members' boxes
    (each contains the set, so their intersection does), so the result is never
    looser than any member alone; a member whose set became unbounded (a box that
    diverged, a zonotope whose hull is not finite) contributes ``(-inf, inf)`` and the
    others carry on. Diverged only when every member is.
    """

    def __init__(self, *members):
        self.members = members
        self.box = members[0].bounds()
        for m in members[1:]:
            self.box = meet(self.box, m.bounds())

    def bounds(self):
        return self.box

    def step(self, Xb, Yb, idx, eta, decay, box=None):
        if self.diverged:
            return
        start = self.box if box is None else meet(self.box, box)
        for m in self.members:
            m.step(Xb, Yb, idx, eta, decay, start)
        box = self.members[0].bounds()
        for m in self.members[1:]:
            box = meet(box, m.bounds())
        self.box = self._check_finite(box)

    def final_bounds(self):
        if self.diverged:
            return self.box
        box = self.box
        for m in self.members:
            box = meet(box, m.final_bounds())
        return box

    def reachable_set(self):
        if self.diverged:
            return None
        return next((s for m in self.members if (s := m.reachable_set()) is not None), None)
