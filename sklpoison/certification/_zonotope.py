"""Zonotope (affine-arithmetic) parameter sets for linear models."""

import numpy as np

from ..numerics import interval as ia
from ._nominal import _U


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
    g = (B + m + d + 8) * _U / (1 - (B + m + d + 8) * _U)
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
        + np.finfo(float).tiny
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
    Wm = np.maximum(np.abs(W_lo), np.abs(W_hi))[:, 0]
    T = Wm.sum()
    z_lo = Xb @ W_lo[:, 0]  # only its magnitude matters: bound |z - y| crudely but soundly
    zc = Xb @ (0.5 * (W_lo + W_hi))[:, 0] + 0.5 * (b_lo + b_hi)[0]
    zr = absx @ (0.5 * (W_hi - W_lo))[:, 0] + 0.5 * (b_hi - b_lo)[0]
    del z_lo
    zy = np.abs(zc - Yb[:, 0]) + zr  # >= |z - y| over the box
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
            total += ia.topk_sum(np.maximum(m_xy - m_x - m_y, 0.0), min(kx, ky))
    # generous float64 slack on these few positive operations
    total = total * (1 + 64 * (B + 8) * _U) + np.finfo(float).tiny
    total = total / B
    d = Xb.shape[1]
    return (-total[:d, None], total[:d, None], -total[d:], total[d:])


def _zonotope_box(centre, gens):
    """Interval hull ``(W_lo, W_hi, b_lo, b_hi)`` of a linear-regression zonotope."""
    r = np.abs(gens).sum(axis=1)
    n = len(centre)
    g = (gens.shape[1] + 2) * _U / (1 - (gens.shape[1] + 2) * _U)
    r = r * (1 + g) + 2 * _U * np.abs(centre) + np.finfo(float).tiny
    lo, hi = centre - r, centre + r
    return (lo[: n - 1, None], hi[: n - 1, None], lo[n - 1 :], hi[n - 1 :])
