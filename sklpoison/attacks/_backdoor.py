"""Backdoor (dirty-label) poisoning: :class:`PoisonTransformer`."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from ..base import BaseSampler
from ..utils._images import resolve_image_shape
from ..utils.validation import (
    check_known_labels,
    check_n_classes,
    check_y_given,
    fraction_to_count,
)

_CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")


class PoisonTransformer(BaseSampler):
    """Backdoor (dirty-label) poisoning of a fraction of the training set.

    A fraction ``poison_rate`` of the training rows, drawn from ``source_classes``, get
    a trigger stamped on their inputs and their label set to ``target_class``.
    It is a sampler in imbalanced-learn's sense: inside
    :class:`imblearn.pipeline.Pipeline` it poisons the training folds during
    ``fit`` and is skipped at ``predict`` and ``score`` time, so a cross-validated
    score is a score on clean data. Use :meth:`apply_trigger` to stamp test
    inputs and :func:`sklpoison.metrics.attack_success_rate` to measure the
    backdoor.

    Parameters
    ----------
    poison_rate : float in [0, 1], default=0.1
        Fraction of the training set that is poisoned: ``round(poison_rate * n_samples)``
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
        Value written by the L trigger (finite). ``None`` means the maximum of
        ``X`` seen at fit time.
    position : {"bottom-right", "bottom-left", "top-right", "top-left"}, \
            default="bottom-right"
        Corner of the L trigger.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)``: read flat ``X`` of shape ``(n, d)`` as
        images. Not needed for ``X`` given as ``(n, H, W)`` or ``(n, C, H, W)``.
    mode : {"replace", "add"}, default="replace"
        ``"replace"``: the poisoned copies replace the chosen rows (the training
        set keeps its size). ``"add"``: they are appended after the clean rows,
        so ``k = round(poison_rate * n_samples)`` poisons join ``n_samples`` clean
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
    changed_indices_ : ndarray of int
        Rows of the arrays returned by the last :meth:`fit_resample` that are
        poisoned (the name every sampler uses).
    n_changed_ : int
        Number of poisoned rows.
    source_indices_ : ndarray of int
        Rows of the input that were copied (and stamped) to make the poisons.
    n_features_in_ : int
        ``X.shape[1]`` at fit.

    See Also
    --------
    RandomLabelFlipper : Label-only poisoning (and the other label flippers).
    sklpoison.metrics.attack_success_rate : Measures the backdoor.

    Examples
    --------
    >>> from sklearn.svm import SVC
    >>> from imblearn.pipeline import make_pipeline
    >>> from sklpoison import PoisonTransformer
    >>> from sklpoison.datasets import load_digits_images
    >>> from sklpoison.metrics import attack_success_rate
    >>> X, y = load_digits_images(return_X_y=True, flat=True)
    >>> poisoner = PoisonTransformer(poison_rate=0.1, target_class=0, image_shape=(8, 8),
    ...                              random_state=0)
    >>> model = make_pipeline(poisoner, SVC()).fit(X[:1200], y[:1200])
    >>> bool(attack_success_rate(model, X[1200:], y[1200:]) > 0.9)
    True
    """

    _parameter_constraints = {
        "poison_rate": [Interval(Real, 0, 1, closed="both")],
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
        poison_rate=0.1,
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
        self.poison_rate = poison_rate
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
        check_y_given(y, type(self).__name__)
        X, y = validate_data(self, X, y, allow_nd=True, dtype=FLOAT_DTYPES, ensure_all_finite=True)
        check_classification_targets(y)
        if X.ndim not in (2, 3, 4):
            raise ValueError(
                f"X must be (n, d), (n, H, W) or (n, C, H, W); got an array of shape {X.shape}."
            )
        self.classes_ = check_n_classes(
            y, "PoisonTransformer", hint="Poisoning relabels rows of other classes as the target."
        )
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
            # not cast to y's dtype first: that would turn 0.7 into class 0 and 'negative'
            # into class 'neg' (a '<U3' array) without a word
            codes = check_known_labels(
                np.unique(np.asarray(self.source_classes)),
                self.classes_,
                "PoisonTransformer",
                what="source_classes",
                known_as="the classes in y",
            )
            sources = self.classes_[codes]
            if np.any(sources == target):
                raise ValueError(
                    f"source_classes must not contain the target class {target!r}: poisoning "
                    f"rows that already carry the target label changes no label."
                )
        self.source_classes_ = sources

        self.input_shape_ = tuple(X.shape[1:])
        self.image_shape_ = resolve_image_shape(self.input_shape_, self.image_shape)
        if self.trigger_value is not None and not np.isfinite(self.trigger_value):
            raise ValueError(
                f"trigger_value={self.trigger_value!r} would write NaN or infinity into X; pass a "
                f"finite value, or None for the maximum of X."
            )
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
        k = fraction_to_count(
            self.poison_rate, n, name="poison_rate", who="PoisonTransformer", noun="poisons"
        )
        source_rows = np.flatnonzero(np.isin(y, self.source_classes_))
        if k > source_rows.size:
            raise ValueError(
                f"PoisonTransformer: poison_rate={self.poison_rate} asks for {k} poisoned rows, "
                f"but only {source_rows.size} "
                f"rows belong to the source classes {self.source_classes_.tolist()}. Lower "
                f"poison_rate or widen source_classes."
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
            changed = chosen
        else:
            X_res = np.concatenate([X_res, stamped], axis=0)
            y_res = np.concatenate([y_res, np.full(k, self.target_class_, dtype=y.dtype)])
            changed = np.arange(n, n + k)
        self.source_indices_ = chosen
        return X_res, y_res, changed
