"""The zonotope (affine-arithmetic) domain: linear, logistic and softmax regression.

:class:`LinearZonotopePropagator`: single-output linear regression, whose clean step is
affine in the parameters (the clean part maps the zonotope exactly; the poisoning
excess adds one diagonal generator per step).

:class:`LogitZonotopePropagator`: binary logistic / softmax regression.

The parameters ``theta = vec([W; b])`` (``(d + 1) x C`` row-major, ``C = 1`` for
binary logistic regression) reachable under the threat model are kept as

    theta = c + G e + D s,    e in [-1, 1]^m,

``s`` the (optional) *persistent label-flip symbols*: ``s`` in ``{0, 1}^(n x A)``
with at most one alternative per training row and at most ``k`` rows flipped.
With full-batch training the flipped rows are the same at every step, and a
flip changes the batch gradient by a constant, so its whole effect on the
trajectory is one column of ``D`` (propagated by the linear part of every step).

One SGD step ``theta <- decay theta - eta g(theta)``:

* every training row's logit range over the set (``x.c +/- |x G|_1`` plus the
  range of the ``D s`` part), intersected with the interval range of the box
  that is propagated alongside;
* a sound linear relaxation of the loss derivative on that range:
  ``sigmoid(z) in lambda z + mu +/- beta`` (DeepZ: ``lambda`` the smallest
  derivative on the range, so ``sigmoid(z) - lambda z`` is monotone and its range
  is exact at the end points), and for softmax a mean-value form
  ``p(z) in p(z0) + J0 (z - z0) +/- err`` with ``err`` from an enclosure of the
  Jacobian ``diag(p) - p p^T`` over the logit box;
* the step is then affine in ``theta``: ``theta' = M theta + const`` with
  ``M = decay I - eta A``, ``A = 1/n sum_i (x_i x_i^T) (x) J_i``: it maps the
  generators exactly (no wrapping effect, unlike a box);
* the relaxation errors, the poisoning excess over the clean gradient (sorted
  sums per batch, as for the box) and the float64 rounding enter as one new
  diagonal generator;
* Girard's order reduction (merge the generators with the smallest
  ``||g||_1 - ||g||_inf`` into a box) keeps at most ``max_generators`` columns.

All rounding is accounted for (see :mod:`sklpoison.numerics.rounding`), so the
sets contain every exactly-computed poisoned trajectory.
"""

import numpy as np

from ..numerics import interval as ia
from ..numerics.rounding import TINY, U, gamma, round_down, round_up
from ._box import (
    _add_intervals,
    _buffer_update,
    _gradient_bounds,
    _interval_forward,
    _penalty_excess,
    _Propagator,
    meet,
)
from ._flips import _Flips, _row_blocks
from ._threat import _combine_chunk, _variant_terms


# --------------------------------------------------------------------------
# linear regression
# --------------------------------------------------------------------------
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


class _Penalty:
    """Momentum and L1 penalty of the SGD update, for the zonotope propagators.

    They add ``momentum buf + l1 sign(theta)`` to the gradient (see
    :func:`~sklpoison.certification._box._penalty_excess`): an interval per coordinate,
    added to the poisoning excess (one more diagonal generator). The momentum buffer is
    bounded by a box, advanced from interval bounds of the gradient over the box of
    the parameters before the step.
    """

    def __init__(self, box, threat, momentum, l1, l2):
        self.threat, self.momentum, self.l1, self.l2 = threat, momentum, l1, l2
        self.active = momentum > 0 or l1 > 0
        self.bufs = [tuple(np.zeros_like(a) for a in layer) for layer in box]

    def add_to(self, excess, start, Xb, Yb, idx):
        """``excess + momentum buf + l1 sign(theta)`` (per-layer boxes); advances the buffer."""
        if not self.active:
            return excess
        pen = _penalty_excess(start, self.bufs, self.momentum, self.l1)
        out = []
        for e, p in zip(excess, pen):
            out.append(
                (
                    *_add_intervals((e[0], e[1]), (p[0], p[1])),
                    *_add_intervals((e[2], e[3]), (p[2], p[3])),
                )
            )
        if self.momentum > 0:
            grads = _gradient_bounds(self.threat, start, Xb, Yb, idx)
            self.bufs = _buffer_update(start, self.bufs, grads, self.momentum, self.l1, self.l2)
        return out


