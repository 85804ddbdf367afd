"""FLORAL: adversarial training of kernel SVMs against label poisoning (Bal et al., ICLR 2025)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.svm import SVC
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils.validation import check_n_classes, encode_pm1, fraction_to_count

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
        import cvxpy as cp

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


def _n_flips(budget, n):
    """Resolve a flip budget given as a fraction (float) or a count (int)."""
    if isinstance(budget, Integral) and not isinstance(budget, bool):
        return min(int(budget), n)
    return fraction_to_count(budget, n, name="flip_budget", who="FloralSVC", noun="flips")


def _floral_rounds(
    K, y, *, C, lr, n_rounds, k, B, project, rng, lam0, average_from=None, verbose=0
):
    """The FLORAL game; ``y`` in ±1. Returns ``(lam, y_adv, flip_counts, alpha_avg)``.

    Round 0 is a gradient step on the clean labels (the warm-up). Every later round the
    attacker takes the ``B`` support vectors with the largest dual variables, flips ``k``
    of them drawn at random (fresh from the clean labels), and the model takes a projected
    gradient step ``lam <- P(lam - lr (Q lam - 1))`` with ``Q = (y_adv y_adv^T) ∘ K``.
    With ``average_from`` set, ``alpha_avg`` is the mean of the expansion coefficients
    ``lam * y_adv`` over the rounds ``t >= average_from`` (else ``None``).
    """
    from tqdm.auto import tqdm

    n = y.shape[0]
    lam = lam0.copy()
    y_adv = y.copy()
    flip_counts = np.zeros(n, dtype=np.intp)
    mu = 0.0
    alpha_sum = np.zeros(n) if average_from is not None else None
    for t in tqdm(range(n_rounds), disable=not verbose, desc="FLORAL rounds"):
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
    alpha_avg = None if alpha_sum is None else alpha_sum / (n_rounds - average_from)
    return lam, y_adv, flip_counts, alpha_avg


def _intercept(K, lam, y, C):
    """Bias from the support vectors: mean of ``y_n - f(x_n)`` over the free support
    vectors (``0 < lam < C``); over all support vectors if none is free."""
    sv = lam > _SV_TOL
    if not sv.any():
        return 0.0
    f = K[sv] @ (y * lam)
    resid = y[sv] - f
    free = lam[sv] < C - _SV_TOL
    if free.any():
        return float(resid[free].mean())
    return float(resid.mean())


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
    with the last dual variables and adversarial labels. Every round costs one
    matrix-vector product with the kernel matrix (computed once) plus a projection.

    Parameters
    ----------
    C : float, default=10.0
        Upper bound of the dual variables (the SVM's regularisation parameter).
    gamma : float, default=0.5
        RBF kernel width: ``K(x, x') = exp(-gamma ||x - x'||^2)``.
    lr : float or "auto", default=1e-4
        Step size of the projected gradient steps. ``"auto"`` uses ``1 / L`` with ``L``
        the largest eigenvalue of the kernel matrix (the Lipschitz constant of the dual
        gradient for any labels), for which the steps converge to the SVM solution when
        no labels are flipped. The paper's ``1e-4`` with 500 rounds stays far from
        convergence: it acts as strong early stopping.
    n_rounds : int, default=500
        Number of rounds (gradient steps).
    flip_budget : float in [0, 1) or int, default=0.05
        Labels the attacker flips per round, ``k``: a fraction of the training set (float)
        or a count (int). ``0`` gives plain projected gradient descent on the SVM dual.
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
        an int ``m`` averages over the last ``m`` rounds.
    random_state : int, RandomState instance or None, default=None
        Controls the attacker's random choices.
    verbose : int, default=0
        Show a progress bar over the rounds when positive.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The class labels; positive decision values mean ``classes_[1]``.
    lambda_ : ndarray of shape (n_samples,)
        Final dual variables of all training points (last round).
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
        The labels of the last round (with the attacker's last flips), in ``classes_``.
    flip_counts_ : ndarray of int of shape (n_samples,)
        How many rounds each training label was flipped by the attacker. Points flipped
        often are influential support vectors; on poisoned data the paper reads them as
        candidates for sanitisation.
    n_flips_ : int
        Flips per round, ``k``.
    lr_ : float
        The step size used.
    n_iter_ : int
        Number of rounds run.
    n_features_in_ : int
        Number of features seen at fit.

    See Also
    --------
    LNSVC : SVM with the label-noise robust kernel.
    KNNLabelSanitizer : k-NN label sanitisation.
    sklpoison.LabelFlipper : Label-flip attacks, including ``strategy="floral"``.

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
        "flip_budget": [
            Interval(Real, 0, 1, closed="left"),
            Interval(Integral, 0, None, closed="left"),
        ],
        "candidate_factor": [Interval(Real, 1, None, closed="left")],
        "projection": [StrOptions({"fixed_point", "exact"})],
        "init": [StrOptions({"zero", "svm"})],
        "average": ["boolean", Interval(Integral, 1, None, closed="left")],
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
        flip_budget=0.05,
        candidate_factor=2,
        projection="fixed_point",
        init="zero",
        average=False,
        random_state=None,
        verbose=0,
    ):
        self.C = C
        self.gamma = gamma
        self.lr = lr
        self.n_rounds = n_rounds
        self.flip_budget = flip_budget
        self.candidate_factor = candidate_factor
        self.projection = projection
        self.init = init
        self.average = average
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Play the FLORAL game on the training set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Training labels, two classes (possibly already poisoned).

        Returns
        -------
        self : FloralSVC
            The fitted classifier.
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        self.classes_, y_pm = _encode_binary(self, y)
        n = X.shape[0]
        C = float(self.C)
        K = rbf_kernel(X, gamma=self.gamma)
        if self.lr == "auto":
            from scipy.linalg import eigvalsh

            L = float(eigvalsh(K, subset_by_index=[n - 1, n - 1])[0]) if n > 1 else 1.0
            lr = 1.0 / max(L, 1e-12)
        else:
            lr = float(self.lr)
        k = _n_flips(self.flip_budget, n)
        B = max(k, int(np.ceil(self.candidate_factor * k)))
        if self.projection == "exact":
            project = _ExactProjector(n, C)
        else:
            project = _project_fixed_point
        lam0 = np.zeros(n)
        if self.init == "svm":
            svc = SVC(kernel="precomputed", C=C, tol=1e-6).fit(K, y_pm)
            lam0[svc.support_] = np.abs(svc.dual_coef_[0])
        rng = check_random_state(self.random_state)
        if self.average is False:
            average_from = None
        elif self.average is True:
            average_from = self.n_rounds // 2
        else:
            average_from = max(0, self.n_rounds - int(self.average))
        lam, y_adv, flips, alpha_avg = _floral_rounds(
            K,
            y_pm,
            C=C,
            lr=lr,
            n_rounds=self.n_rounds,
            k=k,
            B=B,
            project=project,
            rng=rng,
            lam0=lam0,
            average_from=average_from,
            verbose=self.verbose,
        )
        self._set_solution(X, K, lam, y_adv, C, alpha_avg)
        self.flip_counts_ = flips
        self.n_flips_ = k
        self.lr_ = lr
        self.n_iter_ = self.n_rounds
        return self

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
        return Ks @ self.dual_coef_[0] + self.intercept_[0]

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
