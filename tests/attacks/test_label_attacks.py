"""Tests of the ALFA, LFA and FLORAL flips and of the label flippers that use them."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_moons
from sklearn.svm import SVC

from sklpoison import (
    ALFALabelFlipper,
    FloralLabelFlipper,
    LFALabelFlipper,
    RandomLabelFlipper,
)
from sklpoison.attacks._label_attacks import _AlfaLP, alfa_flips, floral_flips, lfa_flips

FLIPPERS = [
    ALFALabelFlipper(),
    LFALabelFlipper(n_candidates=5, random_state=0),
    FloralLabelFlipper(random_state=0),
]


@pytest.fixture(scope="module")
def data():
    X, y = make_moons(120, noise=0.2, random_state=0)
    X_test, y_test = make_moons(1000, noise=0.2, random_state=1)
    return X, y, X_test, y_test


def _victim_scores(X, y_train, y_clean, X_test, y_test):
    svc = SVC(C=1.0, gamma=1.0).fit(X, y_train)
    return svc.score(X_test, y_test), 1 - svc.score(X, y_clean)


def _random_baseline(X, y, k, X_test, y_test, n_seeds=5):
    out = []
    for seed in range(n_seeds):
        rows = np.random.RandomState(seed).choice(y.size, size=k, replace=False)
        y_r = y.copy()
        y_r[rows] = 1 - y_r[rows]
        out.append(_victim_scores(X, y_r, y, X_test, y_test))
    return np.mean(out, axis=0)


@pytest.mark.parametrize("flipper", FLIPPERS, ids=lambda f: type(f).__name__)
def test_budget_is_respected(data, flipper):
    X, y, _, _ = data
    X0, y0 = X.copy(), y.copy()
    flipper = clone(flipper).set_params(poison_rate=0.1)
    X_res, y_res = flipper.fit_resample(X, y)
    k = round(0.1 * y.size)
    assert flipper.n_changed_ == k
    assert_array_equal(np.flatnonzero(y_res != y), flipper.changed_indices_)
    assert flipper.changed_indices_.size == k
    assert_array_equal(y_res[flipper.changed_indices_], 1 - y[flipper.changed_indices_])
    assert_array_equal(X_res, X)
    assert_array_equal(X, X0)
    assert_array_equal(y, y0)
    # rate 0: nothing flipped
    _, y_none = clone(flipper).set_params(poison_rate=0.0).fit_resample(X, y)
    assert_array_equal(y_none, y)


@pytest.mark.parametrize("cls", [ALFALabelFlipper, LFALabelFlipper], ids=lambda c: c.__name__)
def test_optimised_attacks_beat_random_flips(data, cls):
    # same budget (15%): the optimised flips hurt the victim SVM more than random flips,
    # both on fresh test data and on the clean training labels (the validation error)
    X, y, X_test, y_test = data
    kw = dict(n_candidates=10, random_state=0) if cls is LFALabelFlipper else {}
    flipper = cls(poison_rate=0.15, **kw)
    _, y_att = flipper.fit_resample(X, y)
    acc_att, err_att = _victim_scores(X, y_att, y, X_test, y_test)
    acc_rand, err_rand = _random_baseline(X, y, flipper.n_changed_, X_test, y_test)
    assert acc_att < acc_rand - 0.02
    assert err_att > err_rand + 0.02


def test_floral_one_shot_attack_beats_random_flips():
    X, y = make_moons(200, noise=0.2, random_state=0)
    X_test, y_test = make_moons(1000, noise=0.2, random_state=1)
    k = 40
    accs = []
    for seed in range(5):
        _, y_att = FloralLabelFlipper(poison_rate=0.2, random_state=seed).fit_resample(X, y)
        accs.append(_victim_scores(X, y_att, y, X_test, y_test)[0])
    assert np.mean(accs) < _random_baseline(X, y, k, X_test, y_test)[0] - 0.01


def test_floral_flips_are_top_support_vectors(data):
    X, y, _, _ = data
    y_pm = 2.0 * y - 1
    k = 6
    svc = SVC(C=1.0, gamma=1.0).fit(X, y_pm)
    lam = np.zeros(y.size)
    lam[svc.support_] = np.abs(svc.dual_coef_[0])
    threshold = np.sort(lam)[::-1][2 * k - 1]  # the 2k-th largest dual variable (ties kept)
    top = np.flatnonzero(lam >= threshold)
    seen = set()
    for seed in range(10):
        rows = floral_flips(X, y_pm, k, candidate_factor=2, random_state=seed)
        assert rows.size == k and np.unique(rows).size == k
        assert set(rows) <= set(top)
        seen |= set(rows.tolist())
    assert len(seen) > k  # random among the candidates, not always the same k


def test_alfa_lp_is_the_greedy_closed_form():
    # with unit costs the LP's optimum takes the k most negative flip gains
    rng = np.random.RandomState(0)
    n, k = 30, 7
    lp = _AlfaLP(n, k)
    for _ in range(3):
        cost = rng.randn(2 * n)
        q = lp(cost)
        gain = cost[n:] - cost[:n]
        expected = np.zeros(n)
        neg = np.argsort(gain)[:k]
        expected[neg[gain[neg] < 0]] = 1
        np.testing.assert_allclose(q[n:], expected, atol=1e-7)
        np.testing.assert_allclose(q[:n] + q[n:], 1, atol=1e-7)


def test_attack_functions_return_sorted_unique_indices(data):
    X, y, _, _ = data
    y_pm = 2.0 * y - 1
    for rows in (
        alfa_flips(X, y_pm, 5, max_iter=3),
        lfa_flips(X, y_pm, 3, n_candidates=4, random_state=0),
        floral_flips(X, y_pm, 5, random_state=0),
    ):
        assert_array_equal(rows, np.unique(rows))
        assert rows.min() >= 0 and rows.max() < y.size


def test_lfa_validation_set(data):
    X, y, X_test, y_test = data
    y_pm, yt_pm = 2.0 * y - 1, 2.0 * y_test - 1
    rows = lfa_flips(
        X, y_pm, 8, n_candidates=10, X_val=X_test[:200], y_val=yt_pm[:200], random_state=0
    )
    y_att = y.copy()
    y_att[rows] = 1 - y_att[rows]
    acc_att = SVC(gamma=1.0).fit(X, y_att).score(X_test[:200], y_test[:200])
    acc_clean = SVC(gamma=1.0).fit(X, y).score(X_test[:200], y_test[:200])
    assert acc_att < acc_clean


def test_string_labels_and_errors(data):
    X, y, _, _ = data
    labels = np.array(["neg", "pos"])[y]
    _, y_res = FloralLabelFlipper(poison_rate=0.1, random_state=0).fit_resample(X, labels)
    assert (y_res != labels).sum() == 12 and set(y_res) == {"neg", "pos"}
    X3, y3 = make_blobs(60, centers=3, random_state=0)
    with pytest.raises(ValueError, match="needs exactly 2 classes"):
        ALFALabelFlipper().fit_resample(X3, y3)
    with pytest.raises(ValueError, match="n_candidates"):
        LFALabelFlipper(n_candidates=0).fit_resample(X, y)
    with pytest.raises(TypeError, match="n_candidates"):  # each attack takes its own parameters
        FloralLabelFlipper(n_candidates=5)


def test_grid_search_over_attack_parameters(data):
    from imblearn.pipeline import make_pipeline
    from sklearn.model_selection import GridSearchCV

    X, y, _, _ = data
    pipe = make_pipeline(FloralLabelFlipper(poison_rate=0.1, random_state=0), SVC(gamma=1.0))
    gs = GridSearchCV(
        pipe,
        [  # the attack itself is a grid parameter: a step, as any estimator
            {"florallabelflipper__gamma": [0.5, 1.0]},
            {"florallabelflipper": [RandomLabelFlipper(poison_rate=0.1, random_state=0)]},
        ],
        cv=2,
    ).fit(X, y)
    assert len(gs.cv_results_["params"]) == 3


def _alfa_reference(X, y, k, *, C, gamma, max_iter):
    """ALFA (Xiao et al. 2012, Algorithm 1) without cvxpy: the LP over the relaxed flip
    indicators has the closed form "flip the k most negative cost differences" (its
    constraint matrix is totally unimodular), the QP is the SVM on the doubled set
    weighted by q."""
    n = y.size
    f_s = SVC(C=C, gamma=gamma).fit(X, y).decision_function(X)
    X2, y2 = np.concatenate([X, X]), np.concatenate([y, -y])
    psi = np.maximum(0, 1 - y2 * np.concatenate([f_s, f_s]))
    xi = np.zeros(2 * n)
    q = None
    for _ in range(max_iter):
        d = (xi[n:] - psi[n:]) - (xi[:n] - psi[:n])
        best = np.argsort(d)[:k]
        flip = best[d[best] < 0]
        q_new = np.concatenate([np.ones(n), np.zeros(n)])
        q_new[flip], q_new[n + flip] = 0.0, 1.0
        if q is not None and np.array_equal(q_new, q):
            break
        q = q_new
        keep = q > 0
        f = SVC(C=C, gamma=gamma).fit(X2[keep], y2[keep], sample_weight=q[keep])
        xi = np.maximum(0, 1 - y2 * f.decision_function(X2))
    gain = (xi[n:] - psi[n:]) - (xi[:n] - psi[:n])
    return np.sort(np.lexsort((gain, -q[n:]))[:k])


@pytest.mark.parametrize("max_iter", [1, 2, 4])
def test_alfa_matches_dense_reference_alternation(data, max_iter):
    # the flips are the LP/QP alternation of Xiao et al.: first LP with xi = 0 takes the
    # k largest hinge-loss increases of the clean SVM (psi), then the tainted SVM's
    # losses (xi) re-rank them
    X, y, _, _ = data
    y_pm = 2.0 * y - 1
    for k in (6, 18):
        rows = alfa_flips(X, y_pm, k, C=1.0, gamma=1.0, max_iter=max_iter)
        ref = _alfa_reference(X, y_pm, k, C=1.0, gamma=1.0, max_iter=max_iter)
        assert_array_equal(rows, ref)


def test_lfa_with_all_candidates_is_the_exhaustive_greedy_attack():
    # n_candidates >= n: every step retrains the SVM once per unflipped point and keeps
    # the flip with the largest validation error (ties: larger mean hinge loss, then the
    # lowest index), as the authors' LFA does
    X, y = make_moons(30, noise=0.3, random_state=2)
    X_val, y_val = make_moons(60, noise=0.3, random_state=3)
    y, y_val = 2.0 * y - 1, 2.0 * y_val - 1
    rows = lfa_flips(X, y, 3, n_candidates=100, X_val=X_val, y_val=y_val, random_state=0)
    y_cur, expected = y.copy(), []
    for _ in range(3):
        best, best_key = None, None
        for i in sorted(set(range(y.size)) - set(expected)):
            y_try = y_cur.copy()
            y_try[i] = -y_try[i]
            margin = y_val * SVC(gamma=1.0).fit(X, y_try).decision_function(X_val)
            key = (np.mean(margin <= 0), np.mean(np.maximum(0, 1 - margin)))
            if best_key is None or key > best_key:
                best, best_key = i, key
        expected.append(best)
        y_cur[best] = -y_cur[best]
    assert_array_equal(rows, np.sort(expected))


def test_label_flipper_lfa_uses_its_validation_data(data):
    """LFALabelFlipper().fit_resample(X, y, X_val, y_val) is lfa_flips on that set."""
    X, y, X_test, y_test = data
    labels = np.array(["neg", "pos"])[y]
    X_val, y_val = X_test[:200], np.array(["neg", "pos"])[y_test[:200]]
    flipper = LFALabelFlipper(poison_rate=8 / 120, n_candidates=10, random_state=0)
    _, y_res = flipper.fit_resample(X, labels, X_val=X_val, y_val=y_val)
    rows = lfa_flips(
        X,
        2.0 * y - 1,
        8,
        n_candidates=10,
        X_val=X_test[:200],
        y_val=2.0 * y_test[:200] - 1,
        random_state=np.random.RandomState(0),
    )
    assert_array_equal(flipper.changed_indices_, rows)
    assert np.sum(y_res != labels) == 8
    default = LFALabelFlipper(poison_rate=8 / 120, n_candidates=10, random_state=0)
    default.fit_resample(X, labels)
    assert not np.array_equal(default.changed_indices_, rows)  # the validation set matters


def test_label_flipper_lfa_validation_data_errors(data):
    X, y, X_test, y_test = data
    for val, match in [
        (dict(X_val=X_test[:5, :1], y_val=y_test[:5]), "invalid X_val: X has 1 features"),
        (dict(X_val=X_test[:5], y_val=y_test[:4]), "shape"),
        (dict(X_val=X_test[:5], y_val=y_test[:5] + 7), "not among the classes"),
        (dict(X_val=X_test[:5]), "together"),
    ]:
        with pytest.raises(ValueError, match=match):
            LFALabelFlipper().fit_resample(X, y, **val)
    with pytest.raises(TypeError, match="X_val"):  # the other flippers take no validation set
        RandomLabelFlipper().fit_resample(X, y, X_val=X_test[:5], y_val=y_test[:5])


def test_label_flipper_validation_data_through_an_imblearn_pipeline(data):
    # with metadata routing, the validation set reaches the sampler's fit_resample
    import sklearn
    from imblearn.pipeline import make_pipeline

    X, y, X_test, y_test = data
    kw = dict(poison_rate=8 / 120, n_candidates=10, random_state=0)
    X_val, y_val = X_test[:200], y_test[:200]
    direct = LFALabelFlipper(**kw).fit_resample(X, y, X_val=X_val, y_val=y_val)[1]
    with sklearn.config_context(enable_metadata_routing=True):
        flipper = LFALabelFlipper(**kw).set_fit_resample_request(X_val=True, y_val=True)
        pipe = make_pipeline(flipper, SVC(gamma=1.0)).fit(X, y, X_val=X_val, y_val=y_val)
    assert_array_equal(np.flatnonzero(direct != y), pipe[0].changed_indices_)


def test_label_flipper_lfa_validation_data_must_have_the_training_columns(data):
    # a DataFrame X_val is checked against the column names seen at fit, as scikit-learn
    # checks X at predict: columns in another order would silently be other features
    pd = pytest.importorskip("pandas")
    X, y, X_test, y_test = data
    X_df = pd.DataFrame(X, columns=["a", "b"])
    X_val = pd.DataFrame(X_test[:20], columns=["a", "b"])
    flipper = LFALabelFlipper(n_candidates=2, random_state=0)
    flipper.fit_resample(X_df, y, X_val=X_val, y_val=y_test[:20])  # same columns: fine
    with pytest.raises(ValueError, match="invalid X_val: The feature names should match"):
        flipper.fit_resample(X_df, y, X_val=X_val[["b", "a"]], y_val=y_test[:20])
