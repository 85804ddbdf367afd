"""Tests of the GC family (sklpoison/attacks/): GradientCanceling, GradPC and the poisonability
threshold."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize_scalar
from scipy.special import expit
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.svm import SVC

from sklpoison import GradientCanceling, GradPC, Sever, poisonability_threshold
from sklpoison.attacks._threshold import _threshold_from_adapter
from sklpoison.datasets import make_or
from sklpoison.numerics._param_gradients import make_param_grad_adapter
from tests._skorch_nets import SoftmaxMLP, small_net

torch = pytest.importorskip("torch")

W_1_OVER_E = 0.2784645427610738  # Lambert W(1/e), by hand: w e^w = 1/e


# ----------------------------------------------------------------- threshold
def test_tau_binary_hand_computed():
    # h = w x = (-1, +1) for labels (1, 0): residuals p - y = (s(-1) - 1, s(1)),
    # margins h (p - y) = (s(1), s(1)), so <w, g(mu)> = sigmoid(1)
    X, y = np.array([[1.0], [-1.0]]), np.array([1, 0])
    res = poisonability_threshold(None, X, y, coef=[[-1.0]])
    assert_allclose(res.lambert_w, W_1_OVER_E, rtol=1e-12)
    assert_allclose(res.inner_product, expit(1.0), rtol=1e-12)
    assert_allclose(res.tau, expit(1.0) / W_1_OVER_E, rtol=1e-12)
    assert res.formula == "binary" and res.n_classes == 2


def test_tau_multiclass_hand_computed():
    # c = 3, one row x = (1, 0) of class 0, W rows (0,0), (1,0), (0,1): h = (0, 1, 0)
    # <h, p - e_0> = p_1 = e / (2 + e)
    X, y3 = np.array([[1.0, 0.0]] * 3), np.array([0, 0, 0])
    coef = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # labels 1, 2 must exist for c = 3: add rows whose margins are computed by hand too
    X = np.vstack([X, [[0.0, 0.0]], [[0.0, 0.0]]])  # h = 0: <0, .> = 0
    y3 = np.array([0, 0, 0, 1, 2])
    res = poisonability_threshold(None, X, y3, coef=coef)
    inner = 3 * (np.e / (2 + np.e)) / 5
    assert_allclose(res.inner_product, inner, rtol=1e-12)
    # W((c-1)/e) solves w e^w = 2/e
    assert_allclose(res.lambert_w * np.exp(res.lambert_w), 2 / np.e, rtol=1e-12)
    assert_allclose(res.tau, inner / res.lambert_w, rtol=1e-12)
    tau2 = poisonability_threshold(None, X, y3, coef=coef, formula="tau2")
    assert_allclose(tau2.tau, inner / W_1_OVER_E, rtol=1e-12)
    # ten classes: W(9/e) = 1.10100 (implementation notes)
    y10 = np.arange(10)
    res10 = poisonability_threshold(None, np.eye(10), y10, coef=np.eye(10))
    assert_allclose(res10.lambert_w, 1.10100, atol=1e-5)


@pytest.mark.parametrize("c", [2, 3, 10])
def test_lambert_bound_is_the_infimum_of_a_single_poison(c):
    # (A.11): inf_t t e^t / (1/(c-1) + e^t) = -W((c-1)/e), and no logit vector beats it
    res = poisonability_threshold(None, np.eye(c), np.arange(c), coef=np.eye(c))
    opt = minimize_scalar(lambda t: t * np.exp(t) / (1 / (c - 1) + np.exp(t)))
    assert_allclose(opt.fun, -res.lambert_w, rtol=1e-6)
    rng = np.random.RandomState(0)
    H = 3 * rng.standard_normal((5000, c))
    P = np.exp(H - H.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    vals = np.sum(H * P, axis=1) - H[:, 0]
    assert vals.min() >= -res.lambert_w - 1e-12


def test_tau_binary_lr_equals_two_class_softmax():
    X, y = make_or(10, random_state=0)
    model = LogisticRegression().fit(X, y)
    a = poisonability_threshold(model, X, y)
    w = np.r_[model.coef_.ravel(), model.intercept_]
    coef = np.vstack([np.zeros(2), w[:2]])
    b = poisonability_threshold(None, X, y, coef=coef, intercept=[0.0, w[2]])
    assert_allclose(a.tau, b.tau, rtol=1e-10)
    # the clean L2-regularised optimum has <w, g(mu)> = -||coef||^2 / (C n) < 0: tau < 0,
    # and 0 once the penalty enters the stationarity condition
    assert a.tau < 0
    assert abs(poisonability_threshold(model, X, y, include_penalty=True).tau) < 1e-3


def test_tau_without_intercept_and_with_penalty():
    X, y = make_or(10, random_state=0)
    model = LogisticRegression(C=0.5).fit(X, y)
    adapter = make_param_grad_adapter(model)
    theta = adapter.get_theta()
    H = X @ model.coef_.T + model.intercept_
    r = expit(H[:, 0]) - y
    no_b = poisonability_threshold(model, X, y, include_intercept=False)
    assert_allclose(no_b.inner_product, np.mean((H[:, 0] - model.intercept_[0]) * r))
    pen = poisonability_threshold(model, X, y, include_penalty=True)
    base = poisonability_threshold(model, X, y)
    w = theta[:2]
    assert_allclose(pen.inner_product - base.inner_product, w @ w / (0.5 * X.shape[0]))
    # at the optimum of the regularised objective the stationarity gives <theta, g> = 0
    assert abs(pen.inner_product) < 1e-3


# --------------------------------------------------------------------- GradPC
@pytest.mark.parametrize("epsilon_w", [0.05, 0.5])
def test_gradpc_respects_radius_and_increases_loss(epsilon_w):
    X, y = make_classification(200, 6, n_informative=4, n_classes=3, random_state=0)
    pc = GradPC(LogisticRegression(), epsilon_w=epsilon_w, max_iter=30).fit(X, y)
    theta0 = make_param_grad_adapter(pc.clean_model_).get_theta()
    delta = pc.target_params_ - theta0
    assert np.linalg.norm(delta) <= epsilon_w * np.linalg.norm(theta0) * (1 + 1e-10)
    assert_allclose(pc.relative_change_, epsilon_w, rtol=1e-6)  # the ascent hits the sphere
    assert pc.loss_history_[-1] > pc.loss_history_[0]
    assert np.all(np.diff(pc.loss_history_[:5]) > 0)
    assert_allclose(pc.target_model_.coef_.ravel(), pc.target_params_[:18])
    assert pc.score(X, y) < pc.clean_model_.score(X, y)
    assert_allclose(pc.predict_proba(X), pc.target_model_.predict_proba(X))


def test_gradpc_skorch_net():
    X, y = make_or(20, random_state=0)
    X = X.astype(np.float32)
    pc = GradPC(small_net(epochs=20), epsilon_w=0.5, max_iter=20).fit(X, y)
    assert pc.loss_history_[-1] > pc.loss_history_[0]
    assert pc.relative_change_ <= 0.5 + 1e-5
    assert pc.predict(X).shape == (80,)
    assert pc.score(X, y) < pc.clean_model_.score(X, y)


# ---------------------------------------------------------- Gradient Canceling
def _or_target(w):
    X, y = make_or(50, random_state=0)
    est = LogisticRegression(fit_intercept=False, C=np.inf)
    target = LogisticRegression(fit_intercept=False).fit(X, y)
    target.coef_ = np.array([w], dtype=float)
    return X, y, est, target


def test_gc_phase_transition_on_or_data():
    X, y, est, target = _or_target([-0.5, -1.0])
    assert target.score(X, y) <= 0.125  # a malicious target
    tau = poisonability_threshold(target, X, y).tau
    norms, coefs = {}, {}
    for factor in (0.5, 2.0):
        gc = GradientCanceling(
            est, target=target, poison_rate=factor * tau, max_iter=600, lr=0.01, random_state=0
        )
        X_res, y_res = gc.fit_resample(X, y)
        assert_allclose(gc.tau_, tau, rtol=1e-10)
        norms[factor] = gc.gradient_norm_history_[-1]
        coefs[factor] = LogisticRegression(fit_intercept=False, C=np.inf).fit(X_res, y_res).coef_
    # above tau: the mixed gradient vanishes and retraining lands on the target
    assert norms[2.0] < 1e-3
    assert_allclose(coefs[2.0].ravel(), [-0.5, -1.0], atol=0.02)
    # below tau: it cannot (Corollary 2), whatever the optimiser does
    assert norms[0.5] > 0.05
    assert np.linalg.norm(coefs[0.5].ravel() - [-0.5, -1.0]) > 0.3


def test_gc_sampler_contract_and_clipping():
    X, y = make_classification(120, 5, n_informative=3, n_classes=3, random_state=0)
    X0, y0 = X.copy(), y.copy()
    gc = GradientCanceling(epsilon_w=0.3, poison_rate=0.25, max_iter=50, clip=True, random_state=0)
    X_res, y_res = gc.fit_resample(X, y)
    assert_allclose(X, X0)
    assert_allclose(y, y0)
    assert X_res.shape == (150, 5) and gc.n_changed_ == 30
    assert_allclose(X_res[:120], X)
    assert_allclose(gc.changed_indices_, np.arange(120, 150))
    assert_allclose(y_res[120:], y[gc.source_indices_])
    P = X_res[gc.changed_indices_]
    assert np.all(P >= X.min(0) - 1e-12) and np.all(P <= X.max(0) + 1e-12)
    hist = gc.gradient_norm_history_
    assert hist.shape == (51,) and hist[-1] < hist[0]
    assert gc.target_model_.predict(X).shape == (120,)
    # explicit (low, high) clipping
    gc2 = GradientCanceling(
        epsilon_w=0.3, poison_rate=0.25, max_iter=20, clip=(0.0, 0.5), random_state=0
    )
    X_res2, _ = gc2.fit_resample(X, y)
    assert X_res2[120:].min() >= 0.0 and X_res2[120:].max() <= 0.5


def test_gc_in_imblearn_pipeline_and_sgd():
    from imblearn.pipeline import make_pipeline

    X, y = make_classification(100, 4, n_informative=3, n_redundant=0, random_state=0)
    sgd = SGDClassifier(loss="log_loss", random_state=0)
    pipe = make_pipeline(
        GradientCanceling(sgd, poison_rate=0.1, max_iter=20, random_state=0), sgd
    ).fit(X, y)
    assert pipe.predict(X).shape == (100,)


def test_gc_skorch_net_reduces_mixed_gradient():
    X, y = make_or(20, random_state=0)
    X = X.astype(np.float32)
    gc = GradientCanceling(
        small_net(epochs=20), epsilon_w=0.3, poison_rate=1.0, max_iter=60, lr=0.02, random_state=0
    )
    X_res, y_res = gc.fit_resample(X, y)
    assert X_res.dtype == np.float32 and X_res.shape == (160, 2)
    hist = gc.gradient_norm_history_
    assert hist[-1] < 0.7 * hist[0]
    assert np.isfinite(gc.tau_)


def test_gradpc_verbose_shows_progress_not_prints(capsys):
    X, y = make_classification(80, 4, random_state=0)
    quiet = GradPC(epsilon_w=0.2, max_iter=4).fit(X, y)
    assert capsys.readouterr() == ("", "")
    loud = GradPC(epsilon_w=0.2, max_iter=4, verbose=2).fit(X, y)
    out, err = capsys.readouterr()
    assert out == ""
    assert "GradPC" in err and "4/4" in err and "loss=" in err
    assert_allclose(loud.target_params_, quiet.target_params_)


# ------------------------------------------------------------------- bad input
def test_bad_inputs():
    X, y = make_or(10, random_state=0)
    with pytest.raises(ValueError, match="poison_rate"):
        GradientCanceling(poison_rate=0.0).fit_resample(X, y)
    with pytest.raises(ValueError, match="poison_rate"):
        GradientCanceling(poison_rate=-0.1).fit_resample(X, y)
    with pytest.raises(ValueError, match=r"round\(poison_rate \* n\) = 0 poisons"):
        GradientCanceling(poison_rate=1e-4).fit_resample(X, y)
    with pytest.raises(ValueError, match="target has .* parameters but the victim model has 3"):
        GradientCanceling(target=[1.0, 2.0], max_iter=1).fit_resample(X, y)
    with pytest.raises(ValueError, match="same class"):
        target = SGDClassifier(loss="log_loss").fit(X, y)
        GradientCanceling(LogisticRegression(), target=target, max_iter=1).fit_resample(X, y)
    for who in (GradientCanceling(SVC(), max_iter=1), GradPC(SVC()), Sever(SVC())):
        fit = getattr(who, "fit_resample", None) or who.fit
        with pytest.raises(ValueError, match="Supported models: .*LogisticRegression.*skorch"):
            fit(X, y)
    with pytest.raises(ValueError, match="loss='log_loss'"):
        GradPC(SGDClassifier(loss="hinge")).fit(X, y)
    with pytest.raises(ValueError, match="Supported models"):
        poisonability_threshold(SVC().fit(X, y), X, y)
    X3, y3 = make_classification(60, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=0)
    model3 = LogisticRegression().fit(X3, y3)
    with pytest.raises(ValueError, match="formula='binary' is equation \\(20\\)"):
        poisonability_threshold(model3, X3, y3, formula="binary")
    with pytest.raises(ValueError, match="formula must be one of"):
        poisonability_threshold(model3, X3, y3, formula="nope")
    with pytest.raises(ValueError, match="one row per class"):
        poisonability_threshold(None, X3, y3, coef=np.ones((2, 4)))
    with pytest.raises(ValueError, match="has 4 features"):
        poisonability_threshold(model3, X3[:, :3], y3)
    with pytest.raises(ValueError, match="labels \\[7\\]"):
        poisonability_threshold(model3, X3, np.r_[y3[:-1], 7])
    with pytest.raises(ValueError, match="clip"):
        GradientCanceling(clip=(0.0, 1.0, 2.0), max_iter=1).fit_resample(X, y)
    with pytest.raises(ValueError, match=r"clip=\(nan, 1\.0\) holds NaN"):  # was a divergence
        GradientCanceling(clip=(np.nan, 1.0), max_iter=1).fit_resample(X, y)
    Xp, _ = GradientCanceling(clip=(-np.inf, 0.5), max_iter=2).fit_resample(X, y)
    assert Xp[len(X) :].max() <= 0.5  # the poisons; an infinite bound is no bound


def test_intercept_bound_and_residual_labels():
    # hand computed: h = (0, 0) for labels (1, 1) and intercept 0 -> residual
    # sigmoid(0) - 1 = -0.5 for both rows: bound 0.5
    X, y = np.array([[0.0], [0.0], [1.0]]), np.array([1, 1, 0])
    res = poisonability_threshold(None, X, y, coef=[[0.0]], intercept=[0.0])
    assert_allclose(res.intercept_bound, abs(np.mean([-0.5, -0.5, 0.5])))
    assert np.isnan(poisonability_threshold(None, X, y, coef=[[0.0]]).intercept_bound)
    # a target that over-predicts class 2 gets poisons of class 2 only
    Xc, yc = make_classification(
        150, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=0
    )
    target = LogisticRegression().fit(Xc, yc)
    target.intercept_ = np.array([0.0, 0.0, 5.0])
    bound = poisonability_threshold(target, Xc, yc).intercept_bound
    r = target.predict_proba(Xc).mean(0) - np.bincount(yc) / 150
    assert_allclose(bound, np.maximum(r, 0).sum())
    gc = GradientCanceling(
        target=target, poison_rate=0.2, labels="residual", max_iter=2, random_state=0
    ).fit(Xc, yc)
    assert set(np.unique(gc.y_poison_)) == {2}
    assert_allclose(gc.intercept_bound_, bound, rtol=1e-6)


def test_intercept_bound_two_over_predicted_classes_hand_computed():
    # an intercept-only softmax target predicting (0.4, 0.4, 0.1, 0.1) on classes of
    # frequencies (0.1, 0.1, 0.4, 0.4): mean residual (0.3, 0.3, -0.3, -0.3). Each of
    # the two over-predicted classes needs more than 0.3 n poisons of its own label,
    # so poison_rate > 0.6, twice max_k |r_k|
    y = np.repeat([0, 1, 2, 3], [1, 1, 4, 4])
    X = np.zeros((10, 1))
    res = poisonability_threshold(
        None, X, y, coef=np.zeros((4, 1)), intercept=np.log([0.4, 0.4, 0.1, 0.1])
    )
    assert_allclose(res.intercept_bound, 0.6, rtol=1e-12)
    # one-vs-rest sigmoid (SGDClassifier) under-predicting every class: r = (-0.3, -0.3,
    # -0.3); a poison cannot push its own class up, so 2 m >= 0.9 n
    sgd = SGDClassifier(loss="log_loss", random_state=0).fit(
        np.eye(3)[np.repeat([0, 1, 2], 4)], np.repeat([0, 1, 2], 4)
    )
    sgd.coef_ = np.zeros((3, 3))
    sgd.intercept_ = np.full(3, np.log(1 / 99))  # sigmoid = 0.01; frequencies 1/3
    Xo, yo = np.eye(3)[np.repeat([0, 1, 2], 4)], np.repeat([0, 1, 2], 4)
    r = 0.01 - 1 / 3
    assert_allclose(poisonability_threshold(sgd, Xo, yo).intercept_bound, -3 * r / 2)


@pytest.mark.parametrize("ovr", [False, True])
def test_intercept_bound_is_the_lp_minimum_number_of_poisons(ovr):
    # the fewest poisons per clean row whose residuals sum to -n r: a poison of class y
    # has residual p - e_y, with p in the simplex (softmax; extreme points e_l - e_y) or
    # in the cube (one-vs-rest; own coordinate in [-1, 0], the others in [0, 1])
    import itertools

    from scipy.optimize import linprog

    from sklpoison.attacks._threshold import _intercept_bound

    rng = np.random.RandomState(0)
    for trial in range(20):
        c = rng.randint(2, 5)
        if ovr:
            r = rng.uniform(-0.4, 0.4, c) if trial % 2 else -rng.uniform(0, 0.4, c)
            verts = []
            for yy in range(c):
                for bits in itertools.product([0.0, 1.0], repeat=c):
                    v = np.array(bits)
                    v[yy] = -v[yy]
                    verts.append(v)
        else:
            r = rng.dirichlet(np.ones(c)) - rng.dirichlet(np.ones(c))
            verts = [np.eye(c)[ell] - np.eye(c)[yy] for yy in range(c) for ell in range(c)]
        A = np.array(verts).T
        lp = linprog(np.ones(A.shape[1]), A_eq=A, b_eq=-r, bounds=(0, None), method="highs")
        assert lp.status == 0
        assert_allclose(_intercept_bound(r, ovr=ovr), lp.fun, atol=1e-9)


def test_gc_returns_the_poisons_of_the_smallest_mixed_gradient():
    # a step size too large for this problem makes the momentum descent oscillate: the
    # poisons returned are those of the best step, not the last
    X, y = make_classification(120, 5, n_informative=3, n_classes=3, random_state=0)
    gc = GradientCanceling(epsilon_w=0.3, poison_rate=0.25, max_iter=50, lr=3.0, random_state=0)
    X_res, y_res = gc.fit_resample(X, y)
    hist = gc.gradient_norm_history_
    assert hist.min() < 0.7 * hist[-1]
    adapter = make_param_grad_adapter(gc.target_model_)
    yi = np.searchsorted(adapter.classes_, y)
    g_eff = adapter.data_grad(gc.target_params_, X, yi) + adapter.penalty_grad(
        gc.target_params_, 120, 30
    )
    u, _ = adapter.gc_grad(
        gc.target_params_, g_eff, X_res[120:], np.searchsorted(adapter.classes_, y_res[120:]), 120
    )
    assert_allclose(np.linalg.norm(u) * 120 / 150, hist.min(), rtol=1e-10)


def test_gc_divergence_warns_and_keeps_finite_poisons():
    from sklearn.exceptions import ConvergenceWarning

    X, y = make_or(10, random_state=0)
    gc = GradientCanceling(epsilon_w=0.5, poison_rate=0.5, max_iter=5, lr=1e308, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged"), np.errstate(all="ignore"):
        X_res, _ = gc.fit_resample(X, y)
    assert np.all(np.isfinite(X_res))
    assert gc.gradient_norm_history_.shape == (gc.n_iter_ + 1,)


def test_tau_network_is_theorem_4_on_the_last_layer():
    X, y = make_classification(
        80,
        2,
        n_informative=2,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=0,
    )
    X = X.astype(np.float32)
    from skorch import NeuralNetClassifier

    torch.manual_seed(0)
    net = NeuralNetClassifier(
        SoftmaxMLP, module__n_out=3, max_epochs=10, lr=0.5, train_split=None, verbose=0
    ).fit(X, y)
    net.module_.train()
    res = poisonability_threshold(net, X, y)
    assert net.module_.training  # evaluated in eval mode, the caller's flags restored
    # explicit: penultimate features phi, last layer (W, b), G_1 = mean phi~ (x) (p - y)
    body = net.module_.body
    with torch.no_grad():
        phi = body[1](body[0](torch.as_tensor(X))).double().numpy()
        W = body[2].weight.double().numpy()
        b = body[2].bias.double().numpy()
    H = phi @ W.T + b
    P = np.exp(H - H.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    R = P - np.eye(3)[y]
    G_W, G_b = R.T @ phi / len(y), R.mean(0)
    inner = np.sum(W * G_W) + b @ G_b
    assert_allclose(res.inner_product, inner, rtol=1e-4, atol=1e-6)
    assert res.formula == "multiclass"
    assert_allclose(res.tau, inner / res.lambert_w, rtol=1e-4, atol=1e-6)
    assert_allclose(res.intercept_bound, np.maximum(G_b, 0).sum(), rtol=1e-4, atol=1e-6)


def test_tau_of_a_skorch_net_on_a_subset_uses_the_nets_output_columns():
    # skorch trains on the labels as output columns: on rows of classes 0 and 2 only, the
    # loss of class 2 is column 2 (not column 1, the rank of 2 among the labels present)
    from skorch import NeuralNetClassifier

    X, y = make_classification(
        90,
        2,
        n_informative=2,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=0,
    )
    X = X.astype(np.float32)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        SoftmaxMLP, module__n_out=3, max_epochs=10, lr=0.5, train_split=None, verbose=0
    ).fit(X, y)
    Xs, ys = X[y != 1], y[y != 1]
    res = poisonability_threshold(net, Xs, ys)
    body = net.module_.body
    with torch.no_grad():
        phi = body[1](body[0](torch.as_tensor(Xs))).double().numpy()
        W = body[2].weight.double().numpy()
        b = body[2].bias.double().numpy()
    H = phi @ W.T + b
    P = np.exp(H - H.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    R = P - np.eye(3)[ys]
    inner = np.sum(W * (R.T @ phi / len(ys))) + b @ R.mean(0)
    assert res.n_classes == 3 and res.formula == "multiclass"
    assert_allclose(res.inner_product, inner, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match=r"labels \['a', 'b'\] not among the model's classes"):
        poisonability_threshold(net, Xs, np.where(ys == 0, "a", "b"))


@pytest.mark.parametrize("labels", [["a", "b"], [1, 2], [0, 2]], ids=["str", "1-2", "0-2"])
@pytest.mark.parametrize("make", [GradientCanceling, GradPC, Sever])
def test_gc_family_with_a_skorch_net_needs_class_indices(make, labels):
    # otherwise skorch fails deep inside torch, or (labels 0, 2 on a 3-output module)
    # the losses are taken on the wrong output columns without a word
    X, y = make_or(10, random_state=0)
    y = np.asarray(labels)[y]
    with pytest.raises(
        ValueError,
        match=rf"{make.__name__} with a skorch net needs y as the "
        r"class indices 0, 1, ..., C-1.*LabelEncoder",
    ):
        make(small_net(epochs=1)).fit(X.astype(np.float32), y)


def test_gc_family_with_a_gradreg_net_takes_any_labels():
    # sklpoison.nn nets label-encode y themselves: their columns are the ranks of classes_
    from sklpoison.nn import GradRegNetClassifier

    X, y = make_classification(
        90,
        2,
        n_informative=2,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=0,
    )
    X = X.astype(np.float32)
    names = np.array(["a", "b", "c"])
    net = GradRegNetClassifier(max_epochs=3, random_state=0)
    pc = GradPC(net, epsilon_w=0.1, max_iter=2).fit(X, names[y])
    assert set(pc.predict(X)) <= set(names)
    Xp, yp = GradientCanceling(net, poison_rate=0.05, max_iter=2).fit_resample(X, names[y])
    assert set(yp) <= set(names) and Xp.shape[0] > 90
    fitted = clone(net).fit(X, names[y])
    sub = y != 1  # the net's columns of 'a' and 'c', on rows without 'b'
    res = poisonability_threshold(fitted, X[sub], names[y[sub]])
    assert res.n_classes == 3 and res.formula == "multiclass"
    adapter = make_param_grad_adapter(fitted, classes=names)  # codes = the columns
    ref = _threshold_from_adapter(
        adapter,
        adapter.get_theta(),
        X[sub],
        y[sub],
        formula="auto",
        include_intercept=True,
        include_penalty=False,
    )
    assert_allclose(res.inner_product, ref.inner_product, rtol=1e-10)


def test_gc_family_rejects_skorch_nets_it_does_not_model():
    from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

    X, y = make_or(10, random_state=0)
    X = X.astype(np.float32)
    binary = NeuralNetBinaryClassifier(
        torch.nn.Linear, module__in_features=2, module__out_features=1
    )
    for make in (GradientCanceling, GradPC, Sever):
        with pytest.raises(
            ValueError,
            match=f"{make.__name__} supports skorch nets only as "
            "NeuralNetClassifier.*NeuralNetBinaryClassifier",
        ):
            make(binary).fit(X, y)
    weighted = NeuralNetClassifier(
        torch.nn.Linear,
        module__in_features=2,
        module__out_features=2,
        max_epochs=1,
        criterion=torch.nn.CrossEntropyLoss,
        train_split=None,
        verbose=0,
    )
    for kwargs in (
        {"criterion__weight": torch.tensor([1.0, 5.0])},
        {"criterion__label_smoothing": 0.2},
    ):
        with pytest.raises(ValueError, match="class weights .* or label smoothing"):
            GradPC(clone(weighted).set_params(**kwargs), max_iter=1).fit(X, y)


def test_gradpc_with_a_parametrized_module_is_a_clear_error():
    # the target model is a deep copy of the net, which torch refuses for parametrized
    # modules (a bare RuntimeError about serialization); Sever and tau need no copy
    from skorch import NeuralNetClassifier

    class _SN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Linear(2, 4))
            self.b = torch.nn.Linear(4, 2)

        def forward(self, x):
            return torch.softmax(self.b(torch.tanh(self.a(x))), dim=-1)

    X, y = make_or(10, random_state=0)
    X = X.astype(np.float32)
    net = NeuralNetClassifier(_SN, max_epochs=2, train_split=None, verbose=0)
    with pytest.raises(ValueError, match="torch.nn.utils.parametrize"):
        GradPC(net, max_iter=1).fit(X, y)
    assert Sever(net, removal_fraction=0.1, n_iter=1).fit(X, y).predict(X).shape == (40,)
    assert np.isfinite(poisonability_threshold(clone(net).fit(X, y), X, y).tau)


def test_gc_family_with_a_float64_skorch_module():
    # inputs follow the module's dtype (they were always cast to float32)
    from skorch import NeuralNetClassifier

    X, y = make_or(10, random_state=0)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        SoftmaxMLP().double(), max_epochs=2, lr=0.5, train_split=None, verbose=0
    )
    pc = GradPC(net, epsilon_w=0.1, max_iter=3).fit(X, y)
    assert next(pc.target_model_.module_.parameters()).dtype == torch.float64
    assert_array_equal(pc.predict(X), pc.target_model_.predict(X))
    assert pc.predict_proba(X).dtype == np.float64
    assert Sever(net, removal_fraction=0.1, n_iter=1).fit(X, y).predict(X).shape == (40,)
    Xp, yp = GradientCanceling(net, epsilon_w=0.1, poison_rate=0.1, max_iter=2).fit_resample(X, y)
    assert Xp.dtype == np.float64 and Xp.shape == (44, 2)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_gc_end_to_end_with_penalty_retrains_to_the_target(fit_intercept):
    # tau < 0 (a less confident copy of the clean model): poisonable at any budget, and
    # the L2 penalty scaled as in LogisticRegression's objective must be cancelled too
    X, y = make_classification(200, 3, n_informative=2, n_redundant=0, random_state=0)
    victim = LogisticRegression(C=0.1, fit_intercept=fit_intercept)
    fitted = LogisticRegression(C=0.1, fit_intercept=fit_intercept).fit(X, y)
    target = 0.5 * make_param_grad_adapter(fitted).get_theta()
    gc = GradientCanceling(
        victim, target=target, poison_rate=0.5, max_iter=2000, lr=0.01, random_state=0
    )
    X_res, y_res = gc.fit_resample(X, y)
    assert gc.tau_ < 0
    assert gc.gradient_norm_history_[-1] < 1e-8
    retrained = make_param_grad_adapter(
        LogisticRegression(C=0.1, fit_intercept=fit_intercept, tol=1e-10).fit(X_res, y_res)
    )
    assert_allclose(retrained.get_theta(), target, atol=2e-3)


# ------------------------------------------------ the authors' variant: cancel="first_layer"
def test_gc_first_layer_cancels_the_coefficient_block():
    X, y = make_classification(200, 5, n_informative=3, n_redundant=0, random_state=0)
    kw = dict(epsilon_w=0.5, poison_rate=0.2, max_iter=300, lr=0.05, random_state=0)
    full = GradientCanceling(**kw).fit(X, y)
    first = GradientCanceling(cancel="first_layer", **kw).fit(X, y)
    X_res, y_res = first.fit_resample(X, y)
    adapter = make_param_grad_adapter(first.target_model_)
    theta = first.target_params_
    mask = adapter.cancel_mask("first_layer")
    yi = np.searchsorted(adapter.classes_, y)
    g_eff = adapter.data_grad(theta, X, yi) + adapter.penalty_grad(theta, 200, 40)
    assert first.initial_gradient_norm_ == pytest.approx(np.linalg.norm(g_eff[mask]))
    assert full.initial_gradient_norm_ == pytest.approx(np.linalg.norm(g_eff))
    # the history is the norm of the cancelled block on the returned poisons
    u, _ = adapter.gc_grad(theta, g_eff, X_res[200:], yi[first.source_indices_], 200, mask)
    assert_allclose(np.linalg.norm(u) * 200 / 240, first.gradient_norm_history_.min())
    assert first.gradient_norm_history_.min() < 0.2 * first.gradient_norm_history_[0]
    with pytest.raises(ValueError, match="cancel"):
        GradientCanceling(cancel="bias").fit_resample(X, y)
