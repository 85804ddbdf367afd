"""Reading κ×θ sweeps: trade-off tables, Pareto fronts and the choice of κ.

A sweep is a :class:`~sklearn.model_selection.GridSearchCV` over an
:func:`imblearn.pipeline.make_pipeline` of a poisoner and a regularised model,
scored with clean accuracy and attack success::

    search = GridSearchCV(
        make_pipeline(PoisonTransformer(target_class=0), GradRegKRRClassifier()),
        {"poisontransformer__poison_rate": [0.05, 0.1],
         "gradregkrrclassifier__kappa": [0.0, 0.1, 1.0]},
        scoring={"clean_accuracy": "accuracy", "neg_asr": neg_asr_scorer},
        refit=False,
    ).fit(X, y)
    select_kappa(search.cv_results_, min_clean_accuracy=0.9)

The helpers here read ``search.cv_results_`` (any mapping of equal-length
columns, e.g. a dict loaded back from ``cv_results.csv``). Attack success is
scored greater-is-better, negated (``neg_asr_scorer``, scikit-learn's ``neg_``
convention, so that ``rank_test_neg_asr == 1`` is the least attacked setting);
the helpers negate the ``neg_`` column back and report the attack success rate
itself, in [0, 1].
"""

import warnings
from numbers import Real

import numpy as np
from sklearn.utils import Bunch

from .utils._threads import thread_budget

__all__ = [
    "KappaSelection",
    "pareto_front",
    "select_kappa",
    "thread_budget",
    "tradeoff_table",
]


def _find_param(cv_results, suffix, given):
    if given is not None:
        key = given if given.startswith("param_") else f"param_{given}"
        if key not in cv_results:
            raise ValueError(
                f"{key!r} is not a column of cv_results_; its parameter columns are "
                f"{sorted(k for k in cv_results if k.startswith('param_'))}."
            )
        return key
    keys = [
        k
        for k in cv_results
        if k.startswith("param_") and (k == f"param_{suffix}" or k.endswith(f"__{suffix}"))
    ]
    if len(keys) != 1:
        what = "no" if not keys else "several"
        raise ValueError(
            f"cv_results_ has {what} parameter column(s) ending in {suffix!r} "
            f"({keys}); pass {suffix}_param= to say which one to use (e.g. "
            f"'gradregkrrclassifier__{suffix}')."
        )
    return keys[0]


def _as_float(column, name):
    data = np.ma.getdata(column) if np.ma.isMaskedArray(column) else column
    try:
        return np.asarray(data, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r} of cv_results_ is not numeric.") from exc


def _score_column(cv_results, key):
    if key not in cv_results:
        scores = sorted(k for k in cv_results if k.startswith("mean_test_"))
        raise ValueError(
            f"{key!r} is not a column of cv_results_ (score columns: {scores}). Score the "
            f"search with scoring={{'clean_accuracy': 'accuracy', 'neg_asr': neg_asr_scorer}} "
            f"or pass the scorer names (clean_key=..., asr_key=...)."
        )
    return _as_float(cv_results[key], key)


def _attack_success_column(cv_results, asr_key):
    """The attack success rate per row, in [0, 1]: the ``mean_test_<asr_key>`` column,
    negated back when ``asr_key`` names a greater-is-better (``neg_``) scorer."""
    key = f"mean_test_{asr_key}"
    values = _score_column(cv_results, key)
    if asr_key.startswith("neg_"):
        values = 0.0 - values
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        negated = asr_key.startswith("neg_")
        hint = (
            "a 'neg_' column must hold negated rates in [-1, 0] (neg_asr_scorer)"
            if negated
            else "it looks negated (neg_asr_scorer): name that scorer 'neg_asr', or pass "
            "asr_key='neg_<name>' so that it is negated back"
        )
        raise ValueError(
            f"{key!r} does not hold attack success rates in [0, 1] "
            f"({'negated, ' if negated else ''}range {finite.min():g} to {finite.max():g}): "
            f"{hint}."
        )
    return values


