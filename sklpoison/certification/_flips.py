"""Persistent label-flip symbols of full-batch logistic / softmax regression.

With full-batch training the flipped rows are the same at every step, and a flip
changes the batch gradient by a constant: its whole effect on the trajectory is one
column of ``Phi Delta`` (see :class:`_Flips`), propagated by the linear part of every
step of :class:`~sklpoison.certification._zonotope.LogitZonotopePropagator`.
"""

import numpy as np

from ..numerics.rounding import TINY, gamma, round_up
from ._threat import _topk_last

# The flip ranges may cost up to this many times the rest of the zonotope step (the
# logit ranges, the Gram matrix and the generator map, counted in multiply-adds): exact
# sorted sums within it, candidate rows (near-exact, see _Flips.logit_range) beyond.
FLIP_COST_RATIO = 64.0
# the fixed cost of a zonotope step (about a hundred numpy calls), in multiply-adds
STEP_OVERHEAD = 1e6
# rows per leaf of the split that bounds the rows outside the candidates (see _Flips._leaves)
LEAF_SIZE = 16


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
        # (P, n) each: only the leaves (_leaves) need them again, so they are not kept
        d_lo, d_hi = self._delta_range()
        lo = _topk_last(np.minimum(d_lo, 0.0), k, largest=False)
        hi = _topk_last(np.maximum(d_hi, 0.0), k, largest=True)
        # each entry: a product and a division (2 roundings); sums of k same-signed terms
        g = gamma(k + 3)
        self.u_lo, self.u_hi = lo * (1 + g) - TINY, hi * (1 + g) + TINY
        self.u_c = 0.5 * (self.u_lo + self.u_hi)
        self.u_r = np.maximum(round_up(self.u_hi - self.u_c), round_up(self.u_c - self.u_lo))
        self.u_abs = np.maximum(np.abs(self.u_lo), np.abs(self.u_hi))

    def __getstate__(self):
        # the caches of the fit (leaves, binary sums) are rebuilt on demand: not pickled
        state = self.__dict__.copy()
        for name in ("_leaf_of", "_leaf_box", "_S"):
            state.pop(name, None)
        return state

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

    def logit_range(self, Xa, width=None, other_cost=None):
        """Range ``(lo, hi)`` of the flips' part of every row's logits, ``(B, C)``.

        ``r`` a logit's row of ``R = (x (x) e_c)^T Phi``; its flip part ranges over the
        sorted sums of ``r . Delta[:, i, a]`` over the rows ``i``. Three sound bounds, by
        cost per logit:

        * cheap (``O(P)``): the interval bound over the per-coordinate range
          ``[u_lo, u_hi]`` of ``Delta s``, or Cauchy-Schwarz, whichever is smaller;
        * candidates (``O(|K| (d + 1) C)``): exact values on a set ``K`` of rows (the
          rows that give the extreme values along sampled logit directions) and, for
          every other row, a bound on its value (the interval bound over their
          per-coordinate range): the sorted sum of these is sound for any ``K`` and
          exact when ``K`` holds the logit's extreme rows;
        * exact (``O(n (d + 1) C)``): sorted sums over all ``n`` rows.

        Exact when it costs at most ``FLIP_COST_RATIO`` times ``other_cost`` (the
        multiply-adds of the rest of the step; ``None``: always), otherwise
        candidates within that budget; intersected with the cheap bound. ``width``:
        the logit widths without the flips (their share decides which directions
        are sampled). ``n_exact`` / ``n_candidates`` / ``n_logits`` count the last call.
        """
        B, d1 = Xa.shape
        C, P = self.C, self.P
        phi3 = self.phi.reshape(d1, C * P)
        R = (Xa @ phi3).reshape(B * C, P)
        # R = rows of (x_i (x) e_c)^T Phi: error <= gamma(d + 1) |x_i| |Phi| (Higham (3.5))
        Ra = (np.abs(Xa) @ np.abs(phi3)).reshape(B * C, P)
        lo, hi = self._cheap_range(Xa, R, Ra)
        n_logits = B * C
        per_row = n_logits * (d1 * C + self.alts.shape[1] + 2)  # one row i for every logit
        budget = np.inf if other_cost is None else FLIP_COST_RATIO * (other_cost + STEP_OVERHEAD)
        self.n_logits, self.n_candidates = n_logits, self.B
        if per_row * self.B <= budget:
            cols = None  # every row: exact
        else:
            cols = self._candidates(R, hi - lo, width, max(int(budget // per_row), self.k))
            self.n_candidates = len(cols)
        self.n_exact = n_logits if cols is None else 0
        rest = None
        if cols is not None:
            cols, rest = self._rest_range(cols)
            self.n_candidates = len(cols)
        width_k = self.B if cols is None else len(cols)
        for block in _row_blocks(n_logits, width_k * self.alts.shape[1] * C, elems=1 << 21):
            e_lo, e_hi = self._sorted_sums(R[block], Ra[block], cols, rest)
            lo[block], hi[block] = np.maximum(lo[block], e_lo), np.minimum(hi[block], e_hi)
        return lo.reshape(B, C), hi.reshape(B, C)

    def _leaves(self):
        """Rows split into leaves of at most ``LEAF_SIZE`` (median splits along the widest
        coordinate of ``Delta``), once per fit: ``(leaf of every row, per-leaf boxes)``."""
        if getattr(self, "_leaf_of", None) is None:
            d_lo, d_hi = self._delta_range()
            mid = 0.5 * (d_lo + d_hi).T  # (n, P)
            leaf_of = np.empty(self.B, dtype=np.intp)
            stack, n_leaves = [np.arange(self.B)], 0
            while stack:
                idx = stack.pop()
                if len(idx) <= LEAF_SIZE:
                    leaf_of[idx], n_leaves = n_leaves, n_leaves + 1
                    continue
                pts = mid[idx]
                j = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
                order = idx[np.argsort(pts[:, j], kind="stable")]
                stack += [order[len(order) // 2 :], order[: len(order) // 2]]
            lo = np.full((n_leaves, self.P), np.inf)
            hi = np.full((n_leaves, self.P), -np.inf)
            np.minimum.at(lo, leaf_of, d_lo.T)
            np.maximum.at(hi, leaf_of, d_hi.T)
            c = 0.5 * (lo + hi)
            r = np.maximum(round_up(hi - c), round_up(c - lo))
            self._leaf_of, self._leaf_box = leaf_of, (c, r)
        return self._leaf_of, self._leaf_box

    def _rest_range(self, cols):
        """The candidate rows grown to whole leaves, and the boxes of the other leaves.

        Returns ``(cols, (centres, radii, reps))``, ``reps`` how many rows outside
        ``cols`` can be flipped (the second item ``None`` when no row is left).
        """
        leaf_of, (c, r) = self._leaves()
        hit = np.zeros(len(c), dtype=bool)
        hit[leaf_of[cols]] = True
        cols = np.flatnonzero(hit[leaf_of])
        if hit.all():
            return cols, None
        return cols, (c[~hit], r[~hit], min(self.k, self.B - len(cols)))

    def _sorted_sums(self, R, Ra, cols=None, rest=None):
        """Sorted sums of the flips' effect on the logits with rows ``R``, rounded outward.

        ``cols``: the candidate rows (``None``: all); every other row's value is bounded
        by the interval bound over their per-coordinate range ``rest`` (see
        :meth:`_rest_range`), taken ``k`` times.
        """
        err = self._values_error(Ra)
        if self.C == 1 and rest is None:
            return self._binary_sorted_sums(R, cols, err)
        v_lo, v_hi = self._value_range(R, cols)
        if rest is not None:
            # every other row's value lies in its leaf's bound: the largest leaf bound, k times
            r_c, r_r, reps = rest
            m_c, m_r = R @ r_c.T, np.abs(R) @ r_r.T  # (q, leaves)
            # as for the cheap bound: R's error, two length-P products, two additions
            mag = (np.abs(r_c) + r_r).max(axis=0)
            m_s = 3 * gamma(self.Xa.shape[1] + self.P + 6) * (Ra @ mag) + TINY
            m_lo = np.minimum((m_c - m_r).min(axis=1) - m_s, 0.0)[:, None].repeat(reps, axis=1)
            m_hi = np.maximum((m_c + m_r).max(axis=1) + m_s, 0.0)[:, None].repeat(reps, axis=1)
            v_lo, v_hi = np.hstack([v_lo, m_lo]), np.hstack([v_hi, m_hi])
        lo = _topk_last(v_lo, self.k, largest=False, overwrite=True)
        hi = _topk_last(v_hi, self.k, largest=True, overwrite=True)
        lo = lo - 2 * (err + gamma(2) * np.abs(lo)) - TINY
        hi = hi + 2 * (err + gamma(2) * np.abs(hi)) + TINY
        return lo, hi

    def _binary_sorted_sums(self, R, cols, err):
        """:meth:`_sorted_sums` of binary logistic regression, from ``V = R S^T``.

        One alternative label per row: ``w . Delta_i = w . s_i`` with ``s_i = x_i (y_i -
        y'_i) / B`` (zero for a row that cannot flip). The values differ from the rounded
        ``(w . x_i) (y_i - y'_i) / B`` by at most ``e = err / k`` each (within
        :meth:`_values_error`'s bound). The ``k`` smallest and largest values of every
        row come from one partition (of the rows ``cols``, ``None``: all).
        """
        if getattr(self, "_S", None) is None:
            change = np.where(self.alts[:, 0] >= 0, self.yi - self.alts[:, 0], 0)
            self._S = self.Xa * (change / self.B)[:, None]
        V = R @ (self._S if cols is None else self._S[cols]).T  # (q, n)
        n, k = V.shape[1], min(self.k, V.shape[1])
        if 2 * k >= n:
            V.sort(axis=1)
        elif k > 0:
            V.partition([k - 1, n - k], axis=1)
        lo = np.minimum(V[:, :k], 0.0).sum(axis=1)
        hi = np.maximum(V[:, n - k :], 0.0).sum(axis=1)
        lo = lo - 2 * (err + gamma(2) * np.abs(lo)) - TINY
        hi = hi + 2 * (err + gamma(2) * np.abs(hi)) + TINY
        return lo, hi

    def _candidates(self, R, cheap_width, width, n_max):
        """Rows giving the ``k`` extreme values along sampled logit directions (at most ``n_max``).

        Directions: the logits where the cheap bound is the largest share of the width
        (they gain most), then evenly spread ones; each adds its ``k`` largest and ``k``
        smallest rows, until ``n_max`` rows are taken.
        """
        n_logits, k = R.shape[0], self.k
        gain = cheap_width / (cheap_width + (0.0 if width is None else width.ravel()) + TINY)
        n_dirs = max(1, min(n_logits, n_max // (2 * k), 64))
        ranked = np.argsort(-gain, kind="stable")[: (n_dirs + 1) // 2]
        spread = np.linspace(0, n_logits - 1, n_dirs // 2 + 2).astype(int)[1:-1]
        dirs = np.unique(np.concatenate([ranked, spread]))
        v_lo, v_hi = self._value_range(R[dirs])
        kk = min(k, self.B)
        top = np.argpartition(-v_hi, kk - 1, axis=1)[:, :kk]
        bot = np.argpartition(v_lo, kk - 1, axis=1)[:, :kk]
        picks = np.concatenate([top, bot], axis=1).ravel()
        _, first = np.unique(picks, return_index=True)
        cols = picks[np.sort(first)][:n_max]  # in order of the directions' priority
        return np.sort(cols)

    def _cheap_range(self, Xa, R, Ra):
        """``O(P)``-per-logit bounds: the per-coordinate box of ``Delta s``, and Cauchy-Schwarz."""
        B, d1 = Xa.shape
        C, P = self.C, self.P
        mid = R @ self.u_c
        rad = np.abs(R) @ self.u_r
        # R's error (gamma(d + 1) Ra) times |u_c| + u_r, the two length-P products and the
        # two additions: within 3 gamma(d + P + 6) Ra (|u_c| + u_r)
        slack = 3 * gamma(d1 + P + 6) * (Ra @ (np.abs(self.u_c) + self.u_r)) + TINY
        box_lo, box_hi = mid - rad - slack, mid + rad + slack
        # Cauchy-Schwarz: max over the classes c' of ||R[:, c']|| (the d + 1 rows of W)
        norms = np.sqrt((R.reshape(B * C, d1, C) ** 2).sum(axis=1).max(axis=1))
        na = np.sqrt((Ra.reshape(B * C, d1, C) ** 2).sum(axis=1).max(axis=1))
        xn = np.sqrt((self.Xa**2).sum(axis=1)).max()
        scale = 1.0 if C == 1 else 2.0
        g = gamma(d1 + P + self.k + 8)
        # the norms (sqrt of sums of squares: <= d + 3 roundings), the k-term sum, and R's
        # error (relative to |x||Phi|, bounded through the same norms of Ra)
        cs = self.k * scale * xn * norms / self.B
        cs = cs * (1 + g) + self.k * scale * xn * na / self.B * g + TINY
        return np.maximum(box_lo, -cs), np.minimum(box_hi, cs)

    def _value_range(self, w, cols=None):
        """``min(0, min_a w . Delta[:, i, a])`` and ``max(0, max_a ...)`` for rows ``w`` (q, P).

        Returns two ``(q, n)`` arrays (``(q, len(cols))``: the rows ``i`` in ``cols``).
        For softmax, ``w . Delta[:, i, a]`` is
        ``(z_{y_i} - z_{a}) / B`` with ``z = x_i^T W`` (one rounded subtraction and a
        division, both monotone), so its extremes over the alternatives are those of
        the extreme ``z_a``: the same floats as the extremes of the rounded values.
        """
        q = w.shape[0]
        Xa, alts, yi = self.Xa, self.alts, self.yi
        if cols is not None:
            Xa, alts, yi = Xa[cols], alts[cols], yi[cols]
        n, d1 = Xa.shape
        C = self.C
        if C == 1:
            change = np.where(alts >= 0, yi[:, None] - alts, 0) / self.B  # (n, A)
            vals = (w @ Xa.T)[:, :, None] * change[None, :, :]
            return np.minimum(vals.min(axis=2), 0.0), np.maximum(vals.max(axis=2), 0.0)
        other = np.zeros((n, C), dtype=bool)
        valid = alts >= 0
        other[np.nonzero(valid)[0], alts[valid]] = True
        has = other.any(axis=1)
        v_lo, v_hi = np.empty((q, n)), np.empty((q, n))
        Wm = w.reshape(q, d1, C).transpose(1, 0, 2)  # (d1, q, C)
        for rows in _row_blocks(q, n * C, elems=1 << 20):
            nq = rows.stop - rows.start
            Z = (Xa @ Wm[:, rows].reshape(d1, nq * C)).reshape(n, nq, C)
            own = Z[np.arange(n), :, yi]  # (n, nq)
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
        # max_i wsum . |x_i| <= wsum . max_i |x_i| (no (q, n) product)
        mag = 2 * self.k * (wsum @ np.abs(self.Xa).max(axis=0)) / self.B
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
