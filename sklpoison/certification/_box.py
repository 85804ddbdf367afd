"""Interval (box) propagation of forward and backward passes through a parameter box."""

import numpy as np

from ..numerics import interval as ia
from ..numerics.rounding import TINY, U, gamma


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
