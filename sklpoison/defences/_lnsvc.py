"""LN-SVM: the label-noise robust SVM baseline of FLORAL."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._memory import explain_memory_error
from ..utils.validation import check_finite_result, check_n_classes


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
    mu : float in [0, 0.5), default=0.05
        Assumed label-flip probability. ``0`` gives a plain SVC. ``0.5`` is rejected:
        then ``c = 0``, the labels carry no information, the corrected Gram matrix is
        ``diag(K)`` and the kernel on new points vanishes, so every prediction is the
        intercept's class. Close to 0.5, ``c`` is tiny: on balanced classes the intercept
        shrinks with it (measured on Moon, 30 + 30 rows: ``mu=0.4999`` predicts both
        classes), but with unequal classes the intercept can win (28 + 32 Gaussian rows:
        ``mu=0.45`` predicts one class at ``C=1``, ``mu=0.49`` at any ``C``). ``fit``
        warns when the kernel on new points predicts fewer classes on the training data
        than the corrected Gram matrix it was trained on.
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

    def _base_kernel(self, X, Y, gamma):
        if callable(self.kernel):
            return np.asarray(self.kernel(X, Y), dtype=float)
        params = {}
        if self.kernel in ("rbf", "poly", "sigmoid"):
            params["gamma"] = gamma
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

    @_fit_context(prefer_skip_nested_validation=True)
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
        if self.mu == 0.5:
            raise ValueError(
                "LNSVC(mu=0.5) is degenerate: labels flipped with probability 0.5 carry no "
                "information, the noise factor c = 1 - 4 mu (1 - mu) is 0, the kernel on new "
                "points c k(x, x') vanishes and every prediction is the intercept's class. "
                "Use mu < 0.5 (the FLORAL paper uses 0.05)."
            )
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        check_n_classes(y, "LNSVC")
        if self.gamma == "scale":
            var = X.var()
            self.gamma_ = 1.0 / (X.shape[1] * var) if var > 0 else 1.0
        elif self.gamma == "auto":
            self.gamma_ = 1.0 / X.shape[1]
        else:
            self.gamma_ = float(self.gamma)
        self.X_fit_ = X.copy()
        with explain_memory_error(
            3 * 8 * X.shape[0] ** 2,
            f"LNSVC cannot fit n_samples={X.shape[0]}",
            detail="the base and the corrected n x n Gram matrices and libsvm's copy",
            advice="Fit on a subsample, or use an approximate kernel map "
            "(sklearn.kernel_approximation.Nystroem) with a linear model.",
        ):
            K = self.noise_kernel_matrix(self._base_kernel(X, X, self.gamma_))
            check_finite_result(K, "LNSVC.fit", what="kernel matrix", X=X)
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
        # the kernel on new points is c k: on the training rows, K with c k(x, x) on the
        # diagonal (K is not used after this). Warn when that loses classes the corrected
        # Gram matrix the SVC was trained on still separates: then c is to blame.
        c = 1.0 - 4.0 * self.mu * (1.0 - self.mu)
        fitted = np.unique(self.svc_.predict(K)).size
        np.fill_diagonal(K, c * np.diag(K))
        predicted = np.unique(self.svc_.predict(K))
        if predicted.size < min(fitted, self.classes_.size):
            warnings.warn(
                f"LNSVC(mu={self.mu:g}) predicts only {predicted.tolist()} of the classes "
                f"{self.classes_.tolist()} on its own training data: the corrected Gram "
                f"matrix it was trained on separates them, but on new points the kernel is "
                f"scaled by c = 1 - 4 mu (1 - mu) = {c:.3g} and the intercept outweighs it. "
                f"Lower mu, or raise C.",
                UserWarning,
                stacklevel=2,
            )
        return self

    def _test_kernel(self, X):
        check_is_fitted(self, "svc_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        # prediction reads the fitted state only and writes nothing on the estimator
        c = 1.0 - 4.0 * self.mu * (1.0 - self.mu)
        K = c * self._base_kernel(X, self.X_fit_, self.gamma_)
        check_finite_result(K, "LNSVC", what="kernel matrix", X=X)
        return K

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
