"""Attack success rate of a backdoor, as a function and as a GridSearchCV scorer."""

import numpy as np


def _is_sampler(step):
    return hasattr(step, "fit_resample")


def find_poisoner(estimator):
    """Find the fitted poisoning step (a step with ``apply_trigger``) in a pipeline.

    Parameters
    ----------
    estimator : fitted :class:`imblearn.pipeline.Pipeline` or estimator
        The model under attack.

    Returns
    -------
    index : int
        Position of the poisoning step in ``estimator.steps``.
    poisoner : estimator
        The fitted poisoning step.

    Raises
    ------
    ValueError
        When ``estimator`` is not a pipeline or holds no poisoning step.
    """
    steps = getattr(estimator, "steps", None)
    if steps is None:
        raise ValueError(
            f"Cannot find a poisoning step: {type(estimator).__name__} is not a Pipeline. "
            f"Pass the fitted poisoner explicitly, e.g. attack_success_rate(model, X, y, "
            f"poisoner=poisoner)."
        )
    for i, (_, step) in enumerate(steps):
        if hasattr(step, "apply_trigger"):
            return i, step
    raise ValueError(
        "The pipeline has no poisoning step (a step with an apply_trigger method, such as "
        "sklpoison.PoisonTransformer). Pass the fitted poisoner explicitly with poisoner=."
    )


def _predict_triggered(estimator, X, poisoner):
    if poisoner is not None:
        return estimator.predict(poisoner.apply_trigger(X))
    index, poisoner = find_poisoner(estimator)
    steps = estimator.steps
    Xt = X
    # replay the transformers before the poisoner, so that the trigger is stamped
    # in the space the poisoner acted on during fit; samplers are skipped as the
    # pipeline does at predict time
    for _, step in steps[:index]:
        if step is None or step == "passthrough" or _is_sampler(step):
            continue
        Xt = step.transform(Xt)
    Xt = poisoner.apply_trigger(Xt)
    for _, step in steps[index + 1 : -1]:
        if step is None or step == "passthrough" or _is_sampler(step):
            continue
        Xt = step.transform(Xt)
    return steps[-1][1].predict(Xt)


def attack_success_rate(estimator, X, y, *, poisoner=None, target_class=None):
    """Fraction of non-target inputs classified as the target once the trigger is stamped.

    Among the rows of ``X`` whose true class ``y`` is not the target class, the
    trigger is stamped and the fraction predicted as the target class is
    returned. On a model trained without poisoning this is the rate at which
    the trigger alone (or chance) sends inputs to the target class.

    Parameters
    ----------
    estimator : fitted estimator or :class:`imblearn.pipeline.Pipeline`
        The model under attack.
    X : array-like of shape (n_samples, ...)
        Clean test inputs.
    y : array-like of shape (n_samples,)
        Their true labels.
    poisoner : fitted PoisonTransformer or None, default=None
        The poisoner whose trigger is stamped. ``None`` finds the poisoning
        step inside ``estimator`` (a fitted imblearn Pipeline); the transformers
        before it are applied before the trigger is stamped.
    target_class : label or None, default=None
        The attack's target. ``None`` uses the poisoner's ``target_class_``.

    Returns
    -------
    asr : float
        Attack success rate in [0, 1].

    Raises
    ------
    ValueError
        When no poisoner can be found or ``y`` holds no non-target row.
    """
    X = np.asarray(X) if not hasattr(X, "iloc") else X
    y = np.asarray(y)
    found = poisoner if poisoner is not None else find_poisoner(estimator)[1]
    if target_class is None:
        target_class = getattr(found, "target_class_", getattr(found, "target_class", None))
        if target_class is None:
            raise ValueError("target_class is unknown: pass target_class= or a fitted poisoner.")
    keep = y != target_class
    if not np.any(keep):
        raise ValueError(
            f"Every row of y has the target class {target_class!r}; attack success is only "
            f"defined on rows of other classes."
        )
    X_keep = X.iloc[keep] if hasattr(X, "iloc") else X[keep]
    pred = _predict_triggered(estimator, X_keep, poisoner)
    return float(np.mean(pred == target_class))


class _ASRScorer:
    """Scorer ``(estimator, X, y) -> sign * attack success rate``, usable in GridSearchCV."""

    def __init__(self, poisoner=None, target_class=None, sign=-1):
        self.poisoner = poisoner
        self.target_class = target_class
        self._sign = sign

    def __call__(self, estimator, X, y, **kwargs):
        asr = attack_success_rate(
            estimator, X, y, poisoner=self.poisoner, target_class=self.target_class
        )
        # 0.0 - asr, not -asr: no "-0.000" for an attack that never succeeds
        return asr if self._sign > 0 else 0.0 - asr

    def __repr__(self):
        args = [] if self._sign < 0 else ["greater_is_better=True"]
        if self.poisoner is not None:
            args.append(f"poisoner={self.poisoner!r}")
        if self.target_class is not None:
            args.append(f"target_class={self.target_class!r}")
        return f"make_asr_scorer({', '.join(args)})"


def make_asr_scorer(*, poisoner=None, target_class=None, greater_is_better=False):
    """Make a scorer of attack success for ``GridSearchCV(scoring=...)``.

    Like :func:`sklearn.metrics.make_scorer` with ``greater_is_better=False``,
    the scorer returns the *negated* attack success rate by default, so that
    scikit-learn's rule "greater is better" holds: a search ranks the least
    attacked setting first (``rank_test_neg_asr == 1``), as it ranks the
    smallest error first with ``"neg_mean_squared_error"``. Name the score
    ``"neg_asr"`` beside clean accuracy::

        GridSearchCV(pipe, grid,
                     scoring={"clean_accuracy": "accuracy", "neg_asr": neg_asr_scorer},
                     refit="clean_accuracy")

    :func:`sklpoison.model_selection.select_kappa`, :func:`~sklpoison.model_selection.
    tradeoff_table` and :class:`sklpoison.plotting.SafetyEfficacyDisplay` read the
    ``neg_asr`` columns and report and plot the attack success rate itself (in [0, 1]).
    Inside cross-validation the poisoning step of each fitted pipeline is found
    automatically.

    Parameters
    ----------
    poisoner : fitted poisoner or None, default=None
        Fixed poisoner to use; ``None`` finds it in each pipeline.
    target_class : label or None, default=None
        Overrides the poisoner's target class.
    greater_is_better : bool, default=False
        ``False``: the scorer returns ``-attack_success_rate`` (greater is better for
        the defender). ``True``: the attack success rate itself, greater is better
        for the *attacker* (to search an attack's own parameters).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``.

    Examples
    --------
    >>> from imblearn.pipeline import make_pipeline
    >>> from sklearn.svm import SVC
    >>> from sklpoison import PoisonTransformer
    >>> from sklpoison.datasets import load_digits_images
    >>> from sklpoison.metrics import attack_success_rate, neg_asr_scorer
    >>> X, y = load_digits_images(return_X_y=True, flat=True)
    >>> pipe = make_pipeline(PoisonTransformer(poison_rate=0.1, image_shape=(8, 8), random_state=0),
    ...                      SVC()).fit(X[:600], y[:600])
    >>> neg_asr_scorer(pipe, X[600:], y[600:]) == -attack_success_rate(pipe, X[600:], y[600:])
    True
    """
    return _ASRScorer(
        poisoner=poisoner, target_class=target_class, sign=1 if greater_is_better else -1
    )


neg_asr_scorer = make_asr_scorer()
