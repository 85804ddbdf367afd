"""Linear-programming forward bounds through a parameter box (``bound="lp"``).

Where it applies
----------------
Only to the *certificates* of :class:`~sklpoison.IntervalCertifier`: the
bounds on the outputs (:meth:`predict_bounds`, :meth:`certified_mse`) and on
the class margins ``z_ref - z_j`` (:meth:`certify`, :meth:`certified_accuracy`,
:meth:`certified_attack_success`) of a test input (or an l-infinity ball
around it) over the final parameter box. Training always propagates interval
bounds.

The relaxation
--------------
For one query, the network ``z_l = h_{l-1} W_l + b_l``, ``h_l = relu(z_l)`` is
relaxed with the weights, biases, inputs and activations as LP variables:

* each bilinear term ``S_ij = h_i W_ij`` is replaced by its McCormick envelope
  over ``W in [W_lo, W_hi]`` (the certified box) and ``h in [h_lo, h_hi]``
  (interval bounds of the query)::

      S >= W_lo h + W h_lo - W_lo h_lo      S <= W_hi h + W h_lo - W_hi h_lo
      S >= W_hi h + W h_hi - W_hi h_hi      S <= W_lo h + W h_hi - W_lo h_hi

* each ReLU by its triangle relaxation over the interval pre-activation
  bounds ``[l, u]``: ``h >= 0``, ``h >= z`` and ``h <= u (z - l) / (u - l)``
  (``h = z`` when ``l >= 0``, ``h = 0`` when ``u <= 0``).

The gain over interval arithmetic comes from the variables shared by the
outputs: a margin ``z_c - z_j`` sees the *same* hidden activations and input
in both logits, while interval arithmetic takes each logit at its own worst
case. The problem is built once per certifier call with cvxpy ``Parameter``
objects (input and activation bounds, triangle slopes, objective direction),
checked with ``is_dcp(dpp=True)`` and re-solved for every query; the weight
box enters as constants. Solver: HiGHS (Clarabel as a fallback).

Soundness of a floating-point LP
--------------------------------
The solver's primal value is not used: it is only as accurate as the
solver's tolerances. Instead the bound is read off the solver's *dual*
solution by weak duality (the safe bound of Neumaier and Shcherbina, 2004).
Every LP variable lies in a known box (the input ball, the weight and bias
box, the activation bounds, and the interval hull of each product ``S``), and
the remaining constraints ``g(v) <= 0`` are linear. For *any* multipliers
``lambda >= 0`` (the solver's duals, clipped to be non-negative) and any
feasible ``v``, ``c.z(v) >= L(v) = c.z(v) + lambda.g(v) >= min over the box of
L``, a linear function whose minimum over a box is explicit. The minimum is
evaluated in float64 and lowered by a Higham bound on its rounding error, so
the bound is sound whatever the solver's accuracy or status (inaccurate
duals only make it looser); a solver failure gives ``-inf``. Every bound is
intersected with the interval bound by the caller, so it is never looser.
"""

import numpy as np

from ..numerics import interval as ia
from ..numerics.rounding import TINY, U, gamma, round_up

__all__ = ["LPForwardBounds", "relu_upper_line"]


