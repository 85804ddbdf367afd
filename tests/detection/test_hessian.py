"""Tests of sklpoison/detection/_hessian.py: "auto", fit_predict, the per-row regime
where the score fails, and the batch spectrum / trigger test."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from sklpoison import ActivationClusteringDetector, HessianSpectrumDetector
from sklpoison.datasets import load_digits_images


@pytest.fixture(scope="module")
def clean_lr():
    X, y = load_digits_images(return_X_y=True, flat=True)
    X = X.astype(np.float64)
    return X, y, LogisticRegression(max_iter=300).fit(X[:600], y[:600])


def test_auto_is_quiet_on_a_clean_model(clean_lr):
    X, y, clf = clean_lr
    det = HessianSpectrumDetector(clf, random_state=0).fit(X[600:1200], y[600:1200])
    assert np.mean(det.predict(X[600:1200], y[600:1200]) == -1) <= 0.05


def test_fit_predict_reuses_the_fit_scores(clean_lr, monkeypatch):
    X, y, clf = clean_lr
    kw = dict(contamination=0.1, random_state=0)
    expected = HessianSpectrumDetector(clf, **kw).fit(X[:80], y[:80]).predict(X[:80], y[:80])
    calls = []
    per_sample = HessianSpectrumDetector._per_sample
    monkeypatch.setattr(
        HessianSpectrumDetector,
        "_per_sample",
        lambda self, *a: calls.append(1) or per_sample(self, *a),
    )
    assert_array_equal(HessianSpectrumDetector(clf, **kw).fit_predict(X[:80], y[:80]), expected)
    assert len(calls) == 1  # one per-sample Lanczos run, not two


def test_spectrum_of_a_batch_is_what_fit_computes(clean_lr):
    X, y, clf = clean_lr
    det = HessianSpectrumDetector(clf, n_components=3, random_state=0).fit(X[600:700])
    other = HessianSpectrumDetector(clf, n_components=3, random_state=0).fit(X[700:760])
    res = det.spectrum(X[700:760])
    assert_allclose(res.eigenvalues, other.eigenvalues_, rtol=1e-10)
    assert_allclose(np.abs(np.sum(res.eigenvectors * other.eigenvectors_, axis=1)), 1, atol=1e-8)


def test_per_row_score_is_anti_correlated_with_saturated_poisons(backdoored_mlp):
    # the documented failure: once the backdoor is learnt, the poisons are the rows the
    # model is most confident on, so their curvature is the lowest
    b = backdoored_mlp
    det = HessianSpectrumDetector(b["net"], random_state=0).fit(b["X"], b["y"])
    raw = det.reference_top_eigenvalues_
    assert roc_auc_score(b["mask"], raw) < 0.4
    # heavy-tailed: the MAD cut on the raw eigenvalues flags a large share, the log-scale
    # cut of "auto" does not
    med = np.median(raw)
    assert np.mean(raw > med + 3.5 * 1.4826 * np.median(np.abs(raw - med))) > 0.2
    assert np.mean(det.fit_predict(b["X"], b["y"]) == -1) <= 0.05
    clustering = ActivationClusteringDetector(b["net"]).fit(b["X"], b["y"])
    assert roc_auc_score(b["mask"], clustering.reference_scores_) > 0.95


def test_trigger_test_tells_triggered_batches_from_clean_ones(backdoored_mlp):
    b = backdoored_mlp
    clean = b["X_test"][b["y_test"] != 0]
    det = HessianSpectrumDetector(b["net"], max_iter=20, random_state=0).fit(clean[:300])
    mask = b["poisoner"].trigger_mask_
    triggered = det.trigger_test(b["poisoner"].apply_trigger(clean[300:350]), pattern=mask)
    control = det.trigger_test(clean[350:400], pattern=mask)
    assert triggered.spike > triggered.spike_null.max()  # a rank-one spike
    assert triggered.overlap_pvalue == triggered.pvalue == 0.05 < control.pvalue
    blind = det.trigger_test(b["poisoner"].apply_trigger(clean[300:350]))
    assert blind.overlap is None and blind.overlap_pvalue is None
    assert blind.pvalue == min(1, 2 * min(blind.spike_pvalue, blind.top_pvalue)) <= 0.1
    # the top eigenvector of the triggered batch leans on the trigger (the paper's measure)
    assert triggered.overlap.overlaps[0] > 3 * control.overlap.overlaps[0]
    assert triggered.spike_null.shape == triggered.top_null.shape == (19,)
    # p-values are the ranks in the null distribution
    n = 1 + np.sum(control.spike_null >= control.spike)
    assert control.spike_pvalue == pytest.approx(n / 20)
    again = det.trigger_test(clean[350:400], pattern=mask)
    assert_allclose(again.spike_null, control.spike_null)  # reproducible with random_state


def test_trigger_test_bad_input_and_progress(clean_lr, capsys):
    X, y, clf = clean_lr
    det = HessianSpectrumDetector(clf, n_components=2, random_state=0).fit(X[:40])
    det.set_params(verbose=1).trigger_test(X[:5], n_resamples=3)
    assert "trigger_test null batches" in capsys.readouterr().err
    det.set_params(verbose=0)
    with pytest.raises(ValueError, match="at least 2 inputs"):
        det.trigger_test(X[:1])
    with pytest.raises(ValueError, match="n_resamples must be a positive integer"):
        det.trigger_test(X[:5], n_resamples=0)
    with pytest.raises(ValueError, match="pattern has 3 values"):
        det.trigger_test(X[:5], pattern=np.ones(3))


def test_trigger_test_null_batches_take_labels_of_the_batchs_kind():
    # an unlabelled batch (the model's predictions) was tested against reference batches
    # scored with the labels given at fit: a smooth network's loss is more curved where it
    # errs, so the null distribution was not that of the batch
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    ).double()
    rng = np.random.RandomState(0)
    A, B = rng.normal(size=(60, 6)), rng.normal(size=(10, 6))
    with torch.no_grad():
        wrong = (model(torch.as_tensor(A)).argmax(1).numpy() + 1) % 3  # every label an error
    params = dict(n_components=2, max_iter=6, random_state=0)
    labelled = HessianSpectrumDetector(model, **params).fit(A, wrong)
    unlabelled = HessianSpectrumDetector(model, **params).fit(A)
    assert not np.allclose(
        labelled.reference_top_eigenvalues_, unlabelled.reference_top_eigenvalues_
    )
    a = labelled.trigger_test(B, n_resamples=4)
    b = unlabelled.trigger_test(B, n_resamples=4)
    assert_allclose(a.top_null, b.top_null)
    assert_allclose(a.spike_null, b.spike_null)
    with pytest.warns(UserWarning, match="fit had none"):
        unlabelled.trigger_test(B, np.zeros(10, dtype=int), n_resamples=2)
