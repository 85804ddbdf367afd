"""Label-flipping poisoning: :class:`LabelFlipper`."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, validate_data

from ..base import BaseSampler
from ..utils.validation import (
    check_known_labels,
    check_n_classes,
    check_y_given,
    encode_pm1,
    fraction_to_count,
)


class LabelFlipper(BaseSampler):
    """Label poisoning: flip the labels of a fraction of the training set.

    Parameters
    ----------
    poison_rate : float in [0, 1], default=0.1
        Fraction of the training set whose labels are flipped:
        ``round(poison_rate * n_samples)`` flips.
    strategy : {"random", "targeted", "alfa", "lfa", "floral"}, default="random"
        - ``"random"``: rows drawn uniformly at random; each gets a label drawn
          uniformly from the other classes.
        - ``"targeted"``: rows of ``source_class`` drawn at random get
          ``target_class``.
        - ``"alfa"``: ALFA (Xiao, Xiao and Eckert, 2012), alternating a linear
          program over the flips (cvxpy) and the SVM on the tainted labels, for
          ``max_alternations`` rounds. Binary labels only.
        - ``"lfa"``: greedy flips, one at a time, each the one among
          ``n_candidates`` random candidates that most increases the error of the
          retrained SVM on the attacker's validation set (``X_val, y_val``
          passed to :meth:`fit_resample`; by default the clean training labels). Binary labels only.
        - ``"floral"``: the FLORAL attacker as a one-shot attack: ``k`` flips drawn at
          random among the ``candidate_factor * k`` support vectors of the clean SVM
          with the largest dual variables. Binary labels only.

        The last three attack an RBF :class:`~sklearn.svm.SVC` with ``C`` and
        ``gamma`` (see :mod:`sklpoison.attacks` (``alfa_flips``, ``lfa_flips``, ``floral_flips``)).
    source_class : label or None, default=None
        Class whose rows are flipped by the ``"targeted"`` strategy (required
        there).
    target_class : label or None, default=None
        Label given by the ``"targeted"`` strategy (required there).
    C : float, default=1.0
        Regularisation of the attacker's RBF SVM ("alfa", "lfa", "floral").
    gamma : float, default=1.0
        Kernel width of the attacker's RBF SVM ("alfa", "lfa", "floral").
    max_alternations : int, default=10
        LP/QP alternations of "alfa".
    n_candidates : int, default=20
        Candidates tried per greedy step of "lfa" (one SVM fit each).
    candidate_factor : float, default=2.0
        "floral" draws its flips among the top ``ceil(candidate_factor * k)``
        support vectors.
    random_state : int, RandomState instance or None, default=None
        Controls which rows are flipped and to what.
    verbose : int, default=0
        Show a progress bar (tqdm) over the alternations of "alfa" and the
        greedy flips of "lfa" when positive; both take minutes at large ``n``.

    Attributes
    ----------
    classes_ : ndarray
        Labels seen at fit.
    changed_indices_ : ndarray of int
        Rows whose labels were changed by the last :meth:`fit_resample` (the
        name every sampler uses).
    n_changed_ : int
        Number of flipped labels.
    n_features_in_ : int
        ``X.shape[1]`` at fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import LabelFlipper
    >>> X, y = np.zeros((10, 2)), np.array([0, 1] * 5)
    >>> _, y_res = LabelFlipper(poison_rate=0.2, random_state=0).fit_resample(X, y)
    >>> int((y_res != y).sum())
    2
    """

    _parameter_constraints = {
        "poison_rate": [Interval(Real, 0, 1, closed="both")],
        "strategy": [StrOptions({"random", "targeted", "alfa", "lfa", "floral"})],
        "source_class": "no_validation",
        "target_class": "no_validation",
        "C": [Interval(Real, 0, None, closed="neither")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "max_alternations": [Interval(Integral, 1, None, closed="left")],
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
        "candidate_factor": [Interval(Real, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        poison_rate=0.1,
        strategy="random",
        source_class=None,
        target_class=None,
        C=1.0,
        gamma=1.0,
        max_alternations=10,
        n_candidates=20,
        candidate_factor=2.0,
        random_state=None,
        verbose=0,
    ):
        self.poison_rate = poison_rate
        self.strategy = strategy
        self.source_class = source_class
        self.target_class = target_class
        self.C = C
        self.gamma = gamma
        self.max_alternations = max_alternations
        self.n_candidates = n_candidates
        self.candidate_factor = candidate_factor
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X, y, X_val=None, y_val=None):
        check_y_given(y, type(self).__name__)
        X, y = validate_data(self, X, y, allow_nd=True, dtype="numeric", ensure_all_finite=True)
        check_classification_targets(y)
        self.classes_ = check_n_classes(
            y, "LabelFlipper", hint="Flipping labels needs labels of two or more classes."
        )
        if self.strategy == "targeted":
            for name in ("source_class", "target_class"):
                value = getattr(self, name)
                if value is None or not np.any(self.classes_ == value):
                    raise ValueError(
                        f"strategy='targeted' needs {name} set to one of the classes in y "
                        f"{self.classes_.tolist()}; got {value!r}."
                    )
            if self.source_class == self.target_class:
                raise ValueError("source_class and target_class must differ.")
        if self.strategy in ("alfa", "lfa", "floral"):
            check_n_classes(
                self.classes_,
                f"LabelFlipper(strategy={self.strategy!r}) attacks a binary SVM and",
                max_classes=2,
                hint="Use strategy='random' or 'targeted' for more classes.",
            )
            if X.ndim != 2:
                raise ValueError(
                    f"strategy={self.strategy!r} needs 2-D X of shape (n_samples, n_features); "
                    f"got shape {X.shape}. Flatten images first."
                )
        if X_val is not None or y_val is not None:  # checked before any work
            self._validation_set(X_val, y_val, X.shape[1])
        return X, y

    def fit_resample(self, X, y, X_val=None, y_val=None):
        """Fit and return the training set with flipped labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs. Never modified.
        y : array-like of shape (n_samples,)
            Training labels. Never modified.
        X_val : array-like of shape (n_val, n_features), default=None
            The attacker's validation set for ``strategy="lfa"``: each greedy flip
            maximises the retrained SVM's error there. ``None`` uses the training set
            with its clean labels. Inside :class:`imblearn.pipeline.Pipeline`, enable
            scikit-learn's metadata routing and request it
            (``set_fit_resample_request(X_val=True, y_val=True)``): without routing,
            imbalanced-learn passes no parameter to a sampler.
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

    def _validation_set(self, X_val, y_val, n_features):
        """The attacker's validation set for "lfa", labels mapped to +-1 (or Nones)."""
        if X_val is None and y_val is None:
            return None, None
        if (X_val is None) != (y_val is None):
            raise ValueError(
                "LabelFlipper.fit_resample: X_val and y_val must be given together; got only "
                f"{'X_val' if y_val is None else 'y_val'}."
            )
        if self.strategy != "lfa":
            raise ValueError(
                f"LabelFlipper.fit_resample: X_val and y_val are used by strategy='lfa' only; "
                f"got them with strategy={self.strategy!r}."
            )
        X_val = check_array(X_val, dtype=np.float64, input_name="X_val")
        y_val = np.asarray(y_val)
        if X_val.shape[1] != n_features or y_val.shape != (X_val.shape[0],):
            raise ValueError(
                f"LabelFlipper.fit_resample: X_val must have shape (m, {n_features}) and y_val "
                f"shape (m,); got {X_val.shape} and {y_val.shape}."
            )
        check_known_labels(
            y_val, self.classes_, "LabelFlipper", what="y_val", known_as="the classes of y"
        )
        return X_val, encode_pm1(y_val, self.classes_)

    def _resample(self, X, y, X_val=None, y_val=None):
        n = y.shape[0]
        k = fraction_to_count(
            self.poison_rate, n, name="poison_rate", who="LabelFlipper", noun="flips"
        )
        rng = check_random_state(self.random_state)
        y_res = np.array(y, copy=True)
        if self.strategy == "random":
            rows = np.sort(rng.choice(n, size=k, replace=False))
            # map each chosen label to one of the other classes, uniformly
            codes = np.searchsorted(self.classes_, y[rows])
            shift = rng.randint(1, self.classes_.size, size=k)
            y_res[rows] = self.classes_[(codes + shift) % self.classes_.size]
        elif self.strategy == "targeted":
            candidates = np.flatnonzero(y == self.source_class)
            if k > candidates.size:
                raise ValueError(
                    f"poison_rate={self.poison_rate} asks for {k} flips, but only "
                    f"{candidates.size} rows have source_class={self.source_class!r}. Lower "
                    "poison_rate."
                )
            rows = np.sort(rng.choice(candidates, size=k, replace=False))
            y_res[rows] = self.target_class
        elif self.strategy in ("alfa", "lfa", "floral"):
            from . import _label_attacks

            Xf = np.asarray(X, dtype=float)
            y_pm = encode_pm1(y, self.classes_)
            svm = dict(C=self.C, gamma=self.gamma)
            if self.strategy == "alfa":
                rows = _label_attacks.alfa_flips(
                    Xf, y_pm, k, max_iter=self.max_alternations, verbose=self.verbose, **svm
                )
            elif self.strategy == "lfa":
                X_val, y_val = self._validation_set(X_val, y_val, Xf.shape[1])
                rows = _label_attacks.lfa_flips(
                    Xf,
                    y_pm,
                    k,
                    n_candidates=self.n_candidates,
                    X_val=X_val,
                    y_val=y_val,
                    random_state=rng,
                    verbose=self.verbose,
                    **svm,
                )
            else:
                rows = _label_attacks.floral_flips(
                    Xf, y_pm, k, candidate_factor=self.candidate_factor, random_state=rng, **svm
                )
            # binary: the flipped label is the other class
            y_res[rows] = np.where(y[rows] == self.classes_[1], self.classes_[0], self.classes_[1])
        return np.array(X, copy=True), y_res, rows