class LinearZonotopePropagator(_Propagator):
    """Zonotope propagation for single-output linear regression (squared error, no clipping).

    The clean gradient is affine in the parameters, so the clean part of the
    step maps a zonotope of parameters exactly; only the poisoning's excess is
    bounded by intervals (one new diagonal generator per step).
    """

    def __init__(self, params, threat, *, momentum=0.0, l1=0.0, l2=0.0):
        ((W, b),) = params
        self.threat = threat
        self.centre = np.concatenate([W[:, 0], b])
        self.gens = np.zeros((len(self.centre), 0))
        self.box = [(W.copy(), W.copy(), b.copy(), b.copy())]
        self.penalty = _Penalty(self.box, threat, momentum, l1, l2)

    def bounds(self):
        return self.box

    def step(self, Xb, Yb, idx, eta, decay, box=None):
        if self.diverged:
            return
        start = self.box if box is None else box
        t = self.threat
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            excess = _linear_excess(start[0], Xb, Yb, t.kx, t.ky, t.eps, float(t.nu), t.paired)
            (excess,) = self.penalty.add_to([excess], start, Xb, Yb, idx)
            self.centre, self.gens = _affine_zonotope_update(
                self.centre, self.gens, Xb, Yb, excess, decay, eta
            )
            box = [_zonotope_box(self.centre, self.gens)]
        self.box = self._check_finite(box)


# --------------------------------------------------------------------------
# relaxations of the loss derivative
# --------------------------------------------------------------------------
def _sigmoid_prime(z):
    """``sigmoid(z) sigmoid(-z)``: the derivative, accurate to a few ulp for every z."""
    return ia.sigmoid(z) * ia.sigmoid(-z)


def relax_sigmoid(lo, hi):
    """DeepZ relaxation: ``sigmoid(z) in lam z + mu +/- beta`` for every real z in ``[lo, hi]``.

    ``lam`` is a float at most the smallest derivative on the range (the
    derivative is unimodal, so the minimum is at an end point; the computed
    value is lowered by 32 U to cover its few-ulp error), hence
    ``f(z) = sigmoid(z) - lam z`` is non-decreasing and its range is
    ``[f(lo), f(hi)]``, evaluated with directed rounding.

    Returns ``lam, mu, beta`` of the shape of ``lo``.
    """
    lam = np.minimum(_sigmoid_prime(lo), _sigmoid_prime(hi)) * (1 - 32 * U)
    s_lo, _ = ia.sigmoid_interval(lo, lo)
    _, s_hi = ia.sigmoid_interval(hi, hi)
    f_lo = round_down(s_lo - round_up(lam * lo))
    f_hi = round_up(s_hi - round_down(lam * hi))
    mu = 0.5 * (f_lo + f_hi)
    beta = np.maximum(round_up(f_hi - mu), round_up(mu - f_lo))
    return lam, mu, beta


