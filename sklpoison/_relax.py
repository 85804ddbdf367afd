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
box enters as constants. Solver: HiGHS (Clarabel as a fallback). The LP value
is relaxed by a safety margin of ``1e-6 (1 + |value|)`` for the solver's
feasibility tolerance, and every bound is intersected with the interval bound
by the caller, so it is never looser.
"""

import numpy as np

from . import _interval as ia

__all__ = ["LPForwardBounds"]

_SAFETY = 1e-6


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
        import cvxpy as cp

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
            cons += [
                S >= cp.multiply(W_lo, H) + cp.multiply(W, HL) - cp.multiply(W_lo, HL),
                S >= cp.multiply(W_hi, H) + cp.multiply(W, HH) - cp.multiply(W_hi, HH),
                S <= cp.multiply(W_hi, H) + cp.multiply(W, HL) - cp.multiply(W_hi, HL),
                S <= cp.multiply(W_lo, H) + cp.multiply(W, HH) - cp.multiply(W_lo, HH),
            ]
            z = cp.sum(S, axis=0) + b
            if layer == len(box) - 1:
                self.z = z
                break
            z_lo, z_hi = cp.Parameter(k), cp.Parameter(k)
            slope, icpt = cp.Parameter(k), cp.Parameter(k)
            a_lo, a_hi = cp.Parameter(k), cp.Parameter(k)
            h_new = cp.Variable(k)
            cons += [
                z >= z_lo,
                z <= z_hi,
                h_new >= 0,
                h_new >= z,
                h_new <= cp.multiply(slope, z) + icpt,
                h_new >= a_lo,
                h_new <= a_hi,
            ]
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
            active = z_lo >= 0
            dead = z_hi <= 0
            denom = np.where(active | dead, 1.0, z_hi - z_lo)
            slope = np.where(active, 1.0, np.where(dead, 0.0, z_hi / denom))
            icpt = np.where(active | dead, 0.0, -z_hi * z_lo / denom)
            # round the upper line of the triangle outward
            icpt = icpt + 1e-12 * (1 + np.abs(icpt) + np.abs(z_lo) + np.abs(z_hi))
            self.slope[layer].value = slope
            self.icpt[layer].value = icpt
            a_lo, a_hi = ia.relu(z_lo, z_hi)
            self.h_lo[layer].value = a_lo
            self.h_hi[layer].value = a_hi

    def _minimize(self, c):
        """Lower bound on ``c @ z_out`` for the current query (``-inf`` on failure)."""
        cp = self._cp
        self.c.value = np.asarray(c, dtype=np.float64)
        try:
            value = self.problem.solve(solver=self.solver)
        except cp.error.SolverError:
            return -np.inf
        if self.problem.status not in ("optimal", "optimal_inaccurate") or value is None:
            return -np.inf
        if self.problem.status == "optimal_inaccurate":
            return value - 1e-4 * (1 + abs(value))
        return value - _SAFETY * (1 + abs(value))

    def _queries(self, x_lo, x_hi):
        from ._certify import _interval_forward

        x_lo = np.atleast_2d(np.asarray(x_lo, dtype=np.float64))
        x_hi = np.atleast_2d(np.asarray(x_hi, dtype=np.float64))
        _, zs = _interval_forward(self.box, x_lo, x_hi)
        for i in range(x_lo.shape[0]):
            self._set_query(x_lo[i], x_hi[i], [(lo[i], hi[i]) for lo, hi in zs])
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
