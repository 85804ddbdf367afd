"""Representations of the inputs for the feature-space detectors (one shared helper).

:class:`SpectralSignatureDetector` and :class:`ActivationClusteringDetector` take
the same features: the inputs themselves, a user's ``feature_extractor``, or the
penultimate activations of a fitted skorch net or torch module (a forward hook on
an eval view that shares the module's tensors, so the caller's module is never
modified), or the output of all steps but the last of a scikit-learn
:class:`~sklearn.pipeline.Pipeline`; and the same labels when ``y`` is ``None``
(the model's predictions, or the nearest class mean without a model).
"""

import numpy as np
from scipy.special import expit
from sklearn.pipeline import Pipeline

from ..utils import _torch
from ..utils._images import resolve_image_shape


def _check_finite(F, source, name):
    # the SVD of non-finite features fails with a bare LinAlgError
    if not np.all(np.isfinite(F)):
        raise ValueError(
            f"{name}: {source} gave NaN or infinite features for "
            f"{int(np.sum(~np.all(np.isfinite(F), axis=1)))} of {F.shape[0]} samples; the "
            "representations must be finite (check the extractor or the model's weights)."
        )
    return F


class _FeatureMixin:
    """Feature extraction and label resolution shared by the feature-space detectors.

    Needs the parameters ``estimator``, ``feature_extractor``, ``batch_size`` and
    ``image_shape``, the fitted ``input_shape_`` and (for labels without a model)
    ``classes_`` and ``means_``.
    """

    def _model(self):
        """The estimator, out of any FrozenEstimator; an unfitted skorch net raises."""
        from sklearn.frozen import FrozenEstimator

        est = self.estimator
        while isinstance(est, FrozenEstimator):  # kept fitted through clone: unwrap
            est = est.estimator
        if _torch.is_skorch_net(est) and not _torch.is_fitted_skorch_net(est):
            raise ValueError(
                f"The skorch net {type(est).__name__} is not fitted: fit it before detecting. "
                "clone (and so GridSearchCV, cross_validate) clones it unfitted: wrap it in "
                "sklearn.frozen.FrozenEstimator to keep it fitted."
            )
        return est

    def _torch_module(self):
        est = self._model()
        if est is None:
            return None
        if _torch.is_fitted_skorch_net(est):
            return est.module_
        if _torch.is_torch_module(est):
            return est
        return None

    def _features(self, X):
        if callable(self.feature_extractor):
            F = np.asarray(self.feature_extractor(X), dtype=np.float64)
            if F.ndim == 0 or F.shape[0] != X.shape[0]:
                raise ValueError(
                    "feature_extractor must return one row of features per sample, an array "
                    f"of shape (n_samples, n_features); it returned an array of shape {F.shape} "
                    f"for {X.shape[0]} samples."
                )
            return _check_finite(
                F.reshape(F.shape[0], -1), "feature_extractor", type(self).__name__
            )
        module = self._torch_module()
        if module is None:
            if isinstance(self.feature_extractor, str):
                raise ValueError(
                    "feature_extractor given as a layer name needs a torch module or skorch "
                    f"net as estimator; got {type(self.estimator).__name__}."
                )
            X2 = X.reshape(X.shape[0], -1)
            est = self._model()
            if isinstance(est, Pipeline) and len(est) > 1:  # the penultimate representation
                F = np.asarray(est[:-1].transform(X2), dtype=np.float64)
                return _check_finite(
                    F.reshape(F.shape[0], -1), "the pipeline's transform", type(self).__name__
                )
            return X2.astype(np.float64)
        return _check_finite(
            self._hooked_features(module, X), "the model's layer", type(self).__name__
        )

    def _module_input(self, X):
        shape = (
            getattr(self._model(), "image_shape_", None)
            or resolve_image_shape(self.input_shape_, self.image_shape)
            or self.input_shape_
        )
        return X.reshape(X.shape[0], *shape)

    def _hooked_features(self, module, X):
        import torch

        # eval semantics on a view: the hook and the eval flags never reach the caller's module
        view = _torch.eval_view(module)
        if isinstance(self.feature_extractor, str):
            layers = dict(view.named_modules())
            if self.feature_extractor not in layers:
                raise ValueError(
                    f"feature_extractor={self.feature_extractor!r} is not a submodule of the "
                    f"model; choose one of {[n for n in layers if n]}."
                )
            layer, take_input = layers[self.feature_extractor], False
        else:
            linears = [m for m in view.modules() if isinstance(m, torch.nn.Linear)]
            if not linears:
                raise ValueError(
                    "The model has no torch.nn.Linear layer to take penultimate features "
                    "from; pass feature_extractor (a layer name or a callable)."
                )
            layer, take_input = linears[-1], True
        Xm = self._module_input(X)
        captured = []

        def hook(mod, inputs, output):
            t = inputs[0] if take_input else output
            captured.append(_torch.to_numpy(t.reshape(t.shape[0], -1)))

        layer.register_forward_hook(hook)
        with torch.no_grad():
            for start in range(0, X.shape[0], self.batch_size):
                view(_torch.to_tensor(Xm[start : start + self.batch_size], module=module))
        return np.concatenate(captured, axis=0)

    def _reference_labels(self, X, y):
        """Labels of the reference data at fit: ``y``, the model's predictions, or one group."""
        if y is not None:
            return y
        if self.estimator is None:
            return np.zeros(X.shape[0], dtype=int)
        return self._labels(X, None)

    def _labels(self, X, y, F=None):
        if y is not None:
            return y
        est = self._model()
        if est is None:
            if self.classes_.size == 1:
                return np.full(X.shape[0], self.classes_[0])
            # no model: the class of the nearest class mean (nearest-centroid rule)
            F = self._features(X) if F is None else F
            d2 = (
                np.einsum("nd,nd->n", F, F)[:, None]
                - 2 * F @ self.means_.T
                + np.einsum("cd,cd->c", self.means_, self.means_)[None, :]
            )
            return self.classes_[np.argmin(d2, axis=1)]
        module = self._torch_module()
        if module is None:  # sklearn models take flat rows
            return np.asarray(est.predict(X.reshape(X.shape[0], -1)))
        # a fitted skorch net is not asked to predict: skorch's predict puts the caller's
        # module in eval mode (and leaves it there); its module runs on an eval view instead
        import torch

        with torch.no_grad():
            out = _torch.forward(
                _torch.eval_view(module),
                _torch.to_tensor(self._module_input(X), module=module),
            )
        out = _torch.to_numpy(out.reshape(out.shape[0], -1), dtype=None)
        if _torch.is_skorch_net(est) and _torch.skorch_label_kind(est) == "binary":
            return (expit(out[:, 0]) > est.threshold).astype(np.uint8)  # skorch's predict
        codes = out.argmax(axis=1)
        # sklpoison.nn nets predict their classes_; skorch's NeuralNetClassifier the indices
        return est.classes_[codes] if hasattr(est, "label_encoder_") else codes