def relax_softmax(lo, hi, n_slices=4):
    """Mean-value relaxation ``p(z) in J0 z + mu +/- err`` on the logit box ``[lo, hi]``.

    ``J0`` is the Jacobian at the box centre ``z0``, ``mu = p(z0) - J0 z0``.
    Integral form of the mean value theorem: with ``z = z0 + delta`` in the box,
    ``p_k(z) - p_k(z0) - J0_k delta = int_0^1 (J_k(z0 + t delta) - J0_k) delta dt``, and
    ``z0 + t delta`` lies in the box ``z0 +/- t r`` (``r`` the radius), on which
    ``max|J_kj - J0_kj|`` grows with ``t``: over the slices ``t in [(m - 1)/M, m/M]``,
    ``|p_k(z) - J0_k z - mu_k| <= 1/M sum_m sum_j dev_kj(m/M) r_j`` with ``dev(t)``
    from an enclosure of ``J_kj = p_k (delta_kj - p_j)`` over the box of scale ``t``
    (``M = n_slices``; ``M = 1`` is the plain mean-value bound). The float errors of
    ``p(z0)``, ``J0 z0`` and ``mu`` are added.

    Where that bound exceeds the constant relaxation ``p_k in [p_lo_k, p_hi_k]`` (the
    enclosure of ``p_k`` over the box: wide boxes), class ``k`` of the row takes it
    instead: row ``k`` of ``J0`` zero, ``mu_k`` the midpoint, ``err_k`` the half-width.

    Returns ``J0`` of shape ``(n, C, C)``, ``mu`` and ``err`` of shape ``(n, C)``.
    """
    n, C = lo.shape
    zc = 0.5 * (lo + hi)
    r = np.maximum(round_up(hi - zc), round_up(zc - lo))
    p = zc - zc.max(axis=1, keepdims=True)
    p = np.exp(p)
    p /= p.sum(axis=1, keepdims=True)
    J0 = -p[:, :, None] * p[:, None, :]
    J0[:, np.arange(C), np.arange(C)] += p
    mu = p - np.einsum("nkj,nj->nk", J0, zc)
    err = np.zeros((n, C))
    for m in range(1, n_slices + 1):
        if m == n_slices:
            s_lo, s_hi = lo, hi
        else:  # the box z0 +/- t r, rounded outward (a larger box only enlarges dev)
            tr = round_up(r * (m / n_slices))
            s_lo, s_hi = round_down(zc - tr), round_up(zc + tr)
        err += (_jacobian_deviation(J0, *ia.softmax_interval(s_lo, s_hi)) @ r[:, :, None])[:, :, 0]
    # 1 / M of a sum of M non-negative terms (M + 1 roundings, Lemma 3.1 below)
    err = err / n_slices
    # p(z0): the computed p against its enclosure; mu = p - J0 z0 rounds (Higham (3.5))
    pc_lo, pc_hi = ia.softmax_interval(zc, zc)
    err += np.maximum(pc_hi - p, p - pc_lo)
    err += gamma(C + 2) * (np.abs(p) + np.einsum("nkj,nj->nk", np.abs(J0), np.abs(zc)))
    # err itself is a sum of C + M + 3 non-negative rounded terms (Lemma 3.1)
    err = err * (1 + gamma(C + n_slices + 7)) + TINY
    # the constant relaxation where it is tighter
    p_lo, p_hi = ia.softmax_interval(lo, hi)
    c_mu = 0.5 * (p_lo + p_hi)
    c_err = np.maximum(round_up(p_hi - c_mu), round_up(c_mu - p_lo)) + TINY
    flat = c_err < err
    J0[flat] = 0.0
    return J0, np.where(flat, c_mu, mu), np.where(flat, c_err, err)


def _jacobian_deviation(J0, p_lo, p_hi):
    """``max |J - J0|`` entrywise over a box, from the enclosure ``[p_lo, p_hi]`` of ``p``.

    ``J_kj = -p_k p_j`` off the diagonal, ``p_k (1 - p_k)`` on it (concave, largest at 1/2).
    """
    C = p_lo.shape[1]
    J_lo = -p_hi[:, :, None] * p_hi[:, None, :]
    J_hi = -p_lo[:, :, None] * p_lo[:, None, :]
    d_end_lo, d_end_hi = p_lo * (1 - p_lo), p_hi * (1 - p_hi)
    d_lo = np.minimum(d_end_lo, d_end_hi)
    d_hi = np.where((p_lo <= 0.5) & (p_hi >= 0.5), 0.25, np.maximum(d_end_lo, d_end_hi))
    idx = np.arange(C)
    J_lo[:, idx, idx] = d_lo
    J_hi[:, idx, idx] = d_hi
    # each enclosure end is at most 3 rounded operations from exact (products of
    # enclosures of p): widen by 4 U relative
    J_lo, J_hi = ia.outward(J_lo, J_hi, rel=4 * U)
    return np.maximum(J_hi - J0, J0 - J_lo)


