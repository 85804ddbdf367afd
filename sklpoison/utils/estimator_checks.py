"""Common checks for sklpoison's samplers, detectors and certifiers.

scikit-learn's ``parametrize_with_checks`` knows nothing of samplers, of the
score convention of backdoor detectors or of certified bounds; these checks add
what every sklpoison estimator of each kind must do, in the spirit of
imbalanced-learn's ``utils/estimator_checks.py``. ``tests/test_common.py`` runs
them on every discovered estimator; third-party estimators can run them too::

    from sklpoison.utils.estimator_checks import check_sampler, check_detector
    check_sampler(MySampler())
    check_detector(MyDetector())

Each ``check_*`` function takes one (unfitted) estimator, works on clones of
it and raises ``AssertionError`` on failure. The lists ``SAMPLER_CHECKS``,
``DETECTOR_CHECKS`` and ``CERTIFIER_CHECKS`` hold them by kind.

Samplers
    ``fit_resample`` returns new arrays of consistent shapes and never changes
    its inputs; it is deterministic under ``random_state``; it works inside an
    imbalanced-learn pipeline; it preserves the dtypes of ``X`` and ``y``
    (float32 stays float32), gives pandas back for pandas and accepts lists
    and string labels and three classes; a single-class ``y`` either raises a
    ValueError naming the sampler or changes nothing; it rejects NaN and a
    missing ``y``; and it records the
    rows it created or changed in ``changed_indices_`` (sorted integer indices
    into the returned arrays, exactly the rows that differ from the input) and
    their number in ``n_changed_``, with every historical alias equal to them.

Detectors (scikit-learn's outlier-detector convention)
    ``score_samples`` is higher for more normal inputs and
    ``decision_function = score_samples - offset_``; ``predict`` is ``-1``
    exactly where ``decision_function < 0`` and ``+1`` elsewhere; ``fit_predict``
    equals ``fit(...).predict(...)``; a float ``contamination`` flags that
    share of the reference data, and the flagged rows are those of lowest score;
    a planted anomaly (a tight group far from its class) scores lower than the
    other rows (an inverted score fails); the default ``contamination`` flags at
    most 5% of clean data.

Certifiers (the public API of :class:`sklpoison.IntervalCertifier`)
    The parameter box contains the nominal parameters; a zero poisoning budget
    collapses the box onto them (within rounding); certified metrics bracket
    the nominal one (worst <= nominal <= best for accuracy, the reverse for
    the MSE; output bounds contain the nominal outputs); and a larger budget
    gives a box containing the smaller budget's box.
"""

import re
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import get_tags

__all__ = [
    "CERTIFIER_CHECKS",
    "DETECTOR_CHECKS",
    "SAMPLER_CHECKS",
    "check_certifier",
    "check_detector",
    "check_sampler",
]


def _data(n_samples=60, n_features=4, n_classes=2, random_state=0):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=2,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1 if n_classes > 2 else 2,
        random_state=random_state,
    )
    return X, y


def _with_seed(estimator, seed=0):
    estimator = clone(estimator)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    return estimator


def _name(estimator):
    return type(estimator).__name__


# =============================================================== samplers
def check_sampler_has_no_transform(sampler):
    """imblearn's Pipeline rejects steps with both ``transform`` and ``fit_resample``."""
    assert hasattr(sampler, "fit_resample"), "a sampler must define fit_resample"
    assert not hasattr(sampler, "transform"), (
        f"{_name(sampler)} defines transform; imblearn's Pipeline would reject it."
    )


def check_sampler_fit_returns_self(sampler):
    """``fit`` returns the sampler itself, fitted (``n_features_in_`` set)."""
    X, y = _data()
    s = _with_seed(sampler)
    assert s.fit(X, y) is s, f"{_name(sampler)}.fit must return self"
    assert s.n_features_in_ == X.shape[1]


