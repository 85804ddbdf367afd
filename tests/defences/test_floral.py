"""Tests of sklpoison/defences/ (FloralSVC, LNSVC, KNNLabelSanitizer) and the Moon data."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

from sklpoison import LNSVC, FloralSVC, KNNLabelSanitizer
from sklpoison.datasets import load_floral_moon
from sklpoison.defences._floral import _ExactProjector, _project_fixed_point
from sklpoison.utils._testing import project_exact


# ----------------------------------------------------------------- projection
def _projection_instances():
    rng = np.random.RandomState(0)
    out = []
    for i in range(12):
        n = rng.randint(5, 80)
        C = [0.5, 1.0, 10.0][i % 3]
        scale = [0.3, 2.0, 20.0][i % 3]  # from mostly interior to mostly clipped at 0 or C
        z = rng.randn(n) * scale + rng.randn() * scale
        p = [0.5, 0.2, 0.9][i % 3]
        y = np.where(rng.rand(n) < p, 1.0, -1.0)
        out.append((z, y, C))
    # degenerate cases: one class only (feasible set {0}), everything above C, ties
    out.append((np.linspace(-1, 3, 7), np.ones(7), 1.0))
    out.append((np.full(6, 5.0), np.array([1.0, 1, 1, -1, -1, 1]), 2.0))
    out.append((np.array([0.5, 0.5, 0.5, 0.5]), np.array([1.0, -1, 1, -1]), 1.0))
    return out


@pytest.mark.parametrize("z, y, C", _projection_instances())
def test_fixed_point_projection_matches_exact_qp(z, y, C):
    lam_fp, mu = _project_fixed_point(z, y, C)
    lam_ex = project_exact(z, y, C)
    assert_allclose(lam_fp, lam_ex, atol=1e-6)
    # feasibility of the fixed-point result
    assert lam_fp.min() >= 0 and lam_fp.max() <= C
    assert abs(y @ lam_fp) <= 1e-9 * max(1.0, C * y.size)
    # KKT form of the projection: lam = clip(z - mu y, 0, C)
    assert_allclose(lam_fp, np.clip(z - mu * y, 0, C))


def _authors_fixed_point(z, y, C, *, max_iter=1000, tol=1e-21):
    """The authors' Algorithm 2 as in the implementation notes, literally: eta_t =
    max(2|I_X|, 1), mu <- (1 - |I_X|/eta_t) mu + (C sum_{I_C} y + sum_{I_X} z y) / eta_t,
    until |delta mu| <= 1e-21 or 1000 iterations; then clip(z - mu y, 0, C)."""
    mu = 0.0
    for _ in range(max_iter):
        a = z - mu * y
        i_c, i_x = a >= C, (a > 0) & (a < C)
        eta = max(2 * int(i_x.sum()), 1)
        new = (1 - i_x.sum() / eta) * mu + (C * y[i_c].sum() + (z[i_x] * y[i_x]).sum()) / eta
        done = abs(new - mu) <= tol
        mu = new
        if done:
            break
    return np.clip(z - mu * y, 0.0, C)


def test_fixed_point_projection_is_the_authors_iteration():
    # our safeguarded Newton form and the authors' damped iteration have the same fixed
    # point: the same projection on the test instances and on a FLORAL step on the
    # paper's Moon sheet (n = 500, all dual variables far below C)
    X, y = load_floral_moon("train_adv_10", return_X_y=True)
    y = y.astype(float)
    lam = np.abs(np.random.RandomState(0).randn(500)) * 0.01
    z = lam - 1e-4 * (y * (rbf_kernel(X, gamma=0.5) @ (y * lam)) - 1.0)
    for z_, y_, C in [*_projection_instances(), (z, y, 10.0)]:
        ours = _project_fixed_point(z_, y_, C)[0]
        assert_allclose(ours, _authors_fixed_point(z_, y_, C), atol=1e-10)


def test_projection_instances_have_active_bounds():
    inst = _projection_instances()
    n_low = sum(int((_project_fixed_point(z, y, C)[0] == 0).sum()) for z, y, C in inst)
    n_up = sum(int((_project_fixed_point(z, y, C)[0] == C).sum()) for z, y, C in inst)
    n_free = sum(
        int(((lam := _project_fixed_point(z, y, C)[0]) > 0).sum() - (lam == C).sum())
        for z, y, C in inst
    )
    assert n_low > 20 and n_up > 20 and n_free > 20


def test_projection_is_closest_feasible_point():
    # the projection beats random feasible points (obtained by projecting other points)
    rng = np.random.RandomState(1)
    z = rng.randn(30) * 2
    y = np.where(rng.rand(30) < 0.5, 1.0, -1.0)
    lam, _ = _project_fixed_point(z, y, 1.0)
    for _ in range(50):
        other, _ = _project_fixed_point(lam + rng.randn(30), y, 1.0)
        assert np.sum((z - lam) ** 2) <= np.sum((z - other) ** 2) + 1e-12


def test_exact_projector_is_dpp_and_reusable():
    proj = _ExactProjector(10, 1.0)
    assert proj.problem.is_dcp(dpp=True)
    rng = np.random.RandomState(2)
    for _ in range(3):
        z, y = rng.randn(10), np.where(rng.rand(10) < 0.5, 1.0, -1.0)
        assert_allclose(proj(z, y, 1.0)[0], _project_fixed_point(z, y, 1.0)[0], atol=1e-6)


# ------------------------------------------------------------------- FloralSVC
@pytest.fixture(scope="module")
def moons():
    return make_moons(60, noise=0.2, random_state=0)


def test_no_flips_converges_to_svm_dual_solution(moons):
    # With poison_rate=0 the rounds are projected gradient descent on the SVM dual, with
    # step 1/L (L = largest eigenvalue of K). libsvm solves the same QP to tol=1e-10. The
    # dual is strongly convex here (the RBF Gram matrix of distinct points is positive
    # definite), so the iteration converges linearly; after 20000 rounds the measured gap
    # is below 1e-6 on these 60 points, and 1e-5 leaves a margin for rounding.
    X, y = moons
    svc = SVC(C=1.0, gamma=0.5, tol=1e-10).fit(X, y)
    clf = FloralSVC(C=1.0, gamma=0.5, lr="auto", n_rounds=20000, poison_rate=0).fit(X, y)
    lam_svc = np.zeros(X.shape[0])
    lam_svc[svc.support_] = np.abs(svc.dual_coef_[0])
    assert_allclose(clf.lambda_, lam_svc, atol=1e-5)
    # signed expansion coefficients, same convention as SVC (positive means classes_[1])
    coef_svc, coef = np.zeros(X.shape[0]), np.zeros(X.shape[0])
    coef_svc[svc.support_] = svc.dual_coef_[0]
    coef[clf.support_] = clf.dual_coef_[0]
    assert_allclose(coef, coef_svc, atol=1e-5)
    assert_array_equal(np.sort(clf.support_), np.sort(svc.support_))
    assert_allclose(clf.decision_function(X), svc.decision_function(X), atol=1e-5)
    assert_allclose(clf.intercept_, svc.intercept_, atol=1e-5)
    assert_array_equal(clf.predict(X), svc.predict(X))
    assert_array_equal(clf.flip_counts_, 0)
    assert_array_equal(clf.y_adv_, y)


def test_svm_warm_start_stays_at_the_svm_solution(moons):
    X, y = moons
    svc = SVC(C=1.0, gamma=0.5, tol=1e-10).fit(X, y)
    clf = FloralSVC(C=1.0, lr="auto", n_rounds=5, poison_rate=0, init="svm").fit(X, y)
    assert_allclose(clf.decision_function(X), svc.decision_function(X), atol=1e-4)


def test_exact_and_fixed_point_fits_agree(moons):
    X, y = moons
    kw = dict(lr=1e-2, n_rounds=25, poison_rate=4 / 60, random_state=3)
    a = FloralSVC(projection="fixed_point", **kw).fit(X, y)
    b = FloralSVC(projection="exact", **kw).fit(X, y)
    assert_array_equal(a.flip_counts_, b.flip_counts_)
    assert_allclose(a.lambda_, b.lambda_, atol=1e-6)
    assert_allclose(a.decision_function(X), b.decision_function(X), atol=1e-5)


def test_flip_counts_semantics(moons):
    X, y = moons
    n = X.shape[0]
    clf = FloralSVC(lr=1e-2, n_rounds=40, poison_rate=0.1, random_state=0).fit(X, y)
    k = round(0.1 * n)
    assert clf.n_flips_ == k
    # k flips in each of the n_rounds - 1 attacked rounds (round 0 is the warm-up)
    assert clf.flip_counts_.sum() == k * 39
    assert clf.flip_counts_.dtype.kind == "i" and clf.flip_counts_.min() >= 0
    assert clf.flip_counts_.max() <= 39
    # the final labels carry exactly the last round's k flips
    assert (clf.y_adv_ != y).sum() == k
    # a count is not a rate: poison_rate=k (an int >= 1) is rejected, not read as k flips
    with pytest.raises(ValueError, match=r"poison_rate.*range \[0.0, 1.0\)"):
        FloralSVC(n_rounds=2, poison_rate=k).fit(X, y)


def test_attacker_flips_among_top_candidates(moons):
    # two rounds: the warm-up step from the SVM solution, then one attack on the top
    # B = 2k support vectors of the dual variables after the warm-up step
    X, y = moons
    ypm = np.where(y == 1, 1.0, -1.0)
    C, lr, k = 1.0, 0.01, 5
    svc = SVC(kernel="precomputed", C=C, tol=1e-6).fit(rbf_kernel(X, gamma=0.5), ypm)
    lam0 = np.zeros(len(y))
    lam0[svc.support_] = np.abs(svc.dual_coef_[0])
    K = rbf_kernel(X, gamma=0.5)
    lam1, _ = _project_fixed_point(lam0 - lr * (ypm * (K @ (ypm * lam0)) - 1), ypm, C)
    # the top 2k by dual variable; ties at the threshold (many lam = C) are broken at random
    threshold = np.sort(lam1)[::-1][2 * k - 1]
    top = set(np.flatnonzero(lam1 >= threshold).tolist())
    for seed in range(5):
        clf = FloralSVC(C=C, lr=lr, n_rounds=2, poison_rate=k / 60, init="svm", random_state=seed)
        clf.fit(X, y)
        flipped = set(np.flatnonzero(clf.flip_counts_).tolist())
        assert len(flipped) == k and flipped <= top
        assert set(np.flatnonzero(clf.y_adv_ != y).tolist()) == flipped


def test_decision_function_is_the_kernel_expansion(moons):
    X, y = moons
    clf = FloralSVC(lr=1e-2, n_rounds=30, poison_rate=0.05, random_state=0).fit(X, y)
    Xt = X[:7] + 0.1
    manual = rbf_kernel(Xt, clf.support_vectors_, gamma=0.5) @ clf.dual_coef_[0]
    assert_allclose(clf.decision_function(Xt), manual + clf.intercept_[0])
    # dual_coef_ = lambda * y_adv (±1) on the support vectors
    yadv = np.where(clf.y_adv_ == clf.classes_[1], 1.0, -1.0)
    assert_allclose(clf.dual_coef_[0], (clf.lambda_ * yadv)[clf.support_])
    assert_array_equal(clf.support_, np.flatnonzero(clf.lambda_ > 1e-5))
    # bias: mean residual over the free support vectors
    K = rbf_kernel(X, gamma=0.5)
    f = K @ (clf.lambda_ * yadv)
    free = (clf.lambda_ > 1e-5) & (clf.lambda_ < clf.C - 1e-5)
    assert_allclose(clf.intercept_[0], np.mean(yadv[free] - f[free]))
    assert_array_equal(clf.predict(Xt), clf.classes_[(clf.decision_function(Xt) > 0) * 1])


def test_lr_auto_is_inverse_largest_eigenvalue(moons):
    X, y = moons
    clf = FloralSVC(lr="auto", n_rounds=2, poison_rate=0).fit(X, y)
    assert_allclose(clf.lr_, 1 / np.linalg.eigvalsh(rbf_kernel(X, gamma=0.5))[-1])


def test_any_two_labels_and_no_input_modification(moons):
    X, y = moons
    labels = np.array(["cat", "dog"])[y]
    X0, l0 = X.copy(), labels.copy()
    kw = dict(lr=1e-2, n_rounds=20, poison_rate=0.05, random_state=0)
    a = FloralSVC(**kw).fit(X, labels)
    b = FloralSVC(**kw).fit(X, 2 * y - 1)
    assert_array_equal(X, X0)
    assert_array_equal(labels, l0)
    assert_array_equal(a.classes_, ["cat", "dog"])
    assert_allclose(a.decision_function(X), b.decision_function(X))
    assert set(a.predict(X)) <= {"cat", "dog"}
    assert set(a.y_adv_) <= {"cat", "dog"}


def test_binary_only_and_parameter_errors():
    X, y = make_blobs(30, centers=3, random_state=0)
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        FloralSVC().fit(X, y)
    assert FloralSVC().__sklearn_tags__().classifier_tags.multi_class is False
    with pytest.raises(ValueError, match="projection"):
        FloralSVC(projection="qp").fit(X, y % 2)
    with pytest.raises(ValueError, match="poison_rate"):
        FloralSVC(poison_rate=-1).fit(X, y % 2)
    with pytest.raises(ValueError, match="lr"):
        FloralSVC(lr=0.0).fit(X, y % 2)


def test_grid_search_and_verbose(moons, capsys):
    X, y = moons
    gs = GridSearchCV(
        FloralSVC(lr=1e-2, n_rounds=20, random_state=0),
        {"poison_rate": [0, 0.05], "gamma": [0.5, 1.0]},
        cv=2,
    ).fit(X, y)
    assert gs.best_score_ > 0.7
    clone(gs.best_estimator_).set_params(verbose=1, n_rounds=3).fit(X, y)
    assert "FLORAL" in capsys.readouterr().err


def test_floral_on_paper_moon_sheet_flags_poisoned_points():
    # the paper's "sanitisation" reading: the attacker keeps flipping influential support
    # vectors; on the poisoned sheet these are mostly the poisoned points
    X, y_adv = load_floral_moon("train_adv_10", return_X_y=True)
    _, y_clean = load_floral_moon("train", return_X_y=True)
    poisoned = y_adv != y_clean
    clf = FloralSVC(random_state=0).fit(X, y_adv)
    assert clf.flip_counts_[poisoned].mean() > 3 * clf.flip_counts_[~poisoned].mean()
    Xte, yte = load_floral_moon("test", return_X_y=True)
    assert clf.score(Xte, yte) > 0.8


# ----------------------------------------------------------------------- LNSVC
def test_lnsvc_kernel_formula(moons):
    X, y = moons
    mu = 0.1
    c = 1 - 4 * mu * (1 - mu)
    K = rbf_kernel(X, gamma=0.7)
    clf = LNSVC(mu=mu, C=3.0, gamma=0.7, tol=1e-8).fit(X, y)
    K_ln = clf.noise_kernel_matrix(K)
    off = ~np.eye(len(X), dtype=bool)
    assert_allclose(K_ln[off], c * K[off])
    assert_allclose(np.diag(K_ln), np.diag(K))
    # same as an SVC on the precomputed matrix K ∘ M, and c·K on new points
    M = np.full_like(K, c)
    np.fill_diagonal(M, 1.0)
    ref = SVC(kernel="precomputed", C=3.0, tol=1e-8).fit(K * M, y)
    Xt = X[:10] + 0.05
    assert_allclose(
        clf.decision_function(Xt),
        ref.decision_function(c * rbf_kernel(Xt, X, gamma=0.7)),
        atol=1e-8,
    )
    assert_array_equal(clf.support_, ref.support_)


def test_lnsvc_with_mu_zero_is_svc(moons):
    X, y = moons
    a = LNSVC(mu=0.0, C=2.0, gamma=0.5, tol=1e-8).fit(X, y)
    b = SVC(C=2.0, gamma=0.5, tol=1e-8).fit(X, y)
    assert_allclose(a.decision_function(X), b.decision_function(X), atol=1e-6)


def test_lnsvc_callable_and_gamma_scale(moons):
    X, y = moons
    a = LNSVC(mu=0.05, kernel=lambda A, B: rbf_kernel(A, B, gamma=0.5)).fit(X, y)
    b = LNSVC(mu=0.05, gamma=0.5).fit(X, y)
    assert_allclose(a.decision_function(X), b.decision_function(X), atol=1e-8)
    c = LNSVC(mu=0.0).fit(X, y)
    assert_allclose(c.gamma_, 1 / (X.shape[1] * X.var()))


# --------------------------------------------------------------- the sanitizer
def test_knn_sanitizer_hand_made_case():
    X = np.arange(12.0)[:, None]
    y = np.array([0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1])
    # point 4 (label 1) has neighbours 3, 5 (both 0): relabelled; point 6 (label 0) has
    # neighbours 5 (0) and 7 (1): share 1/2 < threshold, kept
    san = KNNLabelSanitizer(n_neighbors=2, threshold=1.0)
    X_res, y_res = san.fit_resample(X, y)
    assert_array_equal(y_res, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    assert_array_equal(san.changed_indices_, [4])
    assert san.n_changed_ == 1
    assert_array_equal(X_res, X)
    assert X_res is not X
    # with a lower threshold ties (share 1/2) relabel to the first label of the tie
    _, y_half = KNNLabelSanitizer(n_neighbors=2, threshold=0.5).fit_resample(X, y)
    assert y_half[4] == 0


def test_knn_sanitizer_repeats_until_stable():
    # two adjacent flipped points, each with 3 of 4 neighbours labelled 0
    X = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8.0])[:, None]
    y = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0])
    san = KNNLabelSanitizer(n_neighbors=4, threshold=0.75)
    _, y_res = san.fit_resample(X, y)
    assert_array_equal(y_res, np.zeros(9, dtype=int))
    # point 3 sees 2, 4, 1, 5 and point 4 sees 3, 5, 2, 6: 3/4 zeros each, both relabelled
    # in the first pass; the second pass changes nothing and stops
    assert san.n_iter_ == 2
    assert_array_equal(san.changed_indices_, [3, 4])


def test_knn_sanitizer_recovers_poisoned_moon_labels():
    X, y_adv = load_floral_moon("train_adv_10", return_X_y=True)
    _, y_clean = load_floral_moon("train", return_X_y=True)
    san = KNNLabelSanitizer()
    _, y_res = san.fit_resample(X, y_adv)
    assert (y_res != y_clean).sum() < (y_adv != y_clean).sum()
    assert set(np.unique(y_res)) == {-1, 1}


def test_sanitizer_in_imblearn_pipeline(moons):
    from imblearn.pipeline import make_pipeline

    X, y = moons
    pipe = make_pipeline(KNNLabelSanitizer(n_neighbors=5), SVC()).fit(X, y)
    assert pipe.score(X, y) > 0.8


# ---------------------------------------------------------------- the Moon data
def test_load_floral_moon_sheets():
    X, y = load_floral_moon("train", return_X_y=True)
    assert X.shape == (500, 2) and set(y.tolist()) == {-1, 1}
    expected = {
        "train_adv_5": 25,
        "train_adv_10": 50,
        "train_adv_15": 75,
        "train_adv_20": 100,
        "train_adv_25": 119,
        "train_adv_5_lfa": 25,
        "train_adv_10_lfa": 50,
        "train_adv_25_lfa": 125,
    }
    for sheet, n_flipped in expected.items():
        Xa, ya = load_floral_moon(sheet, return_X_y=True)
        assert_allclose(Xa, X)
        assert (ya != y).sum() == n_flipped
    bunch = load_floral_moon("test")
    assert bunch.data.shape == (1000, 2) and "MIT" in bunch.DESCR
    assert load_floral_moon("main").data.shape == (2000, 2)
    with pytest.raises(ValueError, match="Valid sheets are: main, train"):
        load_floral_moon("training")


# ------------------------------------------------------------- iterate averaging
def test_average_over_last_round_is_the_last_iterate(moons):
    X, y = moons
    kw = dict(lr=1e-2, n_rounds=30, poison_rate=4 / 60, random_state=0)
    a = FloralSVC(average=False, **kw).fit(X, y)
    b = FloralSVC(average=1, **kw).fit(X, y)
    assert_allclose(a.decision_function(X), b.decision_function(X))
    assert_array_equal(a.flip_counts_, b.flip_counts_)


def test_average_is_the_mean_of_the_expansion_coefficients(moons):
    X, y = moons
    ypm = np.where(y == 1, 1.0, -1.0)
    kw = dict(lr=1e-2, poison_rate=4 / 60, random_state=0)
    first = FloralSVC(n_rounds=1, **kw).fit(X, y)  # round 0: no attack
    last = FloralSVC(n_rounds=2, **kw).fit(X, y)
    avg = FloralSVC(n_rounds=2, average=2, **kw).fit(X, y)
    yadv = np.where(last.y_adv_ == 1, 1.0, -1.0)
    expected = 0.5 * (first.lambda_ * ypm + last.lambda_ * yadv)
    assert_array_equal(avg.support_, np.flatnonzero(np.abs(expected) > 1e-5))
    assert_allclose(avg.dual_coef_[0], expected[avg.support_])
    # the averaged model keeps the last round's state for inspection
    assert_allclose(avg.lambda_, last.lambda_)


def test_averaging_removes_the_last_round_noise_on_paper_moon():
    # the last iterate carries the last round's random flips of the top support vectors;
    # averaging the expansion over the second half of the rounds is stable across seeds
    X, y = load_floral_moon("train_adv_5", return_X_y=True)
    Xte, yte = load_floral_moon("test", return_X_y=True)
    kw = dict(lr=1e-3, poison_rate=0.05, gamma=1.0)
    acc = [
        FloralSVC(average=True, random_state=s, **kw).fit(X, y).score(Xte, yte) for s in range(3)
    ]
    assert min(acc) > 0.93


# ------------------------------------------------------------- budgets, validation, memory
def test_poison_rate_of_one_is_an_error_and_half_warns(moons):
    X, y = moons
    with pytest.raises(ValueError, match=r"poison_rate.*range \[0.0, 1.0\)"):
        FloralSVC(poison_rate=1.0, n_rounds=2).fit(X, y)
    for rate in (0.5, 0.6):  # legal, not clamped, warned
        with pytest.warns(UserWarning, match="at least half"):
            assert FloralSVC(poison_rate=rate, n_rounds=2).fit(X, y).n_flips_ == round(rate * 60)


def test_lr_auto_uses_cheap_largest_eigenvalue():
    X, _ = make_moons(300, noise=0.2, random_state=1)
    from sklpoison.defences._floral import _largest_eigenvalue

    for gamma in (0.05, 0.5, 5.0):
        K = rbf_kernel(X, gamma=gamma)
        assert_allclose(_largest_eigenvalue(K), np.linalg.eigvalsh(K)[-1], rtol=1e-8)


def test_early_stopping_returns_the_best_validation_round(moons):
    X, y = moons
    Xv, yv = make_moons(80, noise=0.2, random_state=5)
    kw = dict(lr=5e-3, n_rounds=40, poison_rate=4 / 60, random_state=7)
    es = FloralSVC(early_stopping=True, **kw).fit(X, y, X_val=Xv, y_val=yv)
    assert es.validation_scores_.shape == (40,) and es.validation_losses_.shape == (40,)
    assert es.n_iter_ == 40 and es.validation_indices_ is None
    best = es.best_round_
    assert es.validation_scores_[best] == es.validation_scores_.max()
    ties = np.flatnonzero(es.validation_scores_ == es.validation_scores_.max())
    assert es.validation_losses_[best] == es.validation_losses_[ties].min()
    # replay: the game stopped after best_round_ + 1 rounds is the returned classifier
    replay = FloralSVC(**{**kw, "n_rounds": best + 1}).fit(X, y)
    assert_allclose(es.decision_function(Xv), replay.decision_function(Xv), atol=1e-12)
    assert_allclose(es.lambda_, replay.lambda_)
    assert_array_equal(es.y_adv_, replay.y_adv_)
    # the recorded score is that classifier's validation accuracy, and hinge loss
    assert es.validation_scores_[best] == pytest.approx(replay.score(Xv, yv))
    yv_pm = np.where(yv == 1, 1.0, -1.0)
    hinge = np.mean(np.maximum(0, 1 - yv_pm * replay.decision_function(Xv)))
    assert es.validation_losses_[best] == pytest.approx(hinge)
    # each round's score is that round's classifier: check a few more rounds by replay
    for t in (0, 13, 39):
        r = FloralSVC(**{**kw, "n_rounds": t + 1}).fit(X, y)
        assert es.validation_scores_[t] == pytest.approx(r.score(Xv, yv))
    # flip counts cover every round played
    full = FloralSVC(**kw).fit(X, y)
    assert_array_equal(es.flip_counts_, full.flip_counts_)


def test_early_stopping_internal_split_and_patience(moons):
    X, y = moons
    kw = dict(lr=5e-3, n_rounds=60, poison_rate=0.05, early_stopping=True, random_state=0)
    a = FloralSVC(validation_fraction=0.25, **kw).fit(X, y)
    b = FloralSVC(validation_fraction=0.25, **kw).fit(X, y)
    val = a.validation_indices_
    assert val.size == 15 and np.bincount(y[val]).tolist() in ([8, 7], [7, 8])  # stratified
    assert_array_equal(val, b.validation_indices_)  # seeded
    assert_allclose(a.decision_function(X), b.decision_function(X))
    # held-out rows are not in the game
    assert_array_equal(a.flip_counts_[val], 0)
    assert_array_equal(a.lambda_[val], 0)
    assert not np.isin(a.support_, val).any()
    assert_allclose(a.support_vectors_, X[a.support_])
    # the same as passing the held-out rows explicitly, on the remaining rows
    train = np.setdiff1d(np.arange(60), val)
    rng = np.random.RandomState(0)
    rng.randint(np.iinfo(np.int32).max)  # the draw of the split seed
    d = FloralSVC(**{**kw, "random_state": rng}).fit(X[train], y[train], X_val=X[val], y_val=y[val])
    assert_allclose(a.decision_function(X), d.decision_function(X), atol=1e-12)
    assert a.best_round_ == d.best_round_
    # a refit without early stopping leaves no validation attributes of the previous fit
    a.set_params(early_stopping=False, n_rounds=5).fit(X, y)
    assert a.n_iter_ == 5 and a.validation_indices_ is None
    for attr in ("best_round_", "validation_scores_", "validation_losses_"):
        assert not hasattr(a, attr)
    # patience: stops n_iter_no_change rounds after the best one
    p = FloralSVC(validation_fraction=0.25, n_iter_no_change=3, **kw).fit(X, y)
    assert p.n_iter_ == p.best_round_ + 4 < 60
    assert p.validation_scores_.shape == (p.n_iter_,)


def test_early_stopping_errors(moons):
    X, y = moons
    with pytest.raises(ValueError, match="early_stopping=False"):
        FloralSVC(n_rounds=2).fit(X, y, X_val=X, y_val=y)
    with pytest.raises(ValueError, match="together"):
        FloralSVC(n_rounds=2, early_stopping=True).fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="cannot be combined"):
        FloralSVC(n_rounds=2, early_stopping=True, average=True).fit(X, y)
    with pytest.raises(ValueError, match="not among the training classes"):
        FloralSVC(n_rounds=2, early_stopping=True).fit(X, y, X_val=X, y_val=y + 5)
    with pytest.raises(ValueError, match="validation_fraction"):
        FloralSVC(n_rounds=2, early_stopping=True, validation_fraction=59).fit(X, y)
    # a bad X_val is named as such (the feature check's own message says "X")
    es = FloralSVC(n_rounds=2, early_stopping=True)
    with pytest.raises(ValueError, match=r"invalid X_val: X has 1 features.*expecting 2"):
        es.fit(X, y, X_val=X[:, :1], y_val=y)
    with pytest.raises(ValueError, match=r"invalid X_val: Input X contains NaN"):
        es.fit(X, y, X_val=np.full_like(X, np.nan), y_val=y)


def test_early_stopping_in_a_pipeline_with_transformed_validation_data(moons):
    # X_val goes through the scaler only when the pipeline transforms it (metadata routing)
    import sklearn
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = moons
    X, Xv = 100.0 * X, 100.0 * make_moons(80, noise=0.2, random_state=5)[0]
    yv = make_moons(80, noise=0.2, random_state=5)[1]
    kw = dict(lr=5e-3, n_rounds=20, poison_rate=0.05, early_stopping=True, random_state=0)
    sc = StandardScaler().fit(X)
    ref = FloralSVC(**kw).fit(sc.transform(X), y, X_val=sc.transform(Xv), y_val=yv)
    with sklearn.config_context(enable_metadata_routing=True):
        est = FloralSVC(**kw).set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("sc", StandardScaler()), ("f", est)], transform_input=["X_val"])
        pipe.fit(X, y, X_val=Xv, y_val=yv)
    assert_allclose(pipe[-1].validation_scores_, ref.validation_scores_)
    assert pipe[-1].best_round_ == ref.best_round_ and ref.validation_scores_.max() > 0.8


def _no_memory(*args, **kwargs):
    raise MemoryError("Unable to allocate 28.1 KiB for an array with shape (60, 60)")


def test_out_of_memory_names_the_fit_and_the_fix(moons, monkeypatch):
    import sklpoison.defences._floral as floral

    X, y = moons
    monkeypatch.setattr(floral, "rbf_kernel", _no_memory)
    with pytest.raises(MemoryError, match=r"FloralSVC cannot fit n_samples=60.*28800 bytes"):
        FloralSVC(n_rounds=2).fit(X, y)
    # at n = 60000 the kernel matrix alone is 26.8 GiB
    with pytest.raises(MemoryError, match=r"26\.8 GiB"):
        floral._kernel_matrix(np.zeros((60000, 1)), 0.5, 0, "FloralSVC")


def test_lnsvc_mu_half_is_rejected_and_near_half_still_classifies(moons):
    X, y = moons
    with pytest.raises(ValueError, match=r"mu=0.5\) is degenerate.*c = 1 - 4 mu"):
        LNSVC(mu=0.5).fit(X, y)
    # c = 1 - 4 mu (1 - mu) = 4e-8: tiny, but the intercept shrinks with it
    ref = LNSVC(mu=0.0, C=1.0, gamma=0.5).fit(X, y)
    near = LNSVC(mu=0.4999, C=1.0, gamma=0.5).fit(X, y)
    assert np.unique(near.predict(X)).size == 2
    assert near.score(X, y) > 0.8 and ref.score(X, y) > 0.8


def test_lnsvc_warns_when_near_half_predicts_one_class():
    # unequal classes (28 + 32): at mu=0.49, c = 0.0016 and the intercept decides every row
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    y = (X[:, 0] + 0.3 * rng.randn(60) > 0).astype(int)
    with pytest.warns(UserWarning, match=r"LNSVC\(mu=0.49\) predicts only \[0\] of the classes"):
        clf = LNSVC(mu=0.49).fit(X, y)
    assert np.unique(clf.predict(X)).tolist() == [0]  # the warning tells the truth
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.unique(LNSVC(mu=0.3).fit(X, y).predict(X)).size == 2


def test_lnsvc_out_of_memory_names_the_fit(moons, monkeypatch):
    X, y = moons
    monkeypatch.setattr(LNSVC, "_base_kernel", _no_memory)
    with pytest.raises(MemoryError, match=r"LNSVC cannot fit n_samples=60"):
        LNSVC().fit(X, y)


def test_floral_fit_holds_one_kernel_matrix():
    # the MemoryError message counts one n x n matrix: the fit must not hold a second one (the
    # intercept took K[support] @ v, a copy of up to all of K: peak 2.04 n^2 doubles before)
    import tracemalloc

    n = 1000
    X = np.random.RandomState(0).randn(n, 4)
    y = (X[:, 0] > 0).astype(int)
    tracemalloc.start()
    try:
        FloralSVC(n_rounds=2, random_state=0).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.3 * 8 * n * n
