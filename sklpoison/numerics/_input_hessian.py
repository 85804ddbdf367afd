"""Input-Hessian adapters: the per-sample input-Hessian (or Gauss-Newton) product of a model."""

from abc import ABC, abstractmethod

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..utils import _torch
from ..utils.validation import check_known_labels, encode_pm1

_CURVATURES = ("hessian", "gauss_newton")


# --------------------------------------------------------------------------- adapters


def _as_fitted(estimator, X):
    """``X`` (an ndarray) with the column names the estimator was fitted with, if any:
    scikit-learn warns "X does not have valid feature names" when an estimator fitted
    on a DataFrame is queried with an array."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=names, copy=False)


class InputHessianAdapter(ABC):
    """Interface of the input-Hessian adapters.

    Attributes
    ----------
    input_shape : tuple of int
        Shape of one sample as the model expects it.
    n_features : int
        ``prod(input_shape)``: the dimension ``d`` of the Hessian.
    curvature : {"hessian", "gauss_newton"}
        Which operator the products apply.
    """

    def __init__(self, input_shape, curvature):
        self.input_shape = tuple(int(s) for s in input_shape)
        self.n_features = int(np.prod(self.input_shape))
        self.curvature = curvature

    def loss_labels(self, X, y=None):
        """Labels of the loss for flat inputs ``X``: ``y`` validated and encoded, or,
        when ``y`` is None, the model's own predictions."""
        if y is None:
            return self.predict_labels(X)
        return self.check_labels(y, np.asarray(X).shape[0])

    @abstractmethod
    def predict_labels(self, X):
        """Labels the loss uses when none are given (the model's prediction)."""

    def check_labels(self, y, n_samples):
        """Validate labels for the loss; return them as an array."""
        y = np.asarray(y)
        if y.shape[0] != n_samples:
            raise ValueError(
                f"y has {y.shape[0]} labels but X has {n_samples} samples; pass one label per "
                f"sample (or y=None to use the model's predictions)."
            )
        return y

    @abstractmethod
    def batch_operator(self, X, y):
        """Return ``matvec(V) -> (n, d)``: the per-sample products ``H_i v_i`` on batch ``X``."""


