"""Kernel ridge regression with input-gradient regularisation (Granziol, 2026)."""

import warnings
from numbers import Real

import numpy as np
from scipy import linalg
from scipy.linalg import LinAlgWarning
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..numerics import kernels as _kernels
from ..utils._memory import explain_memory_error, format_bytes
from ..utils.validation import check_finite_result, check_n_classes

__all__ = ["GradRegKRR", "GradRegKRRClassifier"]

# number of n x n float64 buffers alive at the peak of a fit (with or without compute_dof):
# kappa = 0: K and the factor of K + alpha I; kappa > 0: K, the factor of
# K^2 + alpha K + kappa G and one scratch matrix (B = X X^T, then N in place).
# Measured with tracemalloc in tests/defences/test_krr.py and benchmarks/bench_krr.py.
_BUFFERS_KAPPA0 = 2
_BUFFERS_KAPPA = 3


def _memory_error_message(n_samples, kappa, name):
    """Names the fit's memory needs on a :class:`MemoryError` (see ``explain_memory_error``)."""
    per_matrix = 8 * n_samples * n_samples
    n_buffers = _BUFFERS_KAPPA if kappa > 0 else _BUFFERS_KAPPA0
    return explain_memory_error(
        n_buffers * per_matrix,
        f"{name} cannot fit n_samples={n_samples}",
        detail=(
            f"the n_samples x n_samples kernel matrix alone needs {per_matrix} bytes "
            f"({format_bytes(per_matrix)}) and the fit holds about {n_buffers} such matrices"
        ),
        advice=(
            "Fit on a subsample, or use an approximate kernel map "
            "(sklearn.kernel_approximation.Nystroem) followed by a linear model."
        ),
    )


def _range_basis(K, X, kernel, rtol):
    """Orthonormal basis ``U`` and eigenvalues ``lam`` of the numerical range of ``K``."""
    if kernel == "linear":
        U, s, _ = linalg.svd(X, full_matrices=False, check_finite=False)
        lam = s**2
    else:
        lam, U = linalg.eigh(K, check_finite=False)
    keep = lam > rtol * max(lam.max(initial=0.0), np.finfo(float).tiny)
    return U[:, keep], lam[keep]


def _solve_range(K, G, Y, X, alpha, kappa, kernel, compute_dof):
    """Minimise the objective over the numerical range of ``K``.

    With ``K = U diag(lam) U^T`` restricted to eigenvalues above ``1e-10``
    times the largest and ``a = U diag(lam)^(-1/2) b``, the stationarity
    condition becomes ``(diag(lam) + alpha I + kappa S U^T G U S) b =
    diag(lam)^(1/2) U^T y`` with ``S = diag(lam)^(-1/2)``: fitted values, RKHS
    norm and penalty are unchanged, and the directions dropped change
    (numerically) no prediction. That system is solved by a symmetric
    eigendecomposition (pseudo-inverse), so it never fails.
    """
    U, lam = _range_basis(K, X, kernel, rtol=1e-10)
    if lam.size == 0:  # K == 0: every coefficient vector predicts 0
        return np.zeros_like(Y), (0.0 if compute_dof else None)
    US = U / np.sqrt(lam)
    M = np.diag(lam + alpha)
    if kappa > 0:
        Gt = US.T @ G @ US
        M += (0.5 * kappa) * (Gt + Gt.T)
    mu, V = linalg.eigh(M, check_finite=False)
    inv = np.zeros_like(mu)
    pos = mu > 1e-12 * max(mu.max(), np.finfo(float).tiny)
    inv[pos] = 1.0 / mu[pos]
    rhs = np.sqrt(lam)[:, None] * (U.T @ Y)
    b = V @ (inv[:, None] * (V.T @ rhs))
    dof = None
    if compute_dof:
        # tr(K A^+ K) = tr(M^+ diag(lam))
        dof = float(np.einsum("ij,j,ij,i->", V, inv, V, lam))
    return US @ b, dof


