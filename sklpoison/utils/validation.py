"""Validation helpers shared by sklpoison's estimators.

The checks every sklpoison estimator repeats, written once so that the error
messages are the same everywhere and always name the estimator that raised
them:

- :func:`check_y_given`: samplers and supervised defences need ``y``;
- :func:`check_n_classes`: at least (or exactly) a number of classes in ``y``;
- :func:`check_known_labels`: labels all among known classes, as integer codes;
- :func:`encode_pm1`: binary labels as ``-1`` / ``+1`` floats;
- :func:`fraction_to_count`: a poisoning fraction as a number of rows, with a
  warning when a positive fraction rounds to zero rows;
- :func:`check_finite_result`: a kernel matrix, weight vector or prediction
  computed from finite input holds no NaN or infinity (extreme input values
  overflow silently in numpy, and the overflow must not become a silent NaN
  prediction);
- :func:`check_budget_rows`: a budget that asks for more rows than the data
  can sensibly carry (or memory can hold) is refused before any allocation.

Third-party estimators built on sklpoison may use them too::

    from sklpoison.utils.validation import check_n_classes
    classes = check_n_classes(y, who="MyDefence")
"""

import os
import sys
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

__all__ = [
    "check_budget_rows",
    "check_finite_result",
    "check_known_labels",
    "check_n_classes",
    "check_y_given",
    "encode_pm1",
    "fraction_to_count",
    "warn_user",
]

_MAX_SHOWN = 10


def _library_roots():
    import sklearn

    roots = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), sklearn.__path__[0]]
    for name in ("imblearn", "joblib"):  # pipelines call fit_resample through joblib.Memory
        module = sys.modules.get(name)
        if module is not None:
            roots.append(module.__path__[0])
    return tuple(os.path.join(r, "") for r in roots)


def warn_user(message, category=UserWarning):
    """:func:`warnings.warn` pointing at the first frame outside sklpoison and scikit-learn.

    A fixed ``stacklevel`` breaks as soon as a call goes through
    ``sklearn.base._fit_context``, a pipeline or a helper; this one always
    names the line of the caller's code (frames of imbalanced-learn and joblib,
    which pipelines go through, are skipped too).

    Parameters
    ----------
    message : str
        The warning message.
    category : type of Warning, default=UserWarning
        The warning class.
    """
    roots = _library_roots()
    frame, level = sys._getframe(0), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(roots):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _show(values):
    values = np.asarray(values).tolist()
    if len(values) > _MAX_SHOWN:
        return f"{values[:_MAX_SHOWN]} (and {len(values) - _MAX_SHOWN} more)"
    return str(values)


def check_y_given(y, who):
    """Raise a ValueError when ``y`` is None.

    Parameters
    ----------
    y : array-like or None
        The labels passed to ``fit`` or ``fit_resample``.
    who : str
        The estimator's name, used in the message.

    Raises
    ------
    ValueError
        If ``y`` is None.
    """
    if y is None:
        raise ValueError(
            f"{who} requires y to be passed, but the target y is None. Poisoning and its "
            f"defences need the labels: call fit(X, y) or fit_resample(X, y)."
        )


def check_n_classes(y, who, *, min_classes=2, max_classes=None, hint=None):
    """Check the number of classes in ``y`` and return the sorted classes.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels (or already the unique classes).
    who : str
        The estimator's name (e.g. ``"Sever"``), used in the message.
    min_classes : int, default=2
        Fewest classes allowed.
    max_classes : int or None, default=None
        Most classes allowed (``None``: no limit). ``max_classes == min_classes``
        asks for exactly that many.
    hint : str or None, default=None
        A sentence appended to the message, saying how to fix the data.

    Returns
    -------
    classes : ndarray
        ``np.unique(y)``.

    Raises
    ------
    ValueError
        If ``y`` has fewer than ``min_classes`` or more than ``max_classes``
        classes, e.g. ``"Sever needs at least 2 classes in y; got 1 class (3)."``

    Examples
    --------
    >>> from sklpoison.utils.validation import check_n_classes
    >>> check_n_classes([3, 3, 3], "Sever")
    Traceback (most recent call last):
        ...
    ValueError: Sever needs at least 2 classes in y; got 1 class (3).
    """
    classes = np.unique(np.asarray(y))
    c = classes.size
    if c >= min_classes and (max_classes is None or c <= max_classes):
        return classes
    if max_classes == min_classes:
        need = f"exactly {min_classes}"
    elif c < min_classes:
        need = f"at least {min_classes}"
    else:
        need = f"at most {max_classes}"
    if c == 1:
        only = classes[0].item() if isinstance(classes[0], np.generic) else classes[0]
        got = f"1 class ({only!r})"
    else:
        got = f"{c} classes ({_show(classes)})" if c else "no labels"
    msg = f"{who} needs {need} classes in y; got {got}."
    if hint:
        msg = f"{msg} {hint}"
    raise ValueError(msg)


