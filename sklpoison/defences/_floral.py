"""FLORAL: adversarial training of kernel SVMs against label poisoning (Bal et al., ICLR 2025)."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ..utils._memory import explain_memory_error
from ..utils._progress import progress, stage
from ..utils.validation import (
    check_finite_result,
    check_known_labels,
    check_n_classes,
    encode_pm1,
    fraction_to_count,
)

# dual variables above this value count as support vectors (the authors' threshold)
_SV_TOL = 1e-5


# ---------------------------------------------------------------------------
# projection onto S(y) = {0 <= lam <= C, y^T lam = 0}
# ---------------------------------------------------------------------------
def _project_fixed_point(z, y, C, *, mu0=0.0, tol=1e-13, max_iter=1000):
    """Euclidean projection of ``z`` onto ``{0 <= lam <= C, y @ lam = 0}``, ``y`` in ±1.

    The projection is ``clip(z - mu * y, 0, C)`` where the multiplier ``mu`` of the
    equality constraint is the root of the non-increasing, piecewise-linear function
    ``g(mu) = y @ clip(z - mu * y, 0, C)``. The authors' fixed-point iteration (their
    Algorithm 2) updates ``mu <- (C * sum_{I_C} y_i + sum_{I_X} z_i y_i) / |I_X|`` with
    ``I_C = {a_i >= C}`` and ``I_X = {0 < a_i < C}`` for ``a = z - mu * y``: this is
    Newton's step on ``g``, exact as soon as the active sets are right. We keep a bracket
    ``g(lo) >= 0 >= g(hi)`` and fall back to bisection whenever the fixed-point step
    leaves it (or ``I_X`` is empty), so the iteration always converges (the authors damp
    the step by 1/2 instead, which converges more slowly to the same point).

    Returns
    -------
    lam : ndarray
        The projection.
    mu : float
        The multiplier (a good warm start for the next call).
    """
    yz = y * z
    lo = float(yz.min()) - C
    hi = float(yz.max()) + C
    mu = float(np.clip(mu0, lo, hi))
    for _ in range(max_iter):
        a = z - mu * y
        free = (a > 0) & (a < C)
        g = C * y[a >= C].sum() + (yz[free] - mu).sum()
        if g > 0:
            lo = mu
        elif g < 0:
            hi = mu
        else:
            break
        n_free = int(free.sum())
        mu_new = mu + g / n_free if n_free else 0.5 * (lo + hi)
        if not lo < mu_new < hi:
            mu_new = 0.5 * (lo + hi)
        if abs(mu_new - mu) <= tol * (1.0 + abs(mu)) or hi - lo <= tol * (1.0 + abs(mu)):
            mu = mu_new
            break
        mu = mu_new
    return np.clip(z - mu * y, 0.0, C), mu


class _ExactProjector:
    """The projection QP solved by cvxpy, built once with Parameters (DPP) and re-solved."""

    def __init__(self, n, C):
        from ..utils._optional import import_cvxpy

        cp = import_cvxpy("FloralSVC(projection='exact')")

        self._cp = cp
        self.lam = cp.Variable(n)
        self.z = cp.Parameter(n)
        self.y = cp.Parameter(n)
        self.problem = cp.Problem(
            cp.Minimize(cp.sum_squares(self.lam - self.z)),
            [self.lam >= 0, self.lam <= C, self.y @ self.lam == 0],
        )
        if not self.problem.is_dcp(dpp=True):  # pragma: no cover - guards the formulation
            raise RuntimeError(
                "internal error: FLORAL's projection QP is not DPP, so cvxpy would rebuild "
                "it on every solve; please report this with your cvxpy version"
            )

    def __call__(self, z, y, C, *, mu0=0.0):
        cp = self._cp
        self.z.value = np.asarray(z, dtype=float)
        self.y.value = np.asarray(y, dtype=float)
        # tight tolerances first; Clarabel can fail to reach them numerically (tiny steps)
        for tol in (1e-12, 1e-10, 1e-8):
            try:
                self.problem.solve(
                    solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol
                )
                break
            except cp.error.SolverError:
                continue
        else:  # pragma: no cover
            raise RuntimeError(
                "The exact projection QP could not be solved by Clarabel; use "
                "projection='fixed_point'."
            )
        if self.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise RuntimeError(
                f"The exact projection QP failed with status {self.problem.status!r}; use "
                f"projection='fixed_point'."
            )
        lam = np.clip(np.asarray(self.lam.value, dtype=float), 0.0, C)
        mu = float(-self.problem.constraints[2].dual_value) if C > 0 else 0.0
        return lam, mu


def _n_flips(poison_rate, n, name="FloralSVC"):
    """Flips per round, ``round(poison_rate * n)``; never clamp.

    A rate that lets the attacker flip half of the labels or more every round is legal but
    degenerate (the game then trains on mostly inverted labels) and gets a warning.
    """
    k = fraction_to_count(poison_rate, n, name="poison_rate", who=name, noun="flips")
    if n > 0 and 2 * k >= n:
        warnings.warn(
            f"{name}: poison_rate={poison_rate!r} lets the attacker flip k={k} of the {n} training "
            "labels every round (at least half): the model then fits mostly flipped labels and "
            "its accuracy collapses. The paper uses 5-25%.",
            UserWarning,
            stacklevel=3,
        )
    return k


def _largest_eigenvalue(K):
    """Largest eigenvalue of the symmetric positive semi-definite kernel matrix ``K``.

    ARPACK's Lanczos iteration (:func:`scipy.sparse.linalg.eigsh`) started from the
    all-ones vector (close to the Perron vector of a kernel matrix with positive entries):
    a few dozen matrix-vector products instead of a dense eigendecomposition.
    """
    n = K.shape[0]
    if n <= 2:
        return float(np.linalg.eigvalsh(K)[-1])
    from scipy.sparse.linalg import eigsh

    v0 = np.full(n, 1.0 / np.sqrt(n))
    return float(eigsh(K, k=1, which="LA", v0=v0, tol=1e-8, return_eigenvectors=False)[0])


def _floral_rounds(
    K, y, *, C, lr, n_rounds, k, B, project, rng, lam0, average_from=None, monitor=None, verbose=0
):
    """The FLORAL game; ``y`` in ±1.

    Returns ``(lam, y_adv, flip_counts, alpha_avg, n_done)``.

    Round 0 is a gradient step on the clean labels (the warm-up). Every later round the
    attacker takes the ``B`` support vectors with the largest dual variables, flips ``k``
    of them drawn at random (fresh from the clean labels), and the model takes a projected
    gradient step ``lam <- P(lam - lr (Q lam - 1))`` with ``Q = (y_adv y_adv^T) ∘ K``.
    With ``average_from`` set, ``alpha_avg`` is the mean of the expansion coefficients
    ``lam * y_adv`` over the rounds ``t >= average_from`` (else ``None``). ``monitor(t,
    lam, y_adv)``, when given, is called after every round and stops the game by
    returning ``True``; ``n_done`` is the number of rounds played.
    """
    n = y.shape[0]
    lam = lam0.copy()
    y_adv = y.copy()
    flip_counts = np.zeros(n, dtype=np.intp)
    mu = 0.0
    alpha_sum = np.zeros(n) if average_from is not None else None
    n_done = 0
    for t in progress(range(n_rounds), verbose, desc="FLORAL rounds", unit="round"):
        if t > 0 and k > 0:
            sv = np.flatnonzero(lam > _SV_TOL)
            y_adv = y.copy()
            if sv.size:
                # largest dual variables first; ties broken at random
                order = np.lexsort((rng.random_sample(sv.size), -lam[sv]))
                top = sv[order[:B]]
                chosen = rng.choice(top, size=min(k, top.size), replace=False)
                y_adv[chosen] = -y_adv[chosen]
                flip_counts[chosen] += 1
        grad = y_adv * (K @ (y_adv * lam)) - 1.0
        lam, mu = project(lam - lr * grad, y_adv, C, mu0=mu)
        if alpha_sum is not None and t >= average_from:
            alpha_sum += lam * y_adv
        n_done = t + 1
        if monitor is not None and monitor(t, lam, y_adv):
            break
    alpha_avg = None if alpha_sum is None else alpha_sum / (n_rounds - average_from)
    return lam, y_adv, flip_counts, alpha_avg, n_done


def _intercept(K, lam, y, C, f=None):
    """Bias from the support vectors: mean of ``y_n - f(x_n)`` over the free support
    vectors (``0 < lam < C``); over all support vectors if none is free. ``f``, when
    given, is the kernel expansion ``K @ (y * lam)`` on all training points."""
    sv = lam > _SV_TOL
    if not sv.any():
        return 0.0
    # (K @ v)[sv], not K[sv] @ v: K[sv] copies up to the whole n x n matrix
    f = (K @ (y * lam) if f is None else f)[sv]
    resid = y[sv] - f
    free = lam[sv] < C - _SV_TOL
    if free.any():
        return float(resid[free].mean())
    return float(resid.mean())


class _ValidationMonitor:
    """Scores every round's classifier on validation data and keeps the best round.

    The score is the validation accuracy; among rounds of equal accuracy the one with the
    smaller mean hinge loss ``max(0, 1 - y f(x))`` wins (accuracy on a small validation set
    ties often). A round improves on the best when its accuracy is higher by more than
    ``tol``, or equal and its hinge loss lower by more than ``tol``. With
    ``n_iter_no_change`` set, the game stops after that many rounds without improvement.
    """

    def __init__(self, K, K_val, y_val, C, *, n_iter_no_change, tol):
        self.K, self.K_val, self.y_val, self.C = K, K_val, y_val, C
        self.n_iter_no_change, self.tol = n_iter_no_change, tol
        self.scores, self.losses = [], []
        self.best = None  # (round, acc, hinge, lam, y_adv)

    def __call__(self, t, lam, y_adv):
        coef = lam * y_adv
        b = _intercept(self.K, lam, y_adv, self.C, f=self.K @ coef)
        dec = self.K_val @ coef + b
        acc = float(np.mean((dec > 0) == (self.y_val > 0)))
        hinge = float(np.mean(np.maximum(0.0, 1.0 - self.y_val * dec)))
        self.scores.append(acc)
        self.losses.append(hinge)
        if (
            self.best is None
            or acc > self.best[1] + self.tol
            or (acc >= self.best[1] and hinge < self.best[2] - self.tol)
        ):
            self.best = (t, acc, hinge, lam.copy(), y_adv.copy())
        n = self.n_iter_no_change
        return n is not None and t - self.best[0] >= n


def _scatter(values, idx, n, fill):
    out = np.full(n, fill, dtype=np.asarray(values).dtype)
    out[idx] = values
    return out


def _kernel_matrix(X, gamma, n_val, name):
    """The RBF kernel matrix of ``X``, a :class:`MemoryError` naming the fit's needs if not."""
    n = X.shape[0]
    per = 8 * n * n
    with explain_memory_error(
        per + 8 * n_val * n + 8 * 8 * n,
        f"{name} cannot fit n_samples={n}",
        detail=f"the n x n kernel matrix alone takes {per} bytes",
        advice="Fit on a subsample (FLORAL's rounds cost O(n^2) each), or use an approximate "
        "kernel map (sklearn.kernel_approximation.Nystroem) with a linear model.",
    ):
        return rbf_kernel(X, gamma=gamma)


