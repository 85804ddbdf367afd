"""Certificate queries of :class:`~sklpoison.IntervalCertifier` over its final parameter set.

Bounds on the outputs and on the class margins ``z_ref - z_j`` of test inputs
(or of l-infinity balls around them) over the parameter box, refined by the
LP relaxation with ``bound="lp"`` (:mod:`sklpoison.certification._lp`, built
once per public call and passed down).
"""

from numbers import Real

import numpy as np
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..numerics import interval as ia
from ..numerics.rounding import TINY, U, gamma
from ..utils.validation import check_known_labels
from ._box import _interval_forward


class _LPOnce:
    """The LP relaxation of one public call: built on first use, at most once per call."""

    def __init__(self, box):
        self._box, self._lp = box, None

    def get(self):
        if self._lp is None:
            from ._lp import LPForwardBounds

            self._lp = LPForwardBounds(self._box)
        return self._lp


class _CertificateMixin:
    """Private helpers of the certificate methods (mixed into IntervalCertifier)."""

    def _input_box(self, X, epsilon):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if not (isinstance(epsilon, Real) and epsilon >= 0):
            raise ValueError(f"epsilon must be a non-negative float; got {epsilon!r}.")
        if epsilon == 0:
            return X, X, X
        # x -/+ epsilon: one rounded operation each, 2 U plus a nextafter step covers it
        lo, hi = ia.outward(X - epsilon, X + epsilon, rel=2 * U)
        return X, lo, hi

    def _lp(self):
        from ._lp import LPForwardBounds

        return LPForwardBounds(self._box())

    def _lp_once(self):
        """The LP of one public call (``None`` unless ``bound="lp"`` and the box is finite)."""
        if self.bound != "lp" or self.bounds_diverged_:
            return None
        return _LPOnce(self._box())

    def _output_box(self, x_lo, x_hi):
        with np.errstate(over="ignore", invalid="ignore"):
            _, zs = _interval_forward(self._box(), x_lo, x_hi)
        lo, hi = zs[-1]
        return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)

    def _margins(self, x_lo, x_hi, ref, which="both", lp=None):
        """Lower and upper bounds on ``z_ref - z_j`` for every class ``j`` (j == ref gives 0).

        For a single-logit binary model the implicit logits are ``(0, z)``. With
        ``bound="lp"`` and ``which="lo"`` (``"hi"``) the LP only refines the
        lower (upper) bounds, and only on rows the interval bounds leave
        undecided. ``lp``: the call's :class:`_LPOnce` (``None``: interval bounds only).
        """
        lo, hi = self._output_box(x_lo, x_hi)
        n = lo.shape[0]
        rows = np.arange(n)
        if lo.shape[1] == 1:
            lo = np.column_stack([np.zeros(n), lo[:, 0]])
            hi = np.column_stack([np.zeros(n), hi[:, 0]])
        with np.errstate(invalid="ignore"):
            m_lo = lo[rows, ref][:, None] - hi
            m_hi = hi[rows, ref][:, None] - lo
        m_lo = np.where(np.isnan(m_lo), -np.inf, m_lo)
        m_hi = np.where(np.isnan(m_hi), np.inf, m_hi)
        if getattr(self, "zonotope_", None) is not None and n > 0:
            with np.errstate(invalid="ignore", over="ignore"):
                z_lo, z_hi = self._zonotope_margins(x_lo, x_hi, ref, which)
            # fmax / fmin: a NaN zonotope bound (an infinite ball: x_c = (-inf + inf) / 2, or
            # an overflow) leaves the interval bound; np.maximum would propagate the NaN, and
            # a NaN upper margin read as "impossible" (best-case accuracy 0 below the nominal)
            m_lo, m_hi = np.fmax(m_lo, z_lo), np.fmin(m_hi, z_hi)
        if lp is not None and n > 0:
            other = np.ones_like(m_lo, dtype=bool)
            other[rows, ref] = False
            need = np.ones(n, dtype=bool)
            if which == "lo":  # rows not yet certified
                need = ~np.all((m_lo > 0) | ~other, axis=1)
            elif which == "hi":  # rows not yet shown impossible
                need = np.all((m_hi >= 0) | ~other, axis=1)
            if np.any(need):
                lp_lo, lp_hi = lp.get().margin_bounds(
                    x_lo[need], x_hi[need], ref[need], which=which
                )
                m_lo[need] = np.maximum(m_lo[need], lp_lo)
                m_hi[need] = np.minimum(m_hi[need], lp_hi)
        m_lo[rows, ref] = 0.0
        m_hi[rows, ref] = 0.0
        return m_lo, m_hi

    def _zonotope_outputs(self, x_lo, x_hi):
        """Output (logit) bounds over the zonotope: the margins against an implicit zero logit."""
        C = self.zonotope_.n_out
        n = x_lo.shape[0]
        lo, hi = np.empty((n, C)), np.empty((n, C))
        for c in range(C):
            # z_c = e_c . z: with Mout = identity rows, a margin against class c's own row
            # is z_ref - z_j; the single-logit layout gives (0, z) directly
            ref = np.full(n, 1 if C == 1 else c)
            m_lo, m_hi = self._zonotope_margins(x_lo, x_hi, ref, outputs=True)
            lo[:, c], hi[:, c] = m_lo[:, 0], m_hi[:, 0]
        return lo, hi

    def _zonotope_margins(self, x_lo, x_hi, ref, which="both", chunk=32, outputs=False):
        """Margin bounds ``z_ref - z_j`` minimised over the zonotope in closed form.

        The margin at ``x' = x_c + delta`` (``x_c`` the ball's centre) is
        ``v(x_c) . theta + delta . (W_ref - W_j)``: the first term is linear in
        ``theta`` (closed-form minimum over the zonotope), the second is bounded by
        ``sum_f r_f max|W_ref,f - W_j,f|`` over the parameter box.
        """
        Z = self.zonotope_
        n, d = x_lo.shape
        C = Z.n_out
        Mout = np.array([[0.0], [1.0]]) if C == 1 else np.eye(C)
        if outputs:  # z_ref itself: the margin against a zero row
            Mout = np.vstack([np.zeros((1, C)), Mout]) if C > 1 else Mout
            ref = ref + (1 if C > 1 else 0)
        K = Mout.shape[0]
        xc = 0.5 * (x_lo + x_hi)
        r = np.maximum(np.nextafter(x_hi - xc, np.inf), np.nextafter(xc - x_lo, np.inf))
        W_lo, W_hi = self.coefs_lower_[0], self.coefs_upper_[0]
        m_lo = np.full((n, K), -np.inf)
        m_hi = np.full((n, K), np.inf)
        for a in range(0, n, chunk):
            sl = slice(a, min(n, a + chunk))
            xa = np.hstack([xc[sl], np.ones((xc[sl].shape[0], 1))])
            rr = ref[sl]
            dirs = Mout[rr][:, None, :] - Mout[None, :, :]  # (q, K, C)
            V = (xa[:, None, :, None] * dirs[:, :, None, :]).reshape(-1, (d + 1) * C)
            lo, hi = Z.linear_bounds(V, lower=which != "hi", upper=which != "lo")
            lo = np.full((V.shape[0] // K, K), -np.inf) if lo is None else lo.reshape(-1, K)
            hi = np.full((V.shape[0] // K, K), np.inf) if hi is None else hi.reshape(-1, K)
            if np.any(r[sl] > 0):
                # |delta . (W_ref - W_j)| with W_ref - W_j in the box difference
                Wd_lo = W_lo @ dirs.transpose(0, 2, 1).clip(min=0) + W_hi @ dirs.transpose(
                    0, 2, 1
                ).clip(max=0)
                Wd_hi = W_hi @ dirs.transpose(0, 2, 1).clip(min=0) + W_lo @ dirs.transpose(
                    0, 2, 1
                ).clip(max=0)
                wmax = np.maximum(np.abs(Wd_lo), np.abs(Wd_hi))  # (q, d, K)
                t = np.einsum("qd,qdk->qk", r[sl], wmax)
                # Wd: differences of two box ends (each <= U max|W| off, cancellation
                # included): absolute 2 gamma(2) max|W| per feature; then products and sums
                # of non-negative terms (Lemma 3.1): relative gamma(d + 3)
                Wm = np.maximum(np.abs(W_lo), np.abs(W_hi)).max(axis=1)  # (d,)
                t = t + 2 * gamma(2) * (r[sl] @ Wm)[:, None]
                t = t * (1 + gamma(d + 4)) + TINY
                lo, hi = lo - t, hi + t
            m_lo[sl], m_hi[sl] = lo, hi
        return m_lo, m_hi

    def _check_classifier(self, what):
        check_is_fitted(self)
        if self.loss_ == "squared_error":
            raise ValueError(
                f"{what} is defined for classification; this IntervalCertifier is a regressor "
                f"(loss='squared_error'). Use certified_mse or predict_bounds."
            )

    def _class_index(self, y):
        y = column_or_1d(y)
        return check_known_labels(
            y, self.classes_, "IntervalCertifier", known_as="the classes seen in fit"
        )

    def _certain(self, x_lo, x_hi, ref, lp=None):
        """Rows whose prediction is ``ref`` for every parameter in the box and input in the ball."""
        m_lo, _ = self._margins(x_lo, x_hi, ref, which="lo", lp=lp)
        rows = np.arange(len(ref))
        mask = np.ones_like(m_lo, dtype=bool)
        mask[rows, ref] = False
        return np.all((m_lo > 0) | ~mask, axis=1)

    def _possible(self, x_lo, x_hi, ref, lp=None):
        """Rows for which some parameter in the box / input in the ball may predict ``ref``."""
        _, m_hi = self._margins(x_lo, x_hi, ref, which="hi", lp=lp)
        return np.all(m_hi >= 0, axis=1)