def check_known_labels(y, classes, who, *, what="y", known_as="the known classes"):
    """Check that every label of ``y`` is one of ``classes``; return integer codes.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels.
    classes : array-like of shape (n_classes,)
        The known classes, sorted (as ``np.unique`` or a fitted ``classes_``
        gives them).
    who : str
        The estimator's name, used in the message.
    what : str, default="y"
        What the labels are called in the message (``"validation_data labels"``).
    known_as : str, default="the known classes"
        What the known classes are called in the message.

    Returns
    -------
    codes : ndarray of int of shape (n_samples,)
        ``classes[codes] == y``.

    Raises
    ------
    ValueError
        If a label of ``y`` is not in ``classes``.

    Examples
    --------
    >>> from sklpoison.utils.validation import check_known_labels
    >>> check_known_labels([2, 0, 2], [0, 2], "GradPC")
    array([1, 0, 1])
    """
    classes = np.asarray(classes)
    y = np.asarray(y)
    unknown = np.setdiff1d(np.unique(y), classes)
    if unknown.size:
        raise ValueError(
            f"{who}: {what} contains labels {_show(unknown)} not among {known_as} {_show(classes)}."
        )
    return np.searchsorted(classes, y)


def encode_pm1(y, classes):
    """Binary labels as floats: ``+1`` for ``classes[1]``, ``-1`` for the other class.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels, each one of the two ``classes``.
    classes : array-like of shape (2,)
        The two classes, sorted; ``classes[1]`` is the positive class (the
        scikit-learn convention of ``decision_function``).

    Returns
    -------
    y_pm : ndarray of float64 of shape (n_samples,)

    Examples
    --------
    >>> from sklpoison.utils.validation import encode_pm1
    >>> encode_pm1(["a", "b", "b"], ["a", "b"])
    array([-1.,  1.,  1.])
    """
    classes = np.asarray(classes)
    if classes.shape != (2,):
        raise ValueError(f"encode_pm1 needs exactly two classes; got {_show(classes)}.")
    return np.where(np.asarray(y) == classes[1], 1.0, -1.0)


def fraction_to_count(fraction, n, *, name, who, noun="rows", min_count=0):
    """Turn a budget given as a fraction of ``n`` rows into a number of rows.

    The count is ``round(fraction * n)`` (Python's ``round``, ties to even). A
    positive fraction that rounds to zero rows is legal but almost certainly
    not what the caller meant, so it warns (``UserWarning``); a count below
    ``min_count`` raises.

    Parameters
    ----------
    fraction : float in [0, 1]
        The budget as a fraction of ``n``.
    n : int
        Number of rows.
    name : str
        The parameter's name (``"poison_rate"``), used in the messages.
    who : str
        The estimator's name, used in the messages.
    noun : str, default="rows"
        What is counted (``"poisons"``, ``"flips"``), used in the messages.
    min_count : int, default=0
        Fewest rows the estimator can work with; a smaller count raises.

    Returns
    -------
    count : int

    Raises
    ------
    ValueError
        If the count is below ``min_count``.

    Warns
    -----
    UserWarning
        If ``fraction > 0`` and the count is 0.

    Examples
    --------
    >>> from sklpoison.utils.validation import fraction_to_count
    >>> fraction_to_count(0.1, 1797, name="poison_rate", who="PoisonTransformer")
    180
    """
    if not isinstance(fraction, Real) or isinstance(fraction, bool) or not np.isfinite(fraction):
        raise ValueError(f"{who}: {name} must be a finite number; got {fraction!r}.")
    if not isinstance(n, Integral) or n < 0:
        raise ValueError(f"{who}: the number of rows must be a non-negative int; got {n!r}.")
    count = int(round(float(fraction) * n))
    smallest = f"{1.0 / n:.3g}" if n else "a positive value"
    if count < min_count:
        raise ValueError(
            f"{who}: {name}={fraction} gives round({name} * n) = {count} {noun} for n={n} "
            f"rows; it needs at least {min_count}. Increase {name} to at least {smallest}."
        )
    if count == 0 and fraction > 0:
        warn_user(
            f"{who}: {name}={fraction} gives round({name} * n) = 0 {noun} for n={n} rows, "
            f"so nothing changes. Use {name} >= {smallest} for at least one."
        )
    return count