def _solve(K, Y, X, alpha, kappa, kernel, gamma, compute_dof=False, name="GradRegKRR"):
    """Solve ``(K^2 + alpha K + kappa G) a = K Y``; return ``(a, dof, method)``.

    ``dof`` is the trace of the smoother ``Y -> K a`` (``None`` unless asked).
    """
    n = K.shape[0]
    if kernel == "linear" and n > X.shape[1] and (kappa > 0 or alpha == 0):
        # K = X X^T has rank <= n_features < n_samples: singular by construction,
        # and its range is given cheaply by an SVD of X
        G = None if kappa == 0 else _kernels.gradient_gram(X, kernel=kernel, K=K)
        a, dof = _solve_range(K, G, Y, X, alpha, kappa, kernel, compute_dof)
        return a, dof, "range"
    if kappa == 0:
        # K (K + alpha I) a = K y: the factor K cancels (null-space directions of K
        # change no prediction), leaving KernelRidge's better conditioned system
        # K is exactly symmetric: the transposed view of a copy is a Fortran-ordered
        # K, which LAPACK factorises in place (a C-ordered one would be copied)
        A = K.copy().T
        A[np.diag_indices_from(A)] += alpha
    else:
        # lower triangle of K^2 + alpha K + kappa G, built with dsyrk / dsyr2k
        A = _kernels.regularised_system(
            X, alpha=alpha, kappa=kappa, kernel=kernel, gamma=gamma, K=K
        )
        # A is singular whenever K is (duplicated rows, say), with the same null
        # space; a jitter at rounding level makes the Cholesky factorisation
        # succeed and only sets the (prediction-free) null-space part of a to 0
        A[np.diag_indices_from(A)] += 10 * n * np.finfo(float).eps * np.max(np.diag(A))
    try:
        c, low = linalg.cho_factor(A, lower=True, overwrite_a=True, check_finite=False)
    except linalg.LinAlgError:
        del A
        system = "K + alpha I" if kappa == 0 else "K^2 + alpha K + kappa G"
        warnings.warn(
            f"{name}: the system matrix {system} is not numerically positive definite "
            f"(Cholesky failed); falling back to a slower solve in the eigenbasis of K "
            f"restricted to its numerical range. Increase alpha to avoid this.",
            LinAlgWarning,
            stacklevel=4,
        )
        G = None if kappa == 0 else _kernels.gradient_gram(X, kernel=kernel, gamma=gamma, K=K)
        a, dof = _solve_range(K, G, Y, X, alpha, kappa, kernel, compute_dof)
        return a, dof, "range"
    rhs = Y if kappa == 0 else K @ Y
    a = linalg.cho_solve((c, low), rhs, check_finite=False)
    dof = None
    if compute_dof:
        # only the lower triangle of c holds the factor L (A = L L^T)
        if kappa == 0:
            # tr(K (K + alpha I)^-1) = n - alpha tr((K + alpha I)^-1) = n - alpha ||L^-1||_F^2
            Linv, _ = linalg.lapack.dtrtri(c, lower=1, overwrite_c=1)
            dof = float(n - alpha * _sum_squares_lower(Linv))
        else:
            # tr(K A^-1 K) = ||L^-1 K||_F^2; K is symmetric and not needed any more
            # (the caller, _fit_targets, computed K for this solve only),
            # so K.T, its Fortran-ordered view, is overwritten by L^-1 K
            LK = linalg.solve_triangular(c, K.T, lower=True, overwrite_b=True, check_finite=False)
            dof = float(np.einsum("ij,ij->", LK, LK))
    return a, dof, "cholesky"


def _sum_squares_lower(M):
    """Sum of squares of the lower triangle (diagonal included) of the square ``M``."""
    total = 0.0
    for sl in _kernels._column_blocks(M.shape[0]):
        D = np.tril(M[sl, sl])
        R = M[sl.stop :, sl]
        total += np.einsum("ij,ij->", D, D) + np.einsum("ij,ij->", R, R)
    return total


