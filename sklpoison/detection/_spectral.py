"""Backdoor detection by spectral signatures (Tran et al., 2018)."""

from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ..utils.validation import check_known_labels
from ._base import (
    _AUTO_Z,
    _CONTAMINATION,
    _MAD_TO_SD,
    _BaseScoreDetector,
    _check_finite_scores,
    _robust_location_scale,
)
from ._features import _FeatureMixin


class SpectralSignatureDetector(_FeatureMixin, _BaseScoreDetector):
    """Spectral-signature backdoor detection (Tran, Li and Madry, 2018).

    Within each class, the representations of the inputs are centred on the
    class mean and projected on the top right singular vector of the centred
    matrix; poisoned inputs, which share a trigger feature, project far along
    it. The suspiciousness of an input is its projection, robustly standardised
    within its class (``standardize=True``: the distance from the class's median
    projection in units of its robust standard deviation, so that one threshold
    and one ranking make sense across classes), or the paper's squared
    projection (``standardize=False``); see :meth:`signature_scores`.
    ``score_samples`` is its negative.

    The paper's squared projection from the class *mean* assumes few poisons:
    when they are a large share of their class (5% of the data all relabelled to
    one class of ten make a third of it), the mean sits between the two groups
    and the many clean rows project as far as the poisons. The median projection
    stays with the clean majority, and the per-class scale makes classes of
    different spread comparable (on digits with a 5% L trigger, the global
    ROC-AUC goes from 0.90-0.95 to 0.95-1.00; see the user guide).

    Parameters
    ----------
    estimator : object or None, default=None
        Where the representations come from. ``None``: the inputs themselves
        (flattened). A fitted skorch net or torch ``nn.Module``: the penultimate
        features, taken with a forward hook as the input of the last
        ``torch.nn.Linear`` layer (or of the layer named by
        ``feature_extractor``), in eval mode on the module's device; the hook and
        the eval flags live on a view of the module that shares its tensors, so the
        caller's module is never modified. Any other fitted estimator: the inputs, with the
        estimator's predictions as labels; for a scikit-learn
        :class:`~sklearn.pipeline.Pipeline`, the output of all its steps but
        the last (its penultimate representation). :func:`sklearn.base.clone` (and so
        ``GridSearchCV``) clones a skorch net unfitted: wrap it in
        :class:`sklearn.frozen.FrozenEstimator` to keep it fitted.
    feature_extractor : callable, str or None, default=None
        ``callable(X) -> features`` of shape ``(n, p)`` (overrides the above);
        a str names a submodule of the torch module whose output is taken.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected proportion of suspicious reference inputs (the threshold is
        that upper quantile of the reference scores). ``"auto"``: a robust
        z-score of 3.5 within the class (Iglewicz and Hoaglin's cut) with
        ``standardize=True``; with ``standardize=False``,
        ``|p| > 3.5 · 1.4826 · median |p|`` for the projections ``p`` from the
        class means (the cut ``median + 3.5 · 1.4826 · MAD`` of the squared
        projections, which are heavy-tailed, flagged about 8% of the rows of a
        clean model).
    standardize : bool, default=True
        Score by the robust z-score of the projection within each class
        (comparable across classes) instead of the raw squared projection.
    batch_size : int, default=256
        Samples per forward pass when extracting features.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)``: the layout a torch module takes flat inputs in.

    Attributes
    ----------
    classes_ : ndarray
        The groups (labels) seen at fit; one group when fitted without labels
        and without a model.
    means_ : ndarray of shape (n_classes, n_features_out)
        Class means of the representations.
    signatures_ : ndarray of shape (n_classes, n_features_out)
        Top right singular vector of each class's centred representations
        (zero for a class with a single sample).
    locations_ : ndarray of shape (n_classes, n_features_out)
        Coordinate-wise class medians of the representations (the origin of
        the standardised projections: exact even when one row is huge).
    centers_ : ndarray of shape (n_classes,)
        Median projection of each class (from ``locations_``).
    scales_ : ndarray of shape (n_classes,)
        Robust standard deviation of each class's projections
        (``1.4826 · MAD``).
    reference_scores_ : ndarray of shape (n_samples,)
        Suspicion scores of the reference inputs (see :meth:`signature_scores`).
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
    ActivationClusteringDetector : Per-class clustering of the same features.
    HessianSpectrumDetector : Curvature-based detection.

    References
    ----------
    B. Tran, J. Li and A. Madry (2018). Spectral Signatures in Backdoor Attacks.
    NeurIPS.

    B. Iglewicz and D. Hoaglin (1993). How to Detect and Handle Outliers. ASQC.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import SpectralSignatureDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> X[:10, 0] += 6.0  # a small cluster shifted along one direction
    >>> det = SpectralSignatureDetector(contamination=0.05).fit(X)
    >>> int((det.predict(X)[:10] == -1).sum())
    10
    """

    _parameter_constraints = {
        "estimator": [object, None],
        "feature_extractor": [callable, str, None],
        "contamination": _CONTAMINATION,
        "standardize": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        feature_extractor=None,
        contamination="auto",
        standardize=True,
        batch_size=256,
        image_shape=None,
    ):
        self.estimator = estimator
        self.feature_extractor = feature_extractor
        self.contamination = contamination
        self.standardize = standardize
        self.batch_size = batch_size
        self.image_shape = image_shape

    # --------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Learn each class's mean and spectral signature on reference data.

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
        self.input_shape_ = tuple(X.shape[1:])
        y = self._reference_labels(X, y)
        F = self._features(X)
        classes, inverse = np.unique(y, return_inverse=True)
        self.classes_ = classes
        means = np.zeros((classes.size, F.shape[1]))
        sigs = np.zeros((classes.size, F.shape[1]))
        locs = np.zeros((classes.size, F.shape[1]))
        centers, scales = np.zeros(classes.size), np.ones(classes.size)
        for c in range(classes.size):  # one SVD per class
            Fc = F[inverse == c]
            means[c] = Fc.mean(axis=0)
            locs[c] = np.median(Fc, axis=0)
            if Fc.shape[0] > 1:
                _, _, Vt = np.linalg.svd(Fc - means[c], full_matrices=False)
                sigs[c] = Vt[0]
                med, scale = _robust_location_scale(((Fc - locs[c]) @ Vt[0])[:, None])
                centers[c], scales[c] = med[0], scale[0]
        self.means_, self.signatures_, self.locations_ = means, sigs, locs
        self.centers_, self.scales_ = centers, scales
        self.reference_scores_ = self._project(F, inverse)
        self._set_offset(self.reference_scores_)
        return self

    def _auto_threshold(self, raw):
        if self.standardize:
            return _AUTO_Z
        # squared projections are heavy-tailed (a MAD cut on them flags ~8% of a clean
        # model's rows); the projections p are centred, so 1.4826 * median |p| estimates
        # their standard deviation and the cut is |p| > 3.5 of it
        return float((_AUTO_Z * _MAD_TO_SD * np.median(np.sqrt(raw))) ** 2)

    def _project(self, F, idx):
        name = type(self).__name__
        if not self.standardize:
            proj = np.einsum("nd,nd->n", F - self.means_[idx], self.signatures_[idx])
            with np.errstate(over="ignore"):
                return _check_finite_scores(proj**2, name)
        proj = np.einsum("nd,nd->n", F - self.locations_[idx], self.signatures_[idx])
        with np.errstate(over="ignore"):
            return _check_finite_scores(np.abs(proj - self.centers_[idx]) / self.scales_[idx], name)

    def _raw(self, X, y):
        return self.signature_scores(X, y)

    def signature_scores(self, X, y=None):
        """Suspicion of each input: its projection on its class's spectral signature.

        With ``standardize=True`` the robust z-score ``|p - centers_| / scales_``
        of the projection ``p`` (from the class median), else the paper's
        squared projection from the class mean.

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
            Higher is more suspicious.
        """
        check_is_fitted(self, "signatures_")
        X = self._validate_X(X, reset=False)
        F = self._features(X)
        y = self._labels(X, self._check_y(X, y), F)
        idx = check_known_labels(
            y, self.classes_, type(self).__name__, known_as="the labels seen at fit"
        )
        return self._project(F, idx)
