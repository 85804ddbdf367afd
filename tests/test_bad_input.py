"""Bad or unusual input through every public estimator: a clear error or a correct result.

The families a new user hits first: one extreme but finite value, huge and tiny
budgets, one class, one row, string labels, pandas DataFrames with and without
column names, sparse input and float32. For each estimator (discovered as
``tests/test_common.py`` does, with its registered fast instances) every family
must give either

- a clear error: a ``ValueError`` or ``TypeError`` of ours or scikit-learn's (not
  numpy's bare ``LinAlgError``, an ``IndexError``, a ``ZeroDivisionError``...), or
- a correct result: no NaN or infinity in any output, predictions among the
  classes, the same answer as on the equivalent well-formed input,

and never an unbounded allocation. Known failures are listed in
``KNOWN_FAILURES`` with their reason (strict: they fail loudly once fixed).
"""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.utils import get_tags

from tests.test_common import ESTIMATORS

N, D = 40, 4


def _first_of_each_class(estimators):
    seen, out = set(), []
    for est in estimators:
        if type(est).__name__ not in seen:
            seen.add(type(est).__name__)
            out.append(est)
    return out


ALL = _first_of_each_class(ESTIMATORS)
ids = [type(e).__name__ for e in ALL]

# estimator -> {family: reason}: failures left for their owners, each listed in the
# closing note; strict xfails, so that a fix makes them fail until removed here
KNOWN_FAILURES = {}


def _known(est, family):
    reason = KNOWN_FAILURES.get(type(est).__name__, {}).get(family)
    if reason:
        return pytest.mark.xfail(reason=reason, strict=True)
    return None


def _params(family):
    """``(estimator, family)`` parameters, with the known failures marked."""
    out = []
    for est in ALL:
        marks = [m for m in [_known(est, family)] if m is not None]
        out.append(pytest.param(est, id=type(est).__name__, marks=marks))
    return out


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(N, D, n_informative=2, n_redundant=0, class_sep=2.0, random_state=0)
    return X, y


def _kind(est):
    if hasattr(est, "fit_resample"):
        return "sampler"
    tags = get_tags(est)
    if tags.estimator_type == "outlier_detector":
        return "detector"
    return tags.estimator_type or "other"


def _target(est, y):
    """Regressors get a continuous target from the same labels."""
    return y.astype(float) + 0.1 * np.arange(y.size) / y.size if _kind(est) == "regressor" else y


OUTPUT_METHODS = ("predict", "decision_function", "predict_proba", "score_samples")


def _run(est, X, y, *, query=None):
    """Fit a clone and return its outputs: ``{name: array}``."""
    est = clone(est)
    if "random_state" in est.get_params(deep=False) and est.random_state is None:
        est.set_params(random_state=0)  # comparable runs
    query = X if query is None else query
    if _kind(est) == "sampler":
        Xr, yr = est.fit_resample(X, y)
        return {"X_res": Xr, "y_res": yr}, est
    est.fit(X, y)
    out = {}
    for name in OUTPUT_METHODS:
        if hasattr(est, name):
            out[name] = getattr(est, name)(query)
    return out, est


def _dense(a):
    return a.toarray() if sp.issparse(a) else np.asarray(a)


def _assert_finite(outputs):
    for name, value in outputs.items():
        value = _dense(value)
        if value.dtype.kind in "fc":
            assert np.all(np.isfinite(value)), f"{name} holds NaN or infinity (silently)"


CLEAR_ERRORS = (ValueError, TypeError)


def _assert_clear(exc):
    assert isinstance(exc, CLEAR_ERRORS), f"unclear error {type(exc).__name__}: {exc}"
    assert not isinstance(exc, np.linalg.LinAlgError), f"numpy's bare LinAlgError: {exc}"
    assert len(str(exc)) > 20, f"too short to tell what is wrong: {exc!r}"


def _outcome(call):
    """``("error", exc)`` for a clear error, ``("result", value)`` otherwise."""
    try:
        with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "result", call()
    except Exception as exc:  # noqa: BLE001 - every exception is judged here
        _assert_clear(exc)
        return "error", exc


def _agreement(a, b):
    return float(np.mean(_dense(a) == _dense(b)))


# ----------------------------------------------------------------- the families
@pytest.mark.parametrize("est", _params("extreme"))
def test_one_extreme_value(est, data):
    X, y = data
    y = _target(est, y)
    X_big = X.copy()
    X_big[3, 2] = 1e300
    kind, value = _outcome(lambda: _run(est, X_big, y, query=X))
    if kind == "error":
        return
    outputs, _ = value
    _assert_finite(outputs)
    if "predict" in outputs and _kind(est) == "classifier":
        # not garbage: the ordinary rows are predicted as by a fit without the extreme
        # row, or (a far point is a legitimate training point, e.g. an isolated one
        # with k = 0 for an RBF kernel) as with the same row only 1e3 away, which
        # overflows nothing
        keep = np.arange(N) != 3
        clean, _ = _run(est, X[keep], y[keep], query=X)
        X_far = X.copy()
        X_far[3, 2] = 1e3
        far, _ = _run(est, X_far, y, query=X)
        agree = _agreement(outputs["predict"][keep], clean["predict"][keep])
        same = _agreement(outputs["predict"][keep], far["predict"][keep])
        assert agree >= 0.8 or same == 1.0, (
            f"agreement {agree:.2f} with a fit that never saw the row, {same:.2f} with a "
            f"fit where it is only 1e3"
        )


BUDGETS = {  # parameter -> (absurd, tiny); None: a count, for which 0 is legal
    "poison_rate": (1e6, 1e-9),
    "removal_fraction": (1e6, 1e-9),
    "n_poison": (10**9, None),
    "n_label_flips": (10**9, None),
    "n_partitions": (10**9, None),
}


