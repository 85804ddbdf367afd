"""Gradient Canceling, GradPC target models, the poisonability threshold and Sever.

Implements Lu, Kamath and Yu (2023), "Exploring the limits of model-targeted
indiscriminate data poisoning attacks": the threshold tau of equations (20)
and (29) (Theorem 4 for networks), the Gradient Canceling attack of
Algorithm 1 as an imbalanced-learn style sampler, the GradPC parameter
corruption of Sun et al. (2020) that produces its target models, and the Sever
defence of Diakonikolas et al. (2019).

torch / skorch are only imported when a skorch net is used.
"""

import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from scipy.special import lambertw
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import randomized_svd
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._gc_models import check_supported, make_adapter
from ._poison import BasePoisonSampler, _check_y_classes

__all__ = ["poisonability_threshold", "ThresholdResult", "GradPC", "GradientCanceling", "Sever"]

_FORMULAS = ("auto", "binary", "multiclass", "tau2")


def _default_estimator(estimator):
    if estimator is None:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression()
    return estimator


def _validate_Xy(est, X, y, kind, reset=True):
    """Validate ``X, y``; skorch nets get float32 inputs and int64 labels."""
    if kind == "skorch":
        X, y = validate_data(est, X, y, allow_nd=True, dtype=np.float32, reset=reset)
        if y.dtype.kind in "iub":
            y = y.astype(np.int64)
    else:
        X, y = validate_data(est, X, y, dtype=[np.float64, np.float32], reset=reset)
    check_classification_targets(y)
    return X, y


def _label_codes(classes, y, who):
    classes = np.asarray(classes)
    unknown = np.setdiff1d(np.unique(y), classes)
    if unknown.size:
        raise ValueError(
            f"{who}: y contains labels {unknown.tolist()} that the model does not know "
            f"(its classes are {classes.tolist()})."
        )
    return np.searchsorted(classes, y)


def _fit_clean(estimator, X, y):
    model = clone(estimator)
    model.fit(X, y)
    return model


# ------------------------------------------------------------------- threshold
class ThresholdResult(NamedTuple):
    r"""Result of :func:`poisonability_threshold`.

    Attributes
    ----------
    tau : float
        The threshold: data poisoning cannot reach the target unless
        ``epsilon_d >= tau``. ``tau <= 0`` means no obstruction.
    inner_product : float
        ``<w, g(mu)>``: the target parameters against the mean clean gradient.
    lambert_w : float
        The Lambert-W denominator (``W(1/e)``, ``W((c-1)/e)``, ...).
    n_classes : int
        Number of classes ``c``.
    formula : str
        The formula used (``"binary"``, ``"multiclass"``, ``"tau2"``,
        ``"ovr"``).
    intercept_bound : float
        ``max(sum_k max(r_k, 0), max_k max(-r_k, 0))`` with
        ``r = mean_i (p_i - y_i)`` the intercept part of :math:`g(\mu)` (for
        a softmax model, where ``sum_k r_k = 0``, this is ``sum_k max(r_k, 0)``
        ``= ||r||_1 / 2``; a one-vs-rest model that over-predicts no class
        also needs ``sum_k |r_k| / (c - 1)``): a second necessary condition
        ``epsilon_d > intercept_bound`` when the model has an intercept, tight
        for the intercept coordinates alone; ``nan`` without an intercept or
        with ``include_intercept=False``.
    """

    tau: float
    inner_product: float
    lambert_w: float
    n_classes: int
    formula: str
    intercept_bound: float = float("nan")