def check_sampler_does_not_modify_input(sampler):
    """``fit_resample`` leaves the caller's X and y untouched and returns new arrays."""
    X, y = _data()
    X_orig, y_orig = X.copy(), y.copy()
    X_res, y_res = _with_seed(sampler).fit_resample(X, y)
    np.testing.assert_array_equal(X, X_orig)
    np.testing.assert_array_equal(y, y_orig)
    assert not np.shares_memory(X_res, X), "X_res must not share memory with the input X"
    assert not np.shares_memory(y_res, y), "y_res must not share memory with the input y"


def check_sampler_output_consistent(sampler):
    """X_res and y_res have the same number of rows and the feature shape of X."""
    X, y = _data()
    X_res, y_res = _with_seed(sampler).fit_resample(X, y)
    assert X_res.shape[0] == y_res.shape[0], "X_res and y_res have different lengths"
    assert X_res.shape[1:] == X.shape[1:], "X_res has a different feature shape"
    assert np.all(np.isfinite(X_res)), "X_res contains NaN or inf"
    assert set(np.unique(y_res)) <= set(np.unique(y)), "y_res contains labels not in y"


def check_sampler_deterministic(sampler):
    """The same random_state gives the same resampled set."""
    X, y = _data()
    X1, y1 = _with_seed(sampler, 3).fit_resample(X, y)
    X2, y2 = _with_seed(sampler, 3).fit_resample(X, y)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


def check_sampler_in_imblearn_pipeline(sampler):
    """In an imblearn Pipeline the sampler acts at fit and is skipped at predict."""
    from imblearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    pipe = make_pipeline(_with_seed(sampler), LogisticRegression()).fit(X, y)
    X_res, y_res = _with_seed(sampler).fit_resample(X, y)
    ref = LogisticRegression().fit(X_res, y_res)
    np.testing.assert_allclose(pipe.predict_proba(X), ref.predict_proba(X), rtol=1e-6, atol=1e-8)


def check_sampler_preserve_dtype(sampler):
    """float32 X gives float32 X_res, int32 y gives int32 y_res (imblearn's check)."""
    X, y = _data()
    X, y = X.astype(np.float32), y.astype(np.int32)
    X_res, y_res = _with_seed(sampler).fit_resample(X, y)
    assert X_res.dtype == np.float32, f"X dtype not preserved: float32 -> {X_res.dtype}"
    assert y_res.dtype == np.int32, f"y dtype not preserved: int32 -> {y_res.dtype}"


def check_sampler_pandas(sampler):
    """A DataFrame X and a Series (or one-column DataFrame) y come back as pandas.

    Columns, the name of ``y`` and the values of the numpy path are kept.
    """
    import pandas as pd

    X, y = _data()
    X_df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    y_s = pd.Series(y, name="class")
    y_df = pd.DataFrame({"class": y})
    X_res, y_res = _with_seed(sampler).fit_resample(X, y)
    X_res_df, y_res_s = _with_seed(sampler).fit_resample(X_df, y_s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConversionWarning)  # a column y is raveled
        X_res_df2, y_res_df = _with_seed(sampler).fit_resample(X_df, y_df)
    assert isinstance(X_res_df, pd.DataFrame) and isinstance(X_res_df2, pd.DataFrame)
    assert isinstance(y_res_s, pd.Series), f"a Series y came back as {type(y_res_s)}"
    assert isinstance(y_res_df, pd.DataFrame), f"a DataFrame y came back as {type(y_res_df)}"
    assert X_res_df.columns.tolist() == X_df.columns.tolist()
    assert y_res_s.name == "class" and y_res_df.columns.tolist() == ["class"]
    np.testing.assert_allclose(X_res_df.to_numpy(), X_res)
    np.testing.assert_array_equal(y_res_s.to_numpy(), y_res)
    np.testing.assert_array_equal(y_res_df.to_numpy().ravel(), y_res)


def check_sampler_list(sampler):
    """Python lists are accepted and give the results of the numpy path."""
    X, y = _data()
    X_res, y_res = _with_seed(sampler).fit_resample(X, y)
    X_res_l, y_res_l = _with_seed(sampler).fit_resample(X.tolist(), y.tolist())
    np.testing.assert_allclose(X_res_l, X_res)
    np.testing.assert_array_equal(y_res_l, y_res)