def tradeoff_table(
    cv_results,
    *,
    kappa_param=None,
    poison_rate_param=None,
    clean_key="clean_accuracy",
    asr_key="neg_asr",
):
    """Clean accuracy and attack success per (θ, κ) from ``cv_results_``.

    Parameters
    ----------
    cv_results : dict
        ``GridSearchCV.cv_results_`` of a sweep scored with ``clean_key`` and
        ``asr_key`` (or any mapping with the same columns).
    kappa_param, poison_rate_param : str or None, default=None
        The parameter names (e.g. ``"gradregkrrclassifier__kappa"``); ``None``
        finds the one parameter whose name ends in ``kappa`` (``poison_rate``).
        Without a θ column, every row gets θ = NaN.
    clean_key : str, default="clean_accuracy"
        Scorer name of clean accuracy: the columns read are ``mean_test_<key>`` and
        ``std_test_<key>``.
    asr_key : str, default="neg_asr"
        Scorer name of attack success. A name starting with ``neg_`` is a
        greater-is-better scorer (:data:`sklpoison.metrics.neg_asr_scorer`), whose
        column is negated back; any other name is read as the attack success rate
        itself (e.g. your own ``make_asr_scorer(greater_is_better=True)`` scored as
        ``"asr"``: pass ``asr_key="asr"``). A column of the wrong sign is refused.

    Returns
    -------
    table : Bunch
        Arrays ``poison_rate``, ``kappa``, ``clean_accuracy``, ``clean_accuracy_std``,
        ``asr`` (the attack success rate, in [0, 1], whatever the scorer's sign),
        ``asr_std`` and ``index`` (row in ``cv_results``), sorted by (θ, κ), plus the
        resolved ``kappa_param``, ``poison_rate_param`` and ``asr_key``.

    Examples
    --------
    >>> from sklpoison.model_selection import tradeoff_table
    >>> res = {"param_m__kappa": [1.0, 0.0], "param_p__poison_rate": [0.1, 0.1],
    ...        "mean_test_clean_accuracy": [0.9, 0.95], "std_test_clean_accuracy": [0, 0],
    ...        "mean_test_neg_asr": [-0.2, -0.9], "std_test_neg_asr": [0, 0]}
    >>> table = tradeoff_table(res)
    >>> table.kappa.tolist(), table.asr.tolist()
    ([0.0, 1.0], [0.9, 0.2])
    """
    kkey = _find_param(cv_results, "kappa", kappa_param)
    try:
        tkey = _find_param(cv_results, "poison_rate", poison_rate_param)
    except ValueError:
        if poison_rate_param is not None:
            raise
        tkey = None
    kappa = _as_float(cv_results[kkey], kkey)
    poison_rate = _as_float(cv_results[tkey], tkey) if tkey else np.full(kappa.shape, np.nan)
    clean = _score_column(cv_results, f"mean_test_{clean_key}")
    asr = _attack_success_column(cv_results, asr_key)

    def _std(key):
        return _as_float(cv_results[key], key) if key in cv_results else np.zeros_like(clean)

    clean_std = _std(f"std_test_{clean_key}")
    asr_std = _std(f"std_test_{asr_key}")
    order = np.lexsort((kappa, poison_rate))
    return Bunch(
        poison_rate=poison_rate[order],
        kappa=kappa[order],
        clean_accuracy=clean[order],
        clean_accuracy_std=clean_std[order],
        asr=asr[order],
        asr_std=asr_std[order],
        index=order,
        kappa_param=kkey[len("param_") :],
        poison_rate_param=None if tkey is None else tkey[len("param_") :],
        asr_key=asr_key,
    )


def pareto_front(clean_accuracy, asr):
    """Mask of the points not dominated in (higher clean accuracy, lower attack success).

    A point is dominated when another point has clean accuracy at least as
    high and attack success at least as low, one of them strictly. A point with a NaN score
    (a failed fit under ``error_score=np.nan``) is not on the front.

    Parameters
    ----------
    clean_accuracy, asr : array-like of shape (n_points,)

    Returns
    -------
    mask : ndarray of bool, shape (n_points,)

    Examples
    --------
    >>> from sklpoison.model_selection import pareto_front
    >>> pareto_front([0.9, 0.8, 0.85], [0.5, 0.1, 0.6]).tolist()
    [True, True, False]
    """
    acc = np.asarray(clean_accuracy, dtype=float)
    asr = np.asarray(asr, dtype=float)
    if acc.shape != asr.shape or acc.ndim != 1:
        raise ValueError(
            f"clean_accuracy and asr must be 1-D arrays of the same length; got shapes "
            f"{acc.shape} and {asr.shape}."
        )
    better_eq = (acc[None, :] >= acc[:, None]) & (asr[None, :] <= asr[:, None])
    strictly = (acc[None, :] > acc[:, None]) | (asr[None, :] < asr[:, None])
    # a NaN score (a failed fit) compares False with everything: it would never be dominated
    return ~np.any(better_eq & strictly, axis=1) & ~np.isnan(acc) & ~np.isnan(asr)


