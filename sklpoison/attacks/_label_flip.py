"""Label-flipping poisoning: one sampler per attack over :class:`BaseLabelFlipper`.

As imbalanced-learn's SMOTE / SMOTENC / SMOTEN over ``BaseSMOTE``: the shared base
validates the data, turns the rate ``poison_rate`` into ``k`` flips and records them;
each subclass chooses the rows (``_choose_rows``) and takes only its own parameters.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils._tags import ClassifierTags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ..base import BaseSampler
from ..utils.validation import (
    check_known_labels,
    check_n_classes,
    check_y_given,
    encode_pm1,
    fraction_to_count,
)


class BaseLabelFlipper(BaseSampler):
    """Base class of the label-flipping samplers (not to be instantiated).

    ``fit_resample(X, y)`` returns a copy of ``X`` and of ``y`` in which
    ``k = round(poison_rate * n_samples)`` labels are flipped; the flipped rows are
    recorded in ``changed_indices_``. Subclasses implement
    ``_choose_rows(X, y, k, rng, **params)``, which returns ``(rows, new_labels)``
    (``params``: the fit parameters of ``fit_resample``).
    """

    _parameter_constraints = {"poison_rate": [Interval(Real, 0, 1, closed="both")]}

    def _fit(self, X, y):
        name = type(self).__name__
        check_y_given(y, name)
        X, y = validate_data(self, X, y, allow_nd=True, dtype="numeric", ensure_all_finite=True)
        check_classification_targets(y)
        self.classes_ = check_n_classes(
            y, name, hint="Flipping labels needs labels of two or more classes."
        )
        return X, y

    def _resample(self, X, y, **params):
        name = type(self).__name__
        k = fraction_to_count(
            self.poison_rate, y.shape[0], name="poison_rate", who=name, noun="flips"
        )
        rng = check_random_state(getattr(self, "random_state", None))
        rows, labels = self._choose_rows(X, y, k, rng, **params)
        y_res = np.array(y, copy=True)
        y_res[rows] = labels
        return np.array(X, copy=True), y_res, np.sort(rows)


class RandomLabelFlipper(BaseLabelFlipper):
    """Flip the labels of rows drawn at random, each to another class drawn at random.

    Parameters
    ----------
    poison_rate : float in [0, 1], default=0.1
        Rate of the training set whose labels are flipped:
        ``round(poison_rate * n_samples)`` flips.
    random_state : int, RandomState instance or None, default=None
        Controls which rows are flipped and to what.

    Attributes
    ----------
    classes_ : ndarray
        Labels seen at fit.
    changed_indices_ : ndarray of int
        Rows whose labels the last ``fit_resample`` flipped.
    n_changed_ : int
        Number of flipped labels.
    n_features_in_ : int
        ``X.shape[1]`` at fit.

    See Also
    --------
    TargetedLabelFlipper : Flips one class to another.
    ALFALabelFlipper, LFALabelFlipper, FloralLabelFlipper : Attacks on an SVM.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import RandomLabelFlipper
    >>> X, y = np.zeros((10, 2)), np.array([0, 1] * 5)
    >>> _, y_res = RandomLabelFlipper(poison_rate=0.2, random_state=0).fit_resample(X, y)
    >>> int((y_res != y).sum())
    2
    """

    _parameter_constraints = {
        **BaseLabelFlipper._parameter_constraints,
        "random_state": ["random_state"],
    }

    def __init__(self, *, poison_rate=0.1, random_state=None):
        self.poison_rate = poison_rate
        self.random_state = random_state

    def _choose_rows(self, X, y, k, rng):
        rows = np.sort(rng.choice(y.shape[0], size=k, replace=False))
        # map each chosen label to one of the other classes, uniformly
        codes = np.searchsorted(self.classes_, y[rows])
        shift = rng.randint(1, self.classes_.size, size=k)
        return rows, self.classes_[(codes + shift) % self.classes_.size]


class TargetedLabelFlipper(BaseLabelFlipper):
    """Give rows of ``source_class``, drawn at random, the label ``target_class``.

    Parameters
    ----------
    poison_rate : float in [0, 1], default=0.1
        Rate of the training set whose labels are flipped:
        ``round(poison_rate * n_samples)`` flips, all among the rows of
        ``source_class`` (more than there are raises a ``ValueError``).
    source_class : label, default=None
        Class whose rows are flipped (required: one of the classes of ``y``).
    target_class : label, default=None
        Label they are given (required: another class of ``y``).
    random_state : int, RandomState instance or None, default=None
        Controls which rows are flipped.

    Attributes
    ----------
    classes_ : ndarray
        Labels seen at fit.
    changed_indices_ : ndarray of int
        Rows whose labels the last ``fit_resample`` flipped.
    n_changed_ : int
        Number of flipped labels.
    n_features_in_ : int
        ``X.shape[1]`` at fit.

    See Also
    --------
    RandomLabelFlipper : Flips rows of every class.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import TargetedLabelFlipper
    >>> X, y = np.zeros((10, 2)), np.array([0, 1] * 5)
    >>> flipper = TargetedLabelFlipper(poison_rate=0.2, source_class=1, target_class=0,
    ...                                random_state=0)
    >>> _, y_res = flipper.fit_resample(X, y)
    >>> y[flipper.changed_indices_].tolist(), y_res[flipper.changed_indices_].tolist()
    ([1, 1], [0, 0])
    """

    _parameter_constraints = {
        **BaseLabelFlipper._parameter_constraints,
        "source_class": "no_validation",
        "target_class": "no_validation",
        "random_state": ["random_state"],
    }

    def __init__(self, *, poison_rate=0.1, source_class=None, target_class=None, random_state=None):
        self.poison_rate = poison_rate
        self.source_class = source_class
        self.target_class = target_class
        self.random_state = random_state

    def _fit(self, X, y):
        X, y = super()._fit(X, y)
        for name in ("source_class", "target_class"):
            value = getattr(self, name)
            if value is None or not np.any(self.classes_ == value):
                raise ValueError(
                    f"TargetedLabelFlipper needs {name} set to one of the classes in y "
                    f"{self.classes_.tolist()}; got {value!r}."
                )
        if self.source_class == self.target_class:
            raise ValueError("TargetedLabelFlipper: source_class and target_class must differ.")
        return X, y

    def _choose_rows(self, X, y, k, rng):
        candidates = np.flatnonzero(y == self.source_class)
        if k > candidates.size:
            raise ValueError(
                f"TargetedLabelFlipper: poison_rate={self.poison_rate} asks for {k} flips, but "
                f"only {candidates.size} rows have source_class={self.source_class!r}. Lower "
                "poison_rate."
            )
        rows = np.sort(rng.choice(candidates, size=k, replace=False))
        return rows, self.target_class


class _SVMLabelFlipper(BaseLabelFlipper):
    """The attacks on a binary RBF-kernel SVM (``C``, ``gamma``): binary labels, 2-D ``X``."""

    _parameter_constraints = {
        **BaseLabelFlipper._parameter_constraints,
        "C": [Interval(Real, 0, None, closed="neither")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
    }

    def _fit(self, X, y):
        X, y = super()._fit(X, y)
        name = type(self).__name__
        check_n_classes(
            self.classes_,
            f"{name} attacks a binary SVM and",
            max_classes=2,
            hint="Use RandomLabelFlipper or TargetedLabelFlipper for more classes.",
        )
        if X.ndim != 2:
            raise ValueError(
                f"{name} needs 2-D X of shape (n_samples, n_features); got shape {X.shape}. "
                "Flatten images first."
            )
        return X, y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags = ClassifierTags(multi_class=False)  # binary labels only
        return tags

    def _choose_rows(self, X, y, k, rng, **params):
        Xf, y_pm = np.asarray(X, dtype=float), encode_pm1(y, self.classes_)
        rows = self._attack(Xf, y_pm, k, rng, **params)
        # binary: the flipped label is the other class
        other = np.where(y[rows] == self.classes_[1], self.classes_[0], self.classes_[1])
        return rows, other


_SVM_PARAMETERS = """C : float, default=1.0
        Regularisation of the attacker's RBF :class:`~sklearn.svm.SVC`.
    gamma : float, default=1.0
        Kernel width of the attacker's RBF SVC."""

