"""Label-flip attacks on binary kernel SVMs: ALFA, greedy LFA and the one-shot FLORAL attack.

Every attack takes inputs ``X``, labels ``y`` in ±1 and a budget ``k`` (a number of
flips), trains an RBF-kernel surrogate :class:`~sklearn.svm.SVC` and returns the sorted
indices of the ``k`` labels to flip. The samplers :class:`sklpoison.ALFALabelFlipper`,
:class:`sklpoison.LFALabelFlipper` and :class:`sklpoison.FloralLabelFlipper` apply them.

What they cost, with ``n`` rows of ``d`` features (one libsvm fit of an RBF SVM is
``O(n^2 d)`` kernel evaluations to ``O(n^3)``, by the number of support vectors):

- ``floral_flips``: one SVM fit; seconds at ``n`` in the thousands.
- ``alfa_flips``: one SVM fit on the clean labels, then up to ``max_iter`` alternations
  of an LP over ``2n`` variables and an SVM fit on ``2n`` weighted rows.
- ``lfa_flips``: ``k * n_candidates`` SVM fits (``k = poison_rate * n``), so
  ``O(poison_rate * n_candidates * n^3)``: the slowest by far (minutes on the 1,797
  digits, 370 s measured for ``poison_rate=0.05``, ``n_candidates=20``).

Each shows its progress (a bar over the alternations or flips, a line per stage) at
``verbose >= 1``, through :mod:`sklpoison.utils._progress`.
"""

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
from sklearn.svm import SVC
from sklearn.utils import check_random_state

from ..utils._progress import progress, stage

__all__ = ["alfa_flips", "lfa_flips", "floral_flips"]


def _hinge(margin):
    return np.maximum(0.0, 1.0 - margin)


class _AlfaLP:
    """The ALFA linear program, built once (sparse constraints) and re-solved per cost.

    Over the doubled training set (each point once with its label and once flipped),
    ``min_q sum_j q_j (xi_j - psi_j)`` s.t. ``q_i + q_{n+i} = 1``, ``sum_i q_{n+i} <= k``
    and ``0 <= q <= 1``, solved by HiGHS through :func:`scipy.optimize.linprog` (a vertex
    solution; scipy's HiGHS prints nothing).
    """

    def __init__(self, n, k):
        eye = sparse.identity(n, format="csr")
        self.A_eq = sparse.hstack([eye, eye], format="csr")
        self.b_eq = np.ones(n)
        self.A_ub = sparse.csr_matrix(np.concatenate([np.zeros(n), np.ones(n)])[None, :])
        self.b_ub = np.array([float(k)])

    def __call__(self, cost):
        res = linprog(
            cost,
            A_ub=self.A_ub,
            b_ub=self.b_ub,
            A_eq=self.A_eq,
            b_eq=self.b_eq,
            bounds=(0.0, 1.0),
            method="highs",
        )
        if res.status != 0:
            raise RuntimeError(f"The ALFA linear program failed: {res.message}")
        return np.asarray(res.x, dtype=float)


def alfa_flips(X, y, k, *, C=1.0, gamma=1.0, max_iter=10, verbose=0):
    """ALFA, the adversarial label-flip attack of Xiao, Xiao and Eckert (2012).

    The attacker looks for the flips whose tainted SVM ``f`` disagrees most with the
    clean SVM ``f_S``. Over the doubled set ``U = {(x_i, y_i)} ∪ {(x_i, -y_i)}`` with
    hinge losses ``psi_j`` of ``f_S`` and ``xi_j`` of ``f``, it alternates

    1. the LP ``min_q sum_j q_j (xi_j - psi_j)`` over ``0 <= q <= 1``, ``q_i + q_{n+i}
       = 1``, ``sum_i q_{n+i} <= k`` (solved by scipy's HiGHS), and
    2. the QP: the SVM on ``U`` with sample weights ``q`` (solved with libsvm),

    starting from ``xi = 0``. The flips are the ``k`` largest ``q_{n+i}`` (the LP's
    optimum is integral: its constraint matrix is totally unimodular).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
        Labels in ±1.
    k : int
        Number of flips.
    C, gamma : float
        The RBF SVM of the attacker.
    max_iter : int
        Number of LP/QP alternations.
    verbose : int, default=0
        Show a progress bar over the alternations when positive.

    Notes
    -----
    Cost: one SVM fit on ``n`` rows, then up to ``max_iter`` alternations, each an LP
    over ``2n`` variables and an SVM fit on up to ``2n`` weighted rows (``O(n^2 d)`` to
    ``O(n^3)`` each).

    Returns
    -------
    flips : ndarray of int of shape (k,)
        Sorted indices of the labels to flip.
    """
    n = y.shape[0]
    if k == 0:
        return np.array([], dtype=np.intp)
    who = "ALFA"
    start = stage(verbose, who, f"fitting the clean SVM (n={n}, d={X.shape[1]}), then {k} flips")
    svc = SVC(C=C, gamma=gamma).fit(X, y)
    f_s = svc.decision_function(X)
    y2 = np.concatenate([y, -y])
    X2 = np.concatenate([X, X])
    psi = _hinge(y2 * np.concatenate([f_s, f_s]))
    xi = np.zeros(2 * n)
    lp = _AlfaLP(n, k)
    q = None
    for _ in progress(range(max_iter), verbose, desc="ALFA alternations", unit="LP+SVM"):
        q_new = lp(xi - psi)
        if q is not None and np.allclose(q_new, q, atol=1e-9):
            break
        q = q_new
        keep = q > 1e-9
        f = SVC(C=C, gamma=gamma).fit(X2[keep], y2[keep], sample_weight=q[keep])
        xi = _hinge(y2 * f.decision_function(X2))
    q_flip = q[n:]
    # largest q first, ties by the LP cost difference (most profitable flips first)
    gain = (xi[n:] - psi[n:]) - (xi[:n] - psi[:n])
    order = np.lexsort((gain, -q_flip))
    stage(verbose, who, f"done: {k} flips", start=start)
    return np.sort(order[:k])