def _lambert_denominator(n_classes, formula, ovr):
    w1 = float(lambertw(1.0 / np.e).real)
    if formula == "binary":
        if n_classes != 2:
            raise ValueError(
                f"formula='binary' is equation (20) for binary classifiers, but the data has "
                f"{n_classes} classes. Use formula='multiclass' (equation 29, W((c-1)/e)) or "
                f"formula='tau2' (the paper's tau(2), W(1/e))."
            )
        return w1, "binary"
    if formula == "tau2":
        return w1, "tau2"
    if n_classes == 2:
        return w1, "binary"
    if ovr:
        # one-vs-rest sum of c binary logistic losses: each term t (sigmoid(t) - y)
        # is bounded below by -W(1/e) independently, so the infimum is -c W(1/e)
        return n_classes * w1, "ovr"
    return float(lambertw((n_classes - 1) / np.e).real), "multiclass"


def _intercept_bound(r, ovr=False):
    """Smallest ``epsilon_d`` at which poisons can cancel the mean residual ``r``.

    Stationarity of the intercept reads ``n r + sum_j r_j = 0`` with
    ``r_j = p_j - e_{y_j}`` the residual of poison ``j``. A coordinate ``k``
    with ``r_k > 0`` is pulled down only by poisons *of class* ``k``, each by
    less than 1 (``p_jk - 1 > -1``; the others add ``p_jk >= 0``), so the
    poisons of class ``k`` number more than ``n r_k``, and those counts add up
    to at most ``m``: ``epsilon_d > sum_k max(r_k, 0)``. A coordinate with
    ``r_k < 0`` is pushed up by less than 1 per poison:
    ``epsilon_d > max_k max(-r_k, 0)``. For a softmax model (``sum_k r_k = 0``)
    the first bound is the larger, ``||r||_1 / 2``, and it is attained in the
    limit: ``m_k > n r_k`` poisons of each class ``k`` with ``r_k > 0``, with
    probabilities ``(1 - s_k) e_k + s_k q`` (``s_k = n r_k / m_k`` and ``q``
    proportional to the negative part of ``r``; logits saturating), and any
    further poisons confidently correct, sum to ``-n r``.
    For binary data ``r`` is ``(-r_1, r_1)`` and the bound is ``|r_1|``.

    One-vs-rest sigmoid models (``ovr=True``) have no ``sum_k r_k = 0``; the
    two bounds above are then tight unless no class is over-predicted, in
    which case every poison is of an under-predicted class ``l`` and cannot
    push its own coordinate up: ``(c - 1) m >= n sum_l |r_l|`` as well.
    """
    r = np.asarray(r, dtype=float)
    pos, neg = np.maximum(r, 0.0), np.maximum(-r, 0.0)
    bound = max(pos.sum(), neg.max())
    if ovr and pos.sum() == 0.0 and r.size > 1:
        bound = max(bound, neg.sum() / (r.size - 1))
    return float(bound)


def _threshold_from_adapter(adapter, theta, X, yi, *, formula, include_intercept, include_penalty):
    n = X.shape[0]
    inner = float(np.mean(adapter.margins(theta, X, yi, include_intercept)))
    if include_penalty:
        inner += float(theta @ adapter.penalty_grad(theta, n, 0))
    ovr = getattr(adapter, "link", "softmax") == "sigmoid" and getattr(adapter, "K", 1) > 1
    denom, name = _lambert_denominator(adapter.n_classes, formula, ovr)
    bound = float("nan")
    if include_intercept and getattr(adapter, "has_intercept", False):
        bound = _intercept_bound(adapter.mean_residual(theta, X, yi), ovr=ovr)
    return ThresholdResult(inner / denom, inner, denom, int(adapter.n_classes), name, bound)


