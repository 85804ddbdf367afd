"""Zonotope (affine-arithmetic) parameter sets for linear models."""

import numpy as np

from ..numerics import interval as ia
from ..numerics.rounding import TINY, U, gamma


def _affine_zonotope_update(centre, gens, Xb, Yb, excess, decay, eta):
    """One SGD step of single-output linear regression on a zonotope of parameters.

    The reachable parameters (weights stacked over the bias) are kept as
    ``centre + gens @ e`` with ``e`` in ``[-1, 1]^m``. The step is
    ``theta' = (decay I - eta A) theta + eta v - eta E`` with ``A = 2/B Xa^T Xa``,
    ``v = 2/B Xa^T y`` (``Xa = [X, 1]``) and ``E`` the poisoning's excess over the
    clean mean gradient, bounded by the interval ``excess``: the affine part
    maps the zonotope exactly (no wrapping, unlike a box), and ``E`` and the
    float64 rounding (``gamma_{B+m+8}`` times the magnitudes, four times over)
    add one new diagonal generator per step.
    """
    B, d = Xb.shape
    e_lo = np.concatenate([excess[0][:, 0], excess[2]])
    e_hi = np.concatenate([excess[1][:, 0], excess[3]])
    Xa = np.hstack([Xb, np.ones((B, 1))])
    A = (2.0 / B) * (Xa.T @ Xa)
    A_abs = (2.0 / B) * (np.abs(Xa).T @ np.abs(Xa))
    v = (2.0 / B) * (Xa.T @ Yb[:, 0])
    v_abs = (2.0 / B) * (np.abs(Xa).T @ np.abs(Yb[:, 0]))
    M = decay * np.eye(d + 1) - eta * A
    e_c = 0.5 * (e_lo + e_hi)
    e_r = np.maximum(e_hi - e_c, e_c - e_lo)
    new_centre = M @ centre + eta * v - eta * e_c
    new_gens = M @ gens
    m = gens.shape[1]
    # Rounding (Higham (3.5) for every product, Lemma 3.1 for the chains): A and v err by
    # <= gamma(B + 1) A_abs and gamma(B + 1) v_abs; M by <= U (|M| + eta A_abs) more; the
    # exact M* maps |theta| <= |c| + |G| 1 so (M* - M) theta is <= gamma(B + 3) (|M| +
    # eta A_abs)(|c| + |G| 1); M c and M G (length d + 1) by gamma(d + 1) |M| (|c|, |G|);
    # the three additions of the centre and the excess centre/radius by <= 4 U of their
    # magnitudes (|new_centre|, eta |e|). The sum of these is below
    # gamma(B + m + d + 8) times each magnitude group, counted four times over.
    g = gamma(B + m + d + 8)
    g_abs = np.abs(gens).sum(axis=1)
    slack = (
        4
        * g
        * (
            (np.abs(M) + eta * A_abs) @ (np.abs(centre) + g_abs)
            + eta * (np.abs(v) + v_abs)
            + eta * (np.abs(e_lo) + np.abs(e_hi))
            + np.abs(new_centre)
            + np.abs(new_gens).sum(axis=1)
        )
        + TINY
    )
    new_gens = np.hstack([new_gens, np.diag(eta * e_r + slack)])
    # drop generators that are exactly zero (no poisoning), keep the rest
    keep = np.any(new_gens != 0, axis=0)
    return new_centre, new_gens[:, keep]


def _linear_excess(box_layer, Xb, Yb, kx, ky, eps, nu, paired):
    """Bounds on the poisoning's excess over the clean mean gradient, linear regression.

    With ``x' = x + D`` (``|D| <= eps``) and ``y' = y + t`` (``|t| <= nu``) the
    per-sample excess is, exactly,
    ``2 (D.theta) x' + 2 (x.theta + b - y) D - 2 t x'``: it is bounded without
    the cancellation that interval arithmetic would suffer on
    ``g(x', y') - g(x, y)``, by ``2 eps T (|x| + eps) + 2 eps |z - y|`` for the
    features (``T = sum_j max|W_j|`` over the box) and ``2 nu (|x| + eps)`` for the
    target; the sorted sums then combine them as in the general case.
    """
    W_lo, W_hi, b_lo, b_hi = box_layer
    B = Xb.shape[0]
    absx = np.abs(Xb)
    ones = np.ones((B, 1))
    d = Xb.shape[1]
    Wm = np.maximum(np.abs(W_lo), np.abs(W_hi))[:, 0]
    T = Wm.sum()
    Wc, bc = (0.5 * (W_lo + W_hi))[:, 0], 0.5 * (b_lo + b_hi)[0]
    zc = Xb @ Wc + bc
    zr = absx @ (0.5 * (W_hi - W_lo))[:, 0] + 0.5 * (b_hi - b_lo)[0]
    # |z - y| over the box is <= |zc - y| + zr in exact arithmetic; the computed zc - y
    # errs by <= gamma(d + 2) (|x|.|Wc| + |bc| + |y|) (Higham (3.5), one more addition),
    # the rounded centre/radius of the box by <= U zr (covered by the same gamma)
    mag = absx @ np.abs(Wc) + abs(bc) + np.abs(Yb[:, 0]) + zr
    zy = np.abs(zc - Yb[:, 0]) + zr + gamma(d + 4) * mag  # >= |z - y| over the box
    xp = np.hstack([absx + eps, ones])  # |x'| including the bias input
    dx = np.hstack([np.full_like(absx, eps), np.zeros((B, 1))])  # |D|
    m_x = 2 * eps * T * xp + 2 * zy[:, None] * dx if kx > 0 else None
    m_y = 2 * nu * np.hstack([absx, ones]) if ky > 0 else None
    if kx > 0 and ky > 0:
        m_xy = m_x + 2 * nu * xp
    total = np.zeros(xp.shape[1])
    if paired and kx > 0 and ky > 0:
        total += ia.topk_sum(m_xy, max(kx, ky))
    else:
        if kx > 0:
            total += ia.topk_sum(m_x, kx)
        if ky > 0:
            total += ia.topk_sum(m_y, ky)
        if kx > 0 and ky > 0:
            # the joint change's excess over the two separate ones, m_xy - m_x - m_y,
            # is exactly 2 nu |D| (no cancellation in floating point this way)
            total += ia.topk_sum(2 * nu * dx, min(kx, ky))
    # Every quantity above is a sum of products of non-negative numbers: T (d terms),
    # zy, the products (<= 5 roundings on a chain), the top-k sums (<= B - 1 additions),
    # the <= 3 totals; Lemma 3.1 bounds the relative error by gamma(B + d + 12), and the
    # division by B and the widening add two roundings: gamma(B + d + 14). TINY: underflow.
    total = total * (1 + gamma(B + d + 14)) + TINY
    total = total / B
    return (-total[:d, None], total[:d, None], -total[d:], total[d:])


def _zonotope_box(centre, gens):
    """Interval hull ``(W_lo, W_hi, b_lo, b_hi)`` of a linear-regression zonotope."""
    r = np.abs(gens).sum(axis=1)
    n = len(centre)
    # r: a sum of m non-negative terms, relative error <= gamma(m - 1) (Lemma 3.1); +3 for
    # the widening's own multiply-add; centre -/+ r rounds by <= U (|c| + r) (2 U |c| with
    # the margin); TINY for underflow
    g = gamma(gens.shape[1] + 2)
    r = r * (1 + g) + 2 * U * np.abs(centre) + TINY
    lo, hi = centre - r, centre + r
    return (lo[: n - 1, None], hi[: n - 1, None], lo[n - 1 :], hi[n - 1 :])