# --------------------------------------------------------------------------
# logistic and softmax regression
# --------------------------------------------------------------------------
class _LogitZonotope:
    """The final zonotope of a fit, for certificates (``theta = c + G e + Phi Delta s``)."""

    def __init__(self, centre, gens, flips, n_features, n_out):
        self.centre, self.gens, self.flips = centre, gens, flips
        self.n_features, self.n_out = n_features, n_out

    @property
    def n_generators(self):
        return self.gens.shape[1] + (0 if self.flips is None else self.flips.alts.size)

    def hull(self):
        """Interval hull ``(lo, hi)`` of the set (exact sorted sums for the flips)."""
        return self.linear_bounds(np.eye(len(self.centre)))

    def linear_bounds(self, V, lower=True, upper=True):
        """Lower and upper bounds on ``v . theta`` over the set for every row of ``V`` (q, P)."""
        c_part = V @ self.centre
        g_part = np.abs(V @ self.gens).sum(axis=1)
        mag = np.abs(V) @ np.abs(self.centre) + np.abs(V) @ np.abs(self.gens).sum(axis=1)
        lo, hi = c_part - g_part, c_part + g_part
        # Higham (3.5): the products (length <= P), the m-term sum, two additions
        s_lo = s_hi = gamma(len(self.centre) + self.gens.shape[1] + 4) * mag
        if self.flips is not None and self.flips.k > 0:
            f_lo, f_hi, err = self.flips.range_part(V, lower, upper)
            if lower:
                lo, s_lo = lo + f_lo, s_lo + err + gamma(2) * np.abs(f_lo)
            if upper:
                hi, s_hi = hi + f_hi, s_hi + err + gamma(2) * np.abs(f_hi)
        lo = lo - 2 * s_lo - TINY if lower else None
        hi = hi + 2 * s_hi + TINY if upper else None
        return lo, hi


def _theta_box(lo, hi, C):
    """Bounds on ``theta = vec([W; b])`` (``(d + 1) x C`` row-major) as a one-layer box."""
    lo, hi = lo.reshape(-1, C), hi.reshape(-1, C)
    return [(lo[:-1], hi[:-1], lo[-1], hi[-1])]


def _hull(centre, gens, flip_box):
    r = np.abs(gens).sum(axis=1)
    # r: m non-negative terms (gamma(m)); c -/+ r and the flip box: 3 more roundings
    # of magnitude <= |c| + r + |flip|, covered by gamma(m + 4) of that sum
    mag = np.abs(centre) + r + np.abs(flip_box[0]) + np.abs(flip_box[1])
    slack = gamma(gens.shape[1] + 4) * mag + TINY
    return centre - r + flip_box[0] - slack, centre + r + flip_box[1] + slack


