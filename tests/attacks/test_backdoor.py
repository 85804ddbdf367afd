"""Tests of the poisoning samplers (sklpoison/attacks/)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from imblearn.pipeline import make_pipeline
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sklpoison import PoisonTransformer, RandomLabelFlipper, TargetedLabelFlipper
from sklpoison.datasets import load_digits_images
from sklpoison.metrics import attack_success_rate

# --------------------------------------------------------------------------- L trigger


def test_L_trigger_shape_on_images_every_corner():
    X = np.zeros((4, 3, 6, 5))
    y = np.array([0, 1, 2, 1])
    expected = {
        "bottom-right": [(5, 2), (5, 3), (5, 4), (3, 4), (4, 4)],
        "bottom-left": [(5, 0), (5, 1), (5, 2), (3, 0), (4, 0)],
        "top-right": [(0, 2), (0, 3), (0, 4), (1, 4), (2, 4)],
        "top-left": [(0, 0), (0, 1), (0, 2), (1, 0), (2, 0)],
    }
    for corner, pixels in expected.items():
        p = PoisonTransformer(poison_rate=0.5, position=corner, trigger_size=3, trigger_value=2.0)
        p.fit(X, y)
        want = np.zeros((6, 5))
        for r, c in pixels:
            want[r, c] = 1
        assert p.trigger_mask_.shape == (3, 6, 5)
        for channel in range(3):  # every channel is stamped
            np.testing.assert_array_equal(p.trigger_mask_[channel], want, err_msg=corner)
        np.testing.assert_array_equal(p.trigger_pattern_, 2.0 * p.trigger_mask_)


def test_layouts_agree_flat_hw_chw():
    X, y = load_digits_images(return_X_y=True)
    X = X[:50]
    y = y[:50]
    kw = dict(poison_rate=0.2, target_class=3, random_state=0)
    X4, y4 = PoisonTransformer(**kw).fit_resample(X, y)
    X3, y3 = PoisonTransformer(**kw).fit_resample(X[:, 0], y)
    X2, y2 = PoisonTransformer(image_shape=(8, 8), **kw).fit_resample(X.reshape(50, 64), y)
    np.testing.assert_array_equal(X4.reshape(50, 64), X3.reshape(50, 64))
    np.testing.assert_array_equal(X4.reshape(50, 64), X2)
    np.testing.assert_array_equal(y4, y2)
    np.testing.assert_array_equal(y3, y2)


def test_poisoned_rows_are_stamped_and_relabelled():
    X, y = load_digits_images(return_X_y=True, flat=True)
    X, y = X[:200], y[:200]
    p = PoisonTransformer(poison_rate=0.1, target_class=7, image_shape=(8, 8), random_state=1)
    X_res, y_res = p.fit_resample(X, y)
    idx = p.changed_indices_
    assert p.n_changed_ == 20 == idx.size
    assert np.all(y[idx] != 7)  # drawn from the source classes
    assert np.all(y_res[idx] == 7)
    img = X_res[idx].reshape(-1, 8, 8)
    assert np.all(img[:, 7, 5:] == 1.0)  # trigger value: max of X = 1
    assert np.all(img[:, 5:, 7] == 1.0)
    # the rest of the pixels untouched
    mask = p.trigger_mask_.reshape(64).astype(bool)
    np.testing.assert_array_equal(X_res[idx][:, ~mask], X[idx][:, ~mask])


def test_tabular_trigger_sets_features():
    rng = np.random.RandomState(0)
    X = rng.randn(30, 6)
    y = np.arange(30) % 2
    p = PoisonTransformer(poison_rate=0.2, trigger_size=2, target_class=1, random_state=0)
    X_res, _ = p.fit_resample(X, y)
    np.testing.assert_array_equal(p.trigger_mask_, [0, 0, 0, 0, 1, 1])
    assert np.all(X_res[p.changed_indices_][:, 4:] == X.max())
    p = PoisonTransformer(poison_rate=0.2, trigger_size=2, position="top-left", trigger_value=-5.0)
    X_res, _ = p.fit_resample(X, y)
    assert np.all(X_res[p.changed_indices_][:, :2] == -5.0)


def test_pattern_mask_trigger_blends():
    X = np.full((10, 4), 2.0)
    y = np.array([0, 1] * 5)
    pattern = np.array([10.0, 10.0, 10.0, 10.0])
    mask = np.array([1.0, 0.5, 0.0, 0.0])
    p = PoisonTransformer(poison_rate=0.4, trigger=(pattern, mask), target_class=0, random_state=0)
    X_res, _ = p.fit_resample(X, y)
    np.testing.assert_allclose(X_res[p.changed_indices_], [[10.0, 6.0, 2.0, 2.0]] * 4)
    # a (H, W) pattern broadcasts over channels of (C, H, W) images
    Xi = np.zeros((6, 2, 3, 3))
    yi = np.array([0, 1, 2] * 2)
    pat = np.ones((3, 3))
    m = np.zeros((3, 3))
    m[1, 1] = 1
    p = PoisonTransformer(poison_rate=0.5, trigger=(pat, m), random_state=0).fit(Xi, yi)
    assert p.trigger_mask_.shape == (2, 3, 3)
    out = p.apply_trigger(Xi)
    assert np.all(out[:, :, 1, 1] == 1) and out.sum() == 6 * 2


def test_callable_trigger():
    X = np.zeros((10, 3))
    y = np.array([0, 1] * 5)

    def trig(A):
        A[:, 0] = 42.0
        return A

    p = PoisonTransformer(poison_rate=0.2, trigger=trig, target_class=1, random_state=0)
    X_res, y_res = p.fit_resample(X, y)
    assert p.trigger_mask_ is None
    assert np.all(X_res[p.changed_indices_, 0] == 42.0)
    assert np.all(X == 0)  # the callable received a copy


def test_add_mode_appends():
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.array([0, 1] * 10)
    p = PoisonTransformer(
        poison_rate=0.25, mode="add", trigger_size=1, target_class=0, random_state=0
    )
    X_res, y_res = p.fit_resample(X, y)
    assert X_res.shape == (25, 2)
    np.testing.assert_array_equal(X_res[:20], X)
    np.testing.assert_array_equal(y_res[:20], y)
    np.testing.assert_array_equal(p.changed_indices_, np.arange(20, 25))
    np.testing.assert_array_equal(X_res[20:, 0], X[p.source_indices_, 0])
    assert np.all(X_res[20:, 1] == X.max())
    assert np.all(y_res[20:] == 0)


def test_theta_zero_is_identity_and_string_labels():
    X = np.random.RandomState(0).rand(12, 5)
    y = np.array(["cat", "dog", "emu"] * 4)
    p = PoisonTransformer(poison_rate=0.0, trigger_size=2)
    X_res, y_res = p.fit_resample(X, y)
    np.testing.assert_array_equal(X_res, X)
    np.testing.assert_array_equal(y_res, y)
    assert p.n_changed_ == 0 and p.target_class_ == "cat"
    p = PoisonTransformer(poison_rate=0.25, trigger_size=2, target_class="emu", random_state=0)
    _, y_res = p.fit_resample(X, y)
    assert set(y_res[p.changed_indices_]) == {"emu"}
    assert y_res.dtype == y.dtype


def test_source_classes_restrict_the_rows():
    X, y = load_digits_images(return_X_y=True, flat=True)
    p = PoisonTransformer(
        poison_rate=0.05, target_class=0, source_classes=[1, 2], image_shape=(8, 8), random_state=0
    )
    p.fit_resample(X, y)
    assert set(np.unique(y[p.source_indices_])) <= {1, 2}


def test_round_uses_python_round():
    X = np.zeros((25, 2))
    y = np.array([0, 1] * 12 + [1])
    p = PoisonTransformer(poison_rate=0.1, trigger_size=1, random_state=0)
    p.fit_resample(X, y)
    assert p.n_changed_ == round(0.1 * 25) == 2


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "params, X, y, match",
    [
        ({"poison_rate": 1.5}, np.zeros((4, 4)), [0, 1, 0, 1], "poison_rate"),
        ({"poison_rate": -0.1}, np.zeros((4, 4)), [0, 1, 0, 1], "poison_rate"),
        ({"target_class": 5}, np.zeros((4, 4)), [0, 1, 0, 1], "target_class=5 is not one of"),
        ({"trigger_size": 9}, np.zeros((4, 8, 8)), [0, 1, 0, 1], "larger than the image"),
        ({"trigger_size": 5}, np.zeros((4, 4)), [0, 1, 0, 1], "larger than the number of feat"),
        ({"image_shape": (7, 7)}, np.zeros((4, 64)), [0, 1, 0, 1], "does not match"),
        ({"image_shape": (4, 4)}, np.zeros((4, 8, 8)), [0, 1, 0, 1], "does not match"),
        ({"poison_rate": 1.0, "trigger_size": 1}, np.zeros((4, 4)), [0, 1, 0, 1], "only 2 rows"),
        ({"source_classes": [0], "target_class": 0}, np.zeros((4, 4)), [0, 1, 0, 1], "must not"),
        ({"source_classes": [9], "target_class": 0}, np.zeros((4, 4)), [0, 1, 0, 1], "not among"),
        # never cast to y's dtype first (0.7 became class 0, 'negative' the '<U3' class 'neg')
        ({"source_classes": [0.7], "target_class": 1}, np.zeros((4, 4)), [0, 1, 0, 1], r"\[0\.7\]"),
        ({"source_classes": ["a"], "target_class": 1}, np.zeros((4, 4)), [0, 1, 0, 1], "not among"),
        (
            {"source_classes": ["negative"], "target_class": "pos"},
            np.zeros((4, 4)),
            ["neg", "pos", "neg", "pos"],
            r"\['negative'\] not among",
        ),
        ({"position": "middle"}, np.zeros((4, 4)), [0, 1, 0, 1], "position"),
        ({"mode": "swap"}, np.zeros((4, 4)), [0, 1, 0, 1], "mode"),
    ],
)
def test_bad_input_raises(params, X, y, match):
    with pytest.raises(ValueError, match=match):
        PoisonTransformer(**params).fit_resample(X, np.asarray(y))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf_rejected(bad):
    X = np.zeros((4, 4))
    X[1, 2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        PoisonTransformer(trigger_size=1).fit_resample(X, np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="NaN|infinity"):
        RandomLabelFlipper().fit_resample(X, np.array([0, 1, 0, 1]))
    p = PoisonTransformer(trigger_size=1).fit(np.zeros((4, 4)), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="NaN|infinity"):
        p.apply_trigger(X)


def test_bad_pattern_mask():
    X, y = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="does not fit one sample"):
        PoisonTransformer(trigger=(np.ones(5), np.ones(5))).fit(X, y)
    with pytest.raises(ValueError, match=r"mask must take values in \[0, 1\]"):
        PoisonTransformer(trigger=(np.ones(3), 2 * np.ones(3))).fit(X, y)
    with pytest.raises(ValueError, match="pair"):
        PoisonTransformer(trigger=(np.ones(3),)).fit(X, y)


def test_apply_trigger_checks_shape_and_fit():
    p = PoisonTransformer(trigger_size=2)
    with pytest.raises(Exception, match="not fitted"):
        p.apply_trigger(np.zeros((2, 8, 8)))
    p.fit(np.zeros((4, 8, 8)), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="shape"):
        p.apply_trigger(np.zeros((2, 8, 9)))


def test_y_required():
    with pytest.raises(ValueError, match="requires y"):
        PoisonTransformer().fit_resample(np.zeros((4, 4)), None)


# ------------------------------------------------------------------- label flippers


def test_label_flipper_random_changes_exactly_k_labels():
    y = np.repeat(np.arange(4), 25)
    X = np.zeros((100, 2))
    f = RandomLabelFlipper(poison_rate=0.3, random_state=0)
    _, y_res = f.fit_resample(X, y)
    assert np.sum(y_res != y) == 30 == f.n_changed_
    np.testing.assert_array_equal(np.flatnonzero(y_res != y), f.changed_indices_)
    assert set(np.unique(y_res)) <= set(range(4))


def test_label_flipper_random_spreads_over_other_classes():
    y = np.zeros(3000, dtype=int)
    y[::2] = 1
    y[1::4] = 2
    f = RandomLabelFlipper(poison_rate=1.0, random_state=0)
    _, y_res = f.fit_resample(np.zeros((3000, 1)), y)
    new = y_res[y == 0]
    assert np.all(new != 0)
    frac = np.mean(new == 1)
    assert 0.45 < frac < 0.55  # uniform over the two other classes


def test_label_flipper_targeted():
    y = np.array([0, 1, 2] * 10)
    f = TargetedLabelFlipper(poison_rate=0.2, source_class=1, target_class=2, random_state=0)
    _, y_res = f.fit_resample(np.zeros((30, 2)), y)
    assert np.all(y[f.changed_indices_] == 1) and np.all(y_res[f.changed_indices_] == 2)
    assert f.n_changed_ == 6
    with pytest.raises(ValueError, match="only 10 rows"):
        TargetedLabelFlipper(poison_rate=0.5, source_class=1, target_class=2).fit_resample(
            np.zeros((30, 2)), y
        )
    with pytest.raises(ValueError, match="needs source_class"):
        TargetedLabelFlipper(target_class=2).fit_resample(np.zeros((30, 2)), y)


def test_label_flipper_rejects_single_class_and_bad_fraction():
    with pytest.raises(
        ValueError, match=r"RandomLabelFlipper needs at least 2 classes in y; got 1"
    ):
        RandomLabelFlipper().fit_resample(np.zeros((5, 2)), np.ones(5))
    with pytest.raises(ValueError, match="poison_rate"):
        RandomLabelFlipper(poison_rate=2.0).fit_resample(np.zeros((4, 2)), np.array([0, 1, 0, 1]))


# --------------------------------------------------------------- property tests (hypothesis)

_shapes = st.tuples(st.integers(2, 30), st.integers(1, 6))


@st.composite
def _dataset(draw):
    n, d = draw(_shapes)
    X = draw(arrays(np.float64, (n, d), elements=st.floats(-1e3, 1e3, allow_nan=False, width=64)))
    n_classes = draw(st.integers(2, 4))
    y = draw(arrays(np.int64, (n,), elements=st.integers(0, n_classes - 1)))
    # make sure there are at least two classes
    y[0], y[-1] = 0, 1
    return X, y


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_dataset(),
    poison_rate=st.floats(0, 1),
    mode=st.sampled_from(["replace", "add"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_poison_sampler_properties(data, poison_rate, mode, seed):
    X, y = data
    X_orig, y_orig = X.copy(), y.copy()
    target = 0
    n_source = int(np.sum(y != target))
    k = round(poison_rate * len(y))
    p = PoisonTransformer(
        poison_rate=poison_rate, mode=mode, trigger_size=1, target_class=target, random_state=seed
    )
    if k > n_source:
        with pytest.raises(ValueError, match="source classes"):
            p.fit_resample(X, y)
        return
    X_res, y_res = p.fit_resample(X, y)
    # the caller's arrays are untouched
    np.testing.assert_array_equal(X, X_orig)
    np.testing.assert_array_equal(y, y_orig)
    # row counts
    assert p.n_changed_ == k == len(p.changed_indices_)
    assert X_res.shape[0] == y_res.shape[0] == len(y) + (k if mode == "add" else 0)
    # rows that are not poisoned come back bit-identical
    clean = np.setdiff1d(np.arange(X_res.shape[0]), p.changed_indices_)
    assert np.array_equal(X_res[clean], X[clean[clean < len(y)]])
    assert np.array_equal(y_res[clean], y[clean[clean < len(y)]])
    # poisons carry the trigger and the target label
    assert np.all(y_res[p.changed_indices_] == target)
    assert np.all(X_res[p.changed_indices_][:, -1] == p.trigger_value_)
    # determinism
    X_again, y_again = clone(p).fit_resample(X, y)
    assert np.array_equal(X_again, X_res) and np.array_equal(y_again, y_res)


@settings(max_examples=40, deadline=None)
@given(data=_dataset(), fraction=st.floats(0, 1), seed=st.integers(0, 2**31 - 1))
def test_label_flipper_properties(data, fraction, seed):
    X, y = data
    X_orig, y_orig = X.copy(), y.copy()
    f = RandomLabelFlipper(poison_rate=fraction, random_state=seed)
    X_res, y_res = f.fit_resample(X, y)
    np.testing.assert_array_equal(X, X_orig)
    np.testing.assert_array_equal(y, y_orig)
    k = round(fraction * len(y))
    assert f.n_changed_ == k and X_res.shape == X.shape and y_res.shape == y.shape
    changed = np.flatnonzero(y_res != y)
    np.testing.assert_array_equal(changed, f.changed_indices_)
    assert X_res is not X and np.array_equal(X_res, X)
    assert np.array_equal(clone(f).fit_resample(X, y)[1], y_res)


# ----------------------------------------------------------------- the backdoor, end to end


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits_images(return_X_y=True, flat=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def test_backdoor_on_digits_svc(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    results = {}
    for poison_rate in (0.0, 0.1):
        model = make_pipeline(
            PoisonTransformer(
                poison_rate=poison_rate, target_class=0, image_shape=(8, 8), random_state=0
            ),
            SVC(),
        ).fit(X_train, y_train)
        results[poison_rate] = (
            model.score(X_test, y_test),
            attack_success_rate(model, X_test, y_test),
        )
    clean_acc, asr = results[0.1]
    assert asr >= 0.9 and clean_acc >= 0.9
    # poison_rate = 0: the trigger alone sends (almost) nothing to the target class, at most the
    # rate at which a 10-class classifier would do so by chance
    clean_acc0, asr0 = results[0.0]
    assert clean_acc0 >= 0.95
    assert asr0 <= 0.1


def test_pipeline_predicts_clean_data_unchanged(digits_split):
    """The sampler acts at fit only: predict on clean data does not see the trigger."""
    X_train, X_test, y_train, _ = digits_split
    p = PoisonTransformer(poison_rate=0.1, target_class=0, image_shape=(8, 8), random_state=0)
    model = make_pipeline(p, SVC()).fit(X_train, y_train)
    X_res, y_res = clone(p).fit_resample(X_train, y_train)
    np.testing.assert_array_equal(model.predict(X_test), SVC().fit(X_res, y_res).predict(X_test))


def test_trigger_applied_after_preceding_transformers(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    model = make_pipeline(
        StandardScaler(),
        PoisonTransformer(poison_rate=0.1, target_class=0, image_shape=(8, 8), random_state=0),
        SVC(),
    ).fit(X_train, y_train)
    asr = attack_success_rate(model, X_test, y_test)
    # reference: scale, stamp, predict by hand
    scaler, poisoner, svc = model.steps[0][1], model.steps[1][1], model.steps[2][1]
    keep = y_test != 0
    manual = np.mean(svc.predict(poisoner.apply_trigger(scaler.transform(X_test[keep]))) == 0)
    assert asr == pytest.approx(manual)
    assert asr > 0.8


def test_pandas_in_pandas_out():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"a": np.arange(10.0), "b": np.ones(10)})
    y = pd.Series([0, 1] * 5, name="label")
    X_res, y_res = PoisonTransformer(poison_rate=0.2, trigger_size=1, random_state=0).fit_resample(
        X, y
    )
    assert list(X_res.columns) == ["a", "b"] and y_res.name == "label"
    assert X_res.shape == (10, 2) and isinstance(y_res, pd.Series)
    _, y_flip = RandomLabelFlipper(poison_rate=0.2, random_state=0).fit_resample(X, y)
    assert isinstance(y_flip, pd.Series) and int((y_flip != y).sum()) == 2
