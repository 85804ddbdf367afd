"""The validation layer (sklpoison.utils.validation) and its use by every estimator."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

from sklpoison import (
    LNSVC,
    ALFALabelFlipper,
    GradientCanceling,
    GradPC,
    LFALabelFlipper,
    PoisonTransformer,
    RandomLabelFlipper,
    Sever,
)
from sklpoison.utils.validation import (
    check_known_labels,
    check_n_classes,
    check_y_given,
    encode_pm1,
    fraction_to_count,
)


def test_check_n_classes_names_the_estimator_and_the_class():
    with pytest.raises(
        ValueError, match=r"^Sever needs at least 2 classes in y; got 1 class \(3\)\.$"
    ):
        check_n_classes(np.array([3, 3, 3]), "Sever")
    with pytest.raises(ValueError, match=r"got 1 class \('a'\)\. Pass more\.$"):
        check_n_classes(np.array(["a", "a"]), "X", hint="Pass more.")
    with pytest.raises(
        ValueError, match=r"needs exactly 2 classes in y; got 3 classes \(\[0, 1, 2\]\)"
    ):
        check_n_classes([0, 1, 2], "FloralSVC", max_classes=2)
    with pytest.raises(ValueError, match=r"needs at most 3 classes in y; got 4 classes"):
        check_n_classes([0, 1, 2, 3], "X", max_classes=3)
    with pytest.raises(ValueError, match=r"and 2 more"):
        check_n_classes(np.arange(12), "X", max_classes=2)
    np.testing.assert_array_equal(check_n_classes(["b", "a", "b"], "X"), ["a", "b"])


def test_check_known_labels_returns_codes_and_lists_the_unknown():
    np.testing.assert_array_equal(check_known_labels([2, 0, 2], [0, 2], "GradPC"), [1, 0, 1])
    np.testing.assert_array_equal(check_known_labels(["b", "a"], ["a", "b"], "X"), [1, 0])
    with pytest.raises(ValueError, match=r"^GradPC: y contains labels \[5, 7\] not among the "):
        check_known_labels([0, 5, 7, 2], [0, 2], "GradPC")


def test_encode_pm1_positive_is_the_second_class():
    np.testing.assert_array_equal(encode_pm1(["a", "b", "b"], ["a", "b"]), [-1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="exactly two classes"):
        encode_pm1([0, 1], [0, 1, 2])


def test_check_y_given():
    check_y_given(np.zeros(2), "X")
    with pytest.raises(ValueError, match="LabelFlipper requires y"):
        check_y_given(None, "LabelFlipper")


def test_fraction_to_count_rounds_warns_and_raises():
    assert fraction_to_count(0.1, 1797, name="poison_rate", who="P") == 180
    assert fraction_to_count(0.25, 10, name="poison_rate", who="P") == 2  # round half to even
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fraction_to_count(0.0, 50, name="poison_rate", who="P") == 0  # zero is meant
    with pytest.warns(
        UserWarning, match=r"poison_rate=0.0001 gives round\(poison_rate \* n\) = 0 poisons"
    ):
        assert fraction_to_count(1e-4, 1797, name="poison_rate", who="P", noun="poisons") == 0
    with pytest.raises(ValueError, match="needs at least 1"):
        fraction_to_count(1e-4, 1797, name="eps", who="P", min_count=1)
    with pytest.raises(ValueError, match="finite"):
        fraction_to_count(float("nan"), 10, name="eps", who="P")


def test_tiny_theta_warns_in_poison_transformer():
    X, y = load_digits(return_X_y=True)
    with pytest.warns(UserWarning, match=r"PoisonTransformer: poison_rate=0.0001 .* = 0 poisons"):
        PoisonTransformer(poison_rate=1e-4, random_state=0).fit_resample(X, y)
    with pytest.warns(UserWarning, match=r"RandomLabelFlipper: poison_rate=0.0001"):
        RandomLabelFlipper(poison_rate=1e-4, random_state=0).fit_resample(X, y)


@pytest.mark.parametrize(
    "estimator",
    [Sever(), GradPC(), LNSVC(), RandomLabelFlipper(), GradientCanceling(), PoisonTransformer()],
    ids=repr,
)
def test_one_class_error_names_the_wrapper(estimator):
    X = np.random.RandomState(0).normal(size=(20, 3))
    name = type(estimator).__name__
    fit = estimator.fit_resample if hasattr(estimator, "fit_resample") else estimator.fit
    with pytest.raises(ValueError, match=rf"^{name} needs at least 2 classes in y; got 1 class"):
        fit(X, np.full(20, 3))


def test_warnings_point_at_the_callers_line():
    from imblearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    with pytest.warns(UserWarning, match="poison_rate=0.0001") as record:
        PoisonTransformer(poison_rate=1e-4, random_state=0).fit_resample(X, y)
    assert record[0].filename == __file__
    pipe = make_pipeline(PoisonTransformer(poison_rate=1e-4), LogisticRegression(max_iter=5))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        pipe.fit(X[:200], y[:200])
    ours = [w for w in record if "poison_rate=0.0001" in str(w.message)]
    assert len(ours) == 1 and ours[0].filename == __file__


# ------------------------------------------- nonsense values are refused, not accepted
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_poison_transformer_rejects_a_non_finite_trigger_value(value):
    X, y = np.zeros((10, 4)), np.array([0, 1] * 5)
    with pytest.raises(ValueError, match=r"trigger_value=.* would write NaN or infinity into X"):
        PoisonTransformer(trigger_value=value, trigger_size=1).fit_resample(X, y)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_poisonability_threshold_rejects_non_finite_X(value):
    from sklpoison import poisonability_threshold

    X, y = np.array([[1.0], [-1.0], [0.5]]), np.array([1, 0, 1])
    assert np.isfinite(poisonability_threshold(None, X, y, coef=[[-1.0]]).tau)
    X[1, 0] = value
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        poisonability_threshold(None, X, y, coef=[[-1.0]])
    with pytest.raises(ValueError, match="Input coef contains NaN"):
        poisonability_threshold(None, X[[0, 2]], np.array([0, 1]), coef=[[np.nan]])


def test_knn_sanitizer_refuses_more_neighbours_than_rows():
    from sklpoison import KNNLabelSanitizer

    X, y = load_digits(return_X_y=True)
    X, y = X[:60], y[:60]
    msg = r"KNNLabelSanitizer\(n_neighbors=1000\) needs more than 1000 samples .* got 60"
    with pytest.raises(ValueError, match=msg):
        KNNLabelSanitizer(n_neighbors=1000).fit_resample(X, y)
    with pytest.raises(ValueError, match="n_neighbors <= 59"):
        KNNLabelSanitizer(n_neighbors=60).fit(X, y)
    _, y_res = KNNLabelSanitizer(n_neighbors=59, threshold=1.0).fit_resample(X, y)
    assert y_res.shape == y.shape


@pytest.mark.parametrize(
    "flipper, desc",
    [
        (ALFALabelFlipper(poison_rate=0.1, max_iter=2), "ALFA alternations"),
        (LFALabelFlipper(poison_rate=0.1, n_candidates=3, random_state=0), "LFA flips"),
    ],
)
def test_label_flipper_shows_progress(flipper, desc, capsys):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    flipper.fit_resample(X, y)
    assert desc not in capsys.readouterr().err
    quiet = clone(flipper).fit_resample(X, y)[1]
    loud = clone(flipper).set_params(verbose=1).fit_resample(X, y)[1]
    assert desc in capsys.readouterr().err
    np.testing.assert_array_equal(quiet, loud)
