"""Backdoor detection by activation clustering (Chen et al., 2018)."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.base import _fit_context
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..utils.validation import check_known_labels
from ._base import (
    _AUTO_Z,
    _CONTAMINATION,
    _BaseScoreDetector,
    _check_finite_scores,
    _robust_location_scale,
)
from ._features import _FeatureMixin


def _silhouette(Z, labels, n_clusters):
    """Mean silhouette coefficient of a clustering (pairwise distances in row blocks).

    Equals :func:`sklearn.metrics.silhouette_score` (tested), without its
    per-call overhead, which would dominate the detector's cost on small classes.
    The distances are taken a block of rows at a time, within scikit-learn's
    ``working_memory``, never as a whole ``(n, n)`` matrix (20 GB for a class of
    50,000 rows).
    """
    counts = np.bincount(labels, minlength=n_clusters)
    if np.count_nonzero(counts) < 2:
        return 0.0
    onehot = np.eye(n_clusters)[labels]
    n = Z.shape[0]
    sums = np.empty((n, n_clusters))  # summed distances of each row to each cluster
    for block in gen_batches(n, get_chunk_n_rows(row_bytes=8 * n, max_n_rows=n)):
        sums[block] = cdist(Z[block], Z) @ onehot
    own = counts[labels]
    a = sums[np.arange(Z.shape[0]), labels] / np.maximum(own - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = sums / counts
    means[np.arange(Z.shape[0]), labels] = np.inf
    means[:, counts == 0] = np.inf
    b = means.min(axis=1)
    denom = np.maximum(a, b)
    ok = (own > 1) & (denom > 0)
    s = np.zeros(Z.shape[0])
    s[ok] = (b[ok] - a[ok]) / denom[ok]
    return float(s.mean())


def _kmeans(Z, starts, n_iter=50):
    """Lloyd's k-means from several starts at once; the run of least inertia.

    ``starts`` has shape ``(r, k, m)``; every iteration is two matrix products
    over all starts together (no loop over rows or starts), until no label
    changes. An emptied cluster keeps its previous centroid. Returns
    ``(centroids, labels)``.
    """
    r, k, m = np.shape(starts)
    C = np.array(starts, dtype=np.float64).reshape(r * k, m)
    z2 = np.einsum("nm,nm->n", Z, Z)[:, None]
    codes = np.arange(k)
    labels = None
    for _ in range(n_iter + 1):
        d2 = (z2 - 2 * Z @ C.T + np.einsum("cm,cm->c", C, C)).reshape(-1, r, k)
        new = d2.argmin(axis=2)  # (n, r)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        member = (labels[:, :, None] == codes).reshape(-1, r * k).astype(np.float64)
        counts = member.sum(axis=0)[:, None]
        C = np.where(counts > 0, (member.T @ Z) / np.maximum(counts, 1), C)
    inertia = np.take_along_axis(d2, labels[:, :, None], axis=2)[..., 0].sum(axis=0)
    best = int(np.argmin(inertia))
    return C.reshape(r, k, m)[best], labels[:, best]


class ActivationClusteringDetector(_FeatureMixin, _BaseScoreDetector):
    """Activation-clustering backdoor detection (Chen et al., 2018).

    Within each class, the representations of the inputs (the penultimate
    activations of a network) are reduced to ``n_components`` dimensions (PCA
    or ICA) and split by k-means into ``n_clusters`` clusters. A backdoor's
    poisons share the trigger's activations and form a cluster of their own,
    apart from the class's clean rows. Two results come out:

    - **per row**, a suspicion score: the position of the row along the axis
      from the largest cluster's centroid to each other centroid, as a robust
      z-score within its class (distance from the class median in units of
      ``1.4826 · MAD``), the largest over the axes. Scores are comparable
      across classes, so one threshold and one global ranking make sense
      (:meth:`cluster_scores`; ``score_samples`` is its negative);
    - **per class**, the paper's analyses of whether it is poisoned: the
      relative size of its smallest cluster (``relative_sizes_``, poisoned when
      at most ``size_threshold``) and the silhouette score of the clustering
      (``silhouette_scores_``, poisoned when at least ``silhouette_threshold``);
      ``poisoned_classes_`` combines them as ``analysis`` says.

    The features come from the same shared helper as
    :class:`SpectralSignatureDetector`'s, so skorch nets, torch modules,
    scikit-learn estimators and a ``feature_extractor`` are all accepted.

    Parameters
    ----------
    estimator : object or None, default=None
        Where the representations come from. ``None``: the inputs themselves
        (flattened). A fitted skorch net or torch ``nn.Module``: the penultimate
        features (the input of the last ``torch.nn.Linear`` layer, or the output
        of the layer named by ``feature_extractor``), taken in eval mode on a
        view of the module, which is never modified. A fitted scikit-learn
        :class:`~sklearn.pipeline.Pipeline`: the output of all its steps but the
        last. Any other fitted estimator: the inputs. The labels, when ``y`` is
        ``None``, are the estimator's predictions.
        Wrap a skorch net in :class:`sklearn.frozen.FrozenEstimator` to keep it
        fitted through :func:`sklearn.base.clone`.
    feature_extractor : callable, str or None, default=None
        ``callable(X) -> features`` of shape ``(n, p)``; a str names a
        submodule of the torch module whose output is taken.
    n_components : int, default=10
        Dimensions kept per class (the paper's 10), at most the class size
        minus one and the number of features.
    reduce : {"pca", "ica"}, default="pca"
        Dimension reduction per class. The paper uses ICA
        (:class:`sklearn.decomposition.FastICA`); PCA (one eigendecomposition
        per class) is deterministic, 20-30 times cheaper and measured better:
        global ROC-AUC 0.99 and 0.97 against ICA's 0.88 ± 0.10 and
        0.83 ± 0.21 on digits with a 5% L and 4-pixel backdoor (ICA's
        components come in arbitrary order and scale, and k-means on them
        sometimes splits the clean rows instead of the poisons).
    n_clusters : int, default=2
        Clusters per class (the paper's 2: clean and poisoned). ``1`` clusters
        nothing: the score is then the robust z-score of the distance along
        the first reduced axis (a spectral signature), and no class is judged
        poisoned.
    n_init : int, default=3
        k-means starts per class, run together (vectorised); the clustering of
        least inertia is kept. With two clusters the starts are the splits of
        the class at its mean along its ``n_init`` leading principal axes
        (deterministic); with more, ``n_clusters`` random rows per start.
    analysis : {"size", "silhouette", "both"}, default="size"
        Which of the paper's analyses sets ``poisoned_classes_``; it does not
        change the per-row scores. The verdicts are not calibrated: on an
        unpoisoned digits MLP the size analysis marks 3 of the 10 classes and
        the silhouette analysis 4 (clean classes split into sub-styles).
    size_threshold : float in (0, 0.5], default=0.35
        A class whose smallest cluster holds at most this share of its rows is
        judged poisoned by the size analysis.
    silhouette_threshold : float in [-1, 1], default=0.25
        A class whose clustering has at least this silhouette score is judged
        poisoned by the silhouette analysis.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected proportion of suspicious reference inputs (that upper
        quantile of the reference scores). ``"auto"``: a robust z-score of 3.5
        (Iglewicz and Hoaglin's cut), which flags under 1% of the rows of a
        clean model on digits.
    batch_size : int, default=256
        Samples per forward pass when extracting features.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)``: the layout a torch module takes flat inputs in.
    random_state : int, RandomState instance or None, default=None
        Seeds FastICA and the k-means starts for ``n_clusters > 2`` (with two
        clusters and PCA the detector is deterministic).

    Attributes
    ----------
    classes_ : ndarray
        The groups (labels) seen at fit.
    means_ : ndarray of shape (n_classes, n_features_out)
        Class means of the representations.
    locations_ : ndarray of shape (n_classes, n_features_out)
        Coordinate-wise class medians (the origin of the projections).
    axes_ : ndarray of shape (n_classes, n_features_out, max(n_clusters - 1, 1))
        The cluster axes mapped back to feature space (unit length in the
        reduced space; zero for a class too small to cluster).
    centers_ : ndarray of shape (n_classes, max(n_clusters - 1, 1))
        Median projection of each class on each axis.
    scales_ : ndarray of shape (n_classes, max(n_clusters - 1, 1))
        Robust standard deviation of those projections.
    relative_sizes_ : ndarray of shape (n_classes,)
        Share of each class's rows in its smallest cluster (``nan`` when not
        clustered).
    silhouette_scores_ : ndarray of shape (n_classes,)
        Silhouette score of each class's clustering (``nan`` when not clustered).
    poisoned_classes_ : ndarray of shape (n_classes,), dtype bool
        The classes the chosen ``analysis`` judges poisoned.
    cluster_labels_ : ndarray of shape (n_samples,)
        Cluster of each reference row within its class (``0`` is the largest).
    reference_scores_ : ndarray of shape (n_samples,)
        Suspicion scores of the reference inputs.
    threshold_ : float
        Score above which an input is flagged.
    offset_ : float
        ``-threshold_``.
    input_shape_ : tuple of int
        Shape of one sample at fit.
    n_features_in_ : int
        ``X.shape[1]`` at fit.

    See Also
    --------
    SpectralSignatureDetector : Spectral signatures of the same features.
    HessianSpectrumDetector : Curvature-based detection.

    References
    ----------
    B. Chen, W. Carvalho, N. Baracaldo, H. Ludwig, B. Edwards, T. Lee, I. Molloy
    and B. Srivastava (2019). Detecting Backdoor Attacks on Deep Neural Networks
    by Activation Clustering. SafeAI workshop at AAAI (arXiv:1811.03728, 2018).

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import ActivationClusteringDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(300, 5))
    >>> y = np.repeat([0, 1, 2], 100)
    >>> X[:15, 0] += 8.0  # a tight group inside class 0
    >>> det = ActivationClusteringDetector(n_components=3).fit(X, y)
    >>> int((det.predict(X, y)[:15] == -1).sum()), int((det.predict(X, y)[15:] == -1).sum())
    (15, 0)
    >>> det.poisoned_classes_
    array([ True, False, False])
    """

    _parameter_constraints = {
        "estimator": [object, None],
        "feature_extractor": [callable, str, None],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "reduce": [StrOptions({"pca", "ica"})],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "analysis": [StrOptions({"size", "silhouette", "both"})],
        "size_threshold": [Interval(Real, 0, 0.5, closed="right")],
        "silhouette_threshold": [Interval(Real, -1, 1, closed="both")],
        "contamination": _CONTAMINATION,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        feature_extractor=None,
        n_components=10,
        reduce="pca",
        n_clusters=2,
        n_init=3,
        analysis="size",
        size_threshold=0.35,
        silhouette_threshold=0.25,
        contamination="auto",
        batch_size=256,
        image_shape=None,
        random_state=None,
    ):
        self.estimator = estimator
        self.feature_extractor = feature_extractor
        self.n_components = n_components
        self.reduce = reduce
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.analysis = analysis
        self.size_threshold = size_threshold
        self.silhouette_threshold = silhouette_threshold
        self.contamination = contamination
        self.batch_size = batch_size
        self.image_shape = image_shape
        self.random_state = random_state

    # --------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Cluster each class's representations and score the reference rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Reference inputs (e.g. the possibly poisoned training set).
        y : array-like of shape (n_samples,) or None, default=None
            Their labels. ``None``: the model's predictions, or one single
            group when there is no model.

        Returns
        -------
        self : object
            The fitted detector.
        """
        X = self._validate_X(X, reset=True)
        y = self._check_y(X, y)
        if X.shape[0] < self.n_clusters:
            raise ValueError(
                f"{type(self).__name__} needs at least n_clusters={self.n_clusters} rows to "
                f"cluster; got n_samples={X.shape[0]}. Pass more rows or a smaller n_clusters."
            )
        self.input_shape_ = tuple(X.shape[1:])
        y = self._reference_labels(X, y)
        F = self._features(X)
        classes, inverse = np.unique(y, return_inverse=True)
        self.classes_ = classes
        n_cls, p, k = classes.size, F.shape[1], self.n_clusters
        self.means_, self.locations_ = np.zeros((n_cls, p)), np.zeros((n_cls, p))
        n_axes = max(k - 1, 1)
        self.axes_ = np.zeros((n_cls, p, n_axes))
        self.centers_, self.scales_ = np.zeros((n_cls, n_axes)), np.ones((n_cls, n_axes))
        self.relative_sizes_ = np.full(n_cls, np.nan)
        self.silhouette_scores_ = np.full(n_cls, np.nan)
        self.cluster_labels_ = np.zeros(X.shape[0], dtype=int)
        rng = check_random_state(self.random_state)
        too_small = []
        for c in range(n_cls):
            rows = np.flatnonzero(inverse == c)
            Fc = F[rows]
            self.means_[c] = Fc.mean(axis=0)
            self.locations_[c] = np.median(Fc, axis=0)
            if rows.size <= k:
                too_small.append(classes[c])
                continue
            self.cluster_labels_[rows] = self._fit_class(c, Fc, rng)
        if too_small:
            warnings.warn(
                f"{type(self).__name__}: classes {np.asarray(too_small).tolist()} have at "
                f"most n_clusters={k} rows and were not clustered (their rows score 0). "
                "Pass more rows per class or a smaller n_clusters.",
                UserWarning,
                stacklevel=2,
            )
        self.poisoned_classes_ = self._analyse()
        self.reference_scores_ = self._project(F, inverse)
        self._set_offset(self.reference_scores_)
        return self

    def _reduce(self, Fc, rng):
        """Linear reduction of one class: ``Z = (Fc - mean) @ W`` with W of shape (p, m)."""
        m = min(self.n_components, Fc.shape[0] - 1, Fc.shape[1])
        centred = Fc - Fc.mean(axis=0)
        # principal axes from the Gram matrix (a third of the SVD's cost), scaled first so
        # that huge entries do not overflow when squared
        scale = np.max(np.abs(centred))
        if not scale > 0:
            return np.eye(Fc.shape[1], 1)
        G = (centred / scale).T @ (centred / scale)
        w, V = np.linalg.eigh(G)
        w, V = w[::-1], V[:, ::-1]
        rank = int(np.sum(w > w[0] * max(Fc.shape) * np.finfo(float).eps))
        m = max(min(m, rank), 1)
        Vt = V.T
        if self.reduce == "ica" and m > 1:
            from sklearn.decomposition import FastICA

            ica = FastICA(
                m, whiten="unit-variance", max_iter=400, random_state=rng.randint(2**31 - 1)
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # FastICA's convergence warnings
                ica.fit(Fc)
            return ica.components_.T
        return Vt[:m].T

    def _fit_class(self, c, Fc, rng):
        k = self.n_clusters
        W = self._reduce(Fc, rng)
        if k == 1:  # no clustering: the first reduced axis
            self.axes_[c] = W[:, :1] / np.linalg.norm(W[:, 0])
            P = (Fc - self.locations_[c]) @ self.axes_[c]
            self.centers_[c], self.scales_[c] = _robust_location_scale(P)
            return np.zeros(Fc.shape[0], dtype=int)
        Z = (Fc - Fc.mean(axis=0)) @ W
        # k-means, the silhouette and the unit cluster axes ignore a global scale: bring Z to
        # unit size so that squared distances do not overflow (an entry near 1e300)
        z_max = np.max(np.abs(Z))
        Z = Z / z_max if np.isfinite(z_max) and z_max > 0 else Z
        if k == 2:  # splits at the mean along the leading principal axes
            Zc = Z - Z.mean(axis=0)
            if self.reduce == "pca":  # the columns of Z are the principal axes already
                lead = Zc[:, : self.n_init]
            else:
                lead = Zc @ np.linalg.svd(Zc, full_matrices=False)[2][: self.n_init].T
            sides = [side for side in (lead > 0).T if side.any() and not side.all()]
            starts = [np.stack([Z[~side].mean(axis=0), Z[side].mean(axis=0)]) for side in sides]
        else:  # Forgy: k distinct rows per start
            starts = [Z[rng.choice(Z.shape[0], k, replace=False)] for _ in range(self.n_init)]
        if not starts:  # every row identical along every axis
            return np.zeros(Fc.shape[0], dtype=int)
        centroids, labels = _kmeans(Z, np.stack(starts))
        counts = np.bincount(labels, minlength=k)
        if counts.min() == 0:  # no split of this class (e.g. duplicated rows): scores 0
            return np.zeros(Fc.shape[0], dtype=int)
        order = np.argsort(-counts, kind="stable")  # cluster 0 is the largest
        rank = np.empty(k, dtype=int)
        rank[order] = np.arange(k)
        labels, centroids, counts = rank[labels], centroids[order], counts[order]
        A = centroids[1:] - centroids[0]
        norms = np.linalg.norm(A, axis=1, keepdims=True)
        A = np.divide(A, norms, out=np.zeros_like(A), where=norms > 0)
        self.axes_[c] = W @ A.T
        P = (Fc - self.locations_[c]) @ self.axes_[c]
        self.centers_[c], self.scales_[c] = _robust_location_scale(P)
        self.relative_sizes_[c] = counts[1:].min() / counts.sum()
        self.silhouette_scores_[c] = _silhouette(Z, labels, k)
        return labels

    def _analyse(self):
        with np.errstate(invalid="ignore"):
            small = self.relative_sizes_ <= self.size_threshold
            apart = self.silhouette_scores_ >= self.silhouette_threshold
        return {"size": small, "silhouette": apart, "both": small & apart}[self.analysis]

    def _auto_threshold(self, raw):
        return _AUTO_Z

    def _project(self, F, idx):
        P = np.einsum("nd,ndk->nk", F - self.locations_[idx], self.axes_[idx])
        with np.errstate(over="ignore", invalid="ignore"):
            z = (P - self.centers_[idx]) / self.scales_[idx]
        z = np.abs(z[:, 0]) if self.n_clusters == 1 else z.max(axis=1)
        return _check_finite_scores(z, type(self).__name__)

    def _raw(self, X, y):
        return self.cluster_scores(X, y)

    def cluster_scores(self, X, y=None):
        """Suspicion of each input: its robust z-score along its class's cluster axes.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs, in the layout seen at fit.
        y : array-like of shape (n_samples,) or None, default=None
            Labels. ``None``: the model's predictions; without a model, the
            single group, or the class with the nearest mean representation.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher is more suspicious: how far (in robust standard deviations
            of its class) the input lies from its class's median towards a
            minority cluster.
        """
        check_is_fitted(self, "axes_")
        X = self._validate_X(X, reset=False)
        F = self._features(X)
        y = self._labels(X, self._check_y(X, y), F)
        idx = check_known_labels(
            y, self.classes_, type(self).__name__, known_as="the labels seen at fit"
        )
        return self._project(F, idx)