_SVM_ATTRIBUTES = """Attributes
    ----------
    classes_ : ndarray of shape (2,)
        Labels seen at fit.
    changed_indices_ : ndarray of int
        Rows whose labels the last ``fit_resample`` flipped.
    n_changed_ : int
        Number of flipped labels.
    n_features_in_ : int
        ``X.shape[1]`` at fit."""


class ALFALabelFlipper(_SVMLabelFlipper):
    __doc__ = f"""ALFA (Xiao, Xiao and Eckert, 2012): label flips that most change an RBF SVM.

    Alternates a linear program over the flips (HiGHS through
    :func:`scipy.optimize.linprog`) and the SVM on the tainted labels, for ``max_iter``
    rounds (see :func:`sklpoison.attacks.alfa_flips`). Binary labels only; needs no
    extra.

    Parameters
    ----------
    poison_rate : float in [0, 1], default=0.1
        Rate of the training set whose labels are flipped:
        ``round(poison_rate * n_samples)`` flips.
    {_SVM_PARAMETERS}
    max_iter : int, default=10
        LP / SVM alternations.
    verbose : int, default=0
        Show a progress bar (tqdm, on stderr) over the alternations when positive.
        What a fit costs, with ``n`` rows of ``d`` features: one RBF SVM fit
        (``O(n^2 d)`` to ``O(n^3)``), then up to ``max_iter`` alternations of an LP
        over ``2n`` variables and an SVM fit on ``2n`` weighted rows.

    {_SVM_ATTRIBUTES}

    See Also
    --------
    LFALabelFlipper, FloralLabelFlipper : The other attacks on an SVM.
    sklpoison.FloralSVC : A defence.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklpoison import ALFALabelFlipper
    >>> X, y = make_moons(40, random_state=0)
    >>> _, y_res = ALFALabelFlipper(poison_rate=0.1, max_iter=2).fit_resample(X, y)
    >>> int((y_res != y).sum())
    4
    """

    _parameter_constraints = {
        **_SVMLabelFlipper._parameter_constraints,
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
    }

    def __init__(self, *, poison_rate=0.1, C=1.0, gamma=1.0, max_iter=10, verbose=0):
        self.poison_rate = poison_rate
        self.C = C
        self.gamma = gamma
        self.max_iter = max_iter
        self.verbose = verbose

    def _attack(self, X, y_pm, k, rng):
        from ._label_attacks import alfa_flips

        return alfa_flips(
            X, y_pm, k, C=self.C, gamma=self.gamma, max_iter=self.max_iter, verbose=self.verbose
        )