class InputHessianTorchAdapter(InputHessianAdapter):
    """Adapter for a torch module (logits out, cross-entropy) or a fitted skorch net.

    The per-sample products use double backward: on a batch, the input gradient
    ``g = ∇_X Σ_i ℓ_i`` is built once with ``create_graph=True``; every product
    ``V -> ∇_X <g, V>`` is then one backward pass through that graph. Rows do not
    interact (the module is put in eval mode), so row ``i`` of the result is
    ``H_i v_i``. The Gauss-Newton products ``J_iᵀ (∇²_z ℓ) J_i v_i`` reuse the same
    graph: ``J v`` by the double-vjp trick, ``∇²_z ℓ`` by autograd on the outputs.
    """

    def __init__(self, module, loss, input_shape, curvature, *, label_kind, encoder=None):
        super().__init__(input_shape, curvature)
        self.encoder = encoder  # user labels -> class indices (e.g. a fitted LabelEncoder)
        self.module = module
        self.loss = loss  # (output, target) -> summed loss
        self.label_kind = label_kind  # "index", "binary" or "regression"
        # tensors follow the module: its dtype and device
        self.dtype, self.device = _torch.module_dtype_device(module)

    def _view(self):
        # eval semantics on a view: the caller's module and its flags are never touched
        return _torch.eval_view(self.module)

    def _to_input(self, X):
        X = np.asarray(X)
        return _torch.to_tensor(
            X.reshape(X.shape[0], *self.input_shape), dtype=self.dtype, device=self.device
        )

    def predict_labels(self, X):
        import torch

        with torch.no_grad():
            out = _torch.forward(self._view(), self._to_input(X))
        out = _torch.to_numpy(out, dtype=None)
        if self.label_kind == "index":
            return out.reshape(out.shape[0], -1).argmax(axis=1)
        if self.label_kind == "binary":
            return (out.reshape(out.shape[0]) > 0).astype(np.float64)
        return out.reshape(out.shape[0], *out.shape[1:])

    def check_labels(self, y, n_samples):
        y = super().check_labels(y, n_samples)
        if self.encoder is not None:
            try:
                y = np.asarray(self.encoder(y))
            except ValueError as exc:
                raise ValueError(f"y holds labels the model was not trained on: {exc}") from exc
        if self.label_kind == "index":
            if y.dtype.kind not in "iub":
                if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
                    y = y.astype(np.int64)
                else:
                    raise ValueError(
                        "A torch classifier's loss needs integer class indices 0..C-1 as y; got "
                        f"labels of dtype {y.dtype}. Encode the labels (e.g. LabelEncoder) or "
                        "pass y=None to use the model's predictions."
                    )
            y = y.astype(np.int64)
        return y

    def _target(self, y, out):
        import torch

        if self.label_kind == "index":
            t = torch.as_tensor(np.asarray(y, dtype=np.int64), device=self.device)
            n_out = out.shape[1] if out.ndim > 1 else 1
            if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n_out):
                raise ValueError(
                    f"Labels must be class indices in [0, {n_out - 1}] for this model with "
                    f"{n_out} outputs; got labels in [{int(t.min())}, {int(t.max())}]. Pass "
                    f"encoded labels or y=None to use the model's predictions."
                )
            return t
        t = torch.as_tensor(np.asarray(y, dtype=np.float64), dtype=out.dtype, device=self.device)
        if t.shape != out.shape and t.numel() == out.numel():
            t = t.reshape(out.shape)
        return t

    def batch_operator(self, X, y):
        import torch

        x = self._to_input(X).requires_grad_(True)
        n, d = x.shape[0], self.n_features
        with torch.enable_grad():
            out = _torch.forward(self._view(), x)
            target = self._target(y, out)
            if self.curvature == "hessian":
                g = _torch.input_gradients(self.loss(out, target), x, create_graph=True)
                if not g.requires_grad:  # the gradient does not depend on the input
                    return lambda V: np.zeros((n, d))

                def matvec(V):
                    v = _torch.to_tensor(
                        np.asarray(V).reshape(x.shape), dtype=self.dtype, device=self.device
                    )
                    with torch.enable_grad():
                        (hv,) = torch.autograd.grad(
                            g, x, grad_outputs=v, retain_graph=True, allow_unused=True
                        )
                    if hv is None:
                        return np.zeros((n, d))
                    return _torch.to_numpy(hv.reshape(n, d))

                return matvec

            # Gauss-Newton: J v by the double-vjp trick, then ∇²_z ℓ, then Jᵀ.
            u = torch.zeros_like(out, requires_grad=True)
            (jtu,) = torch.autograd.grad(out, x, grad_outputs=u, create_graph=True)
            z = out.detach().requires_grad_(True)
            (gz,) = torch.autograd.grad(self.loss(z, target), z, create_graph=True)

        def gn_matvec(V):
            v = _torch.to_tensor(
                np.asarray(V).reshape(x.shape), dtype=self.dtype, device=self.device
            )
            with torch.enable_grad():
                (jv,) = torch.autograd.grad(jtu, u, grad_outputs=v, retain_graph=True)
                if gz.requires_grad:
                    (hjv,) = torch.autograd.grad(
                        gz, z, grad_outputs=jv.detach(), retain_graph=True, allow_unused=True
                    )
                    hjv = torch.zeros_like(z) if hjv is None else hjv
                else:
                    hjv = torch.zeros_like(z)
                (res,) = torch.autograd.grad(out, x, grad_outputs=hjv, retain_graph=True)
            return _torch.to_numpy(res.reshape(n, d))

        return gn_matvec


