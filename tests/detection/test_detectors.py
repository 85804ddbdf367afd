"""Tests of sklpoison/detection/ (HessianSpectrumDetector, SpectralSignatureDetector)
and of sklpoison/plotting/_spectrum.py (SpectrumDisplay)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression

from sklpoison import HessianSpectrumDetector, PoisonTransformer, SpectralSignatureDetector
from sklpoison.datasets import load_digits_images
from sklpoison.utils._testing import dense_per_sample_hessians


@pytest.fixture(scope="module")
def digits_lr():
    X, y = load_digits_images(return_X_y=True, flat=True)
    X = X.astype(np.float64)
    clf = LogisticRegression(max_iter=300).fit(X[:600], y[:600])
    return X, y, clf


def _dense_lr_hessians(clf, X):
    P = clf.predict_proba(X)
    A = P[:, :, None] * np.eye(P.shape[1]) - P[:, :, None] * P[:, None, :]
    return np.einsum("ci,ncd,dj->nij", clf.coef_, A, clf.coef_)


def test_hessian_detector_on_logistic_regression_matches_dense(digits_lr):
    X, y, clf = digits_lr
    Xr, yr = X[600:800], y[600:800]
    det = HessianSpectrumDetector(
        clf, n_components=4, max_iter=64, image_shape=(8, 8), random_state=0
    ).fit(Xr, yr)
    dense = _dense_lr_hessians(clf, Xr)
    w, U = np.linalg.eigh(dense.mean(0))
    assert_allclose(det.eigenvalues_, w[::-1][:4], rtol=1e-8)
    assert det.eigenvectors_.shape == (4, 1, 8, 8)
    V = det.eigenvectors_.reshape(4, -1)
    assert_allclose(np.abs(np.sum(V * U[:, ::-1][:, :4].T, axis=1)), 1.0, atol=1e-6)
    # the LR input Hessian has rank <= 9, so the paper's 10 steps are exact per sample
    det10 = HessianSpectrumDetector(clf, random_state=0).fit(Xr)
    top = det10.top_eigenvalues(X[800:850])
    assert_allclose(top, np.linalg.eigvalsh(_dense_lr_hessians(clf, X[800:850]))[:, -1], rtol=1e-8)
    assert_allclose(det10.reference_top_eigenvalues_, np.linalg.eigvalsh(dense)[:, -1], rtol=1e-8)
    # score_samples / decision_function / predict are consistent translations
    s = det10.score_samples(X[800:850])
    assert_allclose(s, -top)
    assert_allclose(det10.decision_function(X[800:850]), s - det10.offset_)
    assert_array_equal(det10.predict(X[800:850]) == -1, top > det10.threshold_)
    assert det10.n_iter_ == 10


def test_contamination_sets_threshold(digits_lr):
    X, y, clf = digits_lr
    Xr = X[600:900]
    det = HessianSpectrumDetector(clf, contamination=0.1, random_state=0).fit(Xr)
    assert np.mean(det.predict(Xr) == -1) == pytest.approx(0.1, abs=0.01)
    auto = HessianSpectrumDetector(clf, random_state=0).fit(Xr)
    # "auto" is the modified z-score cut of 3.5 on the log scale (heavy-tailed eigenvalues)
    log = np.log(auto.reference_top_eigenvalues_)
    med = np.median(log)
    cut = np.exp(med + 3.5 * 1.4826 * np.median(np.abs(log - med)))
    assert auto.threshold_ == pytest.approx(cut, rel=1e-12)
    assert auto.offset_ == -auto.threshold_


def test_overlap(digits_lr):
    X, y, clf = digits_lr
    det = HessianSpectrumDetector(clf, n_components=3, random_state=0).fit(X[600:700])
    v2 = det.eigenvectors_[1]
    res = det.overlap(-3 * v2)
    assert res.argmax == 1 and res.max == pytest.approx(1.0)
    assert_allclose(res.overlaps[[0, 2]], 0.0, atol=1e-8)
    p = np.random.RandomState(0).normal(size=64)
    cos = np.abs(det.eigenvectors_ @ p) / np.linalg.norm(p)
    assert_allclose(det.overlap(p.reshape(8, 8)).overlaps, cos)
    with pytest.raises(ValueError, match="pattern has 10 values"):
        det.overlap(np.ones(10))
    with pytest.raises(ValueError, match="not identically zero"):
        det.overlap(np.zeros(64))


def test_clone_keeps_a_frozen_model_fitted(digits_lr):
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator

    X, y, clf = digits_lr
    ref = HessianSpectrumDetector(clf, random_state=0).fit(X[600:700])
    with pytest.raises(ValueError, match="not fitted"):  # clone unfits a bare model
        clone(HessianSpectrumDetector(clf, random_state=0)).fit(X[600:700])
    det = clone(HessianSpectrumDetector(FrozenEstimator(clf), random_state=0)).fit(X[600:700])
    assert_allclose(det.eigenvalues_, ref.eigenvalues_, rtol=1e-12)
    assert_allclose(det.score_samples(X[:20]), ref.score_samples(X[:20]), rtol=1e-12)


def test_detector_errors(digits_lr):
    X, y, clf = digits_lr
    with pytest.raises(ValueError, match="contamination"):
        HessianSpectrumDetector(clf, contamination=0.7).fit(X[:50])
    with pytest.raises(ValueError, match="n_components"):
        HessianSpectrumDetector(clf, n_components=0).fit(X[:50])
    with pytest.raises(ValueError, match="not fitted"):
        HessianSpectrumDetector(LogisticRegression()).fit(X[:50])
    with pytest.raises(ValueError, match="expects 64"):
        HessianSpectrumDetector(clf).fit(X[:50, :10])
    det = HessianSpectrumDetector(clf, random_state=0).fit(X[:50])
    with pytest.raises(ValueError, match="expecting 64 features"):
        det.score_samples(X[:5].reshape(5, 8, 8))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        det.score_samples(X[:5], y[:4])


def test_more_components_than_features_is_an_error_not_a_clamp():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    with pytest.raises(ValueError, match=r"n_components=5 exceeds .* n_features=3"):
        HessianSpectrumDetector(clf).fit(X)
    assert HessianSpectrumDetector(clf, n_components=3).fit(X).eigenvalues_.shape == (3,)


def test_verbose_shows_progress_of_both_lanczos_phases(digits_lr, capsys):
    X, y, clf = digits_lr
    HessianSpectrumDetector(clf, verbose=1, batch_size=20, random_state=0).fit(X[:40], y[:40])
    err = capsys.readouterr().err
    assert "Lanczos on the mean Hessian" in err and "per-sample Lanczos" in err


def test_spectral_feature_extractor_with_wrong_row_count_is_a_clear_error():
    X = np.random.RandomState(0).normal(size=(30, 4))
    det = SpectralSignatureDetector(feature_extractor=lambda Z: Z[:-1])
    with pytest.raises(ValueError, match="one row of features per sample"):
        det.fit(X)


def test_hessian_detector_rejects_labels_the_logistic_model_does_not_know(digits_lr):
    # the closed form ignores the label; unknown labels passed silently (other models raise)
    X, y, clf = digits_lr
    det = HessianSpectrumDetector(clf, n_components=2, max_iter=3, random_state=0)
    with pytest.raises(ValueError, match=r"LogisticRegression: y contains labels \[10\] not"):
        det.fit(X[:30], np.r_[y[:29], 10])
    det.fit(X[:30], y[:30])
    with pytest.raises(ValueError, match="not among the estimator's classes"):
        det.predict(X[:5], y[:5] + 10)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_spectral_non_finite_features_are_a_clear_error(bad):
    # the SVD failed with a bare LinAlgError
    X = np.random.RandomState(0).normal(size=(30, 4))
    det = SpectralSignatureDetector(feature_extractor=lambda Z: np.where(Z > 1.5, bad, Z))
    with pytest.raises(
        ValueError, match=r"feature_extractor gave NaN or infinite features for \d+ of 30"
    ):
        det.fit(X, np.arange(30) % 2)


def test_torch_model_is_left_untouched_and_images_are_read():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(3 * 64, 4),
    ).double()
    model.train()  # the detector must evaluate in eval mode and restore the flag
    state = {k: v.clone() for k, v in model.state_dict().items()}
    X = np.random.RandomState(0).normal(size=(30, 1, 8, 8))
    X_copy = X.copy()
    det = HessianSpectrumDetector(model, n_components=2, max_iter=16, random_state=0).fit(X)
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])
    assert all(p.grad is None for p in model.parameters())
    assert_array_equal(X, X_copy)
    assert det.eigenvectors_.shape == (2, 1, 8, 8)
    # deterministic given random_state, and in eval mode (no dropout noise)
    again = HessianSpectrumDetector(model, n_components=2, max_iter=16, random_state=0).fit(X)
    assert_allclose(again.eigenvalues_, det.eigenvalues_, rtol=1e-12)
    assert_allclose(det.score_samples(X[:7]), det.score_samples(X)[:7], rtol=1e-10)
    # flat inputs with image_shape are the same thing
    flat = HessianSpectrumDetector(
        model, n_components=2, max_iter=16, image_shape=(8, 8), random_state=0
    ).fit(X.reshape(30, 64))
    assert_allclose(flat.eigenvalues_, det.eigenvalues_, rtol=1e-10)


def test_poisoned_cnn_spike_aligns_with_trigger():
    # Granziol et al.: a backdoored network's input Hessian at triggered inputs has a
    # top eigenvector concentrated on the trigger, far more than on clean inputs.
    pytest.importorskip("skorch")
    nn = pytest.importorskip("sklpoison.nn")
    X, y = load_digits_images(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))
    X, y = X[order], y[order]
    poisoner = PoisonTransformer(poison_rate=0.02, target_class=0, random_state=0)
    Xp, yp = poisoner.fit_resample(X[:1000], y[:1000])
    net = nn.GradRegNetClassifier(
        nn.models.SmallCNN,
        module__channels=(8, 16),
        module__hidden=32,
        lr=0.01,
        max_epochs=15,
        random_state=0,
    ).fit(Xp, yp)
    clean = X[1000:1200][y[1000:1200] != 0]
    triggered = poisoner.apply_trigger(clean)
    det_t = HessianSpectrumDetector(net, random_state=0).fit(triggered)
    det_c = HessianSpectrumDetector(net, random_state=0).fit(clean)
    ov_t = det_t.overlap(poisoner.trigger_mask_)
    ov_c = det_c.overlap(poisoner.trigger_mask_)
    # the top eigenvector on triggered inputs is the trigger direction (random unit
    # vectors have |cos| ~ 0.1 with the mask in d = 64) ...
    assert ov_t.argmax == 0 and ov_t.max > 0.5
    # ... while on clean inputs the top eigenvector is not, and no top-5 one comes close
    assert ov_t.max > 2 * ov_c.overlaps[0] and ov_t.max > 1.5 * ov_c.max
    # and the curvature on triggered inputs stands out (a spike, before saturation)
    assert det_t.eigenvalues_[0] > 2 * det_c.eigenvalues_[0]
    # user labels go through the net's label encoder: passing the predicted labels
    # equals letting the detector use the model's predictions
    assert_allclose(
        det_t.top_eigenvalues(clean[:5], net.predict(clean[:5])),
        det_t.top_eigenvalues(clean[:5]),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="not trained on"):
        det_t.top_eigenvalues(clean[:2], np.array([3, 42]))


def test_spectral_signature_matches_svd_and_flags_planted_cluster():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 6))
    y = np.repeat([0, 1, 2], 100)
    X[y == 1] += 3.0
    direction = np.array([0, 0, 1.0, 1.0, 0, 0]) / np.sqrt(2)
    planted = np.flatnonzero(y == 2)[:8]
    X[planted] += 6 * direction
    det = SpectralSignatureDetector(contamination=0.05, standardize=False).fit(X, y)
    for c in range(3):
        Xc = X[y == c]
        mu = Xc.mean(0)
        v = np.linalg.svd(Xc - mu, full_matrices=False)[2][0]
        assert_allclose(det.means_[c], mu)
        assert_allclose(np.abs(det.signatures_[c] @ v), 1.0, atol=1e-10)
        assert_allclose(det.reference_scores_[y == c], ((Xc - mu) @ v) ** 2, rtol=1e-10)
    assert np.all(det.predict(X, y)[planted] == -1)
    assert_allclose(det.score_samples(X, y), -det.signature_scores(X, y))
    assert_allclose(det.decision_function(X, y), det.score_samples(X, y) - det.offset_)
    # without labels or model: the nearest class mean decides the class
    assert_allclose(det.signature_scores(X[y == 1]), det.signature_scores(X[y == 1], y[y == 1]))
    with pytest.raises(ValueError, match="not among the labels seen at fit"):
        det.signature_scores(X[:3], np.array([0, 1, 5]))


def test_spectral_signature_penultimate_features_of_torch_model():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Linear(10, 7), torch.nn.ReLU())
    model = torch.nn.Sequential(body, torch.nn.Linear(7, 3)).double()
    X = np.random.RandomState(0).normal(size=(90, 10))
    with torch.no_grad():
        feats = body(torch.tensor(X)).numpy()
        pred = model(torch.tensor(X)).argmax(1).numpy()
    model.train()  # predictions and features are taken in eval mode, flags restored
    det = SpectralSignatureDetector(model).fit(X)  # labels: the model's predictions
    assert model.training
    ref = SpectralSignatureDetector(feature_extractor=lambda Z: feats[: len(Z)]).fit(X, pred)
    assert_allclose(det.reference_scores_, ref.reference_scores_, rtol=1e-10)
    named = SpectralSignatureDetector(model, feature_extractor="0").fit(X, pred)
    assert_allclose(named.reference_scores_, ref.reference_scores_, rtol=1e-10)
    with pytest.raises(ValueError, match="not a submodule"):
        SpectralSignatureDetector(model, feature_extractor="nope").fit(X)
    with pytest.raises(ValueError, match="needs a torch module"):
        SpectralSignatureDetector(feature_extractor="0").fit(X)


def test_spectrum_display(digits_lr):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklpoison.plotting import SpectrumDisplay

    X, y, clf = digits_lr
    det = HessianSpectrumDetector(clf, n_components=3, image_shape=(8, 8), random_state=0).fit(
        X[600:700]
    )
    mask = PoisonTransformer(image_shape=(8, 8)).fit(X[:50], y[:50]).trigger_mask_
    disp = SpectrumDisplay.from_detector(det, mask)
    assert disp.ax_.shape == (5,)
    assert_allclose(disp.overlaps, det.overlap(mask).overlaps)
    assert disp.ax_[1].get_title().startswith("v1 |cos|=")
    assert_allclose(disp.ax_[0].lines[0].get_ydata(), det.eigenvalues_)
    assert disp.figure_ is disp.ax_[0].figure
    fig, axes = plt.subplots(1, 3)
    disp2 = SpectrumDisplay.from_detector(det, n_eigenvectors=2, ax=axes)
    assert disp2.figure_ is fig
    with pytest.raises(ValueError, match="n_eigenvectors"):
        SpectrumDisplay.from_detector(det, n_eigenvectors=7)
    tab = HessianSpectrumDetector(clf, n_components=2, random_state=0).fit(X[600:650])
    assert SpectrumDisplay.from_detector(tab).ax_.shape == (3,)
    plt.close("all")


def test_krr_near_clone_regime_hides_an_effective_attack():
    # Granziol et al., Corollary 3.7: with an RBF kernel much wider than the distance
    # between triggered inputs and poisons, the attack succeeds but leaves no curvature
    # spike; with a narrow kernel the same attack is visible.
    from sklpoison import GradRegKRRClassifier
    from sklpoison.metrics import attack_success_rate
    from sklpoison.numerics import _input_hessian as IH

    X, y = load_digits_images(return_X_y=True, flat=True)
    X = X.astype(np.float64)
    order = np.random.RandomState(0).permutation(len(X))
    X, y = X[order], y[order]
    poisoner = PoisonTransformer(
        poison_rate=0.05, target_class=0, image_shape=(8, 8), random_state=0
    )
    Xp, yp = poisoner.fit_resample(X[:1300], y[:1300])
    clean = X[1300:1500][y[1300:1500] != 0]
    triggered = poisoner.apply_trigger(clean)
    ratio = {}
    for gamma in (0.005, 0.2):
        krr = GradRegKRRClassifier(alpha=0.1, gamma=gamma).fit(Xp, yp)
        assert attack_success_rate(krr, X[1300:], y[1300:], poisoner=poisoner) > 0.95
        kw = dict(curvature="gauss_newton", image_shape=(8, 8), random_state=0)
        det_t = HessianSpectrumDetector(krr, **kw).fit(triggered)
        det_c = HessianSpectrumDetector(krr, **kw).fit(clean)
        ratio[gamma] = det_t.eigenvalues_[0] / det_c.eigenvalues_[0]
        # the detector's spectrum is that of the (finite-difference-checked) dense matrices
        adapter = IH.make_input_hessian_adapter(krr, curvature="gauss_newton")
        dense = dense_per_sample_hessians(adapter, clean[:40], krr.predict(clean[:40]))
        sub = HessianSpectrumDetector(krr, n_components=3, max_iter=64, **kw).fit(clean[:40])
        assert_allclose(sub.eigenvalues_, np.linalg.eigvalsh(dense.mean(0))[::-1][:3], rtol=1e-8)
    assert ratio[0.005] < 1.05  # effective, yet spectrally invisible
    assert ratio[0.2] > 1.3  # the same attack with a narrow kernel leaves a spike


def test_multi_output_regression_targets():
    # the loss of a 2-output GradRegKRR is 1/2 ||f(x) - y||^2 with y of shape (n, 2)
    from sklpoison import GradRegKRR
    from sklpoison.numerics import _input_hessian as IH

    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 5))
    Y = np.c_[np.sin(X[:, 0]), X[:, 1] * X[:, 2]]
    krr = GradRegKRR(alpha=0.1, gamma=0.3).fit(X, Y)
    det = HessianSpectrumDetector(krr, n_components=2, max_iter=5, random_state=0).fit(X, Y)
    dense = dense_per_sample_hessians(IH.make_input_hessian_adapter(krr), X[:6], Y[:6])
    assert_allclose(det.top_eigenvalues(X[:6], Y[:6]), np.linalg.eigvalsh(dense)[:, -1], rtol=1e-8)
    # the targets matter: with the model's own predictions the residual term vanishes
    assert not np.allclose(det.top_eigenvalues(X[:6], Y[:6]), det.top_eigenvalues(X[:6]))
    with pytest.raises(ValueError, match="multi-output regression models only"):
        det.top_eigenvalues(X[:6], np.eye(6, 2, dtype=int))
