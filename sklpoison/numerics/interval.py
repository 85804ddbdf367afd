"""Interval arithmetic on numpy arrays, shared by the certifiers.

An interval array is a pair ``(lo, hi)`` of float64 arrays of the same shape
with ``lo <= hi`` elementwise. Every function here returns an enclosure: for
any real values inside the input intervals, the exact result of the operation
lies inside the output interval.

Floating point
--------------
All arithmetic is float64. Matrix products use the centre/radius form (one
BLAS call for the centre, two for the radius) and add Higham's a-priori bound
``gamma_n (|A_c||B_c| + r)`` on the rounding error of a length-``n`` dot
product, with ``gamma_n = n u / (1 - n u)`` and ``u = 2**-53``; elementwise
operations (including ``exp`` and the sigmoid, whose library implementations
are accurate to a few ulp) are widened outward by a relative ``8 u`` plus the
smallest normal number; single rounded operations are bounded by one
:func:`numpy.nextafter` step. The constants and their derivations are in
:mod:`sklpoison.numerics.rounding`. The enclosures are therefore sound for the exact real
operations under the usual assumption that BLAS and libm respect those
standard error bounds (round-to-nearest, no fused extended-precision tricks
that break Higham's bound, no flush-to-zero beyond the absolute term).
"""

import numpy as np

__all__ = [
    "outward",
    "interval_matmul",
    "interval_mul",
    "interval_add",
    "relu",
    "relu_derivative",
    "mul_by_01_interval",
    "sigmoid",
    "sigmoid_interval",
    "softmax_interval",
    "squared_error_grad",
    "binary_cross_entropy_grad",
    "softmax_cross_entropy_grad",
    "topk_sum",
    "clip_interval",
]

from .rounding import ELEM_REL, TINY, U, gamma, outward, round_down, round_up


def interval_matmul(a_lo, a_hi, b_lo, b_hi, *, round_outward=True):
    """Enclosure of ``A @ B`` for ``A in [a_lo, a_hi]`` and ``B in [b_lo, b_hi]``.

    Uses the centre/radius (Rump) form: with ``A = A_c +/- A_r`` and
    ``B = B_c +/- B_r``, ``A B`` lies in ``A_c B_c +/- (|A_c| B_r + A_r (|B_c| + B_r))``.
    Each term is a BLAS matrix product; a point operand (``lo is hi`` or a zero
    radius) skips the products that vanish. Leading dimensions broadcast as in
    :func:`numpy.matmul`.

    Parameters
    ----------
    a_lo, a_hi : ndarray of shape (..., n, m)
    b_lo, b_hi : ndarray of shape (..., m, p)
    round_outward : bool, default=True
        Add the float64 rounding-error bound of the products (see module notes).

    Returns
    -------
    lo, hi : ndarray of shape (..., n, p)
    """
    a_point = a_lo is a_hi
    b_point = b_lo is b_hi
    a_c = a_lo if a_point else 0.5 * (a_lo + a_hi)
    b_c = b_lo if b_point else 0.5 * (b_lo + b_hi)
    centre = a_c @ b_c
    abs_a = np.abs(a_c)
    abs_b = np.abs(b_c)
    radius = np.zeros_like(centre)
    if not b_point:
        b_r = b_hi - b_c  # >= 0, rounding makes b_c + b_r >= b_hi false at most by an ulp
        b_r = np.maximum(b_r, b_c - b_lo)
        radius += abs_a @ b_r
        abs_b = abs_b + b_r
    if not a_point:
        a_r = np.maximum(a_hi - a_c, a_c - a_lo)
        radius += a_r @ abs_b
    if round_outward:
        m = a_lo.shape[-1]
        # Higham (3.5): each length-m product errs by <= gamma(m) |A||B| (the
        # radius terms have non-negative factors); +3 for the rounded a_c / a_r /
        # b_r (each off by <= U times itself, so by <= U * radius in the product)
        # and the addition of the radius terms; m * TINY covers underflow.
        g = gamma(m + 3)
        mag = np.abs(a_c) @ np.abs(b_c) if not (a_point and b_point) else abs_a @ abs_b
        radius = radius + g * (mag + radius) + m * TINY
        # centre -/+ radius rounds once (<= U |result|): outward by 2 U (one nextafter inside)
        lo = centre - radius
        hi = centre + radius
        return outward(lo, hi, rel=2 * U)
    return centre - radius, centre + radius


