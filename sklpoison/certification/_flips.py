"""Persistent label-flip symbols of full-batch logistic / softmax regression.

With full-batch training the flipped rows are the same at every step, and a flip
changes the batch gradient by a constant: its whole effect on the trajectory is one
column of ``Phi Delta`` (see :class:`_Flips`), propagated by the linear part of every
step of :class:`~sklpoison.certification._zonotope.LogitZonotopePropagator`.
"""

import numpy as np

from ..numerics.rounding import TINY, gamma, round_up
from ._threat import _topk_last


class _Flips:
    """Persistent label-flip symbols of a full-batch run: ``D s = Phi Delta s``.

    ``Delta[:, i, a] = x_i (x) (y_i - y'_a) / B`` is the (constant) change of the
    batch-mean gradient when row ``i`` takes its ``a``-th alternative label; with
    the same flipped rows at every step, the flips move the parameters by
    ``Phi Delta s`` with ``Phi' = M Phi - eta I`` (``M`` the linear part of each
    step): a ``P x P`` matrix, whatever the number of rows. ``s`` ranges over
    ``{0, 1}^(n x A)`` with one alternative per row and at most ``k`` rows.
    """

    def __init__(self, Xa, label_sets, k, C):
        onehot, allowed = label_sets
        self.Xa, self.k, self.C = Xa, k, C
        n, d1 = Xa.shape
        self.B, self.P = n, d1 * C
        self.yi = np.argmax(onehot, axis=1)
        self.alts = _alternatives(label_sets)  # (n, A), -1: none
        self.phi = np.zeros((self.P, self.P))
        # the range of Delta s per coordinate (sorted sums of the per-row extremes)
        d_lo, d_hi = self._delta_range()
        lo = _topk_last(np.minimum(d_lo, 0.0), k, largest=False)
        hi = _topk_last(np.maximum(d_hi, 0.0), k, largest=True)
        # each entry: a product and a division (2 roundings); sums of k same-signed terms
        g = gamma(k + 3)
        self.u_lo, self.u_hi = lo * (1 + g) - TINY, hi * (1 + g) + TINY
        self.u_c = 0.5 * (self.u_lo + self.u_hi)
        self.u_r = np.maximum(round_up(self.u_hi - self.u_c), round_up(self.u_c - self.u_lo))
        self.u_abs = np.maximum(np.abs(self.u_lo), np.abs(self.u_hi))

    def _change(self):
        """``(n, A, C)``: ``y_i - y'_a`` in the output layout (zero for no alternative)."""
        n, A = self.alts.shape
        if self.C == 1:
            return np.where(self.alts >= 0, self.yi[:, None] - self.alts, 0)[:, :, None] * 1.0
        E = np.eye(self.C)
        own = E[self.yi][:, None, :]
        return np.where(self.alts[..., None] >= 0, own - E[np.maximum(self.alts, 0)], 0.0)

    def _delta_range(self):
        """``min_a`` / ``max_a`` of ``Delta[:, i, a]``, ``(P, n)`` each.

        ``x_ij c / B`` is monotone in ``c``, and so is its rounded value: the
        extremes over the alternatives are the rounded products with the extreme
        changes (the same floats as the extremes of the rounded products).
        """
        change = self._change()  # (n, A, C)
        a = np.einsum("nj,nc->jcn", self.Xa, change.min(axis=1)).reshape(self.P, -1)
        b = np.einsum("nj,nc->jcn", self.Xa, change.max(axis=1)).reshape(self.P, -1)
        return np.minimum(a, b) / self.B, np.maximum(a, b) / self.B

    def step(self, M, eta):
        self.phi = M @ self.phi
        self.phi[np.diag_indices(self.P)] -= eta

    def generators(self):
        """``(shift, gens)``: the flips' part of the set is inside ``shift + gens [-1, 1]^P``."""
        return self.phi @ self.u_c, self.phi * self.u_r[None, :]

    def box(self):
        """Per-coordinate range of ``Phi Delta s`` (a box around ``Phi u_c``), rounded outward."""
        shift, gens = self.generators()
        r = np.abs(gens).sum(axis=1)
        # two length-P products (Higham (3.5)) and the two additions
        slack = gamma(self.P + 4) * (np.abs(self.phi) @ (np.abs(self.u_c) + self.u_r))
        return shift - r - slack - TINY, shift + r + slack + TINY

    def logit_range(self, Xa):
        """Range ``(lo, hi)`` of the flips' part of every row's logits, ``(B, C)``.

        Exact sorted sums when affordable (``n^2 C^2 (d + 1)`` below ``1e8``), else
        Cauchy-Schwarz: ``|r . Delta_l| <= ||x_l|| ||R (e_y - e_c)|| / B``.
        """
        B, d1 = Xa.shape
        C = self.C
        g = gamma(d1 + self.P + self.k + 8)
        if self.B * C * B * self.alts.shape[1] * d1 <= 1e8:
            phi3 = self.phi.reshape(d1, C * self.P)
            R = (Xa @ phi3).reshape(B * C, self.P)
            # R = rows of (x_i (x) e_c)^T Phi: error <= gamma(d + 1) |x_i| |Phi| (Higham (3.5))
            Ra = (np.abs(Xa) @ np.abs(phi3)).reshape(B * C, self.P)
            v_lo, v_hi = self._value_range(R)
            lo = _topk_last(v_lo, self.k, largest=False)
            hi = _topk_last(v_hi, self.k, largest=True)
            err = self._values_error(Ra)
            lo = lo - 2 * (err + gamma(2) * np.abs(lo)) - TINY
            hi = hi + 2 * (err + gamma(2) * np.abs(hi)) + TINY
            return lo.reshape(B, C), hi.reshape(B, C)
        # R's columns ordered (class, class', row of W): each block's squared norm is a
        # contiguous dot product; row blocks keep the (rows, C P) products in cache
        phi_p = self.phi.reshape(d1, C, d1, C).transpose(0, 1, 3, 2).reshape(d1, C * self.P)
        norms = np.empty(B * C)
        for rows in _row_blocks(B, C * self.P):
            R = (Xa[rows] @ phi_p).reshape(-1, d1)
            sq = np.einsum("ij,ij->i", R, R).reshape(-1, C)
            norms[rows.start * C : rows.stop * C] = np.sqrt(sq.max(axis=1))  # max_c ||R e_c||
        # the error of R is <= gamma(d + 1) |x_i|^T |Phi| (Higham (3.5)), whose block norms
        # are <= ||x_i|| ||Phi_(c, c')||_F (Cauchy-Schwarz); both norms computed with
        # <= P + d + 4 roundings: (1 + gamma(P + d + 8)) covers them
        fro = np.sqrt((self.phi.reshape(d1, C, d1, C) ** 2).sum(axis=(0, 2))).max(axis=1)
        xrow = np.sqrt((Xa**2).sum(axis=1))
        na = (xrow[:, None] * fro[None, :]).ravel() * (1 + gamma(self.P + d1 + 8))
        xn = np.sqrt((self.Xa**2).sum(axis=1)).max()
        scale = 1.0 if C == 1 else 2.0
        rad = self.k * scale * xn * norms / self.B
        # the norms (sqrt of sums of squares: <= d + 3 roundings) and the R error (relative
        # to |x||Phi|, bounded through the same norms of Ra)
        rad = rad * (1 + g) + self.k * scale * xn * na / self.B * g + TINY
        return -rad.reshape(B, C), rad.reshape(B, C)

    def _value_range(self, w):
        """``min(0, min_a w . Delta[:, i, a])`` and ``max(0, max_a ...)`` for rows ``w`` (q, P).

        Returns two ``(q, n)`` arrays. For softmax, ``w . Delta[:, i, a]`` is
        ``(z_{y_i} - z_{a}) / B`` with ``z = x_i^T W`` (one rounded subtraction and a
        division, both monotone), so its extremes over the alternatives are those of
        the extreme ``z_a``: the same floats as the extremes of the rounded values.
        """
        q = w.shape[0]
        n, d1 = self.Xa.shape
        C = self.C
        if C == 1:
            change = self._change()[:, :, 0] / self.B  # (n, A)
            vals = (w @ self.Xa.T)[:, :, None] * change[None, :, :]
            return np.minimum(vals.min(axis=2), 0.0), np.maximum(vals.max(axis=2), 0.0)
        other = np.zeros((n, C), dtype=bool)
        valid = self.alts >= 0
        other[np.nonzero(valid)[0], self.alts[valid]] = True
        has = other.any(axis=1)
        v_lo, v_hi = np.empty((q, n)), np.empty((q, n))
        Wm = w.reshape(q, d1, C).transpose(1, 0, 2)  # (d1, q, C)
        for rows in _row_blocks(q, n * C, elems=1 << 20):
            nq = rows.stop - rows.start
            Z = (self.Xa @ Wm[:, rows].reshape(d1, nq * C)).reshape(n, nq, C)
            own = Z[np.arange(n), :, self.yi]  # (n, nq)
            z_max = np.where(other[:, None, :], Z, -np.inf).max(axis=2)
            z_min = np.where(other[:, None, :], Z, np.inf).min(axis=2)
            lo = np.where(has[:, None], (own - z_max) / self.B, 0.0)
            hi = np.where(has[:, None], (own - z_min) / self.B, 0.0)
            v_lo[rows] = np.minimum(lo, 0.0).T
            v_hi[rows] = np.maximum(hi, 0.0).T
        return v_lo, v_hi

    def _values_error(self, wa):
        """Rounding bound of a sorted sum of ``k`` values, given ``wa >= |w|`` entrywise.

        ``|w . Delta_ia| <= 2 |x_i| sum_c wa_c / B``; the products (length d + 1),
        differences, division and the k-term sum: gamma(P + d + k + 8) times k of them.
        """
        d1 = self.Xa.shape[1]
        wsum = wa.reshape(-1, d1, self.C).sum(axis=2)
        mag = 2 * self.k * (wsum @ np.abs(self.Xa).T).max(axis=1) / self.B
        return gamma(self.P + d1 + self.k + 8) * mag

    def range_part(self, V, lower=True, upper=True):
        """``min_s`` / ``max_s`` of ``V Phi Delta s`` (exact sorted sums), their rounding bound."""
        w = V @ self.phi  # (q, P)
        v_lo, v_hi = self._value_range(w)
        lo = _topk_last(v_lo, self.k, largest=False) if lower else None
        hi = _topk_last(v_hi, self.k, largest=True) if upper else None
        # |w| <= |V| |Phi| up to gamma(P) (covered by the same gamma)
        return lo, hi, self._values_error(np.abs(V) @ np.abs(self.phi))


def _alternatives(label_sets):
    """``(n, A)`` class indices each row's label may be flipped to (``-1``: none)."""
    onehot, allowed = label_sets
    other = allowed & ~onehot
    A = max(1, int(other.sum(axis=1).max()))
    order = np.argsort(~other, axis=1, kind="stable")[:, :A]
    ok = np.take_along_axis(other, order, axis=1)
    return np.where(ok, order, -1)


def _row_blocks(n, width, elems=1 << 17):
    """Slices of ``range(n)`` whose ``(rows, width)`` blocks hold about ``elems`` floats."""
    step = max(1, elems // max(width, 1))
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]