def _largest_entry(X):
    """``(value, row, column)`` of the entry of largest magnitude of a 2-D (or flattened
    n-D) array; ``None`` for an empty or non-numeric one."""
    A = np.asarray(X)
    if A.size == 0 or A.dtype.kind not in "biuf":
        return None
    A = A.reshape(A.shape[0], -1) if A.ndim > 1 else A.reshape(-1, 1)
    flat = int(np.argmax(np.abs(A)))
    i, j = divmod(flat, A.shape[1])
    return float(A[i, j]), i, j


def check_finite_result(values, who, *, what, X=None, advice=""):
    """Raise a ValueError when a quantity computed from finite input is not finite.

    numpy overflows silently (a ``RuntimeWarning`` at most): one entry of ``1e300``
    in ``X`` turns a squared distance into ``inf - inf = nan``, a whole kernel
    matrix and then every prediction into NaN. Estimators call this after
    computing a kernel matrix, a weight vector or a gradient, so that such input
    gives the error scikit-learn's ``MLPClassifier`` gives ("Solver produced
    non-finite parameter weights. The input data may contain large values and
    need to be preprocessed.") instead of a silent NaN or a constant prediction.

    The check costs one summation (no temporary array) when ``values`` is finite;
    the element-wise test runs only when the sum is not finite.

    Parameters
    ----------
    values : array-like of float
        The computed quantity.
    who : str
        What computed it, e.g. ``"GradRegKRR.fit"``, used in the message.
    what : str
        What it is, e.g. ``"kernel matrix"``, used in the message.
    X : array-like or None, default=None
        The input it was computed from; the message then names its entry of
        largest magnitude.
    advice : str, default=""
        Another cause and its remedy, appended to the message (e.g. a step size
        that makes an iteration diverge).

    Raises
    ------
    ValueError
        If ``values`` holds NaN or infinity.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison.utils.validation import check_finite_result
    >>> X = np.array([[1.0, 2.0], [1e300, 0.0]])
    >>> with np.errstate(over="ignore"):
    ...     gram = X @ X.T
    >>> check_finite_result(gram, "MyModel.fit", what="Gram matrix", X=X)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: MyModel.fit produced a non-finite Gram matrix (NaN or infinity) although...
    """
    values = np.asarray(values)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(values)) or np.isfinite(values).all():
            return
    where = ""
    largest = None if X is None else _largest_entry(X)
    if largest is not None:
        value, i, j = largest
        where = f" (the entry of largest magnitude is X[{i}, {j}] = {value:.3g})"
    raise ValueError(
        f"{who} produced a non-finite {what} (NaN or infinity) although the input is "
        f"finite. The input data may contain large values and need to be "
        f"preprocessed{where}: scale the features (sklearn.preprocessing.StandardScaler, "
        f"or RobustScaler when a few rows are extreme) or remove the extreme rows.{advice}"
    )


