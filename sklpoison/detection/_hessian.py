"""Backdoor detection by the input-Hessian spectrum (Granziol et al.)."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import Bunch, check_consistent_length, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ..numerics import _input_hessian as _hessian
from ..numerics import _lanczos as lanczos
from ..utils._images import resolve_image_shape
from ._base import _CONTAMINATION, _BaseScoreDetector, _robust_threshold


class HessianSpectrumDetector(_BaseScoreDetector):
    """Backdoor detection from the spectrum of the input Hessian of the loss.

    Granziol et al. (2026) show that clustered dirty-label poisons leave a
    rank-one spike in the input-space Hessian of the loss, aligned with the
    trigger, whose size grows like the square of the attack's efficacy. This
    detector measures that curvature without ever forming a Hessian: it wraps a
    fitted model (skorch net, torch module, :class:`GradRegKRR`,
    :class:`GradRegKRRClassifier` or scikit-learn
    :class:`~sklearn.linear_model.LogisticRegression`) and uses batched
    Hessian-vector products (double backward, or the models' closed forms) and
    Lanczos with full reorthogonalisation.

    - ``fit(X, y)``: the top eigenpairs of the mean input Hessian
      ``H̄ = (1/N) Σ_i ∇²_x ℓ(x_i, y_i)`` on reference data (``eigenvalues_``,
      ``eigenvectors_``, reshaped to images when the inputs are images), and the
      distribution of the per-sample top eigenvalues, which sets the threshold.
    - ``top_eigenvalues(X, y=None)``: the top eigenvalue of every per-sample
      input Hessian ``∇²_x ℓ(x_i, y_i)`` (labels from the model when ``y`` is
      None), computed by a Lanczos run vectorised over the samples.
    - ``score_samples`` is its **negative** (higher is more normal, as for every
      scikit-learn outlier detector; see the note below), ``decision_function``
      and ``predict`` (``-1`` suspicious, ``+1`` normal) threshold it with
      ``contamination``.
    - ``overlap(pattern)``: ``|cos|`` between every eigenvector and a pattern
      (e.g. the trigger mask), and the best one.
    - ``spectrum(X)`` and ``trigger_test(X, pattern=None)``: the spectrum of
      the mean Hessian over a batch of (test) inputs, and a test of whether the
      batch carries a trigger against batches of the reference data. This is
      where the detector is strong (see the note on per-row scores below).

    Parameters
    ----------
    estimator : object
        The fitted model whose curvature is analysed: a fitted skorch net (the
        loss it is trained with), a torch ``nn.Module`` returning logits
        (cross-entropy), a fitted ``LogisticRegression`` (closed-form Hessian
        ``Wᵀ(diag p − ppᵀ)W``), or a fitted model with an analytic
        ``input_hessian`` (``GradRegKRR``, ``GradRegKRRClassifier``; squared
        loss). It is not refitted nor modified: torch models are evaluated with
        eval semantics through a view that shares their tensors (the caller's
        train/eval flags are never switched, so the same module can be analysed
        from several threads), on the module's own device and dtype. :func:`sklearn.base.clone`
        (and so ``GridSearchCV``, ``cross_validate``) clones it *unfitted*:
        wrap it in :class:`sklearn.frozen.FrozenEstimator` to keep it fitted
        through cloning.
    n_components : int, default=5
        Number of top eigenpairs of ``H̄`` computed at fit.
    max_iter : int, default=10
        Lanczos steps, both for ``H̄`` and for every per-sample Hessian (the
        paper uses 10). Exact when ``max_iter`` exceeds the rank ``r`` of the
        operator (``r + 1`` steps; a ReLU network's per-sample Hessian has rank at
        most ``n_classes − 1``, so 10 steps are exact for 10 classes) or is at
        least ``d``.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected proportion of suspicious inputs in the reference data: the
        threshold is that upper quantile of the reference per-sample top
        eigenvalues. ``"auto"``: the robust cut ``median + 3.5 · 1.4826 · MAD``
        on the log of the (positive) eigenvalues, a modified z-score of 3.5 on
        the log scale. The eigenvalues are heavy-tailed (confident rows have
        almost none): the same cut on the raw values flags about a third of the
        rows of a clean model, on the log scale none (digits MLP).
    batch_size : int, default=128
        Samples per vectorised Hessian-vector product. Memory grows with it:
        one autograd graph per batch for torch models, and for the full
        Hessian of ``GradRegKRR`` / ``GradRegKRRClassifier`` the per-sample
        input Hessians, ``batch_size * n_outputs * d**2`` floats (lower it for
        large ``d``; the Gauss-Newton products are matrix-free).
    curvature : {"hessian", "gauss_newton"}, default="hessian"
        The full input Hessian of the loss or its Gauss-Newton part
        ``J_iᵀ ∇²_z ℓ J_i`` (positive semi-definite; the part that carries the
        poison spike).
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)``: read flat inputs as images (for
        ``eigenvectors_`` and for the model's input layout). Not needed for
        ``X`` given as ``(n, H, W)`` or ``(n, C, H, W)``.
    random_state : int, RandomState instance or None, default=None
        Lanczos start vectors. Fix it for reproducible results.
    verbose : int, default=0
        Show progress bars: over the Hessian-vector products of the Lanczos run on
        ``H̄`` at fit, over the batches of per-sample scoring, and over the null
        batches of :meth:`trigger_test`.

    Attributes
    ----------
    eigenvalues_ : ndarray of shape (n_components,)
        Top eigenvalues of ``H̄`` on the reference data, decreasing.
    eigenvectors_ : ndarray of shape (n_components, ...)
        The unit eigenvectors, shaped ``(n_components, C, H, W)`` for images or
        ``(n_components, n_features)`` otherwise.
    reference_top_eigenvalues_ : ndarray of shape (n_samples,)
        Per-sample top eigenvalues on the reference data.
    threshold_ : float
        Top eigenvalue above which an input is flagged.
    offset_ : float
        ``-threshold_``: ``decision_function = score_samples - offset_``.
    input_shape_ : tuple of int
        Shape of one sample of ``X`` at fit.
    image_shape_ : tuple of int or None
        ``(C, H, W)`` when the inputs are images.
    n_iter_ : int
        Lanczos steps taken for ``H̄`` (``max_iter``, at most ``d``).
    n_features_in_ : int
        ``X.shape[1]`` at fit.

    See Also
    --------
    ActivationClusteringDetector : Finds poisoned training rows by clustering.
    SpectralSignatureDetector : The spectral-signature baseline (Tran et al., 2018).
    sklpoison.plotting.SpectrumDisplay : Plots the eigenvalues and eigenvectors.

    Notes
    -----
    **Sign of** ``score_samples``. ``score_samples(X, y)`` returns the *negated*
    per-sample top eigenvalue, ``-top_eigenvalues(X, y)``, not the eigenvalue
    itself. This follows scikit-learn's outlier-detector contract
    (:class:`~sklearn.ensemble.IsolationForest`,
    :class:`~sklearn.neighbors.LocalOutlierFactor`, ...): larger
    ``score_samples`` means *more normal*, ``decision_function`` is
    ``score_samples - offset_`` and negative for outliers, and ``predict``
    returns ``-1`` for them. Keeping that contract is what lets the detector be
    used wherever a scikit-learn outlier detector is expected (common checks,
    ``roc_auc_score(is_inlier, score_samples)``, model selection). The raw
    curvature, higher for more suspicious inputs, is
    :meth:`top_eigenvalues`; for a ROC AUC with triggered inputs as the
    positive class use ``-score_samples(X)`` or ``top_eigenvalues(X)``.

    **Where the per-row score fails.** The per-row top eigenvalue is high
    where the loss is curved, which for a backdoor holds *before* it saturates.
    Once the backdoor is learnt, the poisons are the rows the model is most
    confident on and their curvature is the lowest: on digits with 5%
    dirty-label poisons into class 0 (``GradRegNetClassifier``, MLP with 64
    hidden units, 30 epochs) the global ROC-AUC of the per-row score against
    the poison mask is 0.19 ± 0.04 with the L trigger and 0.39 ± 0.05 with a
    4-pixel pattern (three seeds, ``benchmarks/bench_detection.py``), i.e.
    *anti*-correlated (the regime of the paper's near-clone result). Use
    :class:`ActivationClusteringDetector` or
    :class:`SpectralSignatureDetector` to find poisoned training rows, and
    this detector for the model-level spectrum: ``eigenvalues_`` and
    :meth:`overlap` with a trigger candidate, and :meth:`trigger_test` for a
    batch of test inputs.

    References
    ----------
    D. Granziol et al. (2026). Safety-Efficacy Trade Off: Robustness against
    Data-Poisoning. arXiv:2602.00822.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklpoison import HessianSpectrumDetector
    >>> from sklpoison.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True, flat=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X[:1000], y[:1000])
    >>> det = HessianSpectrumDetector(clf, contamination=0.1, image_shape=(8, 8),
    ...                               random_state=0)
    >>> det = det.fit(X[1000:1500], y[1000:1500])
    >>> det.eigenvectors_.shape
    (5, 1, 8, 8)
    >>> float((det.predict(X[1000:1500], y[1000:1500]) == -1).mean())
    0.1
    """

    _reference_attr = "reference_top_eigenvalues_"

    _parameter_constraints = {
        "estimator": [object],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "contamination": _CONTAMINATION,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "curvature": [StrOptions({"hessian", "gauss_newton"})],
        "image_shape": [tuple, list, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator,
        *,
        n_components=5,
        max_iter=10,
        contamination="auto",
        batch_size=128,
        curvature="hessian",
        image_shape=None,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_components = n_components
        self.max_iter = max_iter
        self.contamination = contamination
        self.batch_size = batch_size
        self.curvature = curvature
        self.image_shape = image_shape
        self.random_state = random_state
        self.verbose = verbose

    def _model_input_shape(self):
        # skorch nets of sklpoison.nn read flat inputs as their fitted image shape;
        # otherwise an explicit image_shape says how the model takes flat inputs
        shape = getattr(self.estimator, "image_shape_", None)
        if shape is not None and int(np.prod(shape)) == int(np.prod(self.input_shape_)):
            return tuple(shape)
        if self.image_shape is not None:
            return self.image_shape_
        return self.input_shape_

    def _adapter(self):
        adapter = _hessian.make_input_hessian_adapter(
            self.estimator, input_shape=self._model_input_shape(), curvature=self.curvature
        )
        d = int(np.prod(self.input_shape_))
        if adapter.n_features != d:
            raise ValueError(
                f"X has {d} values per sample but {type(self.estimator).__name__} expects "
                f"{adapter.n_features}. Pass inputs of the size the model was trained on."
            )
        return adapter

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Compute the spectrum of the mean input Hessian on reference data.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Reference inputs (flat, ``(n, H, W)`` or ``(n, C, H, W)``), in the
            layout the model takes.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Their labels (targets of a multi-output regression model); ``None``
            uses the model's predictions.

        Returns
        -------
        self : object
            The fitted detector.
        """
        X = self._validate_X(X, reset=True)
        y = self._check_y(X, y)
        self.input_shape_ = tuple(X.shape[1:])
        self.image_shape_ = resolve_image_shape(self.input_shape_, self.image_shape)
        adapter = self._adapter()
        X2 = X.reshape(X.shape[0], -1)
        if self.n_components > X2.shape[1]:
            raise ValueError(
                f"n_components={self.n_components} exceeds the input dimension "
                f"n_features={X2.shape[1]}: the input Hessian has only {X2.shape[1]} "
                f"eigenpairs. Pass n_components <= {X2.shape[1]}."
            )
        labels = adapter.loss_labels(X2, y)
        vals, vecs = self._mean_spectrum(adapter, X2, labels, self.n_components)
        self.eigenvalues_ = vals
        self.n_iter_ = int(min(max(self.max_iter, self.n_components), X2.shape[1]))
        self.eigenvectors_ = self._as_images(vecs)
        self.reference_top_eigenvalues_ = self._per_sample(adapter, X2, labels)
        self._set_offset(self.reference_top_eigenvalues_)
        # kept for trigger_test's null distribution (as LocalOutlierFactor keeps its data)
        self._fit_X, self._fit_labels, self._fit_labelled = X2, labels, y is not None
        return self

    def _as_images(self, vecs):
        shape = self.image_shape_ if self.image_shape_ is not None else (vecs.shape[1],)
        return vecs.reshape(vecs.shape[0], *shape)

    def _mean_spectrum(self, adapter, X2, labels, n_components, verbose=None):
        return lanczos.top_eigenpairs(
            adapter,
            X2,
            labels,
            n_components=n_components,
            max_iter=self.max_iter,
            batch_size=self.batch_size,
            random_state=self.random_state,
            verbose=self.verbose if verbose is None else verbose,
        )

    def _auto_threshold(self, raw):
        # the per-sample top eigenvalues are heavy-tailed (many confident rows near 0): a MAD
        # cut on the raw values lands near the 66th percentile (a third of a clean model's
        # rows flagged); on the log scale the tail is light and the cut flags about none
        positive = raw[raw > 0]
        if positive.size == 0:
            return 0.0
        return float(np.exp(_robust_threshold(np.log(positive))))

    def _per_sample(self, adapter, X2, labels):
        return lanczos.per_sample_top_eigenvalues(
            adapter,
            X2,
            labels,
            max_iter=self.max_iter,
            batch_size=self.batch_size,
            random_state=self.random_state,
            verbose=self.verbose,
        )

    @staticmethod
    def _check_y(X, y):
        # multi-output regression targets (n, k) are labels of the loss too
        y = None if y is None else np.asarray(y)
        if y is not None and y.ndim == 2 and y.shape[1] > 1:
            check_consistent_length(X, y)
            kind = type_of_target(y, input_name="y")
            if kind != "continuous-multioutput":
                raise ValueError(
                    "y of shape (n_samples, n_outputs) is accepted for multi-output "
                    f"regression models only (continuous targets); got targets of type {kind!r}."
                )
            return y
        return _BaseScoreDetector._check_y(X, y)

    def _raw(self, X, y):
        return self.top_eigenvalues(X, y)

    def top_eigenvalues(self, X, y=None):
        """Top eigenvalue of the input Hessian of the loss at every input.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs, in the layout seen at fit.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Labels (targets of a multi-output regression model); ``None`` uses
            the model's predictions.

        Returns
        -------
        eigenvalues : ndarray of shape (n_samples,)
            Largest eigenvalue of ``∇²_x ℓ(x_i, y_i)`` (higher is more suspicious).
        """
        check_is_fitted(self, "eigenvalues_")
        X = self._validate_X(X, reset=False)
        y = self._check_y(X, y)
        adapter = self._adapter()
        X2 = X.reshape(X.shape[0], -1)
        return self._per_sample(adapter, X2, adapter.loss_labels(X2, y))

    def overlap(self, pattern):
        """``|cos|`` between each eigenvector of ``H̄`` and a pattern.

        The poison direction can rotate among the top eigenvectors, so the
        maximum over them and its index are returned as well.

        Parameters
        ----------
        pattern : array-like
            One sample's worth of values (e.g. ``PoisonTransformer.trigger_mask_``),
            in the image or the flat layout.

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            ``overlaps`` (ndarray of shape ``(n_components,)``), ``max`` (float)
            and ``argmax`` (int).
        """
        check_is_fitted(self, "eigenvalues_")
        return self._overlap(self.eigenvectors_, pattern)

    def _overlap(self, eigenvectors, pattern):
        p = np.asarray(pattern, dtype=np.float64).reshape(-1)
        d = int(np.prod(self.input_shape_))
        if p.size != d:
            raise ValueError(
                f"pattern has {p.size} values but the inputs have {d}; pass a pattern of the "
                f"shape of one sample, {self.input_shape_}."
            )
        norm = np.linalg.norm(p)
        if not np.isfinite(norm) or norm == 0:
            raise ValueError("pattern must be finite and not identically zero.")
        V = eigenvectors.reshape(eigenvectors.shape[0], -1)
        overlaps = np.abs(V @ p) / (np.linalg.norm(V, axis=1) * norm)
        best = int(np.argmax(overlaps))
        return Bunch(overlaps=overlaps, max=float(overlaps[best]), argmax=best)

    def spectrum(self, X, y=None):
        """Top eigenpairs of the mean input Hessian over a batch of inputs.

        What :meth:`fit` computes on the reference data, for any batch (e.g.
        test inputs suspected of carrying a trigger).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs, in the layout seen at fit.
        y : array-like of shape (n_samples,) or None, default=None
            Labels; ``None`` uses the model's predictions (what a triggered input
            is classified as).

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            ``eigenvalues`` (ndarray of shape ``(n_components,)``, decreasing) and
            ``eigenvectors`` (shaped as ``eigenvectors_``).
        """
        check_is_fitted(self, "eigenvalues_")
        X = self._validate_X(X, reset=False)
        y = self._check_y(X, y)
        adapter = self._adapter()
        X2 = X.reshape(X.shape[0], -1)
        vals, vecs = self._mean_spectrum(adapter, X2, adapter.loss_labels(X2, y), self.n_components)
        return Bunch(eigenvalues=vals, eigenvectors=self._as_images(vecs))

    def trigger_test(self, X, y=None, *, pattern=None, n_resamples=19):
        """Test whether a batch of inputs carries a trigger, from its Hessian spectrum.

        Inputs that share a trigger leave a rank-one spike in the mean input
        Hessian of the loss over the batch, aligned with the trigger (Granziol
        et al.): the batch's top eigenvalue stands out from the next one. The
        test compares two statistics of the batch's spectrum with their null
        distribution over ``n_resamples`` batches of the same size drawn from
        the reference data given to :meth:`fit` (fit it on inputs known to be
        clean, e.g. held-out data):

        - ``spike = λ1 / λ2``, one-sided (larger is suspicious). It is
          scale-free and survives saturation: on digits with a 5% L backdoor,
          batches of 50 triggered inputs give ``λ1/λ2`` about 10 against 1.4
          for clean batches;
        - ``top = λ1``, two-sided: a trigger raises it before the backdoor
          saturates and *lowers* it after (the model is most confident on its
          triggered inputs: λ1 about 0.1 against 3.4 for clean batches in the
          same setting).

        Without a ``pattern``, ``pvalue`` combines the two by Bonferroni. With a
        known or candidate trigger ``pattern``, the test is the paper's
        detectability measure: ``overlap`` is the ``|cos|`` of the batch's
        eigenvectors with it, and ``pvalue`` is that of the top eigenvector's
        overlap against the reference batches' (``overlap_pvalue``; on digits
        with a 5% backdoor the top eigenvector of triggered batches has a
        ``|cos|`` of 0.47-0.70 with the trigger, of clean ones 0.04-0.16; the
        best of the top five is less telling, as one of five random directions
        often reaches 0.3-0.5 in 64 dimensions).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The batch, in the layout seen at fit (at least 2 rows).
        y : array-like of shape (n_samples,) or None, default=None
            Labels; ``None`` uses the model's predictions, for the reference
            batches too (the same loss); with labels, fit must have had them.
        pattern : array-like or None, default=None
            A candidate trigger (e.g. ``PoisonTransformer.trigger_mask_``).
        n_resamples : int, default=19
            Reference batches in the null distribution; each costs one Lanczos
            run. The smallest p-value is ``1 / (n_resamples + 1)`` with a
            ``pattern`` and ``2 / (n_resamples + 1)`` without (the Bonferroni
            pair): at the default 19, a blind ``pvalue`` is at least 0.10, so
            pass ``n_resamples >= 39`` to test at the 0.05 level.

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            ``spike``, ``top`` (the batch's statistics), ``spike_null``,
            ``top_null``, ``overlap_null`` (ndarrays of shape
            ``(n_resamples,)``; ``None`` without a pattern), ``spike_pvalue``,
            ``top_pvalue``, ``overlap_pvalue`` (``None`` without a pattern),
            ``pvalue`` (floats), ``eigenvalues``, ``eigenvectors`` (the batch's
            spectrum) and ``overlap`` (the result of :meth:`overlap` on the
            batch's eigenvectors, or ``None`` without a pattern).
        """
        check_is_fitted(self, "eigenvalues_")
        if not (isinstance(n_resamples, Integral) and n_resamples >= 1):
            raise ValueError(f"n_resamples must be a positive integer; got {n_resamples!r}.")
        X = self._validate_X(X, reset=False)
        y = self._check_y(X, y)
        d = int(np.prod(self.input_shape_))
        if X.shape[0] < 2 or d < 2:
            raise ValueError(
                f"trigger_test needs a batch of at least 2 inputs of at least 2 values each; "
                f"got {X.shape[0]} input(s) of {d} value(s)."
            )
        adapter = self._adapter()
        X2 = X.reshape(X.shape[0], -1)
        k = min(max(self.n_components, 2), d)
        vals, vecs = self._mean_spectrum(adapter, X2, adapter.loss_labels(X2, y), k)
        overlap = None if pattern is None else self._overlap(vecs, pattern)
        null = self._null_statistics(
            adapter, X2.shape[0], k, pattern, n_resamples, self._null_labels(adapter, y)
        )

        def pvalue(column, stat, greater=True):
            hits = null[:, column] >= stat if greater else null[:, column] <= stat
            return (1 + np.sum(hits)) / (1 + n_resamples)

        p_spike = pvalue(0, self._spike(vals))
        p_top = min(1.0, 2 * min(pvalue(1, vals[0]), pvalue(1, vals[0], greater=False)))
        p_overlap = None if pattern is None else float(pvalue(2, overlap.overlaps[0]))
        combined = min(1.0, 2 * min(p_spike, p_top)) if pattern is None else p_overlap
        return Bunch(
            spike=self._spike(vals),
            top=float(vals[0]),
            spike_null=null[:, 0],
            top_null=null[:, 1],
            overlap_null=None if pattern is None else null[:, 2],
            spike_pvalue=float(p_spike),
            top_pvalue=float(p_top),
            overlap_pvalue=p_overlap,
            pvalue=float(combined),
            eigenvalues=vals,
            eigenvectors=self._as_images(vecs),
            overlap=overlap,
        )

    def _null_labels(self, adapter, y):
        """Labels of the reference rows of the same kind as the batch's (given or predicted).

        A loss with the model's predictions is less curved than with true labels
        wherever the model errs (off piecewise-linear networks): a batch without
        labels tested against reference batches with them is not a draw from the
        null distribution.
        """
        if y is None and self._fit_labelled:
            return adapter.loss_labels(self._fit_X, None)
        if y is not None and not self._fit_labelled:
            warnings.warn(
                "trigger_test got labels y, but fit had none: the reference batches use the "
                "model's predictions, a different loss. Fit with the reference labels, or "
                "call trigger_test without y.",
                UserWarning,
                stacklevel=3,
            )
        return self._fit_labels

    def _null_statistics(self, adapter, size, k, pattern, n_resamples, labels):
        """Spike, top eigenvalue and top eigenvector's trigger overlap of reference batches."""
        rng = check_random_state(self.random_state)
        n_ref = self._fit_X.shape[0]
        null = np.full((n_resamples, 3), np.nan)
        resamples = range(n_resamples)
        if self.verbose:
            from tqdm.auto import tqdm

            resamples = tqdm(resamples, desc="trigger_test null batches", unit="batch")
        for r in resamples:  # one Lanczos run per reference batch
            rows = rng.choice(n_ref, size, replace=size > n_ref)
            v, V = self._mean_spectrum(adapter, self._fit_X[rows], labels[rows], k, 0)
            null[r, :2] = self._spike(v), v[0]
            if pattern is not None:
                null[r, 2] = self._overlap(V, pattern).overlaps[0]
        return null

    @staticmethod
    def _spike(vals):
        # lambda_1 / lambda_2; a second eigenvalue of zero (rank one) is an infinite spike
        if vals[1] > 0:
            return float(vals[0] / vals[1])
        return np.inf if vals[0] > 0 else 1.0