class LogitZonotopePropagator(_Propagator):
    """Zonotope propagation of binary logistic / softmax regression (see module notes).

    Meant to run in an :class:`~sklpoison.certification._box.Intersection` with a
    :class:`~sklpoison.certification._box.BoxPropagator`: every step then starts from the
    box intersected with the zonotope's interval hull (both contain the reachable set),
    and the logit ranges of the relaxation are intersected with that box's, so the
    result is never looser than the box alone.
    """

    def __init__(self, params, threat, full_batch, max_generators, *, momentum=0.0, l1=0.0, l2=0.0):
        ((W, b),) = params
        self.threat = threat
        self.d, self.C = W.shape
        self.P = (self.d + 1) * self.C
        self.centre = np.vstack([W, b[None, :]]).ravel().copy()
        self.gens = np.zeros((self.P, 0))
        self.box = [(W.copy(), W.copy(), b.copy(), b.copy())]
        self.max_generators = max_generators
        self.penalty = _Penalty(self.box, threat, momentum, l1, l2)
        self.flips = None
        t = threat
        # full batch, label flips only: the flipped rows are the same at every step
        self._persistent = full_batch and t.ky > 0 and t.kx == 0
        # relaxation errors kept as columns per step (with persistent flips: measured
        # tighter there; without, the step's excess box dominates and the columns would
        # only crowd the other generators out of the order reduction), and room for them:
        # 10-class digits at n = 1,000, k = 5 certify 0.27 with (P, 2 P), 0.42 with
        # (2 P, 4 P), 0.51 with (4 P, 8 P) columns (benchmarks/bench_certifier_softmax.py)
        self.n_error_generators = 4 * self.P if self._persistent else 0
        if self._persistent:
            self.max_generators = 4 * max_generators

    # ------------------------------------------------------------------ API
    def bounds(self):
        """The interval hull after the last step (vacuous once it is not finite)."""
        return self.box

    def final_bounds(self):
        if self.diverged or self.flips is None:
            return self.box
        # the exact hull (sorted sums of the flips' columns), intersected
        lo, hi = self.reachable_set().hull()
        return meet(self.box, _theta_box(lo, hi, self.C))

    def reachable_set(self):
        if self.diverged:
            return None
        return _LogitZonotope(self.centre, self.gens, self.flips, self.d, self.C)

    def step(self, Xb, Yb, idx, eta, decay, box=None):
        if self.diverged:
            return
        start = self.box if box is None else box  # a box of the parameters before the step
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            self._zonotope_step(Xb, Yb, idx, eta, decay, start)
            lo, hi = _hull(self.centre, self.gens, self._flip_box())
        self.box = self._check_finite(_theta_box(lo, hi, self.C))

    # ------------------------------------------------------------ internals
    def _flip_box(self):
        if self.flips is None:
            return np.zeros(self.P), np.zeros(self.P)
        return self.flips.box()

    def _logit_ranges(self, Xa):
        """Logit ranges ``(lo, hi)`` of the rows ``Xa`` (with the bias column), ``(B, C)``."""
        B, C = Xa.shape[0], self.C
        centre, gens = self.centre, self.gens
        m = gens.shape[1]
        cen = centre.reshape(self.d + 1, C)
        zc = Xa @ cen
        # the trailing one-entry columns (the new step's radii, order reduction's box):
        # sum_g |x . g| over them is |x|^T r with r their absolute entries per coordinate
        t, rows_1 = _trailing_single_entry(gens)
        absX = np.abs(Xa)
        r1 = np.zeros(self.P)
        np.add.at(r1, rows_1, np.abs(gens[rows_1, m - t + np.arange(t)]))
        zg = absX @ r1.reshape(self.d + 1, C)
        # |x G|_1 of the other columns per row and class, in row blocks (no (B, C m) temporary)
        md = m - t
        G3 = np.ascontiguousarray(gens[:, :md]).reshape(self.d + 1, C * md)
        for rows in _row_blocks(B, C * md) if md > 0 else []:
            T = Xa[rows] @ G3
            np.abs(T, out=T)
            zg[rows] += T.reshape(-1, C, md).sum(axis=2)
        mag = absX @ (np.abs(cen) + np.abs(gens).sum(axis=1).reshape(self.d + 1, C))
        # Higham (3.5): the products (length d + 1), the m-term sums and the additions
        slack = gamma(self.d + m + 6) * mag + TINY
        lo, hi = zc - zg - slack, zc + zg + slack
        if self.flips is not None:
            f_lo, f_hi = self.flips.logit_range(Xa, hi - lo, self._step_cost(B, m))
            # two more additions of magnitude <= |lo|, |hi| plus the flips' part
            lo = round_down(lo + f_lo) - gamma(2) * (np.abs(lo) + np.abs(f_lo))
            hi = round_up(hi + f_hi) + gamma(2) * (np.abs(hi) + np.abs(f_hi))
        return lo, hi

    def _step_cost(self, B, m):
        """Multiply-adds of a step without the flip ranges (logit ranges, Gram, generator map)."""
        d1, C, P = self.d + 1, self.C, self.P
        return B * C * d1 * (m + d1 * C) + m * min(P * P, B * C * (2 * d1 + C))

    def _zonotope_step(self, Xb, Yb, idx, eta, decay, start_box):
        t = self.threat
        B, P = Xb.shape[0], self.P
        Xa = np.hstack([Xb, np.ones((B, 1))])
        absX = np.abs(Xa)
        if self._persistent and self.flips is None:
            self.flips = _Flips(Xa, t.label_sets, min(t.ky, B), self.C)
        z_lo, z_hi = self._logit_ranges(Xa)
        # intersected with the interval logit range over the box (both are sound)
        bl, bh = _box_logits(start_box, Xb)
        z_lo, z_hi = np.maximum(z_lo, bl), np.minimum(z_hi, bh)
        # relaxation  s(z) = S z + mu +/- err  per row
        if t.kind == "binary":
            lam, mu, err = relax_sigmoid(z_lo, z_hi)  # (B, 1)
            S = lam[:, :, None]
            A = (Xa * lam).T @ Xa / B
        else:
            S, mu, err = relax_softmax(z_lo, z_hi)
            A = _kron_gram(Xa, S, B)
        resid = mu - Yb
        v = (Xa.T @ resid).ravel() / B
        v_abs = (absX.T @ (np.abs(mu) + np.abs(Yb))).ravel() / B
        err_gens, relax, err_round = self._relaxation_generators(Xa, err, eta)
        # poisoning excess over the clean gradient (per step), as an interval
        e_lo, e_hi, e_slack = self._excess(Xa, start_box, idx)
        if self.penalty.active:
            (excess,) = self.penalty.add_to(_theta_box(e_lo, e_hi, self.C), start_box, Xb, Yb, idx)
            e_lo = np.vstack([excess[0], excess[2][None, :]]).ravel()
            e_hi = np.vstack([excess[1], excess[3][None, :]]).ravel()
        # one affine step
        M = -eta * A
        M[np.diag_indices(P)] += decay

        def M_abs_dot(vec):
            """``(|M| + eta A_abs) vec`` with ``A_abs = 1/B sum_i (|x_i||x_i|^T) (x) |S_i|``."""
            T = np.abs(Xa) @ vec.reshape(self.d + 1, self.C)  # (B, C)
            T = np.einsum("bkc,bc->bk", np.abs(S), T)
            return np.abs(M) @ vec + eta * (np.abs(Xa).T @ T).ravel() / B

        e_c = 0.5 * (e_lo + e_hi)
        e_r = np.maximum(round_up(e_hi - e_c), round_up(e_c - e_lo))
        theta_abs = np.abs(self.centre) + np.abs(self.gens).sum(axis=1)
        if self.flips is not None:
            phi_u = np.abs(self.flips.phi) @ self.flips.u_abs
            theta_abs = theta_abs + phi_u
        new_centre = M @ self.centre - eta * (v + e_c)
        m = self.gens.shape[1]
        new_gens = self._map_generators(M, Xa, S, eta, decay)
        # Rounding (Higham (3.5), Lemma 3.1): A and v (sums of B terms, then / B) err by
        # gamma(B + 3) of A_abs, v_abs; M by U of |M| + eta A_abs more; (M* - M) theta is
        # then <= gamma(B + 4) M_abs |theta|; M c and M G (length P) by gamma(P) |M| |.|
        # (or, factorised, M G by gamma(d + C + B + 6) M_abs |G|, see _map_generators);
        # the centre's three additions by <= 3 U of their magnitudes. All below
        # gamma(B + P + m + 8) times the sum of the magnitude groups, counted twice over.
        g = gamma(B + P + m + 8)
        slack = (
            2
            * g
            * (
                M_abs_dot(theta_abs)
                + eta * (np.abs(v) + v_abs + np.abs(e_c) + e_r)
                + np.abs(new_centre)
                + np.abs(new_gens).sum(axis=1)
            )
            + TINY
        )
        if self.flips is not None:
            # Phi' = M Phi - eta I: its float error (gamma(P) |M| |Phi| and U |Phi'|) moves
            # Phi Delta s by at most that times |Delta s| <= u_abs
            self.flips.step(M, eta)
            slack += 2 * g * M_abs_dot(phi_u) + 2 * U * (np.abs(self.flips.phi) @ self.flips.u_abs)
        radius = eta * (e_r + relax + e_slack) + slack + err_round
        radius = radius * (1 + 4 * U) + TINY  # eta * (.) and the sums: a few roundings
        gens = np.hstack([new_gens, err_gens, np.diag(radius)])
        keep = np.any(gens != 0, axis=0)
        self.centre, self.gens = new_centre, _reduce(gens[:, keep], self.max_generators)

    def _relaxation_generators(self, Xa, err, eta):
        """The relaxation errors ``eta / B sum_i x_i (x) r_i`` (``|r_ic| <= err_ic``) as a set.

        Each row and class gives the generator ``eta err_ic / B x_i (x) e_c``: kept as a
        column for the ``n_error_generators`` largest (Girard's score, as in
        :func:`_reduce`), which keeps the direction of a row's error (a box per coordinate
        would let every row's worst case add up in every direction); the others as the
        per-coordinate bound ``sum_i |x_i| err_i / B`` (to be scaled by ``eta`` into the
        step's diagonal generator).

        Returns ``(gens, relax, rounding)``: the ``(P, m)`` columns, the per-coordinate
        bound of the rest, and a per-coordinate radius covering the columns' rounding.
        """
        B, d1 = Xa.shape
        C, P = self.C, self.P
        absX = np.abs(Xa)
        m = min(self.n_error_generators, B * C)
        rest = err
        gens = np.zeros((P, 0))
        rounding = np.zeros(P)
        if m > 0:
            score = (absX.sum(axis=1) - absX.max(axis=1))[:, None] * err  # (B, C)
            pick = np.argpartition(score.ravel(), B * C - m)[B * C - m :]
            pick = pick[score.ravel()[pick] > 0]
            rows, cls = np.divmod(pick, C)
            # eta err / B: two roundings, rounded up by 4 U relative
            scale = eta * err[rows, cls] / B * (1 + 4 * U)
            gens = np.zeros((d1, C, len(pick)))
            gens[:, cls, np.arange(len(pick))] = Xa[rows].T * scale
            gens = gens.reshape(P, -1)
            # x_ij eps (|eps| <= scale) is t g_j + t (x_ij scale - g_j), |t| <= 1, with
            # |x_ij scale - g_j| <= U |x_ij scale| <= 2 U |g_j| (one rounding of the product)
            rounding = 2 * U * np.abs(gens).sum(axis=1) * (1 + gamma(len(pick) + 1))
            rest = err.copy()
            rest[rows, cls] = 0.0
        # sums of B non-negative products and a division: relative gamma(B + 2)
        relax = (absX.T @ rest).ravel() / B * (1 + gamma(B + 2))
        return gens, relax, rounding

    def _map_generators(self, M, Xa, S, eta, decay):
        """``M G`` with ``M = decay I - eta A``, ``A = 1/B sum_i (x_i x_i^T) (x) S_i``.

        Dense (``P^2`` per column) or factorised as ``decay G - eta Xa^T (S (Xa G)) / B``
        (``B C (2 (d + 1) + C)`` per column), whichever is cheaper: small batches of
        softmax models with many parameters. The factorised product errs by at most
        ``gamma(d + C + B + 2) A_abs |G|`` (three products of lengths d + 1, C and B,
        and the division), the scaling and the subtraction by ``gamma(3)`` of
        ``decay |G| + eta A_abs |G|``:
        in all below ``gamma(d + C + B + 6) M_abs |G|`` (``decay <= |M_jj| + eta
        A_abs_jj``), which the step's slack covers (``d + C <= P + 1``).
        """
        B, d1 = Xa.shape
        C, P, m = self.C, self.P, self.gens.shape[1]
        # the trailing one-entry columns r e_p map to r M[:, p] (one rounding each)
        t, rows_1 = _trailing_single_entry(self.gens)
        tail = M[:, rows_1] * self.gens[rows_1, m - t + np.arange(t)][None, :]
        G = np.ascontiguousarray(self.gens[:, : m - t])
        m = G.shape[1]
        # per column: P^2 dense against B C (2 (d + 1) + C) factorised, whose per-row
        # C x C products run at about half BLAS speed (measured)
        if m == 0 or B * C * (2 * d1 + C) * (1 if C == 1 else 2) >= P * P:
            return np.hstack([M @ G, tail])
        Z = (Xa @ G.reshape(d1, C * m)).reshape(B, C, m)
        SZ = Z * S[:, :, 0][:, :, None] if C == 1 else np.einsum("bkc,bcm->bkm", S, Z)
        AG = (Xa.T @ SZ.reshape(B, C * m)).reshape(P, m) / B
        return np.hstack([decay * G - eta * AG, tail])

    def _excess(self, Xa, start_box, idx):
        """Per-coordinate bounds on the batch-mean poisoning excess (non-persistent threats)."""
        t = self.threat
        B, P = Xa.shape[0], self.P
        zero = np.zeros(P)
        kx, ky = t.kx, (0 if self._persistent else t.ky)
        if (kx == 0 and ky == 0) or B == 0:
            return zero, zero, zero
        absX = np.abs(Xa)  # (B, d+1)
        diffs, mag = {}, np.zeros((P, B))
        if ky > 0:
            lab_lo, lab_hi = _label_excess(Xa, t.label_sets, idx, self.C)  # (P, B)
            mag += np.maximum(-lab_lo, lab_hi)
        if kx > 0:
            W_lo, W_hi = start_box[0][0], start_box[0][1]
            T = np.maximum(np.abs(W_lo), np.abs(W_hi)).sum(axis=0)  # (C,)
            Lc = (0.25 * t.eps * T[0]) if self.C == 1 else (0.5 * t.eps * T.max())
            Lc = Lc * (1 + gamma(self.d + 4))
            dx = np.hstack([np.full((B, self.d), t.eps), np.zeros((B, 1))])
            mx = dx + absX * Lc  # (B, d+1): same for every class column
            mx = np.repeat(mx.T[:, None, :], self.C, axis=1).reshape(P, B)
            mag += mx
        if kx > 0 and not (t.paired and ky > 0):
            diffs["x"] = (-mx, mx.copy())
        if ky > 0 and not (t.paired and kx > 0):
            diffs["y"] = (np.minimum(lab_lo, 0.0), np.maximum(lab_hi, 0.0))
        if kx > 0 and ky > 0:
            diffs["xy"] = (np.minimum(lab_lo - mx, 0.0), np.maximum(lab_hi + mx, 0.0))
        terms = _variant_terms(kx, ky, t.paired)
        s_lo, s_hi = _combine_chunk({}, B, terms, None, None, diffs, (zero, zero))
        # the excess terms are computed with <= d + 8 roundings each, the joint term's
        # subtraction and the top-k sums add <= B + 4: gamma(B + d + 12) per magnitude,
        # at most 4 magnitudes (mag >= each term) per row
        e_slack = 4 * gamma(B + self.d + 12) * mag.sum(axis=1) / B
        return s_lo / B, s_hi / B, e_slack