def _encode_binary(estimator, y):
    check_classification_targets(y)
    classes = check_n_classes(
        y,
        type(estimator).__name__,
        max_classes=2,
        hint="Only binary classification is supported. For more classes, wrap it in "
        "sklearn.multiclass.OneVsRestClassifier.",
    )
    return classes, encode_pm1(y, classes)


class FloralSVC(ClassifierMixin, BaseEstimator):
    """FLORAL: adversarial training of an RBF-kernel SVM against label poisoning.

    Bal, Cevher and Muehlebach cast training under label poisoning as a non-zero-sum
    Stackelberg game. Each round the model takes one projected gradient step on the SVM
    dual,

    .. math::

        \\lambda \\leftarrow \\Pi_{S(\\tilde y)}\\bigl(\\lambda - \\eta(\\tilde Q\\lambda
        - \\mathbf 1)\\bigr), \\quad \\tilde Q = (\\tilde y\\tilde y^\\top)\\circ K,\\quad
        S(\\tilde y) = \\{0 \\le \\lambda \\le C,\\ \\tilde y^\\top\\lambda = 0\\},

    and the attacker, playing first in the next round, takes the ``B = candidate_factor *
    k`` support vectors with the largest dual variables and flips the labels of ``k`` of
    them drawn at random (always starting again from the clean labels). The first round is
    a warm-up step on the clean labels. The returned classifier is the kernel expansion
    with the last dual variables and adversarial labels, or, with ``early_stopping``, that
    of the round with the best validation accuracy. Every round costs one matrix-vector
    product with the kernel matrix (computed once and held in memory: ``8 n^2`` bytes)
    plus a projection: a fit is ``O(n^2 d)`` for the kernel matrix, ``O(n_rounds n^2)``
    for the rounds (and one libsvm fit, ``O(n^2 d)`` to ``O(n^3)``, with ``init="svm"``).

    **The paper's settings** are the defaults: ``C=10, gamma=0.5, lr=1e-4, n_rounds=500,
    poison_rate=0.05, candidate_factor=2, init="zero", average=False,
    early_stopping=False`` (the authors' Moon configuration; they solve the projection QP
    exactly on Moon, ``projection="exact"``, which gives the same projection as the
    default fixed-point iteration). With ``lr=1e-4`` the 500 rounds stay far from the SVM
    solution (``lr * lambda_max(K)`` is about 0.017 on Moon): an early-stopped SVM. For
    honest round selection use ``early_stopping=True`` (validation data, as
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier`) and ``lr="auto"``.

    Parameters
    ----------
    C : float, default=10.0
        Upper bound of the dual variables (the SVM's regularisation parameter).
    gamma : float, default=0.5
        RBF kernel width: ``K(x, x') = exp(-gamma ||x - x'||^2)``.
    lr : float or "auto", default=1e-4
        Step size of the projected gradient steps. ``"auto"`` uses ``1 / L`` with ``L``
        the largest eigenvalue of the kernel matrix (the Lipschitz constant of the dual
        gradient for any labels; computed by a few Lanczos steps,
        :func:`scipy.sparse.linalg.eigsh`), for which the steps converge to the SVM
        solution when no labels are flipped, whatever ``gamma`` and ``n``. The paper's
        constant ``1e-4`` with 500 rounds stays far from convergence: it acts as strong
        early stopping whose strength depends on the kernel's spectrum.
    n_rounds : int, default=500
        Number of rounds (gradient steps).
    poison_rate : float in [0, 1), default=0.05
        Labels the attacker flips per round as a rate of the training set (the paper's
        ``k = round(poison_rate * n)``, ``n`` the rows of the game: the training rows less
        any held out for validation). ``0`` gives plain projected gradient descent on the
        SVM dual. A rate of one half or more warns: the model then fits mostly flipped
        labels.
    candidate_factor : float, default=2
        The attacker picks its ``k`` flips among the top ``B = ceil(candidate_factor * k)``
        support vectors by dual variable.
    projection : {"fixed_point", "exact"}, default="fixed_point"
        How to project onto ``S(y)``: the fixed-point iteration on the multiplier of the
        equality constraint (the authors' Algorithm 2, safeguarded by bisection), or the
        projection QP solved with cvxpy (slower; for checking).
    init : {"zero", "svm"}, default="zero"
        Starting dual variables: zero (as the paper), or the SVM solution on the training
        labels (a warm start).
    average : bool or int, default=False
        ``False`` (the paper): the classifier is the last round's kernel expansion, with
        the last round's flipped labels. ``True``: the expansion coefficients
        ``lambda * y_adv`` are averaged over the second half of the rounds (iterate
        averaging over the attacker's random flips; much less variance across seeds);
        an int ``m`` averages over the last ``m`` rounds. Cannot be combined with
        ``early_stopping``.
    early_stopping : bool, default=False
        Select the round on validation data, with the arguments of
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (``X_val, y_val``,
        ``validation_fraction``, ``n_iter_no_change``, ``tol``) but, like
        :class:`~sklearn.neural_network.MLPClassifier`, returning the best round (a
        gradient-boosting model keeps the iterations played after its best one): the
        classifier of every round is scored on ``X_val, y_val`` passed to :meth:`fit`, or,
        without them, on a stratified split of ``validation_fraction`` of the training
        data (held out from the game; seeded by ``random_state``), and the round with the
        highest validation accuracy (ties: the lower mean hinge loss) is returned.
        ``False`` (the paper): the last round.
    validation_fraction : float in (0, 1) or int, default=0.1
        Share (float) or number (int) of the training samples held out for validation
        when ``early_stopping`` is on and no ``X_val`` is given.
    n_iter_no_change : int or None, default=None
        With ``early_stopping``, stop the game after this many rounds without improvement
        of the validation score (by more than ``tol``); ``None`` plays all ``n_rounds``
        rounds and returns the best one.
    tol : float >= 0, default=1e-7
        Improvement of the validation accuracy (or, at equal accuracy, decrease of the
        hinge loss) that counts for ``n_iter_no_change`` and for a new best round.
    random_state : int, RandomState instance or None, default=None
        Controls the attacker's random choices (and the validation split).
    verbose : int, default=0
        At ``verbose >= 1``, a line on stderr per stage (the kernel matrix, the step
        size) and a progress bar over the rounds.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The class labels; positive decision values mean ``classes_[1]``.
    lambda_ : ndarray of shape (n_samples,)
        Final dual variables of all training points (last round, or the best round with
        ``early_stopping``; 0 for the rows held out for validation).
    dual_coef_ : ndarray of shape (1, n_SV)
        ``lambda_i * y_adv_i`` for the support vectors (the kernel expansion coefficients,
        signed so that positive means ``classes_[1]``); their average over rounds with
        ``average``.
    support_ : ndarray of shape (n_SV,)
        Indices of the support vectors (``lambda_i > 1e-5``; ``|alpha_i| > 1e-5`` for the
        averaged coefficients).
    support_vectors_ : ndarray of shape (n_SV, n_features)
        The support vectors.
    intercept_ : ndarray of shape (1,)
        The bias: mean of ``y_n - f(x_n)`` over the free support vectors (``0 < lambda <
        C``), over all support vectors when none is free. The authors average over all
        support vectors; the two rules coincide while no dual variable reaches ``C``, as
        with the paper's settings.
    y_adv_ : ndarray of shape (n_samples,)
        The labels of the returned round (with the attacker's flips of that round), in
        ``classes_``; held-out validation rows keep their label.
    flip_counts_ : ndarray of int of shape (n_samples,)
        How many rounds each training label was flipped by the attacker (over all rounds
        played). Points flipped often are influential support vectors; on poisoned data
        the paper reads them as candidates for sanitisation. 0 for held-out rows.
    n_flips_ : int
        Flips per round, ``k``.
    lr_ : float
        The step size used.
    n_iter_ : int
        Number of rounds played (fewer than ``n_rounds`` when ``n_iter_no_change``
        stopped the game).
    validation_scores_ : ndarray of shape (n_rounds_played,)
        With ``early_stopping``: the validation accuracy of every round's classifier
        (not set otherwise); ``n_rounds_played`` is ``n_iter_``.
    validation_losses_ : ndarray of shape (n_rounds_played,)
        With ``early_stopping``: the mean validation hinge loss of every round.
    best_round_ : int
        With ``early_stopping``: the (0-based) round whose classifier is returned.
    validation_indices_ : ndarray of int or None
        With ``early_stopping`` and no ``X_val``: the training rows held out for
        validation (``None`` when ``X_val`` was given).
    n_features_in_ : int
        Number of features seen at fit.

    See Also
    --------
    LNSVC : SVM with the label-noise robust kernel.
    KNNLabelSanitizer : k-NN label sanitisation.
    sklpoison.FloralLabelFlipper : This attacker as a one-shot label-flip attack.

    References
    ----------
    M. I. Bal, V. Cevher and M. Muehlebach, "Adversarial Training for Defense Against
    Label Poisoning Attacks", ICLR 2025, arXiv:2502.17121.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklpoison import FloralSVC
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> clf = FloralSVC(random_state=0).fit(X, y)  # the paper's Moon settings
    >>> bool(clf.score(X, y) > 0.75)
    True
    >>> int(clf.flip_counts_.sum())  # 10 flips in each of the 499 attacked rounds
    4990
    """

    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "poison_rate": [Interval(Real, 0, 1, closed="left")],
        "candidate_factor": [Interval(Real, 1, None, closed="left")],
        "projection": [StrOptions({"fixed_point", "exact"})],
        "init": [StrOptions({"zero", "svm"})],
        "average": ["boolean", Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [
            Interval(Real, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        C=10.0,
        gamma=0.5,
        lr=1e-4,
        n_rounds=500,
        poison_rate=0.05,
        candidate_factor=2,
        projection="fixed_point",
        init="zero",
        average=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=None,
        tol=1e-7,
        random_state=None,
        verbose=0,
    ):
        self.C = C
        self.gamma = gamma
        self.lr = lr
        self.n_rounds = n_rounds
        self.poison_rate = poison_rate
        self.candidate_factor = candidate_factor
        self.projection = projection
        self.init = init
        self.average = average
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, X_val=None, y_val=None):
        """Play the FLORAL game on the training set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Training labels, two classes (possibly already poisoned).
        X_val : array-like of shape (n_val, n_features), default=None
            Validation inputs for ``early_stopping`` (clean data if you have them: a
            poisoned validation set rewards fitting the poison). Without them,
            ``validation_fraction`` of the training data is held out. In a pipeline,
            ``X_val`` does not pass through the preceding steps unless the pipeline
            transforms it: scikit-learn's ``Pipeline(..., transform_input=["X_val"])``
            with metadata routing enabled, as for
            :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
        y_val : array-like of shape (n_val,), default=None
            Validation labels, from the classes of ``y``.

        Returns
        -------
        self : FloralSVC
            The fitted classifier.
        """
        name = type(self).__name__
        self._check_validation_args(X_val, y_val)
        X, y = validate_data(self, X, y, dtype=np.float64)
        self.classes_, y_pm = _encode_binary(self, y)
        n_all = X.shape[0]
        rng = check_random_state(self.random_state)
        train_idx, X_val, yv_pm = self._validation_split(X, y_pm, X_val, y_val, rng)
        Xt, yt = X[train_idx], y_pm[train_idx]
        n = Xt.shape[0]
        if self.early_stopping and np.unique(yt).size < 2:
            raise ValueError(
                f"{name}: the training part left after holding out the validation rows has "
                f"one class only; pass X_val and y_val or lower validation_fraction."
            )
        n_val = 0 if X_val is None else X_val.shape[0]
        C = float(self.C)
        start = stage(self.verbose, name, f"kernel matrix of n={n} rows (d={X.shape[1]})")
        K = _kernel_matrix(Xt, self.gamma, n_val, name)
        check_finite_result(K, f"{name}.fit", what="kernel matrix", X=Xt)
        if self.lr == "auto":
            lr = 1.0 / max(_largest_eigenvalue(K), 1e-12)
        else:
            lr = float(self.lr)
        k = _n_flips(self.poison_rate, n, name)
        B = max(k, int(np.ceil(self.candidate_factor * k)))
        stage(self.verbose, name, f"{self.n_rounds} rounds, lr={lr:.3g}, {k} flips", start=start)
        if self.projection == "exact":
            project = _ExactProjector(n, C)
        else:
            project = _project_fixed_point
        lam0 = np.zeros(n)
        if self.init == "svm":
            svc = SVC(kernel="precomputed", C=C, tol=1e-6).fit(K, yt)
            lam0[svc.support_] = np.abs(svc.dual_coef_[0])
        monitor = None
        if self.early_stopping:
            monitor = _ValidationMonitor(
                K,
                rbf_kernel(X_val, Xt, gamma=self.gamma),
                yv_pm,
                C,
                n_iter_no_change=self.n_iter_no_change,
                tol=float(self.tol),
            )
        lam, y_adv, flips, alpha_avg, n_done = _floral_rounds(
            K,
            yt,
            C=C,
            lr=lr,
            n_rounds=self.n_rounds,
            k=k,
            B=B,
            project=project,
            rng=rng,
            lam0=lam0,
            average_from=self._average_from(),
            monitor=monitor,
            verbose=self.verbose,
        )
        for attr in ("best_round_", "validation_scores_", "validation_losses_"):
            vars(self).pop(attr, None)  # a refit without early_stopping leaves none stale
        if monitor is not None:
            self.best_round_, _, _, lam, y_adv = monitor.best
            self.validation_scores_ = np.asarray(monitor.scores)
            self.validation_losses_ = np.asarray(monitor.losses)
        self._set_solution(Xt, K, lam, y_adv, C, alpha_avg)
        check_finite_result(self.dual_coef_, f"{name}.fit", what="dual coefficients", X=Xt)
        if n < n_all:  # report per-row quantities over all rows; held-out rows are inert
            self.lambda_ = _scatter(lam, train_idx, n_all, 0.0)
            self.y_adv_ = y.copy()
            self.y_adv_[train_idx] = self.classes_[(y_adv > 0).astype(int)]
            self.support_ = train_idx[self.support_]
            flips = _scatter(flips, train_idx, n_all, 0)
        self.flip_counts_ = flips
        self.n_flips_ = k
        self.lr_ = lr
        self.n_iter_ = n_done
        return self

    def _check_validation_args(self, X_val, y_val):
        name = type(self).__name__
        if (X_val is None) != (y_val is None):
            raise ValueError(
                f"{name}.fit: X_val and y_val must be given together; got only "
                f"{'X_val' if y_val is None else 'y_val'}."
            )
        if X_val is not None and not self.early_stopping:
            raise ValueError(
                f"{name}.fit: X_val and y_val are passed while early_stopping=False; set "
                f"early_stopping=True to select the round on them, or do not pass them."
            )
        if self.early_stopping and self.average is not False:
            raise ValueError(
                f"{name}: early_stopping selects one round's classifier and cannot be combined "
                f"with average={self.average!r}; use one of them."
            )

    def _validation_split(self, X, y_pm, X_val, y_val, rng):
        """``(train_idx, X_val, y_val in ±1)``: all rows and no validation data without
        ``early_stopping``; the given ``X_val``; or a stratified held-out split."""
        name = type(self).__name__
        n_all = X.shape[0]
        self.validation_indices_ = None
        if not self.early_stopping:
            return np.arange(n_all), None, None
        if X_val is not None:
            try:
                X_val = validate_data(self, X_val, reset=False, dtype=np.float64)
            except ValueError as exc:  # the message says "X": name the argument
                raise ValueError(f"{name}.fit: invalid X_val: {exc}") from exc
            y_val = column_or_1d(y_val, warn=True)
            check_consistent_length(X_val, y_val)
            check_known_labels(
                y_val, self.classes_, f"{name}.fit", what="y_val", known_as="the training classes"
            )
            return np.arange(n_all), X_val, encode_pm1(y_val, self.classes_)
        split_seed = rng.randint(np.iinfo(np.int32).max)
        try:
            train_idx, val_idx = train_test_split(
                np.arange(n_all),
                test_size=self.validation_fraction,
                stratify=y_pm,
                random_state=split_seed,
            )
        except ValueError as exc:
            raise ValueError(
                f"{name}: cannot hold out validation_fraction={self.validation_fraction!r} of "
                f"{n_all} samples stratified by class ({exc}). Pass X_val and y_val, or change "
                f"validation_fraction."
            ) from exc
        self.validation_indices_ = np.sort(val_idx)
        return np.sort(train_idx), X[self.validation_indices_], y_pm[self.validation_indices_]

    def _average_from(self):
        if self.average is False:
            return None
        if self.average is True:
            return self.n_rounds // 2
        return max(0, self.n_rounds - int(self.average))

    def _set_solution(self, X, K, lam, y_adv, C, alpha_avg=None):
        self.lambda_ = lam
        self.y_adv_ = self.classes_[(y_adv > 0).astype(int)]
        if alpha_avg is not None:
            # the averaged expansion: |alpha| plays the dual variable, sign(alpha) the label
            lam, y_adv = np.abs(alpha_avg), np.where(alpha_avg < 0, -1.0, 1.0)
        self.support_ = np.flatnonzero(lam > _SV_TOL)
        self.support_vectors_ = X[self.support_].copy()
        self.dual_coef_ = (lam * y_adv)[self.support_][None, :]
        self.intercept_ = np.array([_intercept(K, lam, y_adv, C)])

    def decision_function(self, X):
        """Signed distance-like score; positive means ``classes_[1]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``sum_m lambda_m y_m K(x, x_m) + b`` over the support vectors.
        """
        check_is_fitted(self, "dual_coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        Ks = rbf_kernel(X, self.support_vectors_, gamma=self.gamma)
        scores = Ks @ self.dual_coef_[0] + self.intercept_[0]
        check_finite_result(scores, type(self).__name__, what="prediction", X=X)
        return scores

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        check_is_fitted(self, "dual_coef_")
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = False
        return tags