def check_sampler_string_labels(sampler):
    """String labels (object and unicode arrays) work and stay strings of the input's dtype."""
    X, y = _data()
    X_ref, y_ref = _with_seed(sampler).fit_resample(X, y)
    names = np.array(["cat", "dog"])
    for labels in (names[y], names[y].astype(object)):
        X_res, y_res = _with_seed(sampler).fit_resample(X, labels)
        assert y_res.dtype == labels.dtype, f"y dtype {labels.dtype} -> {y_res.dtype}"
        assert set(y_res) <= set(names)
        # the labels' names do not change what the sampler does
        np.testing.assert_allclose(X_res, X_ref)
        np.testing.assert_array_equal(y_res, names[y_ref])


def check_sampler_rejects_nan_and_missing_y(sampler):
    """NaN in X and ``y=None`` raise a ValueError (never a silent resampling)."""
    X, y = _data()
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    try:
        _with_seed(sampler).fit_resample(X_nan, y)
    except ValueError as exc:  # the words, not letters ("financial" holds "nan")
        assert re.search(r"\bnan\b", str(exc), re.IGNORECASE), f"unclear message: {exc}"
    else:
        raise AssertionError(f"{_name(sampler)} accepted NaN in X")
    try:
        _with_seed(sampler).fit_resample(X, None)
    except ValueError as exc:  # names y ("array" holds a "y")
        assert re.search(r"\by\b", str(exc)), f"unclear message: {exc}"
    else:
        raise AssertionError(f"{_name(sampler)} accepted y=None")


def check_sampler_changed_indices(sampler):
    """``changed_indices_`` lists exactly the returned rows created or changed.

    It is a sorted array of distinct integers in ``[0, n_res)``; every returned
    row not listed is a copy of the input row at the same position (features
    and label), and every listed row is either appended (position ``>= n``) or
    differs from the input row; ``n_changed_`` is its size.
    """
    X, y = _data()
    n = X.shape[0]
    s = _with_seed(sampler)
    X_res, y_res = s.fit_resample(X, y)
    idx = s.changed_indices_
    assert isinstance(idx, np.ndarray) and idx.ndim == 1, "changed_indices_ must be a 1-D array"
    assert idx.dtype.kind in "iu", f"changed_indices_ must hold integers; got {idx.dtype}"
    assert np.all(np.diff(idx) > 0), "changed_indices_ must be sorted and distinct"
    if idx.size:
        assert idx[0] >= 0 and idx[-1] < X_res.shape[0], "changed_indices_ out of range"
    assert s.n_changed_ == idx.size, "n_changed_ must be changed_indices_.size"
    listed = np.zeros(X_res.shape[0], dtype=bool)
    listed[idx] = True
    kept = np.flatnonzero(~listed)
    assert np.all(kept < n), "a returned row beyond the input's rows is not listed as changed"
    np.testing.assert_array_equal(X_res[kept], X[kept], err_msg="an unlisted row changed")
    np.testing.assert_array_equal(y_res[kept], y[kept], err_msg="an unlisted label changed")
    inside = idx[idx < n]
    width = int(np.prod(X.shape[1:]))
    same = np.all(X_res[inside].reshape(inside.size, width) == X[inside].reshape(-1, width), 1)
    same &= y_res[inside] == y[inside]
    assert not np.any(same), f"rows {inside[same].tolist()} are listed but unchanged"


def check_sampler_multiclass(sampler):
    """Three classes: consistent output, labels among the input's, exact ``changed_indices_``.

    A sampler tagged binary-only (``classifier_tags.multi_class=False``) must refuse three
    classes with a ``ValueError`` that says so.
    """
    X, y = _data(n_samples=90, n_classes=3)
    s = _with_seed(sampler)
    tags = get_tags(s)
    if tags.classifier_tags is not None and not tags.classifier_tags.multi_class:
        try:
            s.fit_resample(X, y)
        except ValueError as exc:
            assert "2 classes" in str(exc), f"unclear message: {exc}"
            return
        raise AssertionError(f"{_name(sampler)} is tagged binary-only but took 3 classes")
    X_res, y_res = s.fit_resample(X, y)
    assert X_res.shape[0] == y_res.shape[0] and X_res.shape[1:] == X.shape[1:]
    assert set(np.unique(y_res)) <= {0, 1, 2}
    unchanged = np.setdiff1d(np.arange(X.shape[0]), s.changed_indices_)
    np.testing.assert_array_equal(y_res[unchanged], y[unchanged])


