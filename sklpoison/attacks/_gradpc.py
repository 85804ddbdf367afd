"""GradPC: gradient-based parameter corruption, the target models of Gradient Canceling."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context
from sklearn.utils._param_validation import Interval

from ..base import _DelegatingClassifierMixin
from ..numerics._param_gradients import check_supported, make_param_grad_adapter
from ..utils._progress import progress
from ..utils.validation import (
    _default_estimator,
    _fit_clean,
    _label_codes,
    _validate_Xy,
    check_finite_result,
    check_n_classes,
)


# ----------------------------------------------------------------------- GradPC
def _grad_pc(adapter, X, yi, epsilon_w, max_iter, lr, verbose=0):
    """Projected normalised gradient ascent on the mean training loss.

    ``theta = theta0 + a`` with ``a <- a + lr * r * g / ||g||`` then ``a`` projected
    onto the L2 ball of radius ``r = epsilon_w * ||theta0||_2`` (all parameters).
    """
    theta0 = adapter.get_theta()
    radius = epsilon_w * np.linalg.norm(theta0)
    a = np.zeros_like(theta0)
    history = [adapter.data_loss(theta0, X, yi)]
    n_iter = 0
    steps = progress(range(max_iter), verbose, desc="GradPC", unit="step")
    for _ in steps:
        g = adapter.data_grad(theta0 + a, X, yi)
        gn = np.linalg.norm(g)
        check_finite_result(gn, "GradPC.fit", what="training-loss gradient norm", X=X)
        if gn == 0 or radius == 0:
            break
        n_iter += 1
        a = a + lr * radius * g / gn
        an = np.linalg.norm(a)
        if an > radius:
            a *= radius / an
        history.append(adapter.data_loss(theta0 + a, X, yi))
        if verbose:
            steps.set_postfix(loss=f"{history[-1]:.4f}")
    return theta0 + a, np.asarray(history), max(n_iter, 1)


class GradPC(_DelegatingClassifierMixin, ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    r"""GradPC parameter corruption (Sun et al., 2020): a target model for poisoning.

    Fits ``estimator`` on clean data, then runs projected, normalised gradient
    *ascent* on the mean (unregularised) training loss over the whole flat
    parameter vector :math:`\theta` (coefficients and intercepts, or every
    trainable tensor of a network):
    :math:`a \leftarrow \Pi(a + \mathrm{lr}\, r\, g / \|g\|_2)`, where
    :math:`\Pi` projects onto the Euclidean ball
    :math:`\|a\|_2 \le r = \varepsilon_w \|\theta_0\|_2`. So the corruption obeys
    the *relative* constraint :math:`\|\Delta\theta\|_2 \le \varepsilon_w
    \|\theta_0\|_2` (the L2 norm of the flat vector; the authors' code uses an
    absolute radius). Steps are full batch.

    Parameters
    ----------
    estimator : estimator or None, default=None
        Unfitted LogisticRegression, SGDClassifier(loss="log_loss") or skorch
        NeuralNetClassifier. ``None`` means ``LogisticRegression()``.
    epsilon_w : float > 0, default=0.5
        Relative radius of the corruption.
    max_iter : int, default=100
        Number of ascent steps.
    lr : float > 0, default=0.1
        Step length as a fraction of the radius.
    verbose : int, default=0
        Show a tqdm progress bar over the ascent steps, with the current mean training
        loss, when > 0.

    Attributes
    ----------
    clean_model_ : estimator
        The estimator fitted on the clean data.
    target_model_ : estimator
        A deep copy of ``clean_model_`` carrying the corrupted parameters;
        usable with ``predict``.
    target_params_ : ndarray of shape (n_params,)
        The corrupted flat parameter vector.
    relative_change_ : float
        :math:`\|\Delta\theta\|_2 / \|\theta_0\|_2` (at most ``epsilon_w``).
    loss_history_ : ndarray
        Mean training loss at the start and after every step.
    n_iter_ : int
        Ascent steps performed (at least 1; fewer than ``max_iter`` only if
        the gradient vanished).
    classes_ : ndarray
        Class labels.
    n_features_in_ : int
        Number of features.

    See Also
    --------
    GradientCanceling : Reaches a target model by data poisoning.

    References
    ----------
    X. Sun et al., "Exploring the vulnerability of deep neural networks: a study
    of parameter corruption", AAAI 2021 (arXiv 2020).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklpoison import GradPC
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> pc = GradPC(LogisticRegression(max_iter=500), epsilon_w=1.0).fit(X, y)
    >>> bool(pc.score(X, y) < pc.clean_model_.score(X, y) - 0.3)
    True
    """

    _parameter_constraints = {
        "estimator": "no_validation",
        "epsilon_w": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "verbose": ["verbose"],
    }

    def __init__(self, estimator=None, *, epsilon_w=0.5, max_iter=100, lr=0.1, verbose=0):
        self.estimator = estimator
        self.epsilon_w = epsilon_w
        self.max_iter = max_iter
        self.lr = lr
        self.verbose = verbose

    def _model(self):
        return self.target_model_

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the clean model and corrupt its parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Clean training inputs.
        y : array-like of shape (n_samples,)
            Clean training labels.

        Returns
        -------
        self : GradPC
        """
        estimator = _default_estimator(self.estimator)
        self._kind_ = check_supported(estimator, "GradPC")
        X, y = _validate_Xy(self, X, y, self._kind_)
        check_n_classes(y, "GradPC")
        self.clean_model_ = _fit_clean(estimator, X, y)
        classes = np.unique(y) if self._kind_ == "skorch" else None
        adapter = make_param_grad_adapter(self.clean_model_, classes=classes)
        self.classes_ = adapter.classes_
        yi = _label_codes(self.classes_, y, "GradPC")
        theta0 = adapter.get_theta()
        theta, self.loss_history_, self.n_iter_ = _grad_pc(
            adapter, X, yi, self.epsilon_w, self.max_iter, self.lr, self.verbose
        )
        norm0 = np.linalg.norm(theta0)
        self.relative_change_ = float(np.linalg.norm(theta - theta0) / norm0) if norm0 else 0.0
        self.target_params_ = theta
        self.target_model_ = adapter.with_theta(theta)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
