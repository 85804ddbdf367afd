"""Tests of sklpoison/detection/_clustering.py (ActivationClusteringDetector)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, roc_auc_score, silhouette_score

from sklpoison import ActivationClusteringDetector, SpectralSignatureDetector
from sklpoison.detection._clustering import _kmeans, _silhouette


def _planted(random_state=0):
    rng = np.random.RandomState(random_state)
    X = rng.normal(size=(300, 6))
    y = np.repeat([0, 1, 2], 100)
    X[y == 1] *= 5.0  # a class of much larger spread
    planted = np.flatnonzero(y == 2)[:15]
    X[planted, 2:4] += 6.0
    return X, y, planted


@pytest.mark.parametrize("k", [2, 3])
def test_silhouette_equals_scikit_learn(k):
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(80, 3))
    labels = rng.randint(0, k, size=80)
    labels[0] = k - 1
    labels[1] = 0
    assert _silhouette(Z, labels, k) == pytest.approx(silhouette_score(Z, labels), rel=1e-12)
    single = np.r_[0, np.ones(79, dtype=int)]  # a singleton cluster scores 0, as in sklearn
    assert _silhouette(Z, single, 2) == pytest.approx(silhouette_score(Z, single), rel=1e-12)


def test_vectorised_kmeans_reaches_scikit_learns_optimum():
    rng = np.random.RandomState(0)
    Z = np.vstack([rng.normal(size=(60, 4)), rng.normal(size=(30, 4)) + [4, 0, 0, 0]])
    starts = np.stack([Z[rng.choice(90, 2, replace=False)] for _ in range(5)])
    C, labels = _kmeans(Z, starts)
    ref = KMeans(2, n_init=10, random_state=0).fit(Z)
    assert adjusted_rand_score(labels, ref.labels_) == 1.0
    inertia = np.sum((Z - C[labels]) ** 2)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-10)
    assert_allclose(C[labels], ref.cluster_centers_[ref.labels_], atol=1e-10)


def test_scores_are_robust_z_along_the_cluster_axis():
    X, y, planted = _planted()
    det = ActivationClusteringDetector(n_components=3).fit(X, y)
    for c in range(3):
        Z = PCA(3).fit_transform(X[y == c])
        labels = det.cluster_labels_[y == c]  # 0: the largest cluster
        centroids = np.stack([Z[labels == j].mean(axis=0) for j in (0, 1)])
        axis = centroids[1] - centroids[0]
        proj = Z @ axis / np.linalg.norm(axis)
        med = np.median(proj)
        z = (proj - med) / (1.4826 * np.median(np.abs(proj - med)))
        assert_allclose(det.reference_scores_[y == c], z, rtol=1e-8, atol=1e-8)
        counts = np.bincount(labels)
        assert counts[0] >= counts[1]
        assert det.relative_sizes_[c] == pytest.approx(counts[1] / counts.sum())
        assert det.silhouette_scores_[c] == pytest.approx(silhouette_score(Z, labels))
        # a k-means fixed point: every row is in the cluster of its nearest centroid
        d2 = ((Z[:, None, :] - centroids[None]) ** 2).sum(-1)
        assert_array_equal(d2.argmin(axis=1), labels)
    # where the clusters are plain (the planted class), scikit-learn's KMeans agrees
    km = KMeans(2, n_init=10, random_state=0).fit(PCA(3).fit_transform(X[y == 2]))
    assert adjusted_rand_score(det.cluster_labels_[y == 2], km.labels_) == 1.0
    # the planted group, and only it, is flagged; its class alone is judged poisoned
    flagged = np.flatnonzero(det.predict(X, y) == -1)
    assert_array_equal(flagged, planted)
    assert_array_equal(det.poisoned_classes_, [False, False, True])
    assert_allclose(det.score_samples(X, y), -det.cluster_scores(X, y))
    assert_array_equal(det.fit_predict(X, y), det.predict(X, y))


def test_scores_are_comparable_across_classes():
    # rescaling one class's features (a per-class affine change) leaves every score
    X, y, planted = _planted()
    det = ActivationClusteringDetector(n_components=3).fit(X, y)
    X2 = X.copy()
    X2[y == 1] = 100.0 * X2[y == 1] + 7.0
    det2 = ActivationClusteringDetector(n_components=3).fit(X2, y)
    assert_allclose(det2.reference_scores_, det.reference_scores_, rtol=1e-7, atol=1e-7)
    assert det2.threshold_ == det.threshold_ == 3.5


@pytest.mark.parametrize(
    "params", [{"reduce": "ica", "random_state": 0}, {"n_clusters": 3, "random_state": 0}]
)
def test_ica_and_more_clusters_find_the_planted_group(params):
    X, y, planted = _planted()
    det = ActivationClusteringDetector(n_components=3, **params).fit(X, y)
    truth = np.zeros(len(X), dtype=bool)
    truth[planted] = True
    assert roc_auc_score(truth, det.reference_scores_) > 0.99


def test_analyses_and_one_cluster():
    X, y, planted = _planted()
    kw = dict(n_components=3, silhouette_threshold=0.5)
    size = ActivationClusteringDetector(**kw).fit(X, y)
    sil = ActivationClusteringDetector(analysis="silhouette", **kw).fit(X, y)
    both = ActivationClusteringDetector(analysis="both", **kw).fit(X, y)
    assert_array_equal(sil.poisoned_classes_, sil.silhouette_scores_ >= 0.5)
    assert_array_equal(both.poisoned_classes_, size.poisoned_classes_ & sil.poisoned_classes_)
    assert_allclose(sil.reference_scores_, size.reference_scores_)  # scores do not depend on it
    one = ActivationClusteringDetector(n_components=3, n_clusters=1).fit(X, y)
    assert not one.poisoned_classes_.any() and np.isnan(one.relative_sizes_).all()
    assert np.all(one.reference_scores_ >= 0)


def test_bad_input_is_a_clear_error():
    X, y, _ = _planted()
    with pytest.raises(ValueError, match=r"n_clusters=3 rows .* n_samples=2"):
        ActivationClusteringDetector(n_clusters=3).fit(X[:2])
    with pytest.raises(ValueError, match="contamination"):
        ActivationClusteringDetector(contamination=0.7).fit(X, y)
    with pytest.raises(ValueError, match="contamination"):
        ActivationClusteringDetector(contamination=0.0).fit(X, y)
    with pytest.warns(UserWarning, match=r"classes \[7\] have at most n_clusters=2 rows"):
        det = ActivationClusteringDetector().fit(X[:102], np.r_[y[:100], 7, 7])
    assert_array_equal(det.reference_scores_[-2:], 0.0)
    torch = pytest.importorskip("torch")
    no_linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Tanh()).double()
    with pytest.raises(ValueError, match="no torch.nn.Linear layer .* pass feature_extractor"):
        ActivationClusteringDetector(no_linear).fit(X, y)


def test_one_group_without_labels():
    X, y, planted = _planted()
    det = ActivationClusteringDetector(n_components=3).fit(X[y == 2])
    assert det.classes_.tolist() == [0]
    assert set(np.flatnonzero(det.predict(X[y == 2]) == -1)) == set(planted - 200)


def test_shares_the_spectral_detectors_features():
    torch = pytest.importorskip("torch")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert ActivationClusteringDetector._features is SpectralSignatureDetector._features
    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU())
    model = torch.nn.Sequential(body, torch.nn.Linear(5, 3)).double()
    X, y, _ = _planted()
    with torch.no_grad():
        feats = body(torch.tensor(X)).numpy()
    model.train()
    det = ActivationClusteringDetector(model, n_components=3).fit(X, y)
    assert model.training  # the caller's module is left as it was
    ref = ActivationClusteringDetector(feature_extractor=lambda Z: feats, n_components=3)
    assert_allclose(det.reference_scores_, ref.fit(X, y).reference_scores_, rtol=1e-10)
    # a scikit-learn pipeline exposes its penultimate representation
    pipe = make_pipeline(StandardScaler(), PCA(4), LogisticRegression()).fit(X, y)
    det = ActivationClusteringDetector(pipe, n_components=3).fit(X)
    ref = ActivationClusteringDetector(n_components=3).fit(pipe[:-1].transform(X), pipe.predict(X))
    assert_allclose(det.reference_scores_, ref.reference_scores_, rtol=1e-10)


def test_backdoored_mlp_poisons_rank_first(backdoored_mlp):
    b = backdoored_mlp
    det = ActivationClusteringDetector(b["net"]).fit(b["X"], b["y"])
    auc = roc_auc_score(b["mask"], det.reference_scores_)
    spectral = SpectralSignatureDetector(b["net"]).fit(b["X"], b["y"])
    assert auc > 0.95
    assert auc >= roc_auc_score(b["mask"], spectral.reference_scores_) - 0.01
    assert det.poisoned_classes_[0]
    assert_array_equal(det.fit_predict(b["X"], b["y"]), det.predict(b["X"], b["y"]))


def test_one_huge_entry_is_flagged_not_overflowed():
    # an entry of 1e300 made k-means' squared distances overflow (inf - inf = nan): the
    # clustering broke silently and the huge row was not flagged
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    X[7, 2] = 1e300
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        det = ActivationClusteringDetector(n_components=3).fit(X, y)
        flagged = np.flatnonzero(det.predict(X, y) == -1)
    assert 7 in flagged and len(flagged) <= 10
    assert np.all(np.isfinite(det.score_samples(X, y)))


def test_silhouette_keeps_to_the_working_memory():
    # the whole (n, n) distance matrix (72 MB at n = 3000) was built at once; a class of
    # 50,000 rows needed 20 GB
    import tracemalloc

    from sklearn import config_context

    rng = np.random.RandomState(0)
    Z = rng.normal(size=(3000, 4))
    labels = (Z[:, 0] > 0.5).astype(int)
    with config_context(working_memory=4):  # MiB
        tracemalloc.start()
        try:
            value = _silhouette(Z, labels, 2)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 20e6
    sub = rng.choice(3000, 600, replace=False)
    assert _silhouette(Z[sub], labels[sub], 2) == pytest.approx(
        silhouette_score(Z[sub], labels[sub]), rel=1e-12
    )
    assert value == pytest.approx(silhouette_score(Z, labels), rel=1e-10)