def _trailing_single_entry(gens):
    """``(t, rows)``: the last ``t`` columns of ``gens`` have one non-zero each, in ``rows``."""
    nz = gens != 0
    single = nz.sum(axis=0) == 1
    t = len(single) - (np.flatnonzero(~single)[-1] + 1) if not single.all() else len(single)
    return t, np.argmax(nz[:, len(single) - t :], axis=0)


def _box_logits(box, Xb):
    _, zs = _interval_forward(box, Xb, Xb)
    return zs[-1]


def _label_excess(Xa, label_sets, idx, C):
    """Per-sample range of the gradient change ``x (y - y')`` over the allowed labels, (P, B)."""
    onehot, allowed = label_sets
    oh, al = onehot[idx], allowed[idx]
    B = Xa.shape[0]
    if C == 1:
        y = oh[:, 1].astype(np.float64)
        # y' in {0, 1} allowed: y - y' ranges over {y - c}; no change included
        lo_c = np.minimum(0.0, np.where(al[:, 1], y - 1, 0.0))
        hi_c = np.maximum(0.0, np.where(al[:, 0], y, 0.0))
        lo = np.minimum(Xa * lo_c[:, None], Xa * hi_c[:, None])
        hi = np.maximum(Xa * lo_c[:, None], Xa * hi_c[:, None])
        return lo.T, hi.T  # (d+1, B) = (P, B)
    has_alt = np.any(al & ~oh, axis=1)
    t_own = (oh & has_alt[:, None]).astype(np.float64)  # + x on the own class
    t_other = -(al & ~oh).astype(np.float64)  # - x on a flipped-to class
    # per sample, coordinate (j, c): {0, x_j t_own_c, x_j t_other_c}
    a = np.einsum("bj,bc->jcb", Xa, t_own)
    b = np.einsum("bj,bc->jcb", Xa, t_other)
    lo = np.minimum(np.minimum(a, b), 0.0).reshape(-1, B)
    hi = np.maximum(np.maximum(a, b), 0.0).reshape(-1, B)
    return lo, hi