def check_budget_rows(
    count,
    n,
    *,
    name,
    value,
    who,
    row_shape,
    itemsize=8,
    n_copies=1,
    max_per_row=None,
    sensible="",
    noun="poison rows",
):
    """Refuse a budget that implies absurdly many rows, before anything is allocated.

    A budget given relative to the data (``poison_rate = 1e6`` poisons per clean row)
    can ask for more rows than any experiment means, and the allocation then
    exhausts the memory of the machine before a single line of the algorithm runs.
    This check runs first and raises a ``ValueError`` that names the parameter, the
    number of rows and bytes it implies, and the sensible range. (A budget within
    the range that still does not fit in memory is left to the ``MemoryError`` of
    the allocation, which :func:`sklpoison.utils._memory.explain_memory_error`
    words.)

    Parameters
    ----------
    count : int
        Rows the budget asks for (``round(value * n)``, say).
    n : int
        Rows of the data the budget is relative to.
    name : str
        The parameter's name (``"poison_rate"``).
    value : float or int
        The parameter's value.
    who : str
        The estimator's name.
    row_shape : tuple of int
        The shape of one row (``X.shape[1:]``).
    itemsize : int, default=8
        Bytes per entry.
    n_copies : float, default=1
        How many ``count``-row arrays the estimator holds at its peak.
    max_per_row : float or None, default=None
        Most rows per row of the data (``count / n``) that is accepted at all;
        ``None``: no such cap (the memory check still applies).
    sensible : str, default=""
        The range to use, in words, appended to the message.
    noun : str, default="poison rows"
        What the rows are, used in the message.

    Returns
    -------
    n_bytes : int
        The bytes the budget implies.

    Raises
    ------
    ValueError
        If ``count / n`` exceeds ``max_per_row``.

    Examples
    --------
    >>> from sklpoison.utils.validation import check_budget_rows
    >>> check_budget_rows(200_000_000, 200, name="poison_rate", value=1e6, who="GC",
    ...                   row_shape=(5,), max_per_row=100)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: GC: poison_rate=1e+06 asks for 200000000 poison rows for n=200 rows ...
    """
    from ._memory import format_bytes

    row_bytes = int(itemsize) * int(np.prod(row_shape, dtype=np.int64))
    n_bytes = int(n_copies * count * row_bytes)
    implied = (
        f"{who}: {name}={value:g} asks for {count} {noun} for n={n} rows "
        f"({count / max(n, 1):g} per row), about {n_bytes} bytes ({format_bytes(n_bytes)}: "
        f"{n_copies:g} array(s) of {count} x {' x '.join(map(str, row_shape)) or '1'} "
        f"entries of {itemsize} bytes)"
    )
    advice = f" {sensible}" if sensible else ""
    if max_per_row is not None and count > max_per_row * n:
        raise ValueError(
            f"{implied}; more than {max_per_row:g} {noun} per row of the data is refused.{advice}"
        )
    return n_bytes


# ------------------------------------------------------ the GC family's helpers
def _default_estimator(estimator):
    """The GC family's estimator (GradPC, GradientCanceling, Sever); None: LogisticRegression."""
    if estimator is None:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression()
    return estimator


def _skorch_input_dtype(net):
    """The numpy dtype of a skorch net's module: float64 for a float64 module (given as an
    instance, or made while torch's default dtype is float64), float32 otherwise."""
    import torch

    from . import _torch

    module = getattr(net, "module_", getattr(net, "module", None))
    if _torch.is_torch_module(module):
        dtype = _torch.module_dtype_device(module)[0]
    else:
        dtype = torch.get_default_dtype()
    return np.float64 if dtype == torch.float64 else np.float32


def _check_skorch_labels(y, who):
    """int64 class indices ``0..C-1`` (every one present): skorch trains a classifier on
    the labels as the columns of the module's output, and sklpoison's label codes (the
    labels' ranks) must be those columns."""
    classes = np.unique(y)
    if y.dtype.kind not in "iubf" or not np.array_equal(classes, np.arange(classes.size)):
        raise ValueError(
            f"{who} with a skorch net needs y as the class indices 0, 1, ..., C-1, each "
            f"present (skorch trains on the labels as the columns of the module's output); "
            f"got labels {_show(classes)}. Encode them with "
            "sklearn.preprocessing.LabelEncoder (its inverse_transform maps predictions back)."
        )
    return y.astype(np.int64)


def _validate_Xy(est, X, y, kind, reset=True):
    """Validate ``X, y``; skorch nets (``est.estimator``) get inputs of their module's
    dtype (float32 unless the module is float64) and int64 class indices."""
    if kind == "skorch":
        device = getattr(est.estimator, "device", None)
        if device is not None:  # a ValueError before any fit, not torch's driver error
            from . import _torch

            _torch.resolve_device(device, name=f"{type(est).__name__}: the skorch net's device")
        dtype = _skorch_input_dtype(est.estimator)
        X, y = validate_data(est, X, y, allow_nd=True, dtype=dtype, reset=reset)
        check_classification_targets(y)
        if getattr(est.estimator, "_encodes_labels", False):  # sklpoison.nn: any labels
            return X, y.astype(np.int64) if y.dtype.kind in "iub" else y
        return X, _check_skorch_labels(y, type(est).__name__)
    X, y = validate_data(est, X, y, dtype=[np.float64, np.float32], reset=reset)
    check_classification_targets(y)
    return X, y


def _label_codes(classes, y, who):
    return check_known_labels(y, classes, who, known_as="the model's classes")


def _fit_clean(estimator, X, y):
    """A fitted clone of ``estimator`` (the caller's estimator is never fitted)."""
    model = clone(estimator)
    model.fit(X, y)
    return model
