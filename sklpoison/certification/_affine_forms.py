"""Affine forms over the network zonotope's symbols, and their sound operations.

An affine form ``c + E e + F s + [-r, r]`` describes an array over the generator symbols
``e`` and the persistent flip symbols ``s`` of :mod:`._zonotope_mlp`; this module holds
the form and what the network zonotope computes with it: sums, products with constants
and with other forms (linear part plus the range of the quadratic remainder), ReLU
(DeepZ), the ReLU derivative step and the output layer's derivative. Every operation
accounts for its rounding (:mod:`sklpoison.numerics.rounding`).
"""

import numpy as np

from ..numerics import interval as ia
from ..numerics.rounding import TINY, gamma, round_down, round_up
from ._threat import _topk_last
from ._zonotope import relax_sigmoid, relax_softmax


# --------------------------------------------------------------------------
# affine forms over (e, s)
# --------------------------------------------------------------------------
class _Form:
    """Affine forms ``c + E e + F s + [-r, r]`` of an array of shape ``S``.

    ``c`` and ``r`` have shape ``S``, ``E`` ``S + (m,)`` (``e`` in ``[-1, 1]^m``),
    ``F`` ``S + (n, A)`` or ``None`` (no flip symbols); ``r >= 0``.
    """

    __slots__ = ("c", "E", "F", "r", "_dev", "_mag")

    def __init__(self, c, E, F, r):
        self.c, self.E, self.F, self.r = c, E, F, r
        self._dev = self._mag = None  # computed once (the arrays are never modified)

    @property
    def T(self):
        """Transpose of a 2-d array of forms."""
        F = None if self.F is None else self.F.transpose(1, 0, 2, 3)
        out = _Form(self.c.T, self.E.transpose(1, 0, 2), F, self.r.T)
        if self._dev is not None:
            out._dev = (self._dev[0], (self._dev[1][0].T, self._dev[1][1].T))
        if self._mag is not None:
            out._mag = self._mag.T
        return out

    def expand(self, axis):
        """A new axis of length 1 at ``axis`` (of the shape ``S``; axis >= 0)."""
        F = None if self.F is None else np.expand_dims(self.F, axis)
        return _Form(
            np.expand_dims(self.c, axis),
            np.expand_dims(self.E, axis),
            F,
            np.expand_dims(self.r, axis),
        )

    def mag(self):
        """Upper bound on ``|c| + sum|E| + sum|F| + r`` (the magnitude of every term)."""
        if self._mag is None:
            m = np.abs(self.c) + np.abs(self.E).sum(axis=-1) + self.r
            if self.F is not None:
                m = m + np.abs(self.F).sum(axis=(-2, -1))
            self._mag = m * (1 + gamma(self.E.shape[-1] + _n_flip(self.F) + 3))
        return self._mag


def _n_flip(F):
    return 0 if F is None else F.shape[-2] * F.shape[-1]


def _rad(*terms, n=0):
    """Rounded-up sum of non-negative radius terms (Lemma 3.1: relative gamma)."""
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total * (1 + gamma(len(terms) + n + 1)) + TINY


def flip_range(F, k):
    """Range ``(lo, hi)`` of ``F s`` over ``s`` in ``{0, 1}^(n x A)``, one per row, ``k`` rows.

    Exact sorted sums: the ``k`` largest per-row maxima (clamped at 0: a row need
    not be flipped) and the ``k`` smallest minima; the sums of ``k`` same-signed
    terms are rounded outward by ``gamma(k + 1)``.
    """
    if F is None or k == 0:
        z = np.zeros(F.shape[:-2]) if F is not None else 0.0
        return z, z
    # maxima over the (few) alternatives as elementwise maxima: a reduction over a short
    # last axis is slow
    pos, neg = np.maximum(F[..., 0], 0.0), np.minimum(F[..., 0], 0.0)
    for a in range(1, F.shape[-1]):
        np.maximum(pos, F[..., a], out=pos)
        np.minimum(neg, F[..., a], out=neg)
    g = gamma(k + 1)
    hi = _topk_last(pos, k, largest=True, overwrite=True)
    lo = _topk_last(neg, k, largest=False, overwrite=True)
    return lo * (1 + g) - TINY, hi * (1 + g) + TINY


def dev_range(f, k):
    """Range ``(lo, hi)`` of ``E e + F s + [-r, r]`` (the deviation from the centre)."""
    if f._dev is None or f._dev[0] != k:
        f._dev = (k, _dev_range(f, k))
    return f._dev[1]


def _dev_range(f, k):
    er = np.abs(f.E).sum(axis=-1)
    flo, fhi = flip_range(f.F, k)
    g = gamma(f.E.shape[-1] + 4)
    slack = g * (er + f.r + np.abs(flo) + np.abs(fhi)) + TINY
    return flo - er - f.r - slack, fhi + er + f.r + slack


