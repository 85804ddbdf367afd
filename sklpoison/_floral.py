"""FLORAL adversarial training of kernel SVMs against label poisoning, and two baselines.

- :class:`FloralSVC`: Bal, Cevher and Muehlebach (ICLR 2025), "Adversarial Training for
  Defense Against Label Poisoning Attacks": projected gradient steps on the SVM dual played
  against an attacker that flips the labels of the most influential support vectors.
- :class:`LNSVC`: the label-noise robust SVM of Biggio, Nelson and Laskov (2011), an SVC
  whose training Gram matrix is ``K ∘ M`` with ``M_ii = 1`` and ``M_ij = 1 - 4μ(1-μ)``.
- :class:`KNNLabelSanitizer`: label sanitisation by k-nearest-neighbour relabelling
  (Paudice, Muñoz-González and Lupu, 2018), an imbalanced-learn style sampler.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import pairwise_kernels, rbf_kernel
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import SVC
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._poison import BasePoisonSampler

__all__ = ["FloralSVC", "LNSVC", "KNNLabelSanitizer"]

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
        assert self.problem.is_dcp(dpp=True)

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


def _project_exact(z, y, C):
    """One-off exact projection with cvxpy (see :class:`_ExactProjector`)."""
    return _ExactProjector(z.shape[0], C)(z, y, C)[0]


def _n_flips(budget, n):
    """Resolve a flip budget given as a fraction (float) or a count (int)."""
    if isinstance(budget, Integral) and not isinstance(budget, bool):
        return min(int(budget), n)
    return int(round(float(budget) * n))


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
    classes = np.unique(y)
    if classes.size != 2:
        raise ValueError(
            f"Only binary classification is supported. {type(estimator).__name__} needs exactly "
            f"two classes in y; got {classes.size} class(es): {classes.tolist()[:10]}. For "
            f"more classes, wrap it in sklearn.multiclass.OneVsRestClassifier."
        )
    return classes, np.where(y == classes[1], 1.0, -1.0)


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
        self._validate_params()
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


# ---------------------------------------------------------------------------
# LN-SVM
# ---------------------------------------------------------------------------
class LNSVC(ClassifierMixin, BaseEstimator):
    """SVM with the label-noise robust kernel of Biggio, Nelson and Laskov (2011).

    If each training label is flipped independently with probability ``mu``, the expected
    product of two noisy labels is ``(1 - 2mu)^2 = 1 - 4mu(1-mu)`` for two distinct points
    and 1 for a point with itself. The LN-SVM trains an SVC on the corrected Gram matrix
    ``K ∘ M`` with ``M_ii = 1`` and ``M_ij = 1 - 4mu(1-mu)``; equivalently on the kernel
    ``k'(x, x') = c k(x, x') + (1 - c) k(x, x) 1[x = x']`` with ``c = 1 - 4mu(1-mu)``, which
    on new points equals ``c k(x, x')``. The SVC is scikit-learn's, fitted on the
    precomputed matrix.

    Parameters
    ----------
    mu : float in [0, 0.5], default=0.05
        Assumed label-flip probability. ``0`` gives a plain SVC.
    C : float, default=1.0
        SVM regularisation parameter.
    kernel : {"rbf", "linear", "poly", "sigmoid"} or callable, default="rbf"
        Base kernel ``k``; a callable ``kernel(X, Y)`` returns the Gram matrix.
    gamma : float, "scale" or "auto", default="scale"
        Kernel coefficient of "rbf", "poly", "sigmoid", as in :class:`~sklearn.svm.SVC`.
    degree : int, default=3
        Degree of the "poly" kernel.
    coef0 : float, default=0.0
        Independent term of "poly" and "sigmoid".
    tol : float, default=1e-3
        Stopping tolerance of libsvm.
    class_weight : dict, "balanced" or None, default=None
        As in :class:`~sklearn.svm.SVC`.
    max_iter : int, default=-1
        libsvm iteration limit (-1: none).

    Attributes
    ----------
    svc_ : sklearn.svm.SVC
        The SVC fitted on the precomputed matrix ``K ∘ M``.
    classes_ : ndarray
        Class labels.
    support_ : ndarray
        Indices of the support vectors.
    dual_coef_ : ndarray
        Dual coefficients of the SVC.
    intercept_ : ndarray
        Intercepts of the SVC.
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs (needed for the kernel on new points).
    gamma_ : float
        The resolved kernel coefficient.
    n_iter_ : ndarray
        libsvm iterations, as :attr:`sklearn.svm.SVC.n_iter_`.
    n_features_in_ : int
        Number of features seen at fit.

    See Also
    --------
    FloralSVC : Adversarial training against label poisoning.

    References
    ----------
    B. Biggio, B. Nelson and P. Laskov, "Support Vector Machines Under Adversarial Label
    Noise", ACML 2011.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklpoison import LNSVC
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> bool(LNSVC(mu=0.1, C=10, gamma=0.5).fit(X, y).score(X, y) > 0.9)
    True
    """

    _parameter_constraints = {
        "mu": [Interval(Real, 0, 0.5, closed="both")],
        "C": [Interval(Real, 0, None, closed="neither")],
        "kernel": [StrOptions({"rbf", "linear", "poly", "sigmoid"}), callable],
        "gamma": [Interval(Real, 0, None, closed="left"), StrOptions({"scale", "auto"})],
        "degree": [Interval(Integral, 0, None, closed="left")],
        "coef0": [Real],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "max_iter": [Integral],
    }

    def __init__(
        self,
        *,
        mu=0.05,
        C=1.0,
        kernel="rbf",
        gamma="scale",
        degree=3,
        coef0=0.0,
        tol=1e-3,
        class_weight=None,
        max_iter=-1,
    ):
        self.mu = mu
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.tol = tol
        self.class_weight = class_weight
        self.max_iter = max_iter

    def _base_kernel(self, X, Y):
        if callable(self.kernel):
            return np.asarray(self.kernel(X, Y), dtype=float)
        params = {}
        if self.kernel in ("rbf", "poly", "sigmoid"):
            params["gamma"] = self._gamma
        if self.kernel in ("poly", "sigmoid"):
            params["coef0"] = self.coef0
        if self.kernel == "poly":
            params["degree"] = self.degree
        return pairwise_kernels(X, Y, metric=self.kernel, **params)

    def noise_kernel_matrix(self, K):
        """The label-noise corrected Gram matrix ``K ∘ M`` of a training Gram matrix.

        Parameters
        ----------
        K : ndarray of shape (n, n)
            Base kernel matrix on the training set.

        Returns
        -------
        K_ln : ndarray of shape (n, n)
            ``c K`` off the diagonal, ``diag(K)`` on it, ``c = 1 - 4 mu (1 - mu)``.
        """
        c = 1.0 - 4.0 * self.mu * (1.0 - self.mu)
        K_ln = c * np.asarray(K, dtype=float)
        np.fill_diagonal(K_ln, np.diag(K))
        return K_ln

    def fit(self, X, y):
        """Fit the SVC on the label-noise corrected kernel.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Training labels.

        Returns
        -------
        self : LNSVC
            The fitted classifier.
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if self.gamma == "scale":
            var = X.var()
            self._gamma = 1.0 / (X.shape[1] * var) if var > 0 else 1.0
        elif self.gamma == "auto":
            self._gamma = 1.0 / X.shape[1]
        else:
            self._gamma = float(self.gamma)
        self.gamma_ = self._gamma
        self.X_fit_ = X.copy()
        K = self.noise_kernel_matrix(self._base_kernel(X, X))
        self.svc_ = SVC(
            kernel="precomputed",
            C=self.C,
            tol=self.tol,
            class_weight=self.class_weight,
            max_iter=self.max_iter,
        ).fit(K, y)
        self.classes_ = self.svc_.classes_
        self.support_ = self.svc_.support_
        self.dual_coef_ = self.svc_.dual_coef_
        self.intercept_ = self.svc_.intercept_
        self.n_iter_ = self.svc_.n_iter_
        return self

    def _test_kernel(self, X):
        check_is_fitted(self, "svc_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        self._gamma = self.gamma_
        c = 1.0 - 4.0 * self.mu * (1.0 - self.mu)
        return c * self._base_kernel(X, self.X_fit_)

    def decision_function(self, X):
        """Decision values of the SVC on the kernel ``c k(x, x_train)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        scores : ndarray
            As :meth:`sklearn.svm.SVC.decision_function`.
        """
        K = self._test_kernel(X)
        return self.svc_.decision_function(K)

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels.
        """
        K = self._test_kernel(X)
        return self.svc_.predict(K)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


# ---------------------------------------------------------------------------
# k-NN label sanitisation
# ---------------------------------------------------------------------------
class KNNLabelSanitizer(BasePoisonSampler):
    """Label sanitisation by k-nearest-neighbour relabelling (a sampler).

    Each training point whose ``n_neighbors`` nearest neighbours (itself excluded) agree
    on one label in a share of at least ``threshold`` gets that label. All points are
    relabelled at once, and the pass is repeated on the new labels until no label changes
    (or ``max_iter`` passes). As an imbalanced-learn sampler it acts on the training folds
    only inside :class:`imblearn.pipeline.Pipeline`, before the classifier.

    Parameters
    ----------
    n_neighbors : int, default=20
        Neighbours that vote (the FLORAL authors' baseline uses 20).
    threshold : float in (0, 1], default=0.75
        Minimal share of the majority label among the neighbours for a relabelling.
    max_iter : int, default=100
        Maximal number of relabelling passes.
    metric : str or callable, default="minkowski"
        Distance of :class:`~sklearn.neighbors.NearestNeighbors`.
    n_jobs : int or None, default=None
        Parallel jobs of the neighbour search.

    Attributes
    ----------
    classes_ : ndarray
        Labels seen at fit.
    relabeled_indices_ : ndarray of int
        Rows whose label the last :meth:`fit_resample` changed.
    n_relabeled_ : int
        Number of changed labels.
    n_iter_ : int
        Passes run by the last :meth:`fit_resample`.
    n_features_in_ : int
        Number of features seen at fit.

    See Also
    --------
    FloralSVC : Adversarial training against label poisoning.

    References
    ----------
    A. Paudice, L. Muñoz-González and E. C. Lupu, "Label Sanitization against Label
    Flipping Poisoning Attacks", ECML PKDD Workshops 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import KNNLabelSanitizer
    >>> X = np.arange(10.0)[:, None]
    >>> y = np.array([0, 0, 0, 1, 0, 0, 1, 1, 1, 1])
    >>> _, y_clean = KNNLabelSanitizer(n_neighbors=2, threshold=1.0).fit_resample(X, y)
    >>> y_clean
    array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    """

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "threshold": [Interval(Real, 0, 1, closed="right")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "metric": [str, callable],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self, *, n_neighbors=20, threshold=0.75, max_iter=100, metric="minkowski", n_jobs=None
    ):
        self.n_neighbors = n_neighbors
        self.threshold = threshold
        self.max_iter = max_iter
        self.metric = metric
        self.n_jobs = n_jobs

    def _fit(self, X, y):
        if y is None:
            raise ValueError(
                "KNNLabelSanitizer requires y to be passed, but the target y is None. Call "
                "fit_resample(X, y)."
            )
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        return X, y

    def _resample(self, X, y):
        n = X.shape[0]
        codes0 = np.searchsorted(self.classes_, y)
        codes = codes0
        n_iter = 0
        k = min(self.n_neighbors, n - 1)
        if k >= 1 and self.classes_.size > 1:
            nn = NearestNeighbors(n_neighbors=k, metric=self.metric, n_jobs=self.n_jobs).fit(X)
            neigh = nn.kneighbors(return_distance=False)  # excludes each point itself
            n_cls = self.classes_.size
            stable = False
            for n_iter in range(1, self.max_iter + 1):  # noqa: B007
                votes = np.zeros((n, n_cls))
                np.add.at(votes, (np.repeat(np.arange(n), k), codes[neigh].ravel()), 1.0)
                mode = votes.argmax(axis=1)
                share = votes[np.arange(n), mode] / k
                new = np.where(share >= self.threshold, mode, codes)
                if np.array_equal(new, codes):
                    stable = True
                    break
                codes = new
            if not stable:
                import warnings

                warnings.warn(
                    f"KNNLabelSanitizer: labels still changed after max_iter={self.max_iter} "
                    f"passes; increase max_iter.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        y_res = self.classes_[codes].astype(y.dtype, copy=False)
        self.relabeled_indices_ = np.flatnonzero(codes != codes0)
        self.n_relabeled_ = int(self.relabeled_indices_.size)
        self.n_iter_ = n_iter
        return np.array(X, copy=True), np.array(y_res, copy=True)