def _budget_params():
    out = []
    for est in ALL:
        for name in sorted(set(est.get_params(deep=False)) & set(BUDGETS)):
            out.append(pytest.param(est, name, id=f"{type(est).__name__}-{name}"))
    return out


@pytest.mark.parametrize("est, name", _budget_params())
def test_huge_budget_is_refused_without_allocating(est, name, data):
    X, y = data
    y = _target(est, y)
    est = clone(est).set_params(**{name: BUDGETS[name][0]})
    tracemalloc.start()
    try:
        kind, value = _outcome(lambda: _run(est, X, y))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MiB allocated for {name}"
    if kind == "error":
        assert name in str(value), f"the error does not name {name}: {value}"
    else:  # a count per batch larger than the batch: legal, bounded, finite
        _assert_finite(value[0])


@pytest.mark.parametrize(
    "est, name", [p for p in _budget_params() if BUDGETS[p.values[1]][1] is not None]
)
def test_tiny_budget_warns_or_is_refused(est, name, data):
    X, y = data
    est = clone(est).set_params(**{name: BUDGETS[name][1]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outputs, _ = _run(est, X, _target(est, y))
        except CLEAR_ERRORS as exc:
            _assert_clear(exc)
            assert name in str(exc)
            return
    said = [str(w.message) for w in caught if name in str(w.message)]
    assert said, f"{name}={BUDGETS[name][1]} rounds to nothing without a word"
    _assert_finite(outputs)


@pytest.mark.parametrize("est", _params("one_class"))
def test_one_class(est, data):
    X, _ = data
    y = np.zeros(N, dtype=int)
    kind, value = _outcome(lambda: _run(est, X, _target(est, y)))
    if kind == "error":
        return
    outputs, _ = value
    _assert_finite(outputs)
    if _kind(est) == "classifier":
        assert set(np.unique(outputs["predict"])) <= {0}


@pytest.mark.parametrize("est", _params("one_row"))
def test_one_row(est, data):
    X, y = data
    kind, value = _outcome(lambda: _run(est, X[:1], _target(est, y)[:1]))
    if kind == "result":
        _assert_finite(value[0])


@pytest.mark.parametrize("est", _params("string_labels"))
def test_string_labels(est, data):
    if _kind(est) == "regressor":
        pytest.skip("a regressor has no labels")
    X, y = data
    names = np.array(["neg", "pos"])
    kind, value = _outcome(lambda: _run(est, X, names[y]))
    if kind == "error":
        return
    outputs, _ = value
    _assert_finite(outputs)
    for key in ("predict", "y_res"):
        if key in outputs and _kind(est) != "detector":
            assert set(np.unique(outputs[key])) <= set(names)
    if "predict" in outputs and _kind(est) == "classifier":
        ints, _ = _run(est, X, y)
        np.testing.assert_array_equal(outputs["predict"], names[ints["predict"]])


def _public_methods_on(est, X, y):
    """Every public method that takes ``X`` (or ``X, y``) alone, called on them."""
    import inspect

    out = {}
    for name in dir(est):
        if name.startswith("_") or name.startswith(("fit", "set_", "get_", "partial_fit")):
            continue
        member = getattr(type(est), name, None)
        if not callable(member) or isinstance(member, type) or name == "forward":
            continue
        try:
            params = list(inspect.signature(getattr(est, name)).parameters.values())
        except (TypeError, ValueError):
            continue
        required = [p.name for p in params if p.default is p.empty and p.kind <= p.KEYWORD_ONLY]
        args = {("X",): (X,), ("X", "y"): (X, y)}.get(tuple(required))
        if args is None:
            continue
        try:
            out[name] = getattr(est, name)(*args)
        except CLEAR_ERRORS as exc:
            out[name] = exc
    return out


@pytest.mark.parametrize("columns", ["names", "no_names"])
@pytest.mark.parametrize("est", _params("dataframe"))
def test_dataframe(est, columns, data):
    pd = pytest.importorskip("pandas")
    X, y = data
    y = _target(est, y)
    cols = [f"f{i}" for i in range(D)] if columns == "names" else None
    df = pd.DataFrame(X, columns=cols)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs, fitted = _run(est, df, y)
        methods = _public_methods_on(fitted, df, y)
    names_warnings = [str(w.message) for w in caught if "feature names" in str(w.message)]
    assert not names_warnings, names_warnings
    reference, _ = _run(est, X, y)
    for key, value in outputs.items():
        np.testing.assert_allclose(_dense(value), _dense(reference[key]), rtol=1e-6, atol=1e-9)
    if columns == "names" and _kind(est) != "sampler":
        np.testing.assert_array_equal(fitted.feature_names_in_, cols)
    assert all(not isinstance(v, Exception) or "feature" not in str(v) for v in methods.values())


@pytest.mark.parametrize("est", _params("sparse"))
def test_sparse_input(est, data):
    X, y = data
    y = _target(est, y)
    kind, value = _outcome(lambda: _run(est, sp.csr_matrix(X), y))
    if kind == "error":
        assert "sparse" in str(value).lower(), f"the error does not say sparse: {value}"
        return
    outputs, _ = value
    _assert_finite(outputs)
    reference, _ = _run(est, X, y)
    for key, out in outputs.items():
        np.testing.assert_allclose(_dense(out), _dense(reference[key]), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("est", _params("float32"))
def test_float32(est, data):
    X, y = data
    y = _target(est, y)
    kind, value = _outcome(lambda: _run(est, X.astype(np.float32), y))
    if kind == "error":
        return
    outputs, _ = value
    _assert_finite(outputs)
    if "predict" in outputs and _kind(est) == "classifier":
        reference, _ = _run(est, X, y)
        assert _agreement(outputs["predict"], reference["predict"]) >= 0.9