def check_sampler_one_label(sampler):
    """A single-class y raises a ValueError that names the sampler, or changes no row."""
    X, _ = _data()
    y = np.full(X.shape[0], 3)
    s = _with_seed(sampler)
    try:
        X_res, y_res = s.fit_resample(X, y)
    except ValueError as exc:
        assert _name(sampler) in str(exc), f"the message does not name the sampler: {exc}"
    else:
        assert s.n_changed_ == 0, "a single-class y must not be resampled silently"
        np.testing.assert_array_equal(y_res, y)
        np.testing.assert_array_equal(X_res, X)


def check_sampler_sparse_rejected(sampler):
    """Sparse X (not supported: ``input_tags.sparse`` is False) gets a clear error, not a crash."""
    from scipy import sparse

    X, y = _data()
    try:
        _with_seed(sampler).fit_resample(sparse.csr_matrix(X), y)
    except (TypeError, ValueError) as exc:
        assert "sparse" in str(exc).lower(), f"unclear message for sparse X: {exc}"
    else:
        raise AssertionError(f"{_name(sampler)} accepted sparse X although it declares no support")


def check_sampler_2d_target(sampler):
    """A column-vector y of shape (n, 1) gives the result of the 1-D y (imblearn's check)."""
    X, y = _data()
    X_ref, y_ref = _with_seed(sampler).fit_resample(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConversionWarning)
        X_res, y_res = _with_seed(sampler).fit_resample(X, y.reshape(-1, 1))
    np.testing.assert_allclose(X_res, X_ref)
    np.testing.assert_array_equal(np.ravel(y_res), y_ref)


def check_sampler_rejects_continuous_target(sampler):
    """A continuous y is not a set of labels: ValueError (imblearn's check_target_type)."""
    X, _ = _data()
    y = np.random.RandomState(0).normal(size=X.shape[0])
    try:
        _with_seed(sampler).fit_resample(X, y)
    except ValueError as exc:
        assert "continuous" in str(exc) or "label" in str(exc).lower(), f"unclear: {exc}"
    else:
        raise AssertionError(f"{_name(sampler)} resampled a continuous target as labels")


SAMPLER_CHECKS = [
    check_sampler_has_no_transform,
    check_sampler_fit_returns_self,
    check_sampler_does_not_modify_input,
    check_sampler_output_consistent,
    check_sampler_deterministic,
    check_sampler_in_imblearn_pipeline,
    check_sampler_preserve_dtype,
    check_sampler_pandas,
    check_sampler_list,
    check_sampler_string_labels,
    check_sampler_rejects_nan_and_missing_y,
    check_sampler_changed_indices,
    check_sampler_multiclass,
    check_sampler_one_label,
    check_sampler_sparse_rejected,
    check_sampler_2d_target,
    check_sampler_rejects_continuous_target,
]


def check_sampler(sampler):
    """Run every sampler check on ``sampler`` (raises AssertionError on failure)."""
    for check in SAMPLER_CHECKS:
        check(sampler)


# ============================================================== detectors
def check_detector_score_convention(detector):
    """``decision_function = score_samples - offset_``; ``predict`` is its sign in {-1, +1}.

    With and without labels, with the detector's ``contamination`` and with
    ``contamination=0.2`` (so that rows are flagged); the flagged rows are exactly
    those with ``score_samples < offset_`` (higher scores are more normal).
    """
    X, y = _data()
    for params in _contamination_settings(detector):
        for labels in (y, None):
            d = _with_seed(detector).set_params(**params).fit(X, labels)
            scores = d.score_samples(X, labels)
            decision = d.decision_function(X, labels)
            pred = d.predict(X, labels)
            assert scores.shape == decision.shape == pred.shape == (X.shape[0],)
            assert np.all(np.isfinite(scores)), "score_samples must be finite"
            np.testing.assert_allclose(decision, scores - d.offset_, rtol=1e-12, atol=1e-12)
            assert set(np.unique(pred)) <= {-1, 1}, f"predict gave {np.unique(pred)}"
            np.testing.assert_array_equal(pred, np.where(decision < 0, -1, 1))
            np.testing.assert_array_equal(pred == -1, scores < d.offset_)