class InputHessianLogisticAdapter(InputHessianAdapter):
    """Closed-form input Hessian of the log-loss of a fitted linear probabilistic classifier.

    With logits ``z = W x + b`` and ``p = softmax(z)``, the input Hessian of the
    cross-entropy is ``Wᵀ (diag p − p pᵀ) W`` whatever the label (binary:
    ``p (1 − p) w wᵀ``); the logits are linear in ``x`` so it equals its
    Gauss-Newton part. Products cost ``O(n C d)``.

    The closed form needs ``predict_proba`` to be that softmax (sigmoid) of the
    linear decision function, as for :class:`~sklearn.linear_model.LogisticRegression`;
    it is checked on every batch, and a model whose probabilities are built
    otherwise (e.g. a one-vs-rest ``SGDClassifier(loss="log_loss")`` on several
    classes) is rejected rather than analysed with the wrong Hessian.
    """

    def __init__(self, estimator, curvature):
        check_is_fitted(estimator)
        super().__init__((estimator.coef_.shape[1],), curvature)
        self.estimator = estimator
        self.W = np.asarray(estimator.coef_, dtype=np.float64)

    def predict_labels(self, X):
        return self.estimator.predict(_as_fitted(self.estimator, np.asarray(X).reshape(len(X), -1)))

    def check_labels(self, y, n_samples):
        # the cross-entropy's input Hessian does not depend on the label, but labels the
        # model does not know are a mistake of the caller, as for the other adapters
        y = super().check_labels(y, n_samples)
        classes = getattr(self.estimator, "classes_", None)
        if classes is not None:
            check_known_labels(
                y, classes, type(self.estimator).__name__, known_as="the estimator's classes"
            )
        return y

    def _check_softmax(self, X, P):
        from scipy.special import expit, softmax

        Z = X @ self.W.T + np.asarray(getattr(self.estimator, "intercept_", 0.0), dtype=float)
        Q = expit(Z[:, 0]) if self.W.shape[0] == 1 else softmax(Z, axis=1)
        ref = P[:, 1] if self.W.shape[0] == 1 and P.ndim == 2 and P.shape[1] == 2 else P
        if ref.shape != Q.shape or not np.allclose(ref, Q, rtol=1e-6, atol=1e-9):
            raise ValueError(
                f"The predict_proba of {type(self.estimator).__name__} is not the "
                f"{'sigmoid' if self.W.shape[0] == 1 else 'softmax'} of its linear decision "
                "function X @ coef_.T + intercept_ (e.g. a one-vs-rest model), so the "
                "closed-form input Hessian W^T (diag p - p p^T) W does not apply. Use a "
                "multinomial LogisticRegression, or a torch model."
            )

    def batch_operator(self, X, y):
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        P = np.asarray(
            self.estimator.predict_proba(_as_fitted(self.estimator, X)), dtype=np.float64
        )
        W = self.W
        self._check_softmax(X, P)
        if W.shape[0] == 1:  # binary: sigmoid of one logit
            a = P[:, 1] * P[:, 0]
            w = W[0]

            def matvec(V):
                return (a * (np.asarray(V) @ w))[:, None] * w[None, :]

            return matvec

        def matvec(V):
            U = np.asarray(V) @ W.T  # (n, C)
            PU = P * U
            AU = PU - P * PU.sum(axis=1, keepdims=True)
            return AU @ W

        return matvec