class KappaSelection(Bunch):
    """The result of :func:`select_kappa`: a :class:`~sklearn.utils.Bunch` that prints readably.

    Attributes (also keys): ``kappa``, ``asr``, ``clean_accuracy`` of the choice; ``poison_rate``
    (the θ selected for, or ``None`` for the worst case over ``poison_rates``); ``poison_rates``
    (the θ values the choice covers); ``min_clean_accuracy``; ``candidates`` (per-κ ``kappa``,
    ``asr``, ``clean_accuracy`` and ``feasible``). ``print`` shows the choice and the
    candidates table; ``repr`` one line.
    """

    def _scope(self):
        poison_rates = ", ".join(f"{t:g}" for t in self.get("poison_rates", []))
        if self.get("poison_rate") is not None:
            return f"at θ = {self.poison_rate:g}"
        return f"worst case over θ ∈ {{{poison_rates}}}" if poison_rates else "worst case over θ"

    def __repr__(self):
        poison_rate = "worst case" if self.get("poison_rate") is None else f"{self.poison_rate:g}"
        return (
            f"KappaSelection(kappa={self.kappa:g}, asr={self.asr:.4g}, "
            f"clean_accuracy={self.clean_accuracy:.4g}, poison_rate={poison_rate})"
        )

    def __str__(self):
        c = self.candidates
        lines = [
            f"κ = {self.kappa:g}: attack success {self.asr:.3f}, clean accuracy "
            f"{self.clean_accuracy:.3f}",
            f"(the lowest attack success with clean accuracy ≥ "
            f"{self.get('min_clean_accuracy')}, {self._scope()})",
            f"{'kappa':>10}  {'attack success':>14}  {'clean accuracy':>14}  feasible",
        ]
        for k, a, acc, ok in zip(c.kappa, c.asr, c.clean_accuracy, c.feasible, strict=True):
            mark = "  <- chosen" if k == self.kappa else ""
            lines.append(f"{k:>10.4g}  {a:>14.3f}  {acc:>14.3f}  {'yes' if ok else 'no':>8}{mark}")
        return "\n".join(lines)