def _contamination_settings(detector):
    # the default, and a float contamination under which rows are certainly flagged
    if "contamination" in detector.get_params():
        return [{}, {"contamination": 0.2}]
    return [{}]


def check_detector_fit_predict(detector):
    """``fit_predict(X, y)`` equals ``fit(X, y).predict(X, y)``.

    With the true labels, with labels unrelated to ``X`` (so that a ``fit_predict``
    that drops ``y`` and falls back on predicted labels shows) and with ``y=None``;
    with the detector's ``contamination`` and with ``contamination=0.2`` (so that
    rows are flagged and the comparison tells something).
    """
    X, y = _data()
    noise = np.random.RandomState(0).randint(0, 2, size=y.shape[0])
    for params in _contamination_settings(detector):
        for labels, what in ((y, "the true labels"), (noise, "unrelated labels"), (None, "y=None")):
            a = _with_seed(detector).set_params(**params).fit_predict(X, labels)
            b = _with_seed(detector).set_params(**params).fit(X, labels).predict(X, labels)
            np.testing.assert_array_equal(
                a, b, err_msg=f"fit_predict differs with {what} and {params or 'defaults'}"
            )


def _planted_anomaly_data(n_per_class=40, n_planted=6, n_features=4, random_state=0):
    """Two tight classes at +5 and -5 in every coordinate, and a planted group at 0.

    The planted rows carry the label of the first class, far from its other rows
    (an obvious anomaly for a feature-space detector), and sit where a model with
    saturating units is most curved (an obvious one for a curvature detector).
    Returns ``X, y, planted`` (a boolean mask).
    """
    rng = np.random.RandomState(random_state)
    centre = np.repeat([5.0, -5.0], n_per_class)[:, None]
    X = centre + 0.3 * rng.normal(size=(2 * n_per_class, n_features))
    X_planted = 0.3 * rng.normal(size=(n_planted, n_features))
    y = np.r_[np.repeat([0, 1], n_per_class), np.zeros(n_planted, dtype=int)]
    planted = np.r_[np.zeros(2 * n_per_class, bool), np.ones(n_planted, bool)]
    return np.vstack([X, X_planted]), y, planted


def check_detector_flags_planted_anomaly(detector):
    """A planted group far from its class scores lower (more suspicious) than the rest.

    Fails a detector whose score points the wrong way (``score_samples`` higher
    for anomalies): the ROC-AUC of ``-score_samples`` for the planted rows must
    be at least 0.9 (an inverted score gets at most 0.1).
    """
    from sklearn.metrics import roc_auc_score

    X, y, planted = _planted_anomaly_data()
    d = _with_seed(detector).fit(X, y)
    auc = roc_auc_score(planted, -d.score_samples(X, y))
    assert auc >= 0.9, (
        f"{_name(detector)} ranks a planted anomaly as normal (ROC-AUC {auc:.2f} of "
        "-score_samples for the planted rows): score_samples must be lower for "
        "suspicious inputs (scikit-learn's convention: higher is more normal)."
    )


def check_detector_quiet_on_clean_data(detector):
    """With ``contamination="auto"``, the detector flags at most 5% of clean data.

    Two Gaussian classes with no planted anomaly: a detector whose ``"auto"``
    threshold sits inside the bulk of the scores (e.g. a robust cut applied to
    heavy-tailed scores) flags far more. A detector without a ``contamination``
    parameter is checked with its defaults.
    """
    rng = np.random.RandomState(0)
    X = np.repeat([[5.0], [-5.0]], 100, axis=0) + 0.3 * rng.normal(size=(200, 4))
    y = np.repeat([0, 1], 100)
    params = {"contamination": "auto"} if "contamination" in detector.get_params() else {}
    for labels in (y, None):
        d = _with_seed(detector).set_params(**params).fit(X, labels)
        flagged = float(np.mean(d.predict(X, labels) == -1))
        assert flagged <= 0.05, (
            f"{_name(detector)} with contamination='auto' flags {flagged:.1%} of clean "
            "data (at most 5% expected)."
        )