class LFALabelFlipper(_SVMLabelFlipper):
    __doc__ = f"""Greedy label flips, each the one that most increases an RBF SVM's error.

    One flip at a time, each the one among ``n_candidates`` random candidates that
    most increases the error of the retrained SVM on the attacker's validation set
    (``X_val, y_val`` given to ``fit_resample``; by default the training set with
    its clean labels); see :func:`sklpoison.attacks.lfa_flips`. Binary labels only.

    Parameters
    ----------
    poison_rate : float in [0, 1], default=0.1
        Rate of the training set whose labels are flipped:
        ``round(poison_rate * n_samples)`` flips.
    {_SVM_PARAMETERS}
    n_candidates : int, default=20
        Candidates tried per greedy step (one SVM fit each); the authors try every
        remaining row (set it to the training size for that).
    random_state : int, RandomState instance or None, default=None
        Draws the candidates.
    verbose : int, default=0
        Show a progress bar (tqdm, on stderr) over the greedy flips when positive,
        with the validation error reached. What a fit costs, with ``n`` rows of ``d``
        features and ``k = round(poison_rate * n)``: ``k * n_candidates`` RBF SVM
        fits (``O(n^2 d)`` to ``O(n^3)`` each), i.e.
        ``O(poison_rate * n_candidates * n^3)``: 370 s on the 1,797 digits at
        ``poison_rate=0.05``.

    {_SVM_ATTRIBUTES}

    See Also
    --------
    ALFALabelFlipper, FloralLabelFlipper : The other attacks on an SVM.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklpoison import LFALabelFlipper
    >>> X, y = make_moons(40, random_state=0)
    >>> X_val, y_val = make_moons(20, random_state=1)
    >>> flipper = LFALabelFlipper(poison_rate=0.1, n_candidates=5, random_state=0)
    >>> _, y_res = flipper.fit_resample(X, y, X_val=X_val, y_val=y_val)
    >>> int((y_res != y).sum())
    4
    """

    _parameter_constraints = {
        **_SVMLabelFlipper._parameter_constraints,
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self, *, poison_rate=0.1, C=1.0, gamma=1.0, n_candidates=20, random_state=None, verbose=0
    ):
        self.poison_rate = poison_rate
        self.C = C
        self.gamma = gamma
        self.n_candidates = n_candidates
        self.random_state = random_state
        self.verbose = verbose

    def fit_resample(self, X, y, X_val=None, y_val=None):
        """Fit and return the training set with flipped labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs. Never modified.
        y : array-like of shape (n_samples,)
            Training labels (two classes). Never modified.
        X_val : array-like of shape (n_val, n_features), default=None
            The attacker's validation set: each greedy flip maximises the retrained
            SVM's error there. ``None`` uses the training set with its clean labels.
            Inside :class:`imblearn.pipeline.Pipeline`, enable scikit-learn's metadata
            routing and request it (``set_fit_resample_request(X_val=True,
            y_val=True)``): without routing, imbalanced-learn passes no parameter to a
            sampler.
        y_val : array-like of shape (n_val,), default=None
            Its labels, among the two classes of ``y``.

        Returns
        -------
        X_res : ndarray or DataFrame
            A copy of ``X``.
        y_res : ndarray or Series of shape (n_samples,)
            The labels, ``round(poison_rate * n_samples)`` of them flipped.
        """
        return super().fit_resample(X, y, X_val=X_val, y_val=y_val)

    def _fit(self, X, y, X_val=None, y_val=None):
        X, y = super()._fit(X, y)
        self._validation_set(X_val, y_val)  # checked before any work
        return X, y

    def _validation_set(self, X_val, y_val):
        """The attacker's validation set, labels mapped to +-1 (or Nones)."""
        if X_val is None and y_val is None:
            return None, None
        if (X_val is None) != (y_val is None):
            raise ValueError(
                "LFALabelFlipper.fit_resample: X_val and y_val must be given together; got "
                f"only {'X_val' if y_val is None else 'y_val'}."
            )
        try:  # n_features and, for DataFrames, the column names seen at fit
            X_val = validate_data(self, X_val, reset=False, dtype=np.float64)
        except ValueError as exc:  # the message says "X": name the argument
            raise ValueError(f"LFALabelFlipper.fit_resample: invalid X_val: {exc}") from exc
        y_val = np.asarray(y_val)
        if y_val.shape != (X_val.shape[0],):
            raise ValueError(
                f"LFALabelFlipper.fit_resample: y_val must have shape ({X_val.shape[0]},), one "
                f"label per row of X_val; got {y_val.shape}."
            )
        check_known_labels(
            y_val, self.classes_, "LFALabelFlipper", what="y_val", known_as="the classes of y"
        )
        return X_val, encode_pm1(y_val, self.classes_)

    def _attack(self, X, y_pm, k, rng, X_val=None, y_val=None):
        from ._label_attacks import lfa_flips

        X_val, y_val = self._validation_set(X_val, y_val)
        return lfa_flips(
            X,
            y_pm,
            k,
            C=self.C,
            gamma=self.gamma,
            n_candidates=self.n_candidates,
            X_val=X_val,
            y_val=y_val,
            random_state=rng,
            verbose=self.verbose,
        )