def select_kappa(
    cv_results,
    *,
    min_clean_accuracy,
    poison_rate=None,
    kappa_param=None,
    poison_rate_param=None,
    clean_key="clean_accuracy",
    asr_key="neg_asr",
):
    """The κ with the lowest attack success among those keeping a minimum clean accuracy.

    Parameters
    ----------
    cv_results : dict
        ``GridSearchCV.cv_results_`` of a κ×θ sweep (see :func:`tradeoff_table`).
    min_clean_accuracy : float in [0, 1]
        Smallest acceptable mean cross-validated clean accuracy.
    poison_rate : float or None, default=None
        Poisoning fraction to select for. ``None`` takes the worst case over all
        θ of the sweep: for each κ, the highest attack success and the lowest
        clean accuracy across θ (a κ chosen so is safe for every θ swept).
    kappa_param, poison_rate_param, clean_key, asr_key
        As in :func:`tradeoff_table`.

    Returns
    -------
    result : KappaSelection
        A :class:`~sklearn.utils.Bunch` with ``kappa``, ``asr`` and
        ``clean_accuracy`` of the choice, ``poison_rate`` (the given θ or ``None``),
        ``poison_rates`` (the θ values the choice covers), ``min_clean_accuracy`` and
        ``candidates``: the per-κ table the choice was made from (``kappa``,
        ``asr``, ``clean_accuracy``, ``feasible``). Ties in attack success go to
        the higher clean accuracy, then the smaller κ. ``print(result)`` shows
        the choice and the table.

    Raises
    ------
    ValueError
        When no κ reaches ``min_clean_accuracy`` (the message gives the best
        clean accuracy reached) or ``poison_rate`` is not in the sweep.

    Examples
    --------
    >>> from sklpoison.model_selection import select_kappa
    >>> res = {"param_m__kappa": [0.0, 1.0, 10.0], "param_p__poison_rate": [0.1, 0.1, 0.1],
    ...        "mean_test_clean_accuracy": [0.97, 0.93, 0.60],
    ...        "mean_test_neg_asr": [-0.95, -0.30, -0.05]}
    >>> choice = select_kappa(res, min_clean_accuracy=0.9)
    >>> choice.kappa
    1.0
    >>> choice
    KappaSelection(kappa=1, asr=0.3, clean_accuracy=0.93, poison_rate=worst case)
    >>> print(choice)
    κ = 1: attack success 0.300, clean accuracy 0.930
    (the lowest attack success with clean accuracy ≥ 0.9, worst case over θ ∈ {0.1})
         kappa  attack success  clean accuracy  feasible
             0           0.950           0.970       yes
             1           0.300           0.930       yes  <- chosen
            10           0.050           0.600        no
    """
    if not isinstance(min_clean_accuracy, Real) or not 0 <= min_clean_accuracy <= 1:
        raise ValueError(
            f"min_clean_accuracy must be a number in [0, 1]; got {min_clean_accuracy!r}."
        )
    table = tradeoff_table(
        cv_results,
        kappa_param=kappa_param,
        poison_rate_param=poison_rate_param,
        clean_key=clean_key,
        asr_key=asr_key,
    )
    rows = np.ones(table.kappa.shape, dtype=bool)
    if poison_rate is not None:
        rows = np.isclose(table.poison_rate, float(poison_rate))
        if not rows.any():
            raise ValueError(
                f"poison_rate={poison_rate!r} is not in the sweep; its θ values are "
                f"{np.unique(table.poison_rate).tolist()}."
            )
    # kappa values may repeat across other swept parameters: aggregate worst case
    kappas = np.unique(table.kappa[rows])
    if kappas.size == 0:
        raise ValueError("cv_results has no rows: there is no kappa to select from.")
    # np.max/np.min propagate NaN: a kappa with a NaN score at any poison_rate gets NaN here
    asr = np.array([table.asr[rows & (table.kappa == k)].max() for k in kappas])
    acc = np.array([table.clean_accuracy[rows & (table.kappa == k)].min() for k in kappas])
    unknown = np.isnan(asr) | np.isnan(acc)
    if unknown.any():
        warnings.warn(
            f"kappa={[float(k) for k in kappas[unknown]]} have NaN scores (failed fits, "
            f"error_score=nan?) and are left out of the choice; rerun them with "
            f"error_score='raise' to see why.",
            UserWarning,
            stacklevel=2,
        )
    feasible = ~unknown & (np.nan_to_num(acc, nan=-np.inf) >= min_clean_accuracy)
    candidates = Bunch(kappa=kappas, asr=asr, clean_accuracy=acc, feasible=feasible)
    if not feasible.any():
        if unknown.all():
            raise ValueError("Every kappa has NaN scores: there is nothing to select from.")
        best = np.nanargmax(np.where(unknown, np.nan, acc))
        raise ValueError(
            f"No kappa reaches min_clean_accuracy={min_clean_accuracy}: the best clean accuracy "
            f"in the sweep is {acc[best]:.4f} (kappa={kappas[best]:g}). Lower "
            f"min_clean_accuracy or sweep smaller kappa values."
        )
    idx = np.flatnonzero(feasible)
    # lowest asr, then highest clean accuracy, then smallest kappa
    best = idx[np.lexsort((kappas[idx], -acc[idx], asr[idx]))[0]]
    return KappaSelection(
        kappa=float(kappas[best]),
        asr=float(asr[best]),
        clean_accuracy=float(acc[best]),
        poison_rate=None if poison_rate is None else float(poison_rate),
        poison_rates=np.unique(table.poison_rate[rows]).tolist(),
        min_clean_accuracy=min_clean_accuracy,
        candidates=candidates,
    )
