"""The poisonability threshold tau (Lu, Kamath and Yu, 2023) and the helpers of the GC family."""

from typing import NamedTuple

import numpy as np
from scipy.special import lambertw
from sklearn.utils.validation import check_array, check_is_fitted

from ..numerics._param_gradients import check_supported, make_param_grad_adapter
from ..utils.validation import _check_skorch_labels, _label_codes

_FORMULAS = ("auto", "binary", "multiclass", "tau2")


# ------------------------------------------------------------------- threshold
class ThresholdResult(NamedTuple):
    r"""Result of :func:`poisonability_threshold`.

    Attributes
    ----------
    tau : float
        The threshold: data poisoning cannot reach the target unless
        ``poison_rate >= tau``. ``tau <= 0`` means no obstruction.
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
        ``poison_rate > intercept_bound`` when the model has an intercept, tight
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
    """Smallest ``poison_rate`` at which poisons can cancel the mean residual ``r``.

    Stationarity of the intercept reads ``n r + sum_j r_j = 0`` with
    ``r_j = p_j - e_{y_j}`` the residual of poison ``j``. A coordinate ``k``
    with ``r_k > 0`` is pulled down only by poisons *of class* ``k``, each by
    less than 1 (``p_jk - 1 > -1``; the others add ``p_jk >= 0``), so the
    poisons of class ``k`` number more than ``n r_k``, and those counts add up
    to at most ``m``: ``poison_rate > sum_k max(r_k, 0)``. A coordinate with
    ``r_k < 0`` is pushed up by less than 1 per poison:
    ``poison_rate > max_k max(-r_k, 0)``. For a softmax model (``sum_k r_k = 0``)
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
    from ..numerics._param_gradients import ParamGradLinearAdapter

    if formula not in _FORMULAS:
        raise ValueError(f"formula must be one of {_FORMULAS}; got {formula!r}.")
    # NaN or inf in X would make tau NaN without a word
    X = check_array(X, allow_nd=True, dtype="numeric", ensure_all_finite=True, input_name="X")
    y = np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and y have inconsistent numbers of rows: {X.shape[0]} and {y.shape[0]}."
        )
    if model is None:
        if coef is None:
            raise ValueError("Pass a fitted model, or model=None with coef (and intercept).")
        coef = check_array(np.atleast_2d(coef), dtype=float, input_name="coef")
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
            intercept = check_array(
                np.atleast_1d(intercept), dtype=float, ensure_2d=False, input_name="intercept"
            ).ravel()
            if intercept.shape[0] != coef.shape[0]:
                raise ValueError(
                    f"intercept has {intercept.shape[0]} entries, coef has {coef.shape[0]} rows."
                )
        adapter = ParamGradLinearAdapter(coef, intercept, classes, link)
        X = X.astype(float)
    else:
        kind = check_supported(model, "poisonability_threshold")
        check_is_fitted(model)
        classes = None
        if kind == "skorch":  # the net's classes (its output columns), not only those in y
            fitted = getattr(model, "classes_", None)
            classes = np.unique(y) if fitted is None else np.asarray(fitted)
            if not getattr(model, "_encodes_labels", False):  # skorch: labels are columns
                classes = _check_skorch_labels(classes, "poisonability_threshold")
        adapter = make_param_grad_adapter(model, classes=classes)
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