def lfa_flips(
    X,
    y,
    k,
    *,
    C=1.0,
    gamma=1.0,
    n_candidates=20,
    X_val=None,
    y_val=None,
    random_state=None,
    verbose=0,
):
    """Greedy label-flip attack (LFA) maximising the validation error of an SVM.

    ``k`` greedy steps; each tries ``n_candidates`` not yet flipped points drawn at
    random (all of them when fewer remain), retrains the RBF SVM with each candidate's
    label flipped in addition to the flips so far, and keeps the flip that maximises the
    error on the validation set (ties broken by the larger mean hinge loss there). The
    validation set defaults to the training set with its clean labels.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
        Labels in ±1.
    k : int
        Number of flips.
    C, gamma : float
        The RBF SVM of the attacker.
    n_candidates : int
        Candidates tried per greedy step (``k * n_candidates`` SVM fits in all).
    X_val, y_val : ndarray or None
        Validation set of the attacker (labels in ±1).
    random_state : int, RandomState instance or None
        Draws the candidates.
    verbose : int, default=0
        Show a progress bar over the ``k`` greedy flips when positive, with the
        validation error reached so far.

    Notes
    -----
    Cost: ``k * n_candidates`` SVM fits on ``n`` rows (``O(n^2 d)`` to ``O(n^3)``
    each), plus as many decision functions on the validation set.

    Returns
    -------
    flips : ndarray of int of shape (k,)
        Sorted indices of the labels to flip.
    """
    rng = check_random_state(random_state)
    n = y.shape[0]
    y_cur = y.copy()
    flipped = np.zeros(n, dtype=bool)
    if X_val is None:
        X_val, y_val = X, y

    def score(y_train):
        if np.unique(y_train).size < 2:
            return (1.0, np.inf)
        f = SVC(C=C, gamma=gamma).fit(X, y_train).decision_function(X_val)
        margin = y_val * f
        return (float(np.mean(margin <= 0)), float(np.mean(_hinge(margin))))

    stage(
        verbose,
        "LFA",
        f"{k} greedy flips x {min(n_candidates, n)} candidates = up to "
        f"{k * min(n_candidates, n)} SVM fits on n={n} rows (d={X.shape[1]})",
    )
    steps = progress(range(k), verbose, desc="LFA flips", unit="flip")
    for _ in steps:
        pool = np.flatnonzero(~flipped)
        if pool.size > n_candidates:
            pool = rng.choice(pool, size=n_candidates, replace=False)
        best, best_score = None, None
        for i in pool:
            y_try = y_cur.copy()
            y_try[i] = -y_try[i]
            s = score(y_try)
            if best_score is None or s > best_score:
                best, best_score = i, s
        y_cur[best] = -y_cur[best]
        flipped[best] = True
        if verbose:
            steps.set_postfix(validation_error=f"{best_score[0]:.3f}")
    return np.flatnonzero(flipped)


def floral_flips(X, y, k, *, C=1.0, gamma=1.0, candidate_factor=2.0, random_state=None, verbose=0):
    """The FLORAL attacker as a one-shot attack: flip ``k`` of the top support vectors.

    Trains the RBF SVM on the clean labels, ranks the points by dual variable (largest
    first; points that are not support vectors come last, closest to the boundary first),
    and flips ``k`` points drawn at random among the top ``B = ceil(candidate_factor *
    k)``, as the attacker of :class:`sklpoison.FloralSVC` does in each round.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
        Labels in ±1.
    k : int
        Number of flips.
    C, gamma : float
        The RBF SVM of the attacker.
    candidate_factor : float
        ``B / k``.
    random_state : int, RandomState instance or None
        Draws the flips among the candidates.
    verbose : int, default=0
        Print a line per stage (the SVM fit, the flips) when positive.

    Notes
    -----
    Cost: one SVM fit on ``n`` rows (``O(n^2 d)`` to ``O(n^3)``) and a sort.

    Returns
    -------
    flips : ndarray of int of shape (k,)
        Sorted indices of the labels to flip.
    """
    rng = check_random_state(random_state)
    n = y.shape[0]
    if k == 0:
        return np.array([], dtype=np.intp)
    start = stage(verbose, "FLORAL flips", f"fitting the clean SVM (n={n}, d={X.shape[1]})")
    svc = SVC(C=C, gamma=gamma).fit(X, y)
    stage(verbose, "FLORAL flips", f"flipping {k} of the top support vectors", start=start)
    lam = np.zeros(n)
    lam[svc.support_] = np.abs(svc.dual_coef_[0])
    dist = np.abs(svc.decision_function(X))
    order = np.lexsort((rng.random_sample(n), dist, -lam))
    B = min(n, max(k, int(np.ceil(candidate_factor * k))))
    return np.sort(rng.choice(order[:B], size=k, replace=False))