def relu_upper_line(z_lo, z_hi):
    """Slope and intercept of a line above ``relu`` on ``[z_lo, z_hi]``, rounded outward.

    The triangle relaxation's upper side is the chord ``h <= s z + t`` through
    ``(l, 0)`` and ``(u, u)`` (``s = u / (u - l)``, ``t = -s l``) for an unstable
    unit (``l < 0 < u``), ``h = z`` for an active one and ``h = 0`` for a dead one.
    ``s`` is any float near the chord's slope; the intercept is then rounded
    up so that the line lies above ``relu`` at *both* end points,
    ``t >= max(-s l, u (1 - s))`` (each operation bounded by one
    :func:`~sklpoison.numerics.rounding.round_up` step), which, ``relu`` being
    convex, puts it above ``relu`` on the whole interval, in exact arithmetic.

    Parameters
    ----------
    z_lo, z_hi : ndarray
        Pre-activation bounds with ``z_lo <= z_hi``.

    Returns
    -------
    slope, icpt : ndarray
        ``relu(z) <= slope * z + icpt`` for every real ``z`` in ``[z_lo, z_hi]``.
    """
    z_lo = np.asarray(z_lo, dtype=np.float64)
    z_hi = np.asarray(z_hi, dtype=np.float64)
    active = z_lo >= 0
    dead = z_hi <= 0
    unstable = ~(active | dead)
    denom = np.where(unstable, z_hi - z_lo, 1.0)
    slope = np.where(active, 1.0, np.where(dead, 0.0, z_hi / denom))
    slope = np.clip(slope, 0.0, 1.0)  # the chord's slope lies in [0, 1]; so does ours
    at_lo = round_up(-slope * z_lo)  # -s l: one rounded product (negation is exact)
    at_hi = round_up(z_hi * round_up(1.0 - slope))  # u (1 - s), u > 0 and 1 - s >= 0
    icpt = np.where(unstable, np.maximum(at_lo, at_hi), 0.0)
    return slope, icpt


def _box_min(r, lo, hi):
    """``sum(min(r * lo, r * hi))`` and the sum of the magnitudes of its terms."""
    t = np.minimum(r * lo, r * hi)
    return t.sum(), np.abs(t).sum()


