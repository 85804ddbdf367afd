"""k-NN label sanitisation (Paudice et al., 2018), a baseline of FLORAL."""

from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ..base import BaseSampler
from ..utils.validation import check_y_given, warn_user


# ---------------------------------------------------------------------------
# k-NN label sanitisation
# ---------------------------------------------------------------------------
class KNNLabelSanitizer(BaseSampler):
    """Label sanitisation by k-nearest-neighbour relabelling (a sampler).

    Each training point whose ``n_neighbors`` nearest neighbours (itself excluded) agree
    on one label in a share of at least ``threshold`` gets that label. All points are
    relabelled at once, and the pass is repeated on the new labels until no label changes
    (or ``max_iter`` passes). As an imbalanced-learn sampler it acts on the training folds
    only inside :class:`imblearn.pipeline.Pipeline`, before the classifier.

    Parameters
    ----------
    n_neighbors : int, default=20
        Neighbours that vote (the FLORAL authors' baseline uses 20). Must be
        smaller than the number of training samples.
    threshold : float in (0, 1], default=0.75
        Minimal share of the majority label among the neighbours for a relabelling.
    max_iter : int, default=100
        Maximal number of relabelling passes.
    metric : str or callable, default="minkowski"
        Distance of :class:`~sklearn.neighbors.NearestNeighbors`.
    n_jobs : int or None, default=None
        Parallel jobs of the neighbour search.

    Attributes
    ----------
    classes_ : ndarray
        Labels seen at fit.
    changed_indices_ : ndarray of int
        Rows whose label the last :meth:`fit_resample` changed (the name every
        sampler uses).
    n_changed_ : int
        Number of changed labels.
    n_iter_ : int
        Passes run by the last :meth:`fit_resample`.
    n_features_in_ : int
        Number of features seen at fit.

    See Also
    --------
    FloralSVC : Adversarial training against label poisoning.

    References
    ----------
    A. Paudice, L. Muñoz-González and E. C. Lupu, "Label Sanitization against Label
    Flipping Poisoning Attacks", ECML PKDD Workshops 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import KNNLabelSanitizer
    >>> X = np.arange(10.0)[:, None]
    >>> y = np.array([0, 0, 0, 1, 0, 0, 1, 1, 1, 1])
    >>> _, y_clean = KNNLabelSanitizer(n_neighbors=2, threshold=1.0).fit_resample(X, y)
    >>> y_clean
    array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    """

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "threshold": [Interval(Real, 0, 1, closed="right")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "metric": [str, callable],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self, *, n_neighbors=20, threshold=0.75, max_iter=100, metric="minkowski", n_jobs=None
    ):
        self.n_neighbors = n_neighbors
        self.threshold = threshold
        self.max_iter = max_iter
        self.metric = metric
        self.n_jobs = n_jobs

    def _fit(self, X, y):
        check_y_given(y, "KNNLabelSanitizer")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        n = X.shape[0]
        if self.n_neighbors >= n:
            noun = "sample" if n == 1 else "samples"
            raise ValueError(
                f"KNNLabelSanitizer(n_neighbors={self.n_neighbors}) needs more than "
                f"{self.n_neighbors} samples (a point's neighbours exclude itself); got {n} "
                f"{noun}. Use n_neighbors <= {max(n - 1, 1)} or pass more data."
            )
        self.classes_ = np.unique(y)
        return X, y

    def _resample(self, X, y):
        n = X.shape[0]
        codes0 = np.searchsorted(self.classes_, y)
        codes = codes0
        n_iter = 0
        k = self.n_neighbors  # < n, checked in _fit
        if self.classes_.size > 1:
            nn = NearestNeighbors(n_neighbors=k, metric=self.metric, n_jobs=self.n_jobs).fit(X)
            neigh = nn.kneighbors(return_distance=False)  # excludes each point itself
            n_cls = self.classes_.size
            stable = False
            for n_iter in range(1, self.max_iter + 1):  # noqa: B007
                votes = np.zeros((n, n_cls))
                np.add.at(votes, (np.repeat(np.arange(n), k), codes[neigh].ravel()), 1.0)
                mode = votes.argmax(axis=1)
                share = votes[np.arange(n), mode] / k
                new = np.where(share >= self.threshold, mode, codes)
                if np.array_equal(new, codes):
                    stable = True
                    break
                codes = new
            if not stable:
                warn_user(
                    f"KNNLabelSanitizer: labels still changed after max_iter={self.max_iter} "
                    f"passes; increase max_iter.",
                    ConvergenceWarning,
                )
        y_res = self.classes_[codes].astype(y.dtype, copy=False)
        self.n_iter_ = n_iter
        return np.array(X, copy=True), np.array(y_res, copy=True), np.flatnonzero(codes != codes0)