def check_detector_contamination(detector):
    """A float ``contamination`` flags that share of the reference data, lowest scores first."""
    X, y = _data(n_samples=80)
    n = X.shape[0]
    for c in (0.1, 0.25):
        d = _with_seed(detector).set_params(contamination=c).fit(X, y)
        pred = d.predict(X, y)
        flagged = np.mean(pred == -1)
        assert abs(flagged - c) <= 2.0 / n, f"contamination={c} flagged {flagged:.3f}"
        scores = d.score_samples(X, y)
        if np.any(pred == -1) and np.any(pred == 1):
            assert scores[pred == -1].max() < scores[pred == 1].min(), (
                "flagged rows must be the ones of lowest score_samples (higher = more normal)"
            )


DETECTOR_CHECKS = [
    check_detector_score_convention,
    check_detector_fit_predict,
    check_detector_contamination,
    check_detector_flags_planted_anomaly,
    check_detector_quiet_on_clean_data,
]


def check_detector(detector):
    """Run every detector check on ``detector`` (raises AssertionError on failure)."""
    for check in DETECTOR_CHECKS:
        check(detector)


# ============================================================= certifiers
_INT_BUDGETS = ("n_poison", "n_label_flips")
_FLOAT_BUDGETS = ("epsilon", "label_epsilon")


def _certifier_data(certifier):
    regressor = get_tags(certifier).regressor_tags is not None
    if regressor:
        X, y = make_regression(n_samples=60, n_features=4, noise=0.1, random_state=0)
        return X / np.abs(X).max(), y / np.abs(y).max(), True
    X, y = _data()
    return X / np.abs(X).max(), y, False


def _box(cert):
    return (
        [np.asarray(a) for a in cert.coefs_lower_ + cert.intercepts_lower_],
        [np.asarray(a) for a in cert.coefs_ + cert.intercepts_],
        [np.asarray(a) for a in cert.coefs_upper_ + cert.intercepts_upper_],
    )


def _zero_budget(certifier):
    names = certifier.get_params()
    params = {k: 0 for k in _INT_BUDGETS if k in names}
    params |= {k: 0.0 for k in _FLOAT_BUDGETS if k in names}
    params["unbounded"] = False
    return clone(certifier).set_params(**params)


def check_certifier_box_contains_nominal(certifier):
    """``coefs_lower_ <= coefs_ <= coefs_upper_`` (and the same for the intercepts)."""
    X, y, _ = _certifier_data(certifier)
    cert = clone(certifier).fit(X, y)
    for lo, nom, hi in zip(*_box(cert), strict=True):
        assert lo.shape == nom.shape == hi.shape
        assert np.all(lo <= nom) and np.all(nom <= hi), "the box must contain the nominal model"


def check_certifier_zero_budget_collapses(certifier):
    """With no poisoning budget the box is the nominal parameters, up to rounding.

    Outward rounding widens the box by a few units in the last place per step,
    and interval propagation then compounds that width geometrically over the
    steps (a documented property of the method: after 120 steps of the
    registered MLP the zero-budget box is wider than 1e8). The check therefore
    trains for at most 2 epochs and allows ``1e-9 * (1 + |theta|)``.
    """
    X, y, _ = _certifier_data(certifier)
    cert = _zero_budget(certifier)
    cert = cert.set_params(n_epochs=min(cert.get_params()["n_epochs"], 2)).fit(X, y)
    for lo, nom, hi in zip(*_box(cert), strict=True):
        tol = 1e-9 * (1.0 + np.abs(nom))
        assert np.all(lo <= nom) and np.all(nom <= hi)
        assert np.all(hi - lo <= tol), f"zero budget left a box of width {np.max(hi - lo):.3g}"
    # and the certified metrics collapse onto the nominal one
    if get_tags(cert).regressor_tags is not None:
        worst, nominal, best = cert.certified_mse(X, y)
        assert np.isclose(worst, nominal, rtol=1e-6) and np.isclose(best, nominal, rtol=1e-6)
    else:
        worst, nominal, best = cert.certified_accuracy(X, y)
        assert worst == nominal == best, f"zero budget: accuracy bounds {worst, nominal, best}"


