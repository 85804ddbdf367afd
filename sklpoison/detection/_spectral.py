"""Backdoor detection by spectral signatures (Tran et al., 2018)."""

from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ..utils.validation import check_known_labels
from ._base import _CONTAMINATION, _BaseScoreDetector
from ._features import _FeatureMixin


class SpectralSignatureDetector(_FeatureMixin, _BaseScoreDetector):
    """Spectral-signature backdoor detection (Tran, Li and Madry, 2018).

    Within each class, the representations of the inputs are centred on the
    class mean and projected on the top right singular vector of the centred
    matrix; poisoned inputs, which share a trigger feature, project far along
    it. The suspiciousness of an input is its squared projection
    (:meth:`signature_scores`); ``score_samples`` is its negative.

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
        estimator's predictions as labels. :func:`sklearn.base.clone` (and so
        ``GridSearchCV``) clones a skorch net unfitted: wrap it in
        :class:`sklearn.frozen.FrozenEstimator` to keep it fitted.
    feature_extractor : callable, str or None, default=None
        ``callable(X) -> features`` of shape ``(n, p)`` (overrides the above);
        a str names a submodule of the torch module whose output is taken.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected proportion of suspicious reference inputs (the threshold is
        that upper quantile of the reference scores); ``"auto"``: the robust
        cut ``median + 3.5 · 1.4826 · MAD``.
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
    reference_scores_ : ndarray of shape (n_samples,)
        Squared projections of the reference inputs.
    threshold_ : float
        Squared projection above which an input is flagged.
    offset_ : float
        ``-threshold_``.
    input_shape_ : tuple of int
        Shape of one sample at fit.
    n_features_in_ : int
        ``X.shape[1]`` at fit.

    See Also
    --------
    HessianSpectrumDetector : Curvature-based detection.

    References
    ----------
    B. Tran, J. Li and A. Madry (2018). Spectral Signatures in Backdoor Attacks.
    NeurIPS.

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
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        feature_extractor=None,
        contamination="auto",
        batch_size=256,
        image_shape=None,
    ):
        self.estimator = estimator
        self.feature_extractor = feature_extractor
        self.contamination = contamination
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
        if y is None:
            if self.estimator is None:
                y = np.zeros(X.shape[0], dtype=int)
            else:
                y = self._labels(X, None)
        F = self._features(X)
        classes, inverse = np.unique(y, return_inverse=True)
        self.classes_ = classes
        means = np.zeros((classes.size, F.shape[1]))
        sigs = np.zeros((classes.size, F.shape[1]))
        for c in range(classes.size):  # one SVD per class
            Fc = F[inverse == c]
            means[c] = Fc.mean(axis=0)
            if Fc.shape[0] > 1:
                _, _, Vt = np.linalg.svd(Fc - means[c], full_matrices=False)
                sigs[c] = Vt[0]
        self.means_ = means
        self.signatures_ = sigs
        self.reference_scores_ = self._project(F, inverse)
        self._set_offset(self.reference_scores_)
        return self

    def _project(self, F, idx):
        return np.einsum("nd,nd->n", F - self.means_[idx], self.signatures_[idx]) ** 2

    def _raw(self, X, y):
        return self.signature_scores(X, y)

    def signature_scores(self, X, y=None):
        """Squared projection of each input on its class's spectral signature.

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