def interval_mul(a_lo, a_hi, b_lo, b_hi, *, round_outward=True):
    """Exact elementwise interval product (min/max of the four corner products).

    Broadcasts like ``a * b``.

    Parameters
    ----------
    a_lo, a_hi : ndarray
        Ends of the first interval (``a_lo <= a_hi``).
    b_lo, b_hi : ndarray
        Ends of the second interval.
    round_outward : bool, default=True
        Widen the result outward so that it contains the exact result of the
        floating-point operation (see :func:`sklpoison.numerics.rounding.outward`).

    Returns
    -------
    lo, hi : ndarray
        Ends of the result, broadcast to the common shape.
    """
    p1 = a_lo * b_lo
    p2 = a_lo * b_hi
    p3 = a_hi * b_lo
    p4 = a_hi * b_hi
    lo = np.minimum(np.minimum(p1, p2), np.minimum(p3, p4))
    hi = np.maximum(np.maximum(p1, p2), np.maximum(p3, p4))
    if round_outward:
        # each corner product rounds once (<= U |p|, Higham (2.4)); 2 U covers it
        return outward(lo, hi, rel=2 * U)
    return lo, hi


def interval_add(a_lo, a_hi, b_lo, b_hi, *, round_outward=True):
    """Elementwise interval sum, broadcast like ``a + b``.

    Parameters
    ----------
    a_lo, a_hi : ndarray
        Ends of the first interval (``a_lo <= a_hi``).
    b_lo, b_hi : ndarray
        Ends of the second interval.
    round_outward : bool, default=True
        Widen the result outward so that it contains the exact result of the
        floating-point operation (see :func:`sklpoison.numerics.rounding.outward`).

    Returns
    -------
    lo, hi : ndarray
        Ends of the result, broadcast to the common shape.
    """
    lo, hi = a_lo + b_lo, a_hi + b_hi
    if round_outward:
        # one rounded addition: the exact sum is a float neighbour away at most
        return round_down(lo), round_up(hi)
    return lo, hi


def relu(lo, hi):
    """Interval ReLU (exact, monotone).

    Parameters
    ----------
    lo, hi : ndarray
        Ends of the input interval (``lo <= hi``).

    Returns
    -------
    lo, hi : ndarray
        Ends of the result, of the shape of ``lo``.
    """
    return np.maximum(lo, 0.0), np.maximum(hi, 0.0)


def relu_derivative(lo, hi):
    """Interval of the ReLU derivative ``1(z > 0)`` over ``z in [lo, hi]``.

    Returns ``(1(lo > 0), 1(hi > 0))`` as float arrays (the derivative at 0 is
    taken as 0, as in torch and in :func:`relu` backward passes here).

    Parameters
    ----------
    lo, hi : ndarray
        Ends of the input interval (``lo <= hi``).

    Returns
    -------
    lo, hi : ndarray
        Ends of the result, of the shape of ``lo``.
    """
    return (lo > 0).astype(np.float64), (hi > 0).astype(np.float64)


def mul_by_01_interval(lo, hi, s_lo, s_hi):
    """Product of ``[lo, hi]`` with an interval whose ends are 0 or 1 (exact).

    Parameters
    ----------
    lo, hi : ndarray
        Ends of the interval to scale.
    s_lo, s_hi : ndarray
        Ends of the scaling interval, each 0 or 1 (``[0, 0]``, ``[0, 1]`` or ``[1, 1]``,
        as :func:`relu_derivative` gives).

    Returns
    -------
    lo, hi : ndarray
        Ends of the product.
    """
    both = s_lo > 0  # [1, 1]
    maybe = (s_hi > 0) & ~both  # [0, 1]
    out_lo = np.where(both, lo, np.where(maybe, np.minimum(lo, 0.0), 0.0))
    out_hi = np.where(both, hi, np.where(maybe, np.maximum(hi, 0.0), 0.0))
    return out_lo, out_hi