def poisonability_threshold(
    model,
    X,
    y,
    *,
    formula="auto",
    include_intercept=True,
    include_penalty=False,
    coef=None,
    intercept=None,
):
    r"""Poisonability threshold :math:`\tau` of a target model (Lu et al., 2023).

    For a linear classifier with logistic loss and target parameters
    :math:`w`, no poisoning set of relative size :math:`\varepsilon_d` (however
    crafted) makes retraining on clean :math:`\cup` poison land on :math:`w`
    unless :math:`\varepsilon_d \ge \tau`, with

    - binary, equation (20): :math:`\tau = \langle w, g(\mu)\rangle / W(1/e)`,
      :math:`W(1/e) = 0.278464\ldots`;
    - multiclass softmax, equation (29):
      :math:`\tau(c) = \langle W, G(\mu)\rangle / W((c-1)/e)`;
    - the paper's :math:`\tau(2)` on multiclass data (``formula="tau2"``):
      :math:`\langle W, G(\mu)\rangle / W(1/e)`, less conservative, used in
      its Table 2.

    :math:`g(\mu)` is the mean loss gradient over the clean data at the target
    and :math:`W` is Lambert's W function (:func:`scipy.special.lambertw`). For
    binary data the condition is necessary and sufficient when the features are
    unconstrained; on multiclass data (a trace of Theorem 3) and for networks
    (Theorem 4: the last layer, with :math:`\varphi(x)` the penultimate
    features) it is necessary only. The inner product is computed as the mean
    of :math:`\langle h_i, p_i - y_i\rangle` over the rows, with :math:`h_i`
    the logits, which is :math:`\langle W, G(\mu)\rangle` for the last layer
    (bias included); a network must end in a linear layer, optionally followed
    by a softmax (log-probabilities then stand in for the logits, the inner
    product being invariant to a constant shift of :math:`h`).

    **Intercept.** With ``include_intercept=True`` (default) the intercept is
    treated as the weight of a constant feature equal to 1 and included in
    :math:`w`. The bound on a single poison's contribution still holds, so the
    condition is necessary; it is no longer sufficient, since a poison cannot
    move its constant feature onto the line of :math:`g(\mu)` (Theorem 2's
    construction). ``include_intercept=False`` uses the coefficients only.
    The intercept gives a second necessary condition of its own, returned as
    ``intercept_bound``: its gradient is the mean residual
    :math:`\bar r = \mathrm{mean}_i (p_i - y_i)`. A coordinate
    :math:`\bar r_k > 0` can only be pulled down by poisons of class
    :math:`k`, each by less than 1 (the residual of a poison of class
    :math:`k` is :math:`p_k - 1 \in (-1, 0]`, that of any other poison
    :math:`p_k \ge 0`), so cancelling needs more than :math:`n \bar r_k`
    poisons of each over-predicted class :math:`k`:
    :math:`\varepsilon_d > \sum_k \max(\bar r_k, 0)` (:math:`=
    \|\bar r\|_1 / 2` for a softmax model; :math:`|\bar r_1|` for binary
    data), and :math:`\varepsilon_d > \max_k \max(-\bar r_k, 0)` for the
    under-predicted ones; ``intercept_bound`` is the larger of the two, and
    it is tight for the intercept coordinates alone. A target that
    over-predicts one class by a margin (GradPC targets do) can have a small
    :math:`\tau` and a large ``intercept_bound``.

    Parameters
    ----------
    model : fitted estimator or None
        The *target* model: a fitted
        :class:`~sklearn.linear_model.LogisticRegression` (binary or
        multinomial), :class:`~sklearn.linear_model.SGDClassifier` with
        ``loss="log_loss"`` (one-vs-rest when multiclass: the denominator is
        then :math:`c\,W(1/e)`), or a fitted skorch ``NeuralNetClassifier``.
        ``None`` to pass the parameters as ``coef`` and ``intercept``.
    X : array-like of shape (n_samples, n_features)
        Clean training inputs.
    y : array-like of shape (n_samples,)
        Clean training labels.
    formula : {"auto", "binary", "multiclass", "tau2"}, default="auto"
        ``"auto"``/``"multiclass"``: equation (20) for two classes, (29)
        otherwise. ``"binary"``: equation (20), refused on multiclass data.
        ``"tau2"``: :math:`\tau(2)`.
    include_intercept : bool, default=True
        Include the intercept in :math:`w` (see above). Linear models only;
        networks always include the last layer's bias.
    include_penalty : bool, default=False
        Add the estimator's regulariser to the clean gradient
        (:math:`g(\mu) + \nabla R(w)/(C n)` for LogisticRegression), i.e. use
        the stationarity condition of the regularised retraining objective.
        The paper's formula has no penalty.
    coef : array-like of shape (1, n_features) or (n_classes, n_features), default=None
        Explicit target coefficients when ``model`` is None: one row is a
        binary sigmoid model (the second class positive), ``n_classes`` rows
        a softmax model.
    intercept : array-like of shape (n_rows_of_coef,), default=None
        Explicit target intercept (``None``: no intercept).

    Returns
    -------
    result : ThresholdResult
        ``(tau, inner_product, lambert_w, n_classes, formula,
        intercept_bound)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import poisonability_threshold
    >>> X, y = np.array([[1.0], [-1.0]]), np.array([1, 0])
    >>> res = poisonability_threshold(None, X, y, coef=[[-1.0]])
    >>> round(res.lambert_w, 6), round(res.tau, 4)
    (0.278465, 2.6253)
    """
    from ._gc_models import LinearAdapter

    if formula not in _FORMULAS:
        raise ValueError(f"formula must be one of {_FORMULAS}; got {formula!r}.")
    X = np.asarray(X)
    y = np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and y have inconsistent numbers of rows: {X.shape[0]} and {y.shape[0]}."
        )
    if model is None:
        if coef is None:
            raise ValueError("Pass a fitted model, or model=None with coef (and intercept).")
        coef = np.atleast_2d(np.asarray(coef, dtype=float))
        classes = np.unique(y)
        c = classes.size
        if coef.shape[1] != X.shape[1]:
            raise ValueError(f"coef has {coef.shape[1]} columns but X has {X.shape[1]} features.")
        if coef.shape[0] == 1:
            if c != 2:
                raise ValueError(
                    f"coef has one row (a binary model) but y has {c} classes; pass "
                    f"{c} rows for a softmax model."
                )
            link = "sigmoid"
        elif coef.shape[0] == c:
            link = "softmax"
        else:
            raise ValueError(
                f"coef must have 1 row (binary) or one row per class ({c}); got "
                f"{coef.shape[0]} rows."
            )
        if intercept is not None:
            intercept = np.asarray(intercept, dtype=float).ravel()
            if intercept.shape[0] != coef.shape[0]:
                raise ValueError(
                    f"intercept has {intercept.shape[0]} entries, coef has {coef.shape[0]} rows."
                )
        adapter = LinearAdapter(coef, intercept, classes, link)
        X = X.astype(float)
    else:
        kind = check_supported(model, "poisonability_threshold")
        check_is_fitted(model)
        adapter = make_adapter(model, classes=np.unique(y) if kind == "skorch" else None)
        if kind == "skorch":
            X = X.astype(np.float32)
        elif X.ndim != 2 or X.shape[1] != adapter.d:
            raise ValueError(f"X has shape {X.shape}, but the model has {adapter.d} features.")
    yi = _label_codes(adapter.classes_, y, "poisonability_threshold")
    return _threshold_from_adapter(
        adapter,
        adapter.get_theta(),
        X,
        yi,
        formula=formula,
        include_intercept=include_intercept,
        include_penalty=include_penalty,
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
    for it in range(max_iter):
        g = adapter.data_grad(theta0 + a, X, yi)
        gn = np.linalg.norm(g)
        if gn == 0 or radius == 0:
            break
        n_iter += 1
        a = a + lr * radius * g / gn
        an = np.linalg.norm(a)
        if an > radius:
            a *= radius / an
        history.append(adapter.data_loss(theta0 + a, X, yi))
        if verbose > 1:
            print(f"GradPC iteration {it + 1}: training loss {history[-1]:.4f}")
    return theta0 + a, np.asarray(history), max(n_iter, 1)


class _DelegatingClassifierMixin:
    """predict / predict_proba / decision_function delegated to ``self._model()``."""

    def _checked_X(self, X):
        check_is_fitted(self)
        model = self._model()
        if self._kind_ == "skorch":
            X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        else:
            X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return model, X

    def predict(self, X):
        """Predict class labels with the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        model, X = self._checked_X(X)
        return model.predict(X)

    def predict_proba(self, X):
        """Class probabilities of the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        model, X = self._checked_X(X)
        return model.predict_proba(X)


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
        Print the training loss per step when > 1.

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
        self._validate_params()
        estimator = _default_estimator(self.estimator)
        self._kind_ = check_supported(estimator, "GradPC")
        X, y = _validate_Xy(self, X, y, self._kind_)
        self.clean_model_ = _fit_clean(estimator, X, y)
        classes = np.unique(y) if self._kind_ == "skorch" else None
        adapter = make_adapter(self.clean_model_, classes=classes)
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


# ------------------------------------------------------------ Gradient Canceling
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
        theta = make_adapter(target, classes=adapter.classes_ if kind == "skorch" else None)
        theta = theta.get_theta()
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


def _cosine_lr(lr, t, T):
    return lr * 0.5 * (1.0 + np.cos(np.pi * t / max(T, 1)))


class GradientCanceling(BasePoisonSampler):
    r"""Gradient Canceling attack (Lu, Kamath and Yu, 2023, Algorithm 1), a sampler.

    ``fit_resample(X, y)`` fits ``estimator`` on the clean data, builds a
    target model with :class:`GradPC` (unless ``target`` is given), copies
    ``m = round(n * epsilon_d)`` random clean rows (keeping their labels) and
    optimises their features so that retraining on clean :math:`\cup` poison
    is stationary at the target :math:`w`:

    .. math::
        \min_{x_1..x_m} \tfrac12 \big\|g(\mu) + \nabla R(w)/n
        + \tfrac1n \textstyle\sum_j \nabla_w \ell(x_j, y_j; w)\big\|_2^2,

    the paper's equation (33) (:math:`\varepsilon_d \hat g(\nu) =
    \tfrac1n\sum_j`) plus the estimator's regulariser :math:`R` in the
    scaling of its objective (e.g. :math:`\tfrac{1}{Cn}\nabla R` for
    LogisticRegression), so that the *regularised* retraining is stationary at
    :math:`w`. Gradients are full batch and over the whole parameter vector
    (coefficients *and* intercept; every trainable tensor of a net), not the
    first layer's weight only as in the authors' code. The optimiser is SGD
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
    epsilon_d : float > 0, default=0.1
        Poisons relative to the clean set size.
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
    tol : float >= 0, default=0.0
        Stop early when :math:`\|g(\chi)\|_2 \le` ``tol``.
    random_state : int, RandomState instance or None, default=None
        Picks the clean rows the poisons start from.
    verbose : int, default=0
        Show a tqdm progress bar when > 0.

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
        included (equation 20, 29, or Theorem 4's last layer for a net).
    intercept_bound_ : float
        ``intercept_bound`` of :func:`poisonability_threshold` at the target,
        ``sum_k max(r_k, 0)`` for a softmax model with
        ``r = mean_i (p_i - e_{y_i})`` (``nan`` without an
        intercept): with an intercept, cancelling also needs
        ``epsilon_d > intercept_bound_``, and with ``labels="sample"`` the
        poisons of an over-predicted class ``k`` number only about
        ``m n_k / n``, so the practical bound is larger still.
    gradient_norm_history_ : ndarray of shape (n_steps + 1,)
        :math:`\|g(\chi)\|_2`, the gradient of the retraining objective per
        row over clean :math:`\cup` poison at the target, before each step and
        at the end. The poisons returned are those of its smallest entry (the
        last ones unless the descent oscillated).
    initial_gradient_norm_ : float
        :math:`\|g(\mu)\|_2` (penalty included): the norm without poisons.
    poison_indices_ : ndarray of int
        Rows of the output that are poisons (``n .. n+m-1``).
    source_indices_ : ndarray of int
        Clean rows the poisons started from.
    n_poisoned_ : int
        ``m``.
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
    >>> gc = GradientCanceling(lr, target=[-0.5, -1.0], epsilon_d=4.0, max_iter=1000,
    ...                        random_state=0)
    >>> X_res, y_res = gc.fit_resample(X, y)
    >>> X_res.shape, round(gc.tau_, 2)
    ((1000, 2), 2.02)
    >>> LogisticRegression(fit_intercept=False, C=np.inf).fit(X_res, y_res).coef_.round(2)
    array([[-0.5, -1. ]])
    """

    _parameter_constraints = {
        "estimator": "no_validation",
        "target": "no_validation",
        "epsilon_w": [Interval(Real, 0, None, closed="neither")],
        "epsilon_d": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "clip": ["boolean", tuple, list],
        "labels": [StrOptions({"sample", "residual"})],
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
        epsilon_d=0.1,
        max_iter=1000,
        lr=0.005,
        momentum=0.9,
        clip=False,
        labels="sample",
        tol=0.0,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.target = target
        self.epsilon_w = epsilon_w
        self.epsilon_d = epsilon_d
        self.max_iter = max_iter
        self.lr = lr
        self.momentum = momentum
        self.clip = clip
        self.labels = labels
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
        if np.any(low > high):
            raise ValueError("clip=(low, high) needs low <= high everywhere.")
        return low, high

    def _fit(self, X, y):
        _check_y_classes(y, type(self).__name__)
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
        if np.unique(y).size < 2:
            raise ValueError(
                f"GradientCanceling needs at least two classes in y; got one class ({n} samples)."
            )
        m = int(round(n * self.epsilon_d))
        if m < 1:
            raise ValueError(
                f"epsilon_d={self.epsilon_d} gives round(n * epsilon_d) = 0 poisons for "
                f"n={n} rows; increase epsilon_d to at least {0.5 / n:.3g}."
            )
        self.clean_model_ = _fit_clean(estimator, X, y)
        classes = np.unique(y) if kind == "skorch" else None
        clean_adapter = make_adapter(self.clean_model_, classes=classes)
        self.classes_ = clean_adapter.classes_
        self.target_model_, theta = _resolve_target(
            self.target, self.clean_model_, clean_adapter, X, y, self.epsilon_w, kind
        )
        self.target_params_ = np.asarray(theta, dtype=float)
        adapter = make_adapter(self.target_model_, classes=classes)
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
        self.initial_gradient_norm_ = float(np.linalg.norm(g_eff))
        scale = n / (n + m)  # u -> g(chi)
        velocity = np.zeros_like(Xp)
        history = []
        steps = range(self.max_iter)
        if self.verbose:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="GradientCanceling")
        n_iter = 0
        best_norm, best_Xp = np.inf, Xp
        for t in steps:
            u, grad = adapter.gc_grad(theta, g_eff, Xp, yp, n)
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
            u, _ = adapter.gc_grad(theta, g_eff, Xp, yp, n)
            history.append(scale * np.linalg.norm(u))
            if history[-1] < best_norm:
                best_norm, best_Xp = history[-1], Xp
        self.gradient_norm_history_ = np.asarray(history)
        self.n_iter_ = n_iter
        self.source_indices_ = src
        self.X_poison_ = best_Xp
        self.y_poison_ = y[src]
        self.n_poisoned_ = m
        return X, y

    def _resample(self, X, y):
        n = X.shape[0]
        self.poison_indices_ = np.arange(n, n + self.n_poisoned_)
        X_res = np.concatenate([X, self.X_poison_.astype(X.dtype)], axis=0)
        y_res = np.concatenate([y, self.y_poison_])
        return X_res, y_res


# ------------------------------------------------------------------------ Sever
class Sever(_DelegatingClassifierMixin, ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    r"""Sever defence (Diakonikolas et al., 2019): drop gradient outliers, refit.

    Each of ``n_iter`` rounds fits ``estimator`` on the rows kept so far,
    computes the per-row loss gradients (over all parameters) at the fitted
    model, centres them, takes the top right singular vector :math:`v` of the
    centred matrix, scores each row by :math:`\tau_i = ((\nabla\ell_i -
    \bar g)\cdot v)^2` and removes the highest-scoring rows. In total
    ``round(epsilon * n)`` rows are removed, an equal share per round. The
    final model is refitted on the kept rows.

    Parameters
    ----------
    estimator : estimator or None, default=None
        LogisticRegression, SGDClassifier(loss="log_loss") or a skorch
        NeuralNetClassifier. ``None`` means ``LogisticRegression()``.
    epsilon : float in [0, 1), default=0.1
        Fraction of the training rows removed in total.
    n_iter : int, default=4
        Number of filtering rounds.
    random_state : int, RandomState instance or None, default=None
        Seed of the randomised SVD.

    Attributes
    ----------
    estimator_ : estimator
        The model refitted on the kept rows.
    outlier_mask_ : ndarray of bool of shape (n_samples,)
        ``True`` for removed rows.
    scores_ : ndarray of shape (n_samples,)
        Outlier score of each row in the round that removed it; for kept rows,
        their score in the last round.
    classes_ : ndarray
        Class labels.
    n_features_in_ : int
        Number of features.

    References
    ----------
    I. Diakonikolas et al., "Sever: a robust meta-algorithm for stochastic
    optimization", ICML 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import Sever
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 2)); y = (X[:, 0] > 0).astype(int)
    >>> X[:10] = [8.0, 8.0]; y[:10] = 0
    >>> sever = Sever(epsilon=0.1, n_iter=2).fit(X, y)
    >>> int(sever.outlier_mask_[:10].sum())
    10
    """

    _parameter_constraints = {
        "estimator": "no_validation",
        "epsilon": [Interval(Real, 0, 1, closed="left")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, epsilon=0.1, n_iter=4, random_state=None):
        self.estimator = estimator
        self.epsilon = epsilon
        self.n_iter = n_iter
        self.random_state = random_state

    def _model(self):
        return self.estimator_

    def fit(self, X, y):
        """Filter outliers and fit on the remaining rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (possibly poisoned).
        y : array-like of shape (n_samples,)
            Training labels.

        Returns
        -------
        self : Sever
        """
        self._validate_params()
        estimator = _default_estimator(self.estimator)
        self._kind_ = check_supported(estimator, "Sever")
        X, y = _validate_Xy(self, X, y, self._kind_)
        n = X.shape[0]
        self.classes_ = np.unique(y)
        rng = check_random_state(self.random_state)
        total = int(round(self.epsilon * n))
        keep = np.ones(n, dtype=bool)
        scores = np.zeros(n)
        removed = 0
        for r in range(self.n_iter):
            model = _fit_clean(estimator, X[keep], y[keep])
            target = int(round(total * (r + 1) / self.n_iter)) - removed
            adapter = make_adapter(
                model, classes=self.classes_ if self._kind_ == "skorch" else None
            )
            rows = np.flatnonzero(keep)
            yi = _label_codes(adapter.classes_, y[rows], "Sever")
            G = adapter.per_sample_grads(adapter.get_theta(), X[rows], yi)
            G = G - G.mean(axis=0)
            if min(G.shape) > 1:
                _, _, vt = randomized_svd(G, 1, n_iter=7, random_state=rng)
                v = vt[0]
            else:
                v = np.ones(G.shape[1]) / np.sqrt(G.shape[1])
            s = (G @ v) ** 2
            scores[rows] = s
            if target > 0:
                drop = rows[np.argsort(-s, kind="stable")[:target]]
                keep[drop] = False
                removed += target
        self.estimator_ = _fit_clean(estimator, X[keep], y[keep])
        self.outlier_mask_ = ~keep
        self.scores_ = scores
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
