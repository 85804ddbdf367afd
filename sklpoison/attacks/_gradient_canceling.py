"""Gradient Canceling (Lu, Kamath and Yu, 2023): model-targeted indiscriminate poisoning."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..base import BaseSampler
from ..numerics._param_gradients import check_supported, make_param_grad_adapter
from ..utils._progress import progress
from ..utils.validation import (
    _default_estimator,
    _fit_clean,
    _label_codes,
    _validate_Xy,
    check_budget_rows,
    check_finite_result,
    check_n_classes,
    check_y_given,
    fraction_to_count,
)
from ._gradpc import GradPC
from ._threshold import _threshold_from_adapter

# ------------------------------------------------------------ Gradient Canceling
# most poisons per clean row accepted: beyond it the clean data are under 1% of the
# training set, which no indiscriminate-poisoning threat model means
_MAX_POISON_RATE = 100.0


def _resolve_target(target, clean_model, adapter, X, y, epsilon_w, kind):
    """Return ``(target_model, target_theta)`` from the ``target`` parameter."""
    if target is None or isinstance(target, GradPC):
        pc = GradPC(clone(clean_model), epsilon_w=epsilon_w) if target is None else clone(target)
        pc.fit(X, y)
        return pc.target_model_, pc.target_params_
    if hasattr(target, "fit"):  # a fitted estimator of the same kind
        if type(target) is not type(clean_model):
            raise ValueError(
                f"target is a {type(target).__name__} but the victim estimator is a "
                f"{type(clean_model).__name__}; the target must be a fitted model of the "
                f"same class (or a flat parameter vector)."
            )
        check_is_fitted(target)
        classes = adapter.classes_ if kind == "skorch" else None
        theta = make_param_grad_adapter(target, classes=classes).get_theta()
    else:
        theta = np.asarray(target, dtype=float)
        if theta.ndim != 1:
            theta = theta.ravel() if theta.ndim == 2 and 1 in theta.shape else theta
    if theta.ndim != 1 or theta.shape[0] != adapter.n_params:
        raise ValueError(
            f"target has {np.asarray(theta).shape} parameters but the victim model has "
            f"{adapter.n_params} (a flat vector: coef.ravel() then intercept for linear "
            f"models). Pass a target of matching shape."
        )
    return adapter.with_theta(theta), theta


def _rows_by_residual(adapter, theta, X, yi, m, rng):
    """Draw ``m`` clean rows of the classes that can cancel the mean residual.

    The mean residual ``r = mean_i (p_i - e_{y_i})`` (the intercept part of
    ``g(mu)``) can only be pulled down by poisons of the classes the target
    over-predicts (``r_k > 0``; a poison of class ``k`` contributes
    ``p_k - 1 > -1`` to coordinate ``k``), while a poison of an
    under-predicted class pushes its own coordinate further the wrong way.
    Classes are therefore allotted in proportion to ``max(r_k, 0)``
    (empirical class frequencies if no class is over-predicted), rows drawn at
    random within each class.
    """
    c = adapter.n_classes
    r = adapter.mean_residual(theta, X, yi)
    counts_avail = np.bincount(yi, minlength=c)
    q = np.where(counts_avail > 0, np.maximum(r, 0.0), 0.0)
    if q.sum() <= 0:
        q = counts_avail.astype(float)
    raw = q / q.sum() * m
    k = np.floor(raw).astype(int)
    k[np.argsort(raw - k)[::-1][: m - k.sum()]] += 1
    rows = [
        rng.choice(np.flatnonzero(yi == cls), size=kc, replace=kc > counts_avail[cls])
        for cls, kc in enumerate(k)
        if kc > 0
    ]
    return rng.permutation(np.concatenate(rows))


def _check_poison_budget(poison_rate, m, X):
    """Refuse ``m`` poisons the data cannot sensibly carry, before any allocation: the
    poisons, their gradient, momentum and next iterate, and the resampled set."""
    n = X.shape[0]
    check_budget_rows(
        m,
        n,
        name="poison_rate",
        value=poison_rate,
        who="GradientCanceling",
        row_shape=X.shape[1:],
        itemsize=X.dtype.itemsize,
        n_copies=5,
        max_per_row=_MAX_POISON_RATE,
        sensible=(
            f"poison_rate is the number of poisons per clean row: the Gradient Canceling "
            f"paper uses 0.03 to 1, the poisonability threshold tau can call for a few; "
            f"use 0 < poison_rate <= {_MAX_POISON_RATE:g}, and fewer rows (a subsample) "
            f"when memory is short."
        ),
    )


def _cosine_lr(lr, t, T):
    return lr * 0.5 * (1.0 + np.cos(np.pi * t / max(T, 1)))


class GradientCanceling(BaseSampler):
    r"""Gradient Canceling attack (Lu, Kamath and Yu, 2023, Algorithm 1), a sampler.

    ``fit_resample(X, y)`` fits ``estimator`` on the clean data, builds a
    target model with :class:`GradPC` (unless ``target`` is given), copies
    ``m = round(n * poison_rate)`` random clean rows (keeping their labels) and
    optimises their features so that retraining on clean :math:`\cup` poison
    is stationary at the target :math:`w`:

    .. math::
        \min_{x_1..x_m} \tfrac12 \big\|g(\mu) + \nabla R(w)/n
        + \tfrac1n \textstyle\sum_j \nabla_w \ell(x_j, y_j; w)\big\|_2^2,

    the paper's equation (33) (:math:`\varepsilon_d \hat g(\nu) =
    \tfrac1n\sum_j`) plus the estimator's regulariser :math:`R` in the
    scaling of its objective (e.g. :math:`\tfrac{1}{Cn}\nabla R` for
    LogisticRegression), so that the *regularised* retraining is stationary at
    :math:`w`. Gradients are full batch and, by default (``cancel="all"``),
    over the whole parameter vector (coefficients *and* intercept; every
    trainable tensor of a net); ``cancel="first_layer"`` cancels the first
    parameter tensor only (the coefficients of a linear model, the first
    layer's weight of a net; intercepts and biases left free), as the authors'
    code does. The optimiser is SGD
    with momentum and a cosine schedule (Appendix C.1); the gradient is
    divided by its root-mean-square at the first step, so that ``lr`` is the
    RMS displacement of a feature in the first step, in the units of ``X``
    (independent of the data size and of the scale of the target). Returns
    the clean rows followed by the poisons; inside
    :class:`imblearn.pipeline.Pipeline` the attack applies to training folds
    only.

    Parameters
    ----------
    estimator : estimator or None, default=None
        Unfitted victim: LogisticRegression (binary or multinomial),
        SGDClassifier(loss="log_loss") or a skorch NeuralNetClassifier.
        ``None`` means ``LogisticRegression()``.
    target : None, GradPC, fitted estimator or array-like, default=None
        ``None``: ``GradPC(estimator, epsilon_w=epsilon_w)`` on the clean
        data. A :class:`GradPC` instance: cloned and fitted. A fitted
        estimator of the victim's class: its parameters. An array: a flat
        parameter vector (``coef_.ravel()`` then ``intercept_`` for linear
        models; the net's trainable parameters in order).
    epsilon_w : float > 0, default=1.0
        GradPC radius when ``target`` is None.
    poison_rate : float in (0, 100], default=0.1
        Poisons relative to the clean set size (may exceed 1). A value above 100
        is refused before anything is allocated (the message gives the rows and
        bytes it implies).
    max_iter : int, default=1000
        Optimisation steps (epochs of full-batch descent).
    lr : float > 0, default=0.005
        Initial step size: the RMS change of a poison feature in the first
        step, in the units of ``X`` (the gradient is normalised by its RMS at
        the first step); decays with a cosine schedule. The outcome is
        sensitive to it (a factor of 10 can decide between reaching the
        target, stalling and diverging): check ``gradient_norm_history_``.
    momentum : float in [0, 1), default=0.9
        Momentum of the SGD optimiser.
    clip : bool or (low, high), default=False
        ``True``: project the poisons onto the per-feature range of the clean
        data (the paper's GC-c). A pair: project onto ``[low, high]``
        (scalars or arrays broadcastable to one row).
    labels : {"sample", "residual"}, default="sample"
        How the poisons' (fixed) labels are chosen. ``"sample"``: the poisons
        start from uniformly drawn clean rows and keep their labels (the
        paper). ``"residual"``: rows are drawn class by class, in proportion to
        how much the target over-predicts each class (the positive part of the
        mean residual ``mean_i (p_i - e_{y_i})``, the intercept part of
        :math:`g(\mu)`), which only poisons of that class can cancel. With
        an intercept and ``"sample"`` labels, a target that over-predicts one
        class can need far more poisons than :math:`\tau` says; for targets
        that over-predict no class by much, ``"sample"`` is the better choice.
    cancel : {"all", "first_layer"}, default="all"
        Which parameters' gradient is cancelled. ``"all"``: the whole parameter
        vector, so that retraining is stationary at the target. ``"first_layer"``:
        the first parameter tensor only (bias excluded), the authors' variant:
        the first in the module's parameter order, which is the first layer's
        weight for a network that starts with ``nn.Linear`` or ``nn.Conv2d`` but,
        for one that starts with a normalisation layer (``nn.LayerNorm``), that
        layer's 1-D scale; the norm minimised, the history and ``tol`` then refer
        to that block;
        the other parameters (the intercept of a linear model) stay free and
        retraining generally does not stop at the target.
    tol : float >= 0, default=0.0
        Stop early when :math:`\|g(\chi)\|_2 \le` ``tol`` (over the
        cancelled block).
    random_state : int, RandomState instance or None, default=None
        Picks the clean rows the poisons start from.
    verbose : int, default=0
        Show a tqdm progress bar over the steps (on stderr) when > 0. What a fit
        costs, with ``n`` clean rows of ``d`` features, ``C`` classes and
        ``m = round(poison_rate * n)`` poisons: the victim's fit and the GradPC target
        (full-batch gradients on the ``n`` rows, ``O(n d C)`` each for a linear
        model), then ``max_iter`` steps, each a gradient of the poisons' loss
        gradient with respect to their features: ``O(m d C)`` per step for a linear
        model, about three backward passes over the ``m`` poisons for a network.

    Attributes
    ----------
    clean_model_ : estimator
        Victim fitted on the clean data.
    target_model_ : estimator
        The target model (same class as the victim).
    target_params_ : ndarray of shape (n_params,)
        Flat target parameters.
    tau_ : float
        :func:`poisonability_threshold` of the target with the penalty
        included (equation 20, 29, or Theorem 4's last layer for a net), for
        cancelling the whole parameter vector (``cancel="all"``; it is computed
        the same way with ``cancel="first_layer"``).
    intercept_bound_ : float
        ``intercept_bound`` of :func:`poisonability_threshold` at the target,
        ``sum_k max(r_k, 0)`` for a softmax model with
        ``r = mean_i (p_i - e_{y_i})`` (``nan`` without an
        intercept): with an intercept, cancelling it (``cancel="all"``) also
        needs ``poison_rate > intercept_bound_``, and with ``labels="sample"`` the
        poisons of an over-predicted class ``k`` number only about
        ``m n_k / n``, so the practical bound is larger still.
    gradient_norm_history_ : ndarray of shape (n_steps + 1,)
        :math:`\|g(\chi)\|_2`, the gradient of the retraining objective per
        row over clean :math:`\cup` poison at the target, before each step and
        at the end. The poisons returned are those of its smallest entry (the
        last ones unless the descent oscillated).
    initial_gradient_norm_ : float
        :math:`\|g(\mu)\|_2` (penalty included; over the cancelled block):
        the norm without poisons.
    changed_indices_ : ndarray of int
        Rows of the output of the last :meth:`fit_resample` that are poisons
        (``n .. n+m-1``); the name every sampler uses.
    n_changed_ : int
        ``m``, set by :meth:`fit_resample`.
    source_indices_ : ndarray of int
        Clean rows the poisons started from.
    X_poison_ : ndarray of shape (m, n_features)
        The crafted poisons (set by :meth:`fit`; ``m = X_poison_.shape[0]``).
    y_poison_ : ndarray of shape (m,)
        Their labels.
    n_iter_ : int
        Steps performed.
    classes_ : ndarray
        Class labels.
    n_features_in_ : int
        Number of features.

    See Also
    --------
    GradPC : Builds the target model.
    poisonability_threshold : The threshold tau.
    Sever : A defence.

    References
    ----------
    Y. Lu, G. Kamath, Y. Yu, "Exploring the limits of model-targeted
    indiscriminate data poisoning attacks", ICML 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklpoison import GradientCanceling
    >>> from sklpoison.datasets import make_or
    >>> X, y = make_or(random_state=0)
    >>> lr = LogisticRegression(fit_intercept=False, C=np.inf)
    >>> gc = GradientCanceling(lr, target=[-0.5, -1.0], poison_rate=4.0, max_iter=1000,
    ...                        random_state=0)
    >>> X_res, y_res = gc.fit_resample(X, y)
    >>> X_res.shape, round(gc.tau_, 2)
    ((1000, 2), 2.02)
    >>> LogisticRegression(fit_intercept=False, C=np.inf).fit(X_res, y_res).coef_.round(2)
    array([[-0.5, -1. ]])
    """

    _prefer_skip_nested_validation = False  # fits the estimator given as a parameter

    _parameter_constraints = {
        "estimator": "no_validation",
        "target": "no_validation",
        "epsilon_w": [Interval(Real, 0, None, closed="neither")],
        "poison_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "clip": ["boolean", tuple, list],
        "labels": [StrOptions({"sample", "residual"})],
        "cancel": [StrOptions({"all", "first_layer"})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        target=None,
        epsilon_w=1.0,
        poison_rate=0.1,
        max_iter=1000,
        lr=0.005,
        momentum=0.9,
        clip=False,
        labels="sample",
        cancel="all",
        tol=0.0,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.target = target
        self.epsilon_w = epsilon_w
        self.poison_rate = poison_rate
        self.max_iter = max_iter
        self.lr = lr
        self.momentum = momentum
        self.clip = clip
        self.labels = labels
        self.cancel = cancel
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    def _bounds(self, X):
        if self.clip is False:
            return None
        if self.clip is True:
            return X.min(axis=0), X.max(axis=0)
        if len(self.clip) != 2:
            raise ValueError(f"clip must be a bool or a (low, high) pair; got {self.clip!r}.")
        low, high = (np.broadcast_to(np.asarray(v, dtype=X.dtype), X.shape[1:]) for v in self.clip)
        if np.any(np.isnan(low)) or np.any(np.isnan(high)):  # NaN compares False: no clip
            raise ValueError(
                f"GradientCanceling: clip={self.clip!r} holds NaN; give numbers as bounds "
                "(-np.inf / np.inf for no bound)."
            )
        if np.any(low > high):
            raise ValueError("clip=(low, high) needs low <= high everywhere.")
        return low, high

    def _fit(self, X, y):
        check_y_given(y, type(self).__name__)
        estimator = _default_estimator(self.estimator)
        kind = check_supported(estimator, "GradientCanceling")
        if kind == "skorch" and getattr(estimator, "kappa", 0) > 0:
            warnings.warn(
                "GradientCanceling cancels the gradient of the cross-entropy only; the "
                f"input-gradient penalty kappa={estimator.kappa} of the victim is not modelled.",
                UserWarning,
                stacklevel=3,
            )
        X, y = _validate_Xy(self, X, y, kind)
        n = X.shape[0]
        check_n_classes(y, "GradientCanceling")
        m = fraction_to_count(
            self.poison_rate,
            n,
            name="poison_rate",
            who="GradientCanceling",
            noun="poisons",
            min_count=1,
        )
        _check_poison_budget(self.poison_rate, m, X)
        self.clean_model_ = _fit_clean(estimator, X, y)
        classes = np.unique(y) if kind == "skorch" else None
        clean_adapter = make_param_grad_adapter(self.clean_model_, classes=classes)
        self.classes_ = clean_adapter.classes_
        self.target_model_, theta = _resolve_target(
            self.target, self.clean_model_, clean_adapter, X, y, self.epsilon_w, kind
        )
        self.target_params_ = np.asarray(theta, dtype=float)
        adapter = make_param_grad_adapter(self.target_model_, classes=classes)
        yi = _label_codes(self.classes_, y, "GradientCanceling")
        threshold = _threshold_from_adapter(
            adapter, theta, X, yi, formula="auto", include_intercept=True, include_penalty=True
        )
        self.tau_ = threshold.tau
        self.intercept_bound_ = threshold.intercept_bound

        rng = check_random_state(self.random_state)
        if self.labels == "sample":
            src = rng.choice(n, size=m, replace=m > n)
        else:
            src = _rows_by_residual(adapter, theta, X, yi, m, rng)
        Xp = np.array(X[src], dtype=X.dtype, copy=True)
        yp = yi[src]
        bounds = self._bounds(X)
        if bounds is not None:
            Xp = np.clip(Xp, *bounds)
        g_eff = adapter.data_grad(theta, X, yi) + adapter.penalty_grad(theta, n, m)
        mask = adapter.cancel_mask(self.cancel)
        self.initial_gradient_norm_ = float(np.linalg.norm(g_eff if mask is None else g_eff[mask]))
        norm = self.initial_gradient_norm_
        check_finite_result(norm, "GradientCanceling", what="target's gradient norm", X=X)
        scale = n / (n + m)  # u -> g(chi)
        velocity = np.zeros_like(Xp)
        history = []
        steps = progress(range(self.max_iter), self.verbose, desc="GradientCanceling", unit="step")
        n_iter = 0
        best_norm, best_Xp = np.inf, Xp
        for t in steps:
            u, grad = adapter.gc_grad(theta, g_eff, Xp, yp, n, mask)
            history.append(scale * np.linalg.norm(u))
            if history[-1] < best_norm:
                best_norm, best_Xp = history[-1], Xp
            if history[-1] <= self.tol:
                break
            if t == 0:  # the first step moves the poisons by ``lr`` in RMS
                grad_scale = float(np.sqrt(np.mean(grad * grad)))
                if not np.isfinite(grad_scale) or grad_scale == 0.0:
                    grad_scale = 1.0
            velocity = self.momentum * velocity + grad / grad_scale
            Xp_new = Xp - _cosine_lr(self.lr, t, self.max_iter) * velocity.astype(Xp.dtype)
            if bounds is not None:
                Xp_new = np.clip(Xp_new, *bounds)
            if not np.all(np.isfinite(Xp_new)):
                warnings.warn(
                    f"GradientCanceling diverged at step {t + 1} (non-finite poison features); "
                    "returning the best finite poisons. Lower lr.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
                break
            Xp = Xp_new
            n_iter += 1
        else:
            u, _ = adapter.gc_grad(theta, g_eff, Xp, yp, n, mask)
            history.append(scale * np.linalg.norm(u))
            if history[-1] < best_norm:
                best_norm, best_Xp = history[-1], Xp
        self.gradient_norm_history_ = np.asarray(history)
        self.n_iter_ = n_iter
        self.source_indices_ = src
        self.X_poison_ = best_Xp
        self.y_poison_ = y[src]
        return X, y

    def _resample(self, X, y):
        n = X.shape[0]
        X_res = np.concatenate([X, self.X_poison_.astype(X.dtype)], axis=0)
        y_res = np.concatenate([y, self.y_poison_])
        return X_res, y_res, np.arange(n, n + self.X_poison_.shape[0])