class InputHessianAnalyticAdapter(InputHessianAdapter):
    """Adapter for estimators exposing analytic per-sample input Hessians.

    The estimator must provide ``input_hessian(X)`` returning the input Hessians
    of its decision function, shape ``(n, d, d)`` (or ``(n, C, d, d)`` for ``C``
    outputs) and ``input_gradient(X)`` / ``input_jacobian(X)`` returning ``(n, d)``
    (or ``(n, C, d)``). The loss is the squared error ``½ ||f(x) − y||²`` of the
    decision function (the loss GradRegKRR is fitted with; one-hot ±1 targets for
    GradRegKRRClassifier), so that

    ``∇²_x ℓ = Σ_c ∇f_c ∇f_cᵀ + (f_c − y_c) ∇²f_c``  and  ``G = Σ_c ∇f_c ∇f_cᵀ``.

    When the estimator also has ``input_hessian_operator(X, output_weights)``
    (``GradRegKRR``, ``GradRegKRRClassifier``), the full Hessian's products are
    matrix-free: ``J_iᵀ (J_i v_i)`` plus the products with ``Σ_c r_c ∇²f_c`` (one
    weighted kernel model, ``O(n m d)`` per product for ``m`` kernel centres). Otherwise
    the per-sample ``d x d`` matrices are formed once per batch and the products are
    batched matrix-vector products. The Gauss-Newton products are always matrix-free.
    """

    def __init__(self, estimator, curvature):
        check_is_fitted(estimator)
        n_features = getattr(estimator, "n_features_in_", None)
        if n_features is None:
            raise ValueError("The estimator must be fitted (no n_features_in_ found).")
        super().__init__((int(n_features),), curvature)
        self.estimator = estimator
        self.is_classifier = hasattr(estimator, "classes_")

    def _decision(self, X):
        est = self.estimator
        if self.is_classifier and hasattr(est, "decision_function"):
            f = np.asarray(est.decision_function(_as_fitted(est, X)), dtype=np.float64)
        else:
            f = np.asarray(est.predict(_as_fitted(est, X)), dtype=np.float64)
        return f.reshape(len(X), -1)

    def _gradients(self, X):
        est = self.estimator
        for name in ("input_jacobian", "input_gradient"):
            if hasattr(est, name):
                G = np.asarray(getattr(est, name)(_as_fitted(est, X)), dtype=np.float64)
                return G.reshape(len(X), -1, self.n_features)
        raise ValueError(
            f"{type(est).__name__} has input_hessian but neither input_gradient nor "
            "input_jacobian; both are needed for the Hessian of the loss."
        )

    def _hessians(self, X):
        Hf = np.asarray(
            self.estimator.input_hessian(_as_fitted(self.estimator, X)), dtype=np.float64
        )
        return Hf.reshape(len(X), -1, self.n_features, self.n_features)

    def predict_labels(self, X):
        return self.estimator.predict(_as_fitted(self.estimator, np.asarray(X).reshape(len(X), -1)))

    def _targets(self, y, n_out):
        y = np.asarray(y)
        if not self.is_classifier:
            return y.astype(np.float64).reshape(len(y), -1)
        classes = self.estimator.classes_
        if n_out == 1:  # binary decision function, targets ±1 for classes_[1] / classes_[0]
            return encode_pm1(y, classes)[:, None]
        return np.where(y[:, None] == classes[None, :], 1.0, -1.0)

    def check_labels(self, y, n_samples):
        y = super().check_labels(y, n_samples)
        if self.is_classifier:
            check_known_labels(
                y,
                self.estimator.classes_,
                type(self.estimator).__name__,
                known_as="the estimator's classes",
            )
        return y

    def batch_operator(self, X, y):
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        J = self._gradients(X)  # (n, C, d)
        if self.curvature == "gauss_newton":  # matrix-free: J_iᵀ (J_i v_i), O(n C d)

            def gn_matvec(V):
                return np.einsum("ncd,nc->nd", J, np.einsum("ncd,nd->nc", J, np.asarray(V)))

            return gn_matvec

        R = self._decision(X) - self._targets(y, J.shape[1])  # (n, C)
        if hasattr(self.estimator, "input_hessian_operator"):  # matrix-free, O(n m d)
            hess_op = self.estimator.input_hessian_operator(_as_fitted(self.estimator, X), R)

            def free_matvec(V):
                V = np.asarray(V)
                return np.einsum("ncd,nc->nd", J, np.einsum("ncd,nd->nc", J, V)) + hess_op(V)

            return free_matvec

        H = np.einsum("ncd,nce->nde", J, J)
        H = H + np.einsum("nc,ncde->nde", R, self._hessians(X))

        def matvec(V):
            return np.einsum("nde,ne->nd", H, np.asarray(V))

        return matvec