def check_certifier_metrics_bracket_nominal(certifier):
    """Certified metrics bracket the nominal one; output bounds contain the nominal output.

    worst <= nominal <= best (accuracy), best <= nominal <= worst (MSE).

    With and without a test-time radius ``epsilon``.
    """
    X, y, regressor = _certifier_data(certifier)
    cert = clone(certifier).fit(X, y)
    for eps in (0.0, 0.05):
        lo, hi = cert.predict_bounds(X, epsilon=eps)
        assert np.all(lo <= hi)
        if regressor:
            out = cert.predict(X)
            assert np.all(lo <= out) and np.all(out <= hi), "output bounds miss the nominal output"
            worst, nominal, best = cert.certified_mse(X, y, epsilon=eps)
            assert best <= nominal <= worst, f"MSE: best {best}, nominal {nominal}, worst {worst}"
        else:
            worst, nominal, best = cert.certified_accuracy(X, y, epsilon=eps)
            assert 0 <= worst <= nominal <= best <= 1, (worst, nominal, best)
            certified = cert.certify(X, epsilon=eps)
            assert certified.dtype == bool and certified.shape == (X.shape[0],)
            # certify agrees with the metrics: worst = the rows certified correct, and a
            # row certified wrong cannot be right (a certify() claiming too much shows)
            correct = cert.predict(X) == y
            assert np.isclose(worst, np.mean(certified & correct)), (
                f"certify() certifies {np.mean(certified & correct):.3f} of the rows correct "
                f"but the worst-case accuracy is {worst:.3f}"
            )
            assert best <= 1 - np.mean(certified & ~correct) + 1e-12, (
                "best-case accuracy counts rows that certify() says are wrong"
            )


def check_certifier_monotone_in_budget(certifier):
    """A larger budget (each of n_poison, n_label_flips, epsilon, label_epsilon) gives a box
    that contains the box of the smaller budget, and no larger certified accuracy."""
    X, y, regressor = _certifier_data(certifier)
    small = clone(certifier)
    params = small.get_params()
    grown = [
        {k: (params[k] + 1 if k in _INT_BUDGETS else 2 * params[k])}
        for k in _INT_BUDGETS + _FLOAT_BUDGETS
        if params.get(k)
    ]
    if not grown:  # a zero-budget instance: grow a budget that applies to the task
        grown = [{"n_poison": 1, "epsilon": 0.01} if regressor else {"n_label_flips": 1}]
    cert_s = small.fit(X, y)
    for change in grown:
        cert_b = clone(certifier).set_params(**change).fit(X, y)
        for (lo_s, _, hi_s), (lo_b, _, hi_b) in zip(
            zip(*_box(cert_s), strict=True), zip(*_box(cert_b), strict=True), strict=True
        ):
            tol = 1e-9 * (1.0 + np.abs(lo_s) + np.abs(hi_s))
            assert np.all(lo_b <= lo_s + tol) and np.all(hi_s <= hi_b + tol), (
                f"{change} gives a box that does not contain the box of the smaller budget"
            )
        if not regressor:
            assert cert_b.certified_accuracy(X, y)[0] <= cert_s.certified_accuracy(X, y)[0]


CERTIFIER_CHECKS = [
    check_certifier_box_contains_nominal,
    check_certifier_zero_budget_collapses,
    check_certifier_metrics_bracket_nominal,
    check_certifier_monotone_in_budget,
]


def check_certifier(certifier):
    """Run every certifier check on ``certifier`` (raises AssertionError on failure)."""
    for check in CERTIFIER_CHECKS:
        check(certifier)