def sigmoid(z):
    """Numerically stable logistic function ``1 / (1 + exp(-z))``.

    Parameters
    ----------
    z : array-like
        Points.

    Returns
    -------
    s : ndarray of float64
        The logistic function at ``z`` (no overflow for large ``|z|``).
    """
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def sigmoid_interval(lo, hi):
    """Enclosure of the sigmoid over ``[lo, hi]`` (monotone, widened outward, in [0, 1]).

    Parameters
    ----------
    lo, hi : ndarray
        Ends of the input interval (``lo <= hi``).

    Returns
    -------
    lo, hi : ndarray
        Ends of the result, of the shape of ``lo``.
    """
    # 1 / (1 + exp(-z)) (or e / (1 + e)): exp errs by <= 2 U relative (glibc: < 1 ulp),
    # the addition and division by U each: <= 4 U + O(U^2) < ELEM_REL = 8 U
    s_lo, s_hi = outward(sigmoid(lo), sigmoid(hi))
    return np.clip(s_lo, 0.0, 1.0), np.clip(s_hi, 0.0, 1.0)


def _logsumexp_others(z):
    """``log sum_{i != j} exp(z_i)`` for every ``j`` along the last axis."""
    n_classes = z.shape[-1]
    big = np.broadcast_to(z[..., None, :], z.shape + (n_classes,)).copy()
    idx = np.arange(n_classes)
    big[..., idx, idx] = -np.inf
    m = np.max(big, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.log(np.sum(np.exp(big - m), axis=-1)) + m[..., 0]


def softmax_interval(lo, hi):
    """Enclosure of the softmax probabilities over a box of logits.

    ``p_j`` is smallest when logit ``j`` is at its lower end and the others at
    their upper ends: ``p_j >= sigmoid(lo_j - logsumexp_{i != j} hi_i)``, and
    symmetrically for the upper bound (exact per coordinate).

    Parameters
    ----------
    lo, hi : ndarray of shape (..., n_classes)

    Returns
    -------
    p_lo, p_hi : ndarray of shape (..., n_classes)
    """
    n_classes = lo.shape[-1]
    lse_hi = _logsumexp_others(hi)
    lse_lo = _logsumexp_others(lo)
    t_lo = lo - lse_hi
    t_hi = hi - lse_lo
    # Error of the sigmoid's argument t = z_j - lse: the exponent arguments z_i - max
    # round by U |z_i - max|, exp by ELEM_REL, the C-term sum by gamma(C) (Lemma 3.1,
    # positive terms), log by ELEM_REL plus the log of (1 + gamma(C) + ELEM_REL)
    # (<= gamma(C) + ELEM_REL), the two additions by U each: |dt| <= tau with
    # tau = (C + 2) ELEM_REL (|z_j| + 2 max|z| + |lse| + 1), generously. Since
    # |d log sigmoid(t) / dt| = 1 - sigmoid(t) <= 1, the computed sigmoid(t) is off
    # by a relative e^tau - 1 <= 2 tau (tau << 1), plus the sigmoid's own ELEM_REL.
    zmax_lo = np.max(np.abs(lo), axis=-1, keepdims=True)
    zmax_hi = np.max(np.abs(hi), axis=-1, keepdims=True)
    c = (n_classes + 2) * ELEM_REL
    tau_lo = c * (np.abs(lo) + 2 * zmax_hi + np.abs(lse_hi) + 1)
    tau_hi = c * (np.abs(hi) + 2 * zmax_lo + np.abs(lse_lo) + 1)
    with np.errstate(invalid="ignore", over="ignore"):
        p_lo = sigmoid(t_lo)
        p_hi = sigmoid(t_hi)
        p_lo = p_lo - (2 * tau_lo + ELEM_REL) * p_lo - TINY
        p_hi = p_hi + (2 * tau_hi + ELEM_REL) * p_hi + TINY
    p_lo = np.where(np.isfinite(p_lo), p_lo, 0.0)
    p_hi = np.where(np.isfinite(p_hi), p_hi, 1.0)
    # the widening's own rounding: one more step outward
    p_lo, p_hi = round_down(p_lo), round_up(p_hi)
    return np.clip(p_lo, 0.0, 1.0), np.clip(p_hi, 0.0, 1.0)


def squared_error_grad(lo, hi, y, label_epsilon=0.0):
    """Interval of ``d/dz (z - y')**2 = 2 (z - y')`` for ``z in [lo, hi]``, ``|y' - y| <= eps``.

    Parameters
    ----------
    lo, hi : ndarray
        Ends of the interval of the prediction ``z``.
    y : array-like
        Targets, broadcastable to ``lo``.
    label_epsilon : float or ndarray, default=0.0
        Bound on the change of a target (a scalar or an array broadcastable to ``lo``).

    Returns
    -------
    g_lo, g_hi : ndarray
        Ends of an interval containing every gradient, rounded outward.
    """
    y = np.asarray(y, dtype=np.float64)
    # two rounded subtractions, each bounded by one nextafter step (no cancellation
    # issue: the bound is on each operation's own result); * 2 is exact
    g_lo = 2.0 * round_down(round_down(lo - y) - label_epsilon)
    g_hi = 2.0 * round_up(round_up(hi - y) + label_epsilon)
    return g_lo, g_hi


def binary_cross_entropy_grad(lo, hi, allowed):
    """Interval of ``sigmoid(z) - y`` for one logit and labels in an allowed set.

    Parameters
    ----------
    lo, hi : ndarray of shape (n, 1)
        Logit bounds.
    allowed : bool ndarray of shape (n, 2)
        ``allowed[i, c]`` says label ``c`` is possible for sample ``i``.

    Returns
    -------
    lo, hi : ndarray of shape (n, 1)
        ``[sigmoid(lo) - max y, sigmoid(hi) - min y]``.
    """
    s_lo, s_hi = sigmoid_interval(lo, hi)
    y_max = allowed[:, 1:2].astype(np.float64)  # 1 if label 1 possible
    y_min = 1.0 - allowed[:, 0:1].astype(np.float64)  # 0 if label 0 possible
    # one rounded subtraction each: a nextafter step bounds it
    return round_down(s_lo - y_max), round_up(s_hi - y_min)


def softmax_cross_entropy_grad(lo, hi, allowed):
    """Interval of ``softmax(z) - onehot(y)`` for labels ``y`` in an allowed set.

    Lower bound ``p_lo_j - 1(j allowed)``; upper bound ``p_hi_j - 1(allowed == {j})``.

    Parameters
    ----------
    lo, hi : ndarray of shape (n, n_classes)
    allowed : bool ndarray of shape (n, n_classes)

    Returns
    -------
    lo, hi : ndarray of shape (n, n_classes)
    """
    p_lo, p_hi = softmax_interval(lo, hi)
    allowed = np.asarray(allowed, dtype=bool)
    single = allowed & (allowed.sum(axis=1, keepdims=True) == 1)
    # one rounded subtraction each: a nextafter step bounds it
    return round_down(p_lo - allowed), round_up(p_hi - single)


def topk_sum(values, k, *, largest=True, axis=0):
    """Per-coordinate sum of the ``k`` largest (or smallest) entries along ``axis``.

    This is the paper's "sorted sum" (``SEMax_k`` / ``SEMin_k``), computed
    with :func:`numpy.partition` in linear time.

    Parameters
    ----------
    values : ndarray
    k : int
        Number of entries summed; clipped to ``[0, values.shape[axis]]``.
    largest : bool, default=True
        Sum the largest entries (else the smallest).
    axis : int, default=0

    Returns
    -------
    ndarray
        ``values`` summed over ``axis`` after keeping ``k`` entries per coordinate.
    """
    values = np.asarray(values)
    n = values.shape[axis]
    k = int(min(max(k, 0), n))
    out_shape = values.shape[:axis] + values.shape[axis + 1 :] if axis >= 0 else None
    if k == 0:
        return np.zeros(out_shape if out_shape is not None else np.sum(values, axis=axis).shape)
    if k == n:
        return np.sum(values, axis=axis)
    if largest:
        part = np.partition(values, n - k, axis=axis)
        kept = np.take(part, np.arange(n - k, n), axis=axis)
    else:
        part = np.partition(values, k - 1, axis=axis)
        kept = np.take(part, np.arange(k), axis=axis)
    return np.sum(kept, axis=axis)


def clip_interval(lo, hi, clip_value):
    """Interval of the elementwise clamp to ``[-clip_value, clip_value]`` (exact, monotone).

    Parameters
    ----------
    lo, hi : ndarray
        Ends of the input interval.
    clip_value : float
        The clamp's bound (positive).

    Returns
    -------
    lo, hi : ndarray
        Ends of the clamped interval.
    """
    return np.clip(lo, -clip_value, clip_value), np.clip(hi, -clip_value, clip_value)
