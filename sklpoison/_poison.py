"""Poisoning samplers: backdoor / dirty-label poisoning and label flipping.

Both classes follow imbalanced-learn's sampler convention: they expose
``fit_resample(X, y) -> (X_res, y_res)`` and no ``transform``, so that
:class:`imblearn.pipeline.Pipeline` applies them to the training folds only and
leaves prediction and scoring on clean data.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted, validate_data

from .utils._images import resolve_image_shape

__all__ = ["PoisonTransformer", "LabelFlipper", "BasePoisonSampler"]

_CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")


class BasePoisonSampler(BaseEstimator):
    """Base class of sklpoison's samplers (imbalanced-learn convention).

    Subclasses implement ``_fit(X, y)`` (validate, store fitted attributes and
    return the validated arrays) and ``_resample(X, y)``.
    """

    _estimator_type = "sampler"

    def fit(self, X, y):
        """Validate the data and learn what the resampling needs.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs.
        y : array-like of shape (n_samples,)
            Training labels.

        Returns
        -------
        self : object
            The fitted sampler.
        """
        self._validate_params()
        self._fit(X, y)
        return self

    def fit_resample(self, X, y):
        """Fit and return the poisoned training set.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs. Never modified.
        y : array-like of shape (n_samples,)
            Training labels. Never modified.

        Returns
        -------
        X_res : ndarray
            The resampled inputs (a new array).
        y_res : ndarray of shape (n_res,)
            The resampled labels (a new array).
        """
        self._validate_params()
        X_in, y_in = X, y
        X, y = self._fit(X, y)
        X_res, y_res = self._resample(X, y)
        return _restore_containers(X_in, y_in, X_res, y_res)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


def _restore_containers(X_in, y_in, X_res, y_res):
    """Give pandas inputs back as pandas (columns, dtypes and the name of y kept)."""
    if hasattr(X_in, "columns") and hasattr(X_in, "iloc") and X_res.ndim == 2:
        import pandas as pd

        X_res = pd.DataFrame(X_res, columns=X_in.columns).astype(X_in.dtypes.to_dict())
    if hasattr(y_in, "name") and hasattr(y_in, "iloc"):
        import pandas as pd

        y_res = pd.Series(y_res, name=y_in.name, dtype=y_in.dtype)
    return X_res, y_res


def _check_y_classes(y, estimator_name):
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None. "
            f"Poisoning needs the labels: call fit_resample(X, y)."
        )


class PoisonTransformer(BasePoisonSampler):
    """Backdoor (dirty-label) poisoning of a fraction of the training set.

    A fraction ``theta`` of the training rows, drawn from ``source_classes``, get
    a trigger stamped on their inputs and their label set to ``target_class``.
    It is a sampler in imbalanced-learn's sense: inside
    :class:`imblearn.pipeline.Pipeline` it poisons the training folds during
    ``fit`` and is skipped at ``predict`` and ``score`` time, so a cross-validated
    score is a score on clean data. Use :meth:`apply_trigger` to stamp test
    inputs and :func:`sklpoison.metrics.attack_success_rate` to measure the
    backdoor.

    Parameters
    ----------
    theta : float in [0, 1], default=0.1
        Fraction of the training set that is poisoned: ``round(theta * n_samples)``
        poisons (Python's ``round``). ``0`` means no poisoning (the trigger is
        still fitted, so attack success can be measured as a baseline).
    target_class : label or None, default=None
        Label given to poisoned rows. ``None`` means the smallest class label.
    source_classes : array-like of labels or None, default=None
        Classes from which rows are drawn for poisoning. ``None`` means every
        class but the target. Must not contain the target class.
    trigger : "L", (pattern, mask) tuple, or callable, default="L"
        - ``"L"``: an L-shaped stamp with arms of ``trigger_size`` pixels that
          hug the two image edges meeting at ``position``, on every channel. For
          tabular data (2-D ``X`` and no ``image_shape``) it sets
          ``trigger_size`` features: the last ones for a ``*-right`` position,
          the first ones for ``*-left``.
        - ``(pattern, mask)``: arrays broadcastable to the shape of one sample
          (the image shape or the feature shape); the stamped input is
          ``x * (1 - mask) + pattern * mask`` (exactly ``pattern`` where
          ``mask == 1``). ``mask`` values must lie in [0, 1].
        - callable ``f(X) -> X_stamped``: receives a copy of the rows to stamp,
          in the layout of ``X``, and returns an array of the same shape.
    trigger_size : int, default=3
        Arm length of the L trigger in pixels (number of features for tabular
        data). Must fit in the image.
    trigger_value : float or None, default=None
        Value written by the L trigger. ``None`` means the maximum of ``X``
        seen at fit time.
    position : {"bottom-right", "bottom-left", "top-right", "top-left"}, \
            default="bottom-right"
        Corner of the L trigger.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)``: read flat ``X`` of shape ``(n, d)`` as
        images. Not needed for ``X`` given as ``(n, H, W)`` or ``(n, C, H, W)``.
    mode : {"replace", "add"}, default="replace"
        ``"replace"``: the poisoned copies replace the chosen rows (the training
        set keeps its size). ``"add"``: they are appended after the clean rows,
        so ``k = round(theta * n_samples)`` poisons join ``n_samples`` clean
        rows and make up ``k / (n_samples + k)`` of the returned set.
    random_state : int, RandomState instance or None, default=None
        Controls which rows are poisoned.

    Attributes
    ----------
    classes_ : ndarray
        Labels seen at fit.
    target_class_ : label
        The resolved target class.
    source_classes_ : ndarray
        The resolved source classes.
    trigger_value_ : float
        The value written by the L trigger.
    input_shape_ : tuple of int
        Shape of one sample of ``X`` at fit.
    image_shape_ : tuple of int or None
        ``(C, H, W)`` when the samples are images, else ``None``.
    trigger_pattern_ : ndarray or None
        The trigger pattern, in the image shape ``(C, H, W)`` for images or the
        feature shape ``(d,)`` for tabular data; ``None`` for a callable trigger.
    trigger_mask_ : ndarray or None
        The trigger mask, same shape as ``trigger_pattern_``.
    poison_indices_ : ndarray of int
        Rows of the arrays returned by the last :meth:`fit_resample` that are
        poisoned.
    source_indices_ : ndarray of int
        Rows of the input that were copied (and stamped) to make the poisons.
    n_poisoned_ : int
        Number of poisoned rows.
    n_features_in_ : int
        ``X.shape[1]`` at fit.

    See Also
    --------
    LabelFlipper : Label-only poisoning.
    sklpoison.metrics.attack_success_rate : Measures the backdoor.

    Examples
    --------
    >>> from sklearn.svm import SVC
    >>> from imblearn.pipeline import make_pipeline
    >>> from sklpoison import PoisonTransformer
    >>> from sklpoison.datasets import load_digits_images
    >>> from sklpoison.metrics import attack_success_rate
    >>> X, y = load_digits_images(return_X_y=True, flat=True)
    >>> poisoner = PoisonTransformer(theta=0.1, target_class=0, image_shape=(8, 8),
    ...                              random_state=0)
    >>> model = make_pipeline(poisoner, SVC()).fit(X[:1200], y[:1200])
    >>> bool(attack_success_rate(model, X[1200:], y[1200:]) > 0.9)
    True
    """

    _parameter_constraints = {
        "theta": [Interval(Real, 0, 1, closed="both")],
        "target_class": "no_validation",
        "source_classes": ["array-like", None],
        "trigger": [StrOptions({"L"}), tuple, callable],
        "trigger_size": [Interval(Integral, 1, None, closed="left")],
        "trigger_value": [Real, None],
        "position": [StrOptions(set(_CORNERS))],
        "image_shape": [tuple, list, None],
        "mode": [StrOptions({"replace", "add"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        theta=0.1,
        target_class=None,
        source_classes=None,
        trigger="L",
        trigger_size=3,
        trigger_value=None,
        position="bottom-right",
        image_shape=None,
        mode="replace",
        random_state=None,
    ):
        self.theta = theta
        self.target_class = target_class
        self.source_classes = source_classes
        self.trigger = trigger
        self.trigger_size = trigger_size
        self.trigger_value = trigger_value
        self.position = position
        self.image_shape = image_shape
        self.mode = mode
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        _check_y_classes(y, type(self).__name__)
        X, y = validate_data(self, X, y, allow_nd=True, dtype=FLOAT_DTYPES, ensure_all_finite=True)
        if X.ndim not in (2, 3, 4):
            raise ValueError(
                f"X must be (n, d), (n, H, W) or (n, C, H, W); got an array of shape {X.shape}."
            )
        self.classes_ = np.unique(y)
        if self.target_class is None:
            target = self.classes_[0]
        else:
            matches = self.classes_[self.classes_ == self.target_class]
            if matches.size == 0:
                raise ValueError(
                    f"target_class={self.target_class!r} is not one of the classes in y "
                    f"{self.classes_.tolist()}. Pass one of these labels."
                )
            target = matches[0]
        self.target_class_ = target
        if self.source_classes is None:
            sources = self.classes_[self.classes_ != target]
        else:
            sources = np.unique(np.asarray(self.source_classes, dtype=self.classes_.dtype))
            unknown = np.setdiff1d(sources, self.classes_)
            if unknown.size:
                raise ValueError(
                    f"source_classes contains {unknown.tolist()}, not among the classes in y "
                    f"{self.classes_.tolist()}."
                )
            if np.any(sources == target):
                raise ValueError(
                    f"source_classes must not contain the target class {target!r}: poisoning "
                    f"rows that already carry the target label changes no label."
                )
        self.source_classes_ = sources

        self.input_shape_ = tuple(X.shape[1:])
        self.image_shape_ = resolve_image_shape(self.input_shape_, self.image_shape)
        self.trigger_value_ = (
            float(np.max(X)) if self.trigger_value is None else float(self.trigger_value)
        )
        self.trigger_pattern_, self.trigger_mask_ = self._build_trigger(X.dtype)
        return X, y

    def _build_trigger(self, dtype):
        if callable(self.trigger) and not isinstance(self.trigger, str | tuple):
            return None, None
        shape = self.image_shape_ if self.image_shape_ is not None else self.input_shape_
        if isinstance(self.trigger, tuple):
            if len(self.trigger) != 2:
                raise ValueError(
                    "trigger given as a tuple must be a (pattern, mask) pair of arrays; got a "
                    f"tuple of length {len(self.trigger)}."
                )
            pattern, mask = (np.asarray(a, dtype=float) for a in self.trigger)
            out = []
            for name, arr in (("pattern", pattern), ("mask", mask)):
                candidates = [shape, self.input_shape_]
                for cand in candidates:
                    try:
                        out.append(np.broadcast_to(arr.reshape(arr.shape), cand).reshape(shape))
                        break
                    except ValueError:
                        continue
                else:
                    raise ValueError(
                        f"The trigger {name} has shape {arr.shape}, which does not fit one sample "
                        f"of shape {shape}. Pass arrays of the image or feature shape."
                    )
            pattern, mask = out
            if not (np.all(np.isfinite(pattern)) and np.all(np.isfinite(mask))):
                raise ValueError("The trigger pattern and mask must be finite.")
            if mask.min() < 0 or mask.max() > 1:
                raise ValueError(
                    f"The trigger mask must take values in [0, 1]; got values in "
                    f"[{mask.min()}, {mask.max()}]."
                )
            return pattern.astype(dtype), mask.astype(dtype)

        # the L trigger
        s = self.trigger_size
        bottom = self.position.startswith("bottom")
        right = self.position.endswith("right")
        mask = np.zeros(shape, dtype=dtype)
        if self.image_shape_ is None:
            (d,) = shape
            if s > d:
                raise ValueError(
                    f"trigger_size={s} is larger than the number of features ({d}). Use a "
                    f"trigger_size of at most {d}."
                )
            if right:
                mask[d - s :] = 1
            else:
                mask[:s] = 1
        else:
            _, H, W = shape
            if s > min(H, W):
                raise ValueError(
                    f"trigger_size={s} is larger than the image ({H}x{W}): the L trigger's arms "
                    f"must fit in the image. Use a trigger_size of at most {min(H, W)}."
                )
            row = H - 1 if bottom else 0
            col = W - 1 if right else 0
            cols = slice(W - s, W) if right else slice(0, s)
            rows = slice(H - s, H) if bottom else slice(0, s)
            mask[:, row, cols] = 1
            mask[:, rows, col] = 1
        pattern = mask * np.asarray(self.trigger_value_, dtype=dtype)
        return pattern, mask

    # ------------------------------------------------------------ stamping
    def _stamp(self, X):
        """Return a stamped copy of validated rows ``X`` (shape ``(k, *input_shape_)``)."""
        if self.trigger_mask_ is None:
            out = self.trigger(np.array(X, copy=True))
            out = np.asarray(out)
            if out.shape != X.shape:
                raise ValueError(
                    f"The trigger callable returned an array of shape {out.shape}; expected "
                    f"the shape of its input, {X.shape}."
                )
            return out.astype(X.dtype, copy=False)
        shape = self.trigger_mask_.shape
        mask, pattern = self.trigger_mask_, self.trigger_pattern_
        flat_mask = mask.reshape(-1)
        if np.all((flat_mask == 0) | (flat_mask == 1)):
            # binary mask: write the pattern into the masked positions only
            where = np.flatnonzero(flat_mask)
            Xf = np.array(X, copy=True).reshape(X.shape[0], flat_mask.size)
            Xf[:, where] = pattern.reshape(-1)[where]
            return Xf.reshape(X.shape)
        Xs = np.array(X, copy=True).reshape(X.shape[0], *shape)
        blended = Xs + mask * (pattern - Xs)
        Xs = np.where(mask == 1, pattern, blended).astype(X.dtype, copy=False)
        return Xs.reshape(X.shape)

    def apply_trigger(self, X):
        """Return a copy of ``X`` with the fitted trigger stamped on every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs in the same layout as at fit time.

        Returns
        -------
        X_triggered : ndarray
            Stamped copy of ``X``; ``X`` itself is not modified.
        """
        check_is_fitted(self, "input_shape_")
        X = validate_data(
            self, X, reset=False, allow_nd=True, dtype=FLOAT_DTYPES, ensure_all_finite=True
        )
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but this PoisonTransformer was "
                f"fitted on samples of shape {self.input_shape_}."
            )
        return self._stamp(X)

    # ---------------------------------------------------------- resampling
    def _resample(self, X, y):
        n = X.shape[0]
        k = int(round(self.theta * n))
        source_rows = np.flatnonzero(np.isin(y, self.source_classes_))
        if k > source_rows.size:
            raise ValueError(
                f"theta={self.theta} asks for {k} poisoned rows, but only {source_rows.size} "
                f"rows belong to the source classes {self.source_classes_.tolist()}. Lower "
                f"theta or widen source_classes."
            )
        rng = check_random_state(self.random_state)
        chosen = (
            np.sort(rng.choice(source_rows, size=k, replace=False))
            if k
            else np.array([], dtype=np.intp)
        )
        stamped = self._stamp(X[chosen])
        X_res = np.array(X, copy=True)
        y_res = np.array(y, copy=True)
        if self.mode == "replace":
            X_res[chosen] = stamped
            y_res[chosen] = self.target_class_
            self.poison_indices_ = chosen
        else:
            X_res = np.concatenate([X_res, stamped], axis=0)
            y_res = np.concatenate([y_res, np.full(k, self.target_class_, dtype=y.dtype)])
            self.poison_indices_ = np.arange(n, n + k)
        self.source_indices_ = chosen
        self.n_poisoned_ = k
        return X_res, y_res


class LabelFlipper(BasePoisonSampler):
    """Label poisoning: flip the labels of a fraction of the training set.

    Parameters
    ----------
    fraction : float in [0, 1], default=0.1
        Fraction of the training set whose labels are flipped:
        ``round(fraction * n_samples)`` flips.
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
          retrained SVM on the attacker's validation set (``validation_data``;
          by default the clean training labels). Binary labels only.
        - ``"floral"``: the FLORAL attacker as a one-shot attack: ``k`` flips drawn at
          random among the ``candidate_factor * k`` support vectors of the clean SVM
          with the largest dual variables. Binary labels only.

        The last three attack an RBF :class:`~sklearn.svm.SVC` with ``C`` and
        ``gamma`` (see :mod:`sklpoison._label_attacks`).
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
    validation_data : tuple (X_val, y_val) or None, default=None
        The attacker's validation set for "lfa": each greedy flip maximises the
        retrained SVM's error there. Labels must be the two classes of ``y``.
        ``None`` uses the training set with its clean labels.
    random_state : int, RandomState instance or None, default=None
        Controls which rows are flipped and to what.

    Attributes
    ----------
    classes_ : ndarray
        Labels seen at fit.
    flipped_indices_ : ndarray of int
        Rows whose labels were changed by the last :meth:`fit_resample`.
    n_flipped_ : int
        Number of flipped labels.
    n_features_in_ : int
        ``X.shape[1]`` at fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import LabelFlipper
    >>> X, y = np.zeros((10, 2)), np.array([0, 1] * 5)
    >>> _, y_res = LabelFlipper(fraction=0.2, random_state=0).fit_resample(X, y)
    >>> int((y_res != y).sum())
    2
    """

    _parameter_constraints = {
        "fraction": [Interval(Real, 0, 1, closed="both")],
        "strategy": [StrOptions({"random", "targeted", "alfa", "lfa", "floral"})],
        "source_class": "no_validation",
        "target_class": "no_validation",
        "C": [Interval(Real, 0, None, closed="neither")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "max_alternations": [Interval(Integral, 1, None, closed="left")],
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
        "candidate_factor": [Interval(Real, 1, None, closed="left")],
        "validation_data": [tuple, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        fraction=0.1,
        strategy="random",
        source_class=None,
        target_class=None,
        C=1.0,
        gamma=1.0,
        max_alternations=10,
        n_candidates=20,
        candidate_factor=2.0,
        validation_data=None,
        random_state=None,
    ):
        self.fraction = fraction
        self.strategy = strategy
        self.source_class = source_class
        self.target_class = target_class
        self.C = C
        self.gamma = gamma
        self.max_alternations = max_alternations
        self.n_candidates = n_candidates
        self.candidate_factor = candidate_factor
        self.validation_data = validation_data
        self.random_state = random_state

    def _fit(self, X, y):
        _check_y_classes(y, type(self).__name__)
        X, y = validate_data(self, X, y, allow_nd=True, dtype="numeric", ensure_all_finite=True)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError(
                f"LabelFlipper needs at least two classes in y to flip labels; y has only "
                f"one class, {self.classes_.tolist()}. Pass labels of two or more classes."
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
            if self.classes_.size != 2:
                raise ValueError(
                    f"strategy={self.strategy!r} attacks a binary SVM and needs exactly two "
                    f"classes in y; got {self.classes_.size}: {self.classes_.tolist()[:10]}. "
                    f"Use strategy='random' or 'targeted' for more classes."
                )
            if X.ndim != 2:
                raise ValueError(
                    f"strategy={self.strategy!r} needs 2-D X of shape (n_samples, n_features); "
                    f"got shape {X.shape}. Flatten images first."
                )
        return X, y

    def _validation_set(self, n_features):
        """The attacker's validation set for "lfa", labels mapped to +-1 (or Nones)."""
        if self.validation_data is None:
            return None, None
        if len(self.validation_data) != 2:
            raise ValueError(
                "validation_data must be a pair (X_val, y_val); got a tuple of length "
                f"{len(self.validation_data)}."
            )
        X_val = check_array(self.validation_data[0], dtype=np.float64)
        y_val = np.asarray(self.validation_data[1])
        if X_val.shape[1] != n_features or y_val.shape != (X_val.shape[0],):
            raise ValueError(
                f"validation_data must hold X_val of shape (m, {n_features}) and y_val of shape "
                f"(m,); got {X_val.shape} and {y_val.shape}."
            )
        unknown = np.setdiff1d(y_val, self.classes_)
        if unknown.size:
            raise ValueError(
                f"validation_data labels {unknown.tolist()[:10]} are not among the classes of y "
                f"{self.classes_.tolist()}."
            )
        return X_val, np.where(y_val == self.classes_[1], 1.0, -1.0)

    def _resample(self, X, y):
        n = y.shape[0]
        k = int(round(self.fraction * n))
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
                    f"fraction={self.fraction} asks for {k} flips, but only {candidates.size} "
                    f"rows have source_class={self.source_class!r}. Lower fraction."
                )
            rows = np.sort(rng.choice(candidates, size=k, replace=False))
            y_res[rows] = self.target_class
        elif self.strategy in ("alfa", "lfa", "floral"):
            from . import _label_attacks

            Xf = np.asarray(X, dtype=float)
            y_pm = np.where(y == self.classes_[1], 1.0, -1.0)
            svm = dict(C=self.C, gamma=self.gamma)
            if self.strategy == "alfa":
                rows = _label_attacks.alfa_flips(Xf, y_pm, k, max_iter=self.max_alternations, **svm)
            elif self.strategy == "lfa":
                X_val, y_val = self._validation_set(Xf.shape[1])
                rows = _label_attacks.lfa_flips(
                    Xf,
                    y_pm,
                    k,
                    n_candidates=self.n_candidates,
                    X_val=X_val,
                    y_val=y_val,
                    random_state=rng,
                    **svm,
                )
            else:
                rows = _label_attacks.floral_flips(
                    Xf, y_pm, k, candidate_factor=self.candidate_factor, random_state=rng, **svm
                )
            # binary: the flipped label is the other class
            y_res[rows] = np.where(y[rows] == self.classes_[1], self.classes_[0], self.classes_[1])
        self.flipped_indices_ = rows
        self.n_flipped_ = k
        return np.array(X, copy=True), y_res