def form_bounds(f, k, dev=None):
    """Interval ``(lo, hi)`` of the forms ``f`` (``dev``: a sound deviation range to use)."""
    lo, hi = dev_range(f, k) if dev is None else dev
    return round_down(f.c + lo), round_up(f.c + hi)


def _intersect_dev(dev, c, lo, hi):
    """Deviation range ``dev`` intersected with ``[lo - c, hi - c]`` (``lo, hi`` sound bounds)."""
    return np.maximum(dev[0], round_down(lo - c)), np.minimum(dev[1], round_up(hi - c))


# --------------------------------------------------------------------------
# operations on forms (each rounded outward into r)
# --------------------------------------------------------------------------
def const_matmul(X, f):
    """``X @ f`` for a constant matrix ``X`` (N, K) and forms ``f`` (K, C)."""
    K = X.shape[1]
    c = X @ f.c
    E = np.einsum("nk,kcm->ncm", X, f.E)
    F = None if f.F is None else np.einsum("nk,kcia->ncia", X, f.F)
    aX = np.abs(X)
    # Higham (3.5): every entry of c, E, F errs by <= gamma(K) |X| |.|, so the value by
    # <= gamma(K) |X| mag(f) (|e| <= 1, s in {0, 1}); the radius |X| r by gamma(K) more
    r = _rad(aX @ f.r, 2 * gamma(K + 2) * (aX @ f.mag()), n=K)
    return _Form(c, E, F, r)


def add(f, g):
    """Elementwise ``f + g`` (broadcasting ``g`` over the leading axes of ``f``)."""
    F = f.F if g.F is None else (g.F if f.F is None else f.F + g.F)
    # one rounding per entry
    r = _rad(f.r, g.r, 2 * gamma(1) * (f.mag() + g.mag()))
    return _Form(f.c + g.c, f.E + g.E, F, r)


def shift(f, y):
    """``f - y`` for a constant array ``y``."""
    c = f.c - y
    return _Form(c, f.E, f.F, _rad(f.r, 2 * gamma(1) * (np.abs(f.c) + np.abs(y))))


def scale(f, lam, mu=0.0, beta=0.0):
    """``lam f + mu +/- beta`` elementwise (``lam >= 0``-free: any float arrays)."""
    lam = np.asarray(lam, dtype=np.float64)
    c = lam * f.c + mu
    E = lam[..., None] * f.E
    F = None if f.F is None else lam[..., None, None] * f.F
    al = np.abs(lam)
    r = _rad(al * f.r, beta, 2 * gamma(3) * (al * f.mag() + np.abs(mu)))
    return _Form(c, E, F, r)


def form_matmul(a, b, k, a_dev=None, b_dev=None):
    """``a @ b`` for forms ``a`` (N, K) and ``b`` (K, C): linear part plus quadratic remainder.

    ``a b = a_c b_c + a_c (b - b_c) + (a - a_c) b_c + (a - a_c)(b - b_c)``: the middle
    terms are affine (their ``r`` parts go to the radius), the last is bounded by the
    interval product of the deviation ranges (``a_dev``, ``b_dev``: sound, possibly
    tighter ranges), summed over ``K``; its midpoint moves the centre.
    """
    K = a.c.shape[1]
    a_dev = dev_range(a, k) if a_dev is None else a_dev
    b_dev = dev_range(b, k) if b_dev is None else b_dev
    c = a.c @ b.c
    E = np.einsum("nk,kcm->ncm", a.c, b.E) + np.einsum("nkm,kc->ncm", a.E, b.c)
    F = None
    if b.F is not None:
        F = np.einsum("nk,kcia->ncia", a.c, b.F)
    if a.F is not None:
        Fa = np.einsum("nkia,kc->ncia", a.F, b.c)
        F = Fa if F is None else F + Fa
    lo, hi = ia.interval_mul(
        a_dev[0][:, :, None], a_dev[1][:, :, None], b_dev[0][None], b_dev[1][None]
    )
    q_lo, q_hi = lo.sum(axis=1), hi.sum(axis=1)
    q_c = 0.5 * (q_lo + q_hi)
    q_r = np.maximum(round_up(q_hi - q_c), round_up(q_c - q_lo))
    aa, ab = np.abs(a.c), np.abs(b.c)
    amax = np.maximum(np.abs(a_dev[0]), np.abs(a_dev[1]))
    bmax = np.maximum(np.abs(b_dev[0]), np.abs(b_dev[1]))
    # c, E, F: sums of <= 2K products (Higham (3.5)): <= gamma(2K) |a_c| mag(b) + mag(a) |b_c|
    # over all symbols; q: K rounded corner sums (<= gamma(K + 2) amax bmax), q_c one more
    mag = aa @ b.mag() + a.mag() @ ab + amax @ bmax
    r = _rad(aa @ b.r, a.r @ ab, q_r, 2 * gamma(2 * K + 6) * mag, n=K)
    return _Form(c + q_c, E, F, r)