def _kron_gram(Xa, S, B):
    """``A = 1/B sum_i (x_i x_i^T) (x) S_i``, ``(P, P)`` (one BLAS product over the rows)."""
    n, d1 = Xa.shape
    C = S.shape[1]
    # x_ij x_ij' is symmetric in (j, j'): one product per unordered pair, copied to both
    j, k = np.triu_indices(d1)
    R = (Xa[:, j] * Xa[:, k]).T @ S.reshape(n, C * C)  # (pairs, C C)
    A = np.empty((d1, d1, C * C))
    A[j, k] = R
    A[k, j] = R
    A = A.reshape(d1, d1, C, C).transpose(0, 2, 1, 3)
    P = d1 * C
    return A.reshape(P, P) / B


def _reduce(gens, max_generators):
    """Girard's order reduction: merge the flattest generators into a box (sound hull)."""
    P, m = gens.shape
    if m <= max_generators:
        return gens
    n_merge = m - max_generators + P
    score = np.abs(gens).sum(axis=0) - np.abs(gens).max(axis=0)
    order = np.argsort(score)
    merged, kept = order[:n_merge], order[n_merge:]
    # the box radii: sums of n_merge non-negative terms (Lemma 3.1)
    r = np.abs(gens[:, merged]).sum(axis=1) * (1 + gamma(n_merge + 1)) + TINY
    box = np.diag(r)[:, r > 0]
    return np.hstack([gens[:, kept], box])