class LPForwardBounds:
    """LP bounds on linear functions of the outputs of a network over a parameter box.

    Parameters
    ----------
    box : list of tuple ``(W_lo, W_hi, b_lo, b_hi)``
        Weight (``(n_in, n_out)``) and bias bounds per layer.
    solver : str or None, default=None
        cvxpy solver name; ``None`` tries HiGHS then Clarabel.
    """

    def __init__(self, box, solver=None):
        from ..utils._optional import import_cvxpy

        cp = import_cvxpy("IntervalCertifier(bound='lp')")

        self._cp = cp
        self.box = [tuple(np.asarray(a, dtype=np.float64) for a in layer) for layer in box]
        installed = cp.installed_solvers()
        if solver is None:
            solver = next((s for s in ("HIGHS", "CLARABEL") if s in installed), None)
            if solver is None:  # pragma: no cover
                raise ImportError("bound='lp' needs the HiGHS or Clarabel solver for cvxpy.")
        self.solver = solver
        self._build()

    def _build(self):
        cp = self._cp
        box = self.box
        n_in = box[0][0].shape[0]
        n_out = box[-1][0].shape[1]
        self.x_lo = cp.Parameter(n_in)
        self.x_hi = cp.Parameter(n_in)
        self.c = cp.Parameter(n_out)
        x = cp.Variable(n_in)
        cons = [x >= self.x_lo, x <= self.x_hi]
        h, h_lo, h_hi = x, self.x_lo, self.x_hi
        self.h_lo, self.h_hi, self.slope, self.icpt, self.z_lo, self.z_hi = [], [], [], [], [], []
        self._mc, self._act = [], []  # McCormick / activation constraints (duals)
        for layer, (W_lo, W_hi, b_lo, b_hi) in enumerate(box):
            m, k = W_lo.shape
            W = cp.Variable((m, k))
            b = cp.Variable(k)
            S = cp.Variable((m, k))
            ones = np.ones((1, k))
            H = cp.reshape(h, (m, 1), order="F") @ ones
            HL = cp.reshape(h_lo, (m, 1), order="F") @ ones
            HH = cp.reshape(h_hi, (m, 1), order="F") @ ones
            cons += [W >= W_lo, W <= W_hi, b >= b_lo, b <= b_hi]
            mc = [
                S >= cp.multiply(W_lo, H) + cp.multiply(W, HL) - cp.multiply(W_lo, HL),
                S >= cp.multiply(W_hi, H) + cp.multiply(W, HH) - cp.multiply(W_hi, HH),
                S <= cp.multiply(W_hi, H) + cp.multiply(W, HL) - cp.multiply(W_hi, HL),
                S <= cp.multiply(W_lo, H) + cp.multiply(W, HH) - cp.multiply(W_lo, HH),
            ]
            cons += mc
            self._mc.append(mc)
            z = cp.sum(S, axis=0) + b
            if layer == len(box) - 1:
                self.z = z
                break
            z_lo, z_hi = cp.Parameter(k), cp.Parameter(k)
            slope, icpt = cp.Parameter(k), cp.Parameter(k)
            a_lo, a_hi = cp.Parameter(k), cp.Parameter(k)
            h_new = cp.Variable(k)
            act = [
                z >= z_lo,
                z <= z_hi,
                h_new >= z,
                h_new <= cp.multiply(slope, z) + icpt,
            ]
            cons += act + [h_new >= 0, h_new >= a_lo, h_new <= a_hi]
            self._act.append(act)
            self.z_lo.append(z_lo)
            self.z_hi.append(z_hi)
            self.slope.append(slope)
            self.icpt.append(icpt)
            self.h_lo.append(a_lo)
            self.h_hi.append(a_hi)
            h, h_lo, h_hi = h_new, a_lo, a_hi
        self.problem = cp.Problem(cp.Minimize(self.c @ self.z), cons)
        if not self.problem.is_dcp(dpp=True):  # pragma: no cover - guarded by tests
            raise RuntimeError("internal error: the LP relaxation is not DPP")

    def _set_query(self, x_lo, x_hi, zs):
        self.x_lo.value = x_lo
        self.x_hi.value = x_hi
        for layer, (z_lo, z_hi) in enumerate(zs[:-1]):
            z_lo = np.minimum(z_lo, z_hi)
            self.z_lo[layer].value = z_lo
            self.z_hi[layer].value = z_hi
            slope, icpt = relu_upper_line(z_lo, z_hi)
            self.slope[layer].value = slope
            self.icpt[layer].value = icpt
            a_lo, a_hi = ia.relu(z_lo, z_hi)
            self.h_lo[layer].value = a_lo
            self.h_hi[layer].value = a_hi

    def _minimize(self, c):
        """Rigorous lower bound on ``c @ z_out`` for the current query (``-inf`` on failure)."""
        cp = self._cp
        self.c.value = np.asarray(c, dtype=np.float64)
        try:
            self.problem.solve(solver=self.solver)
        except (cp.error.SolverError, ValueError):
            # cvxpy raises ValueError when it cannot unpack a failed solve (status UNKNOWN)
            return -np.inf
        if self.problem.status not in ("optimal", "optimal_inaccurate"):
            return -np.inf
        duals = []
        for group in self._mc + self._act:
            for con in group:
                if con.dual_value is None:
                    return -np.inf
                duals.append(np.maximum(np.asarray(con.dual_value, dtype=np.float64), 0.0))
        n = len(self._mc)
        mu = [duals[4 * i : 4 * i + 4] for i in range(n)]
        nu = [duals[4 * n + 4 * i : 4 * n + 4 * i + 4] for i in range(n - 1)]
        return self.dual_bound(self.c.value, mu, nu)

    def dual_bound(self, c, mu, nu):
        """Weak-duality lower bound on ``c @ z_out`` over the relaxation, for any multipliers.

        Parameters
        ----------
        c : ndarray of shape (n_out,)
            Objective direction.
        mu : list of 4-tuples of ndarray of shape (n_in_l, n_out_l)
            Non-negative multipliers of the four McCormick constraints of each layer
            (in the order ``S >= lo1, S >= lo2, S <= up1, S <= up2`` of the module notes).
        nu : list of 4-tuples of ndarray of shape (n_out_l,)
            Non-negative multipliers of ``z >= z_lo``, ``z <= z_hi``, ``h >= z`` and
            ``h <= slope z + icpt`` of each hidden layer.

        Returns
        -------
        bound : float
            ``min`` over the variable box of the Lagrangian, minus a bound on its
            float64 rounding error: a lower bound on ``c @ z_out`` for every point of
            the relaxation, hence for every network in the box and input in the ball.
        """
        total, mag, n_terms = 0.0, 0.0, 0
        n_layers = len(self.box)
        h_lo, h_hi = self.x_lo.value, self.x_hi.value
        zeta = np.asarray(c, dtype=np.float64)  # dL/dz of the current layer
        # walk backwards: the multiplier of each layer's output z is known first
        zetas = [None] * n_layers
        zetas[-1] = zeta
        for layer in range(n_layers - 2, -1, -1):
            n1, n2, n3, n4 = nu[layer]
            zetas[layer] = -n1 + n2 + n3 - self.slope[layer].value * n4
        h_coef_next = None
        for layer in range(n_layers - 1, -1, -1):
            W_lo, W_hi, b_lo, b_hi = self.box[layer]
            if layer == 0:
                h_lo, h_hi = self.x_lo.value, self.x_hi.value
            else:
                h_lo, h_hi = self.h_lo[layer - 1].value, self.h_hi[layer - 1].value
            m1, m2, m3, m4 = mu[layer]
            zeta = zetas[layer]
            HL, HH = h_lo[:, None], h_hi[:, None]
            # S: its own coefficient and the interval hull of h * W as its box
            r_S = (m3 + m4) - (m1 + m2) + zeta[None, :]
            p = (HL * W_lo, HL * W_hi, HH * W_lo, HH * W_hi)
            s_lo = np.minimum(np.minimum(p[0], p[1]), np.minimum(p[2], p[3]))
            s_hi = np.maximum(np.maximum(p[0], p[1]), np.maximum(p[2], p[3]))
            s_lo, s_hi = ia.outward(s_lo, s_hi, rel=2 * U)
            r_W = (m1 - m3) * HL + (m2 - m4) * HH
            r_h = ((m1 - m4) * W_lo + (m2 - m3) * W_hi).sum(axis=1)
            const = -(m1 * W_lo * HL).sum() - (m2 * W_hi * HH).sum()
            const += (m3 * W_hi * HL).sum() + (m4 * W_lo * HH).sum()
            mag += (
                (m1 * np.abs(W_lo * HL)).sum()
                + (m2 * np.abs(W_hi * HH)).sum()
                + (m3 * np.abs(W_hi * HL)).sum()
                + (m4 * np.abs(W_lo * HH)).sum()
            )
            if layer < n_layers - 1:
                # h of this layer's output enters the next layer's terms (h_coef_next)
                n1, n2, n3, n4 = nu[layer]
                z_lo, z_hi = self.z_lo[layer].value, self.z_hi[layer].value
                icpt = self.icpt[layer].value
                const += (n1 * z_lo).sum() - (n2 * z_hi).sum() - (n4 * icpt).sum()
                mag += (n1 * np.abs(z_lo)).sum() + (n2 * np.abs(z_hi)).sum()
                mag += (n4 * np.abs(icpt)).sum()
                r_hn = h_coef_next - n3 + n4
                a_lo, a_hi = self.h_lo[layer].value, self.h_hi[layer].value
                t, a = _box_min(r_hn, a_lo, a_hi)
                total += t
                mag += a + (np.abs(h_coef_next) + n3 + n4) @ np.maximum(np.abs(a_lo), np.abs(a_hi))
            total += const
            for r, lo, hi in ((r_S, s_lo, s_hi), (r_W, W_lo, W_hi), (zeta, b_lo, b_hi)):
                t, a = _box_min(r, lo, hi)
                total += t
                mag += a
            # magnitudes of the terms that formed the coefficients, times their ranges
            rng_S = np.maximum(np.abs(s_lo), np.abs(s_hi))
            rng_W = np.maximum(np.abs(W_lo), np.abs(W_hi))
            mag += ((m1 + m2 + m3 + m4 + np.abs(zeta)[None, :]) * rng_S).sum()
            mag += ((m1 + m2 + m3 + m4) * np.maximum(np.abs(HL), np.abs(HH)) * rng_W).sum()
            mag += np.abs(zeta) @ np.maximum(np.abs(b_lo), np.abs(b_hi))
            n_terms += 8 * W_lo.size + 8 * W_lo.shape[1] + 8
            h_coef_next = r_h
            # rounding of the coefficient r_h of this layer's input, times its range
            mag += ((m1 + m4) * np.abs(W_lo) + (m2 + m3) * np.abs(W_hi)).sum(axis=1) @ np.maximum(
                np.abs(h_lo), np.abs(h_hi)
            )
        # the input x
        t, a = _box_min(h_coef_next, self.x_lo.value, self.x_hi.value)
        total += t
        mag += a
        if not (np.isfinite(total) and np.isfinite(mag)):
            return -np.inf
        n_terms += 16
        # total is a sum of n_terms rounded products; every coefficient is itself a
        # short sum of products of the multipliers and the box ends, whose magnitudes mag
        # accumulates. Higham (3.5): the evaluation errs by <= gamma(n_terms) * mag per
        # level (coefficients, products, sum, the final subtraction): 4 gamma(n_terms) mag;
        # 64 TINY covers underflow of the (few, per-term) operations that can underflow.
        return total - 4 * gamma(n_terms) * mag - 64 * TINY

    def _queries(self, x_lo, x_hi):
        from ._box import _interval_forward

        x_lo = np.atleast_2d(np.asarray(x_lo, dtype=np.float64))
        x_hi = np.atleast_2d(np.asarray(x_hi, dtype=np.float64))
        _, zs = _interval_forward(self.box, x_lo, x_hi)
        for i in range(x_lo.shape[0]):
            query = [(lo[i], hi[i]) for lo, hi in zs]
            finite = [x_lo[i], x_hi[i], *(a for pair in query[:-1] for a in pair)]
            if not all(np.all(np.isfinite(a)) for a in finite):
                continue  # cvxpy takes finite parameters only: the row keeps -inf / inf
            self._set_query(x_lo[i], x_hi[i], query)
            yield i

    def output_bounds(self, x_lo, x_hi):
        """LP lower and upper bounds on every output, shape ``(n, n_out)`` each."""
        n_out = self.box[-1][0].shape[1]
        n = np.atleast_2d(x_lo).shape[0]
        lo = np.full((n, n_out), -np.inf)
        hi = np.full((n, n_out), np.inf)
        eye = np.eye(n_out)
        for i in self._queries(x_lo, x_hi):
            for j in range(n_out):
                lo[i, j] = self._minimize(eye[j])
                hi[i, j] = -self._minimize(-eye[j])
        return lo, hi

    def margin_bounds(self, x_lo, x_hi, ref, which="both"):
        """LP bounds on the margins ``z_ref - z_j`` of the class logits, ``(n, n_classes)``.

        A single-output (binary) network has the class logits ``(0, z)``.
        ``which`` in ``{"both", "lo", "hi"}`` selects the bounds computed (the
        others are left infinite).
        """
        n_out = self.box[-1][0].shape[1]
        M = np.array([[0.0], [1.0]]) if n_out == 1 else np.eye(n_out)
        n_classes = M.shape[0]
        n = np.atleast_2d(x_lo).shape[0]
        lo = np.full((n, n_classes), -np.inf)
        hi = np.full((n, n_classes), np.inf)
        for i in self._queries(x_lo, x_hi):
            for j in range(n_classes):
                if j == ref[i]:
                    lo[i, j] = hi[i, j] = 0.0
                    continue
                c = M[ref[i]] - M[j]
                if which in ("both", "lo"):
                    lo[i, j] = self._minimize(c)
                if which in ("both", "hi"):
                    hi[i, j] = -self._minimize(-c)
        return lo, hi