def make_input_hessian_adapter(estimator, *, input_shape=None, curvature="hessian"):
    """Wrap a fitted model so that per-sample input-Hessian products can be taken.

    Parameters
    ----------
    estimator : object
        One of: a fitted skorch net (its ``module_`` and ``criterion_``; the
        loss is the one the net is trained with, summed over samples); a torch
        ``nn.Module`` returning logits (cross-entropy); a fitted
        :class:`~sklearn.linear_model.LogisticRegression` (or any fitted linear
        classifier with ``coef_`` and ``predict_proba``; closed form); a fitted
        estimator with an analytic ``input_hessian`` (``GradRegKRR``,
        ``GradRegKRRClassifier``); any of these wrapped in
        :class:`sklearn.frozen.FrozenEstimator`; or an adapter, returned as is.
    input_shape : tuple of int or None, default=None
        Shape of one sample as the model expects it (torch models). ``None``
        means flat vectors of the model's input size (sklearn models); required
        for torch models.
    curvature : {"hessian", "gauss_newton"}, default="hessian"
        The full input Hessian of the loss or its Gauss-Newton part.

    Returns
    -------
    adapter : object
        Has ``n_features``, ``input_shape``, ``predict_labels(X)``,
        ``check_labels(y, n)`` and ``batch_operator(X, y)``.
    """
    if curvature not in _CURVATURES:
        raise ValueError(f"curvature must be one of {_CURVATURES}; got {curvature!r}.")
    if isinstance(estimator, InputHessianAdapter):
        return estimator
    from sklearn.frozen import FrozenEstimator

    while isinstance(estimator, FrozenEstimator):  # kept fitted through clone: unwrap
        estimator = estimator.estimator
    if _torch.is_fitted_skorch_net(estimator):
        if input_shape is None:
            raise ValueError("input_shape is required for a skorch net.")
        encoder = None
        if hasattr(estimator, "label_encoder_"):  # e.g. sklpoison.nn.GradRegNetClassifier
            encoder = estimator.label_encoder_.transform
        return InputHessianTorchAdapter(
            estimator.module_,
            _torch.skorch_loss(estimator, reduction="sum"),
            input_shape,
            curvature,
            label_kind=_torch.skorch_label_kind(estimator),
            encoder=encoder,
        )
    if _torch.is_skorch_net(estimator):
        raise ValueError(
            f"The skorch net {type(estimator).__name__} is not fitted (or not initialized): "
            "fit it (or call .initialize()) before analysing its curvature."
        )
    if _torch.is_torch_module(estimator):
        if input_shape is None:
            raise ValueError("input_shape is required for a torch module.")
        return InputHessianTorchAdapter(
            estimator, _torch.cross_entropy_sum, input_shape, curvature, label_kind="index"
        )
    if hasattr(estimator, "input_hessian"):
        return InputHessianAnalyticAdapter(estimator, curvature)
    if hasattr(estimator, "coef_") and hasattr(estimator, "predict_proba"):
        coef = np.asarray(estimator.coef_)
        if coef.ndim == 2:
            return InputHessianLogisticAdapter(estimator, curvature)
    if hasattr(estimator, "predict_proba") and not hasattr(estimator, "coef_"):
        try:
            check_is_fitted(estimator)
        except Exception as exc:
            raise ValueError(
                f"{type(estimator).__name__} is not fitted: fit it before analysing its curvature."
            ) from exc
    raise ValueError(
        f"Cannot take input Hessians of {type(estimator).__name__}: pass a fitted skorch net, a "
        "torch nn.Module (logits), a fitted LogisticRegression, or a fitted model with an "
        "analytic input_hessian (GradRegKRR, GradRegKRRClassifier)."
    )