class _BaseGradRegKRR(BaseEstimator):
    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "kappa": [Interval(Real, 0, None, closed="left")],
        "kernel": [StrOptions(set(_kernels.KERNELS))],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "compute_dof": ["boolean"],
    }

    def __init__(self, *, alpha=1.0, kappa=0.0, kernel="rbf", gamma=None, compute_dof=False):
        self.alpha = alpha
        self.kappa = kappa
        self.kernel = kernel
        self.gamma = gamma
        self.compute_dof = compute_dof

    def _gamma(self):
        return _kernels.resolve_gamma(self.gamma, self.X_fit_.shape[1])

    def _fit_targets(self, X, Y):
        """Fit on validated ``X`` (float64) and 2-D targets ``Y``."""
        self.X_fit_ = X
        name = type(self).__name__
        if self.kernel == "rbf":
            # an overflowing squared distance gives a kernel value of exactly 0 (or, on
            # the diagonal, inf - inf), which the check of K below cannot see
            with np.errstate(over="ignore", invalid="ignore"):
                Xc = X - _kernels._centre(X)
                sq = np.einsum("ij,ij->i", Xc, Xc)
            check_finite_result(sq, f"{name}.fit", what="squared distance", X=X)
        with _memory_error_message(X.shape[0], self.kappa, name):
            K = _kernels.kernel_matrix(X, kernel=self.kernel, gamma=self._gamma())
            check_finite_result(K, f"{name}.fit", what="kernel matrix", X=X)
            # K is not used after the solve, which may overwrite it (compute_dof=True)
            a, dof, method = _solve(
                K,
                Y,
                X,
                float(self.alpha),
                float(self.kappa),
                self.kernel,
                self._gamma(),
                compute_dof=self.compute_dof,
                name=type(self).__name__,
            )
            del K
        check_finite_result(a, f"{name}.fit", what="dual coefficients", X=X)
        self.solver_ = method
        self._effective_dof = dof
        return a

    def _decision(self, X):
        check_is_fitted(self, "dual_coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        K = _kernels.kernel_matrix(X, self.X_fit_, kernel=self.kernel, gamma=self._gamma())
        scores = K @ self.dual_coef_
        check_finite_result(scores, type(self).__name__, what="prediction", X=X)
        return scores

    @property
    def effective_dof_(self):
        """Effective degrees of freedom: the trace of the smoother ``y -> K a``.

        For ``kappa = 0`` this is ``tr(K (K + alpha I)^-1)``, for ``kappa > 0``
        ``tr(K (K^2 + alpha K + kappa G)^-1 K)``. It decreases as ``kappa`` grows
        (the capacity the gradient penalty takes away). Computed by ``fit`` when
        ``compute_dof=True``, from the same factorisation as the coefficients; reading
        it costs nothing.
        """
        check_is_fitted(self, "dual_coef_")
        if self._effective_dof is None:
            name = type(self).__name__
            raise AttributeError(
                f"effective_dof_ is computed by fit only when compute_dof=True (one more "
                f"triangular solve with the fit's factor, O(n_samples^3)). Refit with "
                f"{name}(..., compute_dof=True) to get it."
            )
        return self._effective_dof

    def input_gradient(self, X):
        """Analytic input gradient of the fitted function at every row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query points.

        Returns
        -------
        grad : ndarray of shape (n_samples, n_features) or \
                (n_samples, n_outputs, n_features)
            ``grad[q] = d f(x) / dx`` at ``x = X[q]``; the output axis is present
            when the fitted function has several outputs.
        """
        check_is_fitted(self, "dual_coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        grad = _kernels.input_gradient(
            X, self.X_fit_, self.dual_coef_, kernel=self.kernel, gamma=self._gamma()
        )
        check_finite_result(grad, type(self).__name__, what="input gradient", X=X)
        return grad

    def input_hessian(self, X):
        """Analytic input Hessian of the fitted function at every row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query points.

        Returns
        -------
        hess : ndarray of shape (n_samples, n_features, n_features) or \
                (n_samples, n_outputs, n_features, n_features)
            Symmetric Hessians (zero for the linear kernel).
        """
        check_is_fitted(self, "dual_coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        hess = _kernels.input_hessian(
            X, self.X_fit_, self.dual_coef_, kernel=self.kernel, gamma=self._gamma()
        )
        check_finite_result(hess, type(self).__name__, what="input Hessian", X=X)
        return hess

    def input_hessian_operator(self, X, output_weights=None):
        """Matrix-free products with the input Hessians of the fitted function.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query points.
        output_weights : array-like of shape (n_samples, n_outputs) or None, default=None
            Weights ``w`` of the outputs, one row per query point; ``None`` for a
            single-output function.

        Returns
        -------
        matvec : callable
            ``V -> [H_1 v_1, ..., H_n v_n]`` with ``H_q = sum_t w[q, t] ∇²f_t(x_q)``,
            ``V`` of shape ``(n_samples, n_features)``; no ``d x d`` matrix is formed
            (see :func:`sklpoison.numerics.kernels.input_hessian_operator`).
        """
        check_is_fitted(self, "dual_coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return _kernels.input_hessian_operator(
            X,
            self.X_fit_,
            self.dual_coef_,
            kernel=self.kernel,
            gamma=self._gamma(),
            output_weights=output_weights,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


_DOC_PARAMS = """
    Parameters
    ----------
    alpha : float >= 0, default=1.0
        Ridge strength: the RKHS-norm penalty ``alpha / 2 a^T K a``.
    kappa : float >= 0, default=0.0
        Strength of the input-gradient penalty
        ``kappa / 2 sum_m ||grad_x f(x_m)||^2`` over the training points.
        ``0`` gives :class:`~sklearn.kernel_ridge.KernelRidge`.
    kernel : {"rbf", "linear"}, default="rbf"
        ``"rbf"``: ``exp(-gamma ||x - x'||^2)``; ``"linear"``: ``x . x'`` (then the
        gradient penalty is ``n_samples * kappa`` times the ridge penalty).
    gamma : float > 0 or None, default=None
        RBF width. ``None`` means ``1 / n_features``, as in scikit-learn. The
        length scale is ``1 / sqrt(2 gamma)``.
    compute_dof : bool, default=False
        Also compute :attr:`effective_dof_` during ``fit``, from the factorisation
        that gives the coefficients: one more triangular solve (``n^3 / 3`` flops for
        ``kappa = 0``, ``n^3`` for ``kappa > 0``) and no extra ``n x n`` buffer.
"""


class GradRegKRR(RegressorMixin, _BaseGradRegKRR):
    __doc__ = (
        """Kernel ridge regression with an input-gradient penalty, solved exactly.

    The model is ``f(x) = sum_i a_i k(x, x_i)`` and ``fit`` minimises

    ``J(a) = 1/2 ||K a - y||^2 + alpha/2 a^T K a + kappa/2 sum_m ||grad_x f(x_m)||^2``,

    the last sum over the training points. With ``G = sum_m J_m^T J_m`` (column
    ``i`` of ``J_m`` is ``grad_x k(x_m, x_i)``) the minimiser solves
    ``(K^2 + alpha K + kappa G) a = K y``, which is solved by a Cholesky
    factorisation. The matrix is built in closed form, without per-point
    Jacobians: ``K^2`` is one ``dsyrk`` and ``G`` needs one ``dsyr2k``
    (``3 n^3 + O(n^2 d)`` flops in all, three ``n x n`` matrices of memory);
    that is why a ``kappa > 0`` fit costs several times a
    :class:`~sklearn.kernel_ridge.KernelRidge` fit, whose Cholesky
    factorisation alone is ``n^3 / 3`` flops. The simplified system
    ``(K + lambda I + kappa G) a = y`` sometimes quoted is the stationarity
    condition of a *different* objective, ``1/2 a^T (K + lambda I + kappa G) a
    - y^T a``; multiplied by ``K`` it differs from ours by ``kappa (K G - G) a``,
    so it is not used here. Sample weights are not supported.

    This is the exact model of the safety-efficacy trade-off of Granziol
    (2026): the gradient penalty suppresses poison-induced curvature at a cost
    in data-fitting capacity (:attr:`effective_dof_` decreases with
    ``kappa``).
"""
        + _DOC_PARAMS
        + """
    Attributes
    ----------
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets)
        The coefficients ``a``.
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs (the kernel centres).
    solver_ : {"cholesky", "range"}
        ``"cholesky"``: solved by a Cholesky factorisation. ``"range"``: solved
        in the eigenbasis of the numerical range of ``K``, either because the
        Cholesky factorisation failed (a ``LinAlgWarning`` says so; typically
        ``alpha = 0`` with a singular ``K``) or, without a warning, for the
        linear kernel with ``n_samples > n_features`` (``K`` is singular by
        construction and its range comes from an SVD of ``X``).
    effective_dof_ : float
        Trace of the smoother ``y -> K a``. Only with ``compute_dof=True`` (reading it
        otherwise raises an ``AttributeError`` that says so).
    n_features_in_ : int
        Number of features seen during fit.

    See Also
    --------
    GradRegKRRClassifier : The same model for classification.
    sklearn.kernel_ridge.KernelRidge : The ``kappa = 0`` case.

    References
    ----------
    D. Granziol. Safety-Efficacy Trade Off: Robustness against Data-Poisoning.
    arXiv:2602.00822, 2026.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.kernel_ridge import KernelRidge
    >>> from sklpoison import GradRegKRR
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.randn(50, 3), rng.randn(50)
    >>> plain = GradRegKRR(alpha=1.0, kappa=0.0, compute_dof=True).fit(X, y)
    >>> bool(np.allclose(plain.predict(X), KernelRidge(alpha=1.0, kernel="rbf",
    ...                                                  gamma=1 / 3).fit(X, y).predict(X)))
    True
    >>> smooth = GradRegKRR(alpha=1.0, kappa=1.0, compute_dof=True).fit(X, y)
    >>> bool(smooth.effective_dof_ < plain.effective_dof_)
    True
    """
    )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.

        Returns
        -------
        self : object
            The fitted regressor.
        """
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        a = self._fit_targets(X, Y)
        self.dual_coef_ = a.ravel() if y.ndim == 1 else a
        return self

    def predict(self, X):
        """Predict with the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions.
        """
        return self._decision(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class GradRegKRRClassifier(ClassifierMixin, _BaseGradRegKRR):
    __doc__ = (
        """Classifier built on :class:`GradRegKRR` (one-vs-rest, ±1 targets).

    Like :class:`~sklearn.linear_model.RidgeClassifier`, the labels are
    binarised to ``{-1, +1}`` (one column for a binary problem, one per class
    otherwise), a :class:`GradRegKRR` is fitted on them and the class with the
    largest decision value is predicted. With ``kernel="linear"`` and
    ``kappa=0`` it is ``RidgeClassifier(alpha=alpha, fit_intercept=False)``;
    with ``kappa > 0`` it is that with ``alpha + n_samples * kappa``. Sample
    weights are not supported.
"""
        + _DOC_PARAMS
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Coefficients (one column for a binary problem).
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs.
    solver_ : {"cholesky", "range"}
        See :class:`GradRegKRR`.
    effective_dof_ : float
        Trace of the smoother ``Y -> K a``. Only with ``compute_dof=True``.
    n_features_in_ : int
        Number of features seen during fit.

    See Also
    --------
    GradRegKRR : The regressor.
    sklearn.linear_model.RidgeClassifier : The linear, ``kappa = 0`` analogue.

    Examples
    --------
    >>> from sklpoison import GradRegKRRClassifier
    >>> from sklpoison.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True, flat=True)
    >>> clf = GradRegKRRClassifier(alpha=0.1, kappa=1e-3, gamma=0.05).fit(X[:500], y[:500])
    >>> bool(clf.score(X[500:800], y[500:800]) > 0.9)
    True
    """
    )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the classifier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        binarizer = LabelBinarizer(pos_label=1, neg_label=-1)
        Y = binarizer.fit_transform(y).astype(np.float64)
        self.classes_ = binarizer.classes_
        check_n_classes(self.classes_, type(self).__name__)
        a = self._fit_targets(X, Y)
        self.dual_coef_ = a.ravel() if Y.shape[1] == 1 else a
        return self

    def decision_function(self, X):
        """Decision values (one column per class; 1-D for a binary problem).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Positive for ``classes_[1]`` in the binary case.
        """
        return self._decision(X)

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
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