def form_mul(a, b, k):
    """Elementwise ``a * b`` of two forms (broadcasting), as :func:`form_matmul` with ``K = 1``."""
    a_lo, a_hi = dev_range(a, k)
    b_lo, b_hi = dev_range(b, k)
    c = a.c * b.c
    E = a.c[..., None] * b.E + b.c[..., None] * a.E
    F = None
    if b.F is not None:
        F = a.c[..., None, None] * b.F
    if a.F is not None:
        Fa = b.c[..., None, None] * a.F
        F = Fa if F is None else F + Fa
    q_lo, q_hi = ia.interval_mul(a_lo, a_hi, b_lo, b_hi)
    q_c = 0.5 * (q_lo + q_hi)
    q_r = np.maximum(round_up(q_hi - q_c), round_up(q_c - q_lo))
    aa, ab = np.abs(a.c), np.abs(b.c)
    amax = np.maximum(np.abs(a_lo), np.abs(a_hi))
    bmax = np.maximum(np.abs(b_lo), np.abs(b_hi))
    # two products and a sum per entry of E, F; the centre's product and q's shift
    mag = aa * b.mag() + a.mag() * ab + amax * bmax
    r = _rad(aa * b.r, a.r * ab, q_r, 2 * gamma(8) * mag)
    return _Form(c + q_c, E, F, r)


def relu(z, lo, hi):
    """DeepZ ReLU on the forms ``z`` with the sound range ``[lo, hi]`` of every entry.

    For ``lo < 0 < hi`` and any ``lam`` in ``[0, 1]``, ``relu(z) - lam z`` lies in
    ``[0, max(-lam lo, (1 - lam) hi)]``; ``lam = hi / (hi - lo)`` (the float value) and
    the maximum rounded up. ``lo >= 0``: the identity; ``hi <= 0``: zero.
    """
    cross = (lo < 0) & (hi > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = np.where(cross, hi / (hi - lo), (lo >= 0).astype(np.float64))
    lam = np.clip(np.nan_to_num(lam, nan=1.0), 0.0, 1.0)
    t1 = round_up(-(lam * lo))
    t2 = round_up(round_up(1.0 - lam) * hi)
    T = np.where(cross, np.maximum(t1, t2), 0.0)
    half = 0.5 * T
    # c + T/2 rounds once more than scale()'s product (covered by its gamma(3))
    return scale(z, lam, half, half)


def step01(t, lo, hi, k):
    """``t * 1(z > 0)`` for forms ``t`` and the range ``[lo, hi]`` of ``z`` (ReLU derivative).

    ``lo > 0``: ``t``; ``hi <= 0``: 0; otherwise the value is 0 or ``t``, both within
    ``t / 2 +/- max|t| / 2``.
    """
    on = lo > 0
    cross = (~on) & (hi > 0)
    lam = np.where(on, 1.0, np.where(cross, 0.5, 0.0))
    t_lo, t_hi = form_bounds(t, k)
    beta = np.where(cross, 0.5 * np.maximum(np.abs(t_lo), np.abs(t_hi)), 0.0)
    return scale(t, lam, 0.0, beta)


def sum_rows(f):
    """Sum of the forms over the first axis."""
    N = f.c.shape[0]
    F = None if f.F is None else f.F.sum(axis=0)
    r = _rad(f.r.sum(axis=0), 2 * gamma(N + 1) * f.mag().sum(axis=0), n=N)
    return _Form(f.c.sum(axis=0), f.E.sum(axis=0), F, r)


def output_derivative(z, lo, hi, Y, kind):
    """Forms of the loss derivative ``p(z) - Y`` (sigmoid or softmax relaxation)."""
    if kind == "binary":
        lam, mu, beta = relax_sigmoid(lo, hi)
        return shift(scale(z, lam, mu, beta), Y)
    J0, mu, err = relax_softmax(lo, hi)
    C = J0.shape[1]
    c = np.einsum("nkc,nc->nk", J0, z.c) + mu
    E = np.einsum("nkc,ncm->nkm", J0, z.E)
    F = None if z.F is None else np.einsum("nkc,ncia->nkia", J0, z.F)
    aJ = np.abs(J0)
    mag = np.einsum("nkc,nc->nk", aJ, z.mag()) + np.abs(mu)
    r = _rad(np.einsum("nkc,nc->nk", aJ, z.r), err, 2 * gamma(C + 3) * mag, n=C)
    return shift(_Form(c, E, F, r), Y)