class FloralLabelFlipper(_SVMLabelFlipper):
    __doc__ = f"""The FLORAL attacker (Bal et al., 2025) as a one-shot label-flip attack.

    The ``k`` flips are drawn at random among the ``ceil(candidate_factor * k)``
    support vectors of the clean RBF SVM with the largest dual variables (see
    :func:`sklpoison.attacks.floral_flips`). Binary labels only.

    Parameters
    ----------
    poison_rate : float in [0, 1], default=0.1
        Rate of the training set whose labels are flipped:
        ``round(poison_rate * n_samples)`` flips.
    {_SVM_PARAMETERS}
    candidate_factor : float >= 1, default=2.0
        The flips are drawn among the top ``ceil(candidate_factor * k)`` support vectors.
    random_state : int, RandomState instance or None, default=None
        Draws the flips among the candidates.
    verbose : int, default=0
        A line per stage (the SVM fit, the flips) on stderr when positive. What a
        fit costs, with ``n`` rows of ``d`` features: one RBF SVM fit (``O(n^2 d)``
        to ``O(n^3)``) and a sort.

    {_SVM_ATTRIBUTES}

    See Also
    --------
    sklpoison.FloralSVC : Adversarial training against this attacker.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklpoison import FloralLabelFlipper
    >>> X, y = make_moons(40, random_state=0)
    >>> _, y_res = FloralLabelFlipper(poison_rate=0.1, random_state=0).fit_resample(X, y)
    >>> int((y_res != y).sum())
    4
    """

    _parameter_constraints = {
        **_SVMLabelFlipper._parameter_constraints,
        "candidate_factor": [Interval(Real, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        poison_rate=0.1,
        C=1.0,
        gamma=1.0,
        candidate_factor=2.0,
        random_state=None,
        verbose=0,
    ):
        self.poison_rate = poison_rate
        self.C = C
        self.gamma = gamma
        self.candidate_factor = candidate_factor
        self.random_state = random_state
        self.verbose = verbose

    def _attack(self, X, y_pm, k, rng):
        from ._label_attacks import floral_flips

        return floral_flips(
            X,
            y_pm,
            k,
            C=self.C,
            gamma=self.gamma,
            candidate_factor=self.candidate_factor,
            random_state=rng,
            verbose=self.verbose,
        )
