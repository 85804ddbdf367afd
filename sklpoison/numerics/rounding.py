"""Floating-point rounding: unit roundoff, error constants and outward rounding.

Every slack in the certificate code (:mod:`sklpoison.numerics.interval` and
:mod:`sklpoison.certification`) is built from the constants here, with a
one-line derivation next to it. The model of arithmetic is the standard one
(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., 2002,
section 2.2): in float64 with round-to-nearest, every basic operation
``op in {+, -, *, /, sqrt}`` satisfies

    fl(a op b) = (a op b)(1 + delta),    |delta| <= U = 2**-53,

in the normal range; gradual underflow adds an absolute error of at most
``2**-1075`` per operation, which the absolute terms ``k * TINY`` (``TINY`` =
``2**-1022``, the smallest normal number) cover for any ``k`` operations.

Lemma 3.1 of Higham: a product of ``n`` factors ``(1 + delta_i)^{+-1}`` is
``1 + theta_n`` with ``|theta_n| <= gamma(n) = n U / (1 - n U)``. Consequences
used throughout:

* a dot product of length ``n``, evaluated in any order (BLAS included),
  satisfies ``|fl(x.y) - x.y| <= gamma(n) |x|.|y|`` (Higham eq. (3.5));
  matrix products entrywise likewise;
* a sum of ``n`` non-negative terms (or products of non-negative factors
  with ``k`` roundings on the longest chain) is exact up to a relative
  ``gamma(n - 1 + k)``.

Library functions (``exp``, ``log``, ``log1p``) are not correctly rounded;
we assume, as glibc documents for its double-precision ``exp``/``log``, an
error below a few ulp, and widen their results by a relative ``ELEM_REL = 8 U``
(at least 4 ulp) plus ``TINY``.

A single correctly rounded operation has its exact result between the two
float neighbours of the computed value: :func:`round_down` / :func:`round_up`
(one :func:`numpy.nextafter` step) give sound directed bounds without any
magnitude-dependent constant, also for subnormal results.
"""

import numpy as np

__all__ = ["U", "TINY", "ELEM_REL", "gamma", "outward", "round_down", "round_up"]

U = float(np.finfo(np.float64).eps) / 2  # unit roundoff 2**-53 (Higham, Table 2.1)
TINY = float(np.finfo(np.float64).tiny)  # 2**-1022 >= any underflow error of one operation
ELEM_REL = 8 * U  # relative widening of libm results (exp, log1p: a few ulp, see module notes)


def gamma(n):
    """Higham's ``gamma_n = n U / (1 - n U)`` (Lemma 3.1).

    Parameters
    ----------
    n : int or float
        Number of roundings on the longest chain (e.g. the length of a dot product).

    Returns
    -------
    float
        The bound on ``|theta_n|``.
    """
    nu = n * U
    if nu >= 1:  # pragma: no cover - would need 2**53 operations
        raise ValueError(f"gamma({n}) is undefined: n * U >= 1 (too many roundings).")
    return nu / (1 - nu)


def outward(lo, hi, rel=ELEM_REL, abs_=TINY):
    """Widen an interval outward by (at least ``1 - gamma(2)`` times) ``rel * |x| + abs_``.

    The widening ``s = rel |x| + abs_`` is a sum of non-negative terms with two
    roundings (Lemma 3.1: at least ``(1 - gamma(2))`` times its exact value), and
    the subtraction ``lo - s`` rounds once: one :func:`round_down` step makes it
    a lower bound on the exact ``lo - s`` (:func:`round_up` for ``hi + s``). A
    caller whose end points carry a relative error ``r`` passes ``rel`` somewhat
    above ``r`` (e.g. ``2 U`` after one rounded operation).

    Parameters
    ----------
    lo, hi : array-like
        Interval end points.
    rel : float, default=8 * 2**-53
        Relative widening.
    abs_ : float, default=2**-1022
        Absolute widening (covers underflow).

    Returns
    -------
    lo, hi : ndarray
        New arrays with ``lo' <= lo - (1 - gamma(2)) (rel |lo| + abs_)`` and
        symmetrically for ``hi'``.
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    return (
        np.nextafter(lo - (rel * np.abs(lo) + abs_), -np.inf),
        np.nextafter(hi + (rel * np.abs(hi) + abs_), np.inf),
    )


def round_down(x):
    """The next float below ``x``: a lower bound on the exact result of one rounded operation.

    If ``x = fl(a op b)`` for one correctly rounded operation, the exact value
    lies between the float neighbours of ``x`` (round-to-nearest never skips a
    float), so ``round_down(x) <= a op b``. Infinities and NaN are left as they are.

    Parameters
    ----------
    x : array-like
        Floating-point results.

    Returns
    -------
    bound : ndarray of float64
        The neighbouring floats, elementwise.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.isfinite(x), np.nextafter(x, -np.inf), x)


def round_up(x):
    """The next float above ``x``: an upper bound on the exact result of one rounded operation.

    Infinities and NaN are left as they are.

    Parameters
    ----------
    x : array-like
        Floating-point results.

    Returns
    -------
    bound : ndarray of float64
        The neighbouring floats, elementwise.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.isfinite(x), np.nextafter(x, np.inf), x)
