"""Model adapters for Gradient Canceling, GradPC, the threshold tau and Sever.

One small adapter per model family exposes what the attacks and the defence
need, on a *flat parameter vector* ``theta``:

- ``get_theta()`` / ``with_theta(theta)``: read the fitted parameters, or
  return a deep copy of the fitted estimator carrying other parameters;
- ``data_loss(theta, X, yi)`` and ``data_grad(theta, X, yi)``: the mean loss
  over rows and its gradient with respect to the whole ``theta``;
- ``penalty_grad(theta, n_clean, n_poison)``: the gradient of the estimator's
  regulariser, scaled so that the stationarity condition of retraining on
  ``n_clean + n_poison`` rows reads
  ``mean_clean_grad + penalty_grad + (1/n_clean) * sum_poison_grads = 0``;
- ``per_sample_grads(theta, X, yi)``: the ``(n, p)`` matrix of per-row
  gradients;
- ``gc_grad(theta, g_eff, Xp, yp, n, mask=None)``: ``u = g_eff + (1/n) sum_j
  grad l(z_j)`` and the gradient of ``1/2 ||u||^2`` with respect to the poison
  features ``Xp`` (equation 34 of Lu, Kamath and Yu, 2023); with a boolean
  ``mask`` over the parameters, ``u`` is restricted to the masked coordinates
  (zero elsewhere) and the gradient is that of ``1/2 ||u[mask]||^2``;
- ``cancel_mask(cancel)``: the mask of ``cancel="all"`` (``None``, every
  parameter) or ``cancel="first_layer"`` (the first parameter tensor: the
  coefficients of a linear model, the first layer's weight of a network;
  intercepts and biases excluded, as in the authors' code);
- ``margins(theta, X, yi, include_intercept)``: per-row ``<h, d l / d h>``,
  whose mean is ``<w, g(mu)>`` in the threshold tau.

Gradients are full batch and, by default, over the whole parameter vector
(coefficients *and* intercepts for linear models, every trainable tensor for
networks); the authors' code cancels the first layer's weight only
(``cancel_mask("first_layer")``).

Labels ``yi`` are always integer codes ``0..c-1`` into ``classes_``.
"""

import copy

import numpy as np
from scipy.special import expit, log_softmax, softmax

from ..utils import _torch

SUPPORTED_MODELS = (
    "sklearn.linear_model.LogisticRegression, "
    "sklearn.linear_model.SGDClassifier(loss='log_loss') and "
    "skorch.NeuralNetClassifier (any torch module, criterion NLLLoss or CrossEntropyLoss)"
)


def check_supported(estimator, who):
    """Raise ``ValueError`` naming the supported models if ``estimator`` is not one."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    if isinstance(estimator, LogisticRegression):
        if estimator.class_weight is not None:
            raise ValueError(
                f"{who} does not support LogisticRegression(class_weight=...) (the weighted "
                "loss is not modelled); use class_weight=None."
            )
        return "linear"
    if isinstance(estimator, SGDClassifier):
        if estimator.loss != "log_loss":
            raise ValueError(
                f"{who} supports SGDClassifier only with loss='log_loss'; got "
                f"loss={estimator.loss!r}. Supported models: {SUPPORTED_MODELS}."
            )
        if estimator.class_weight is not None:
            raise ValueError(f"{who} does not support SGDClassifier(class_weight=...).")
        return "linear"
    if _torch.is_skorch_net(estimator):
        if _torch.skorch_label_kind(estimator) != "index":
            raise ValueError(
                f"{who} supports skorch nets only as NeuralNetClassifier (one output per class, "
                f"class-index targets); got {type(estimator).__name__}. For two classes, use a "
                f"NeuralNetClassifier whose module has two outputs. Supported models: "
                f"{SUPPORTED_MODELS}."
            )
        return "skorch"
    raise ValueError(
        f"{who} does not support estimators of type {type(estimator).__name__}. "
        f"Supported models: {SUPPORTED_MODELS}."
    )


def make_param_grad_adapter(fitted, classes=None):
    """Return the parameter-gradient adapter of a *fitted* supported estimator."""
    kind = check_supported(fitted, "sklpoison")
    if kind == "linear":
        return ParamGradLinearAdapter.from_estimator(fitted)
    return ParamGradSkorchAdapter(fitted, classes=classes)


def _cancel_mask(cancel, n_params, n_first):
    if cancel == "all":
        return None
    if cancel == "first_layer":
        mask = np.zeros(n_params, dtype=bool)
        mask[:n_first] = True
        return mask
    raise ValueError(f"cancel must be 'all' or 'first_layer'; got {cancel!r}.")


# --------------------------------------------------------------------------- linear
class ParamGradLinearAdapter:
    """Analytic (numpy) adapter for linear softmax / sigmoid classifiers.

    ``theta = [coef.ravel(), intercept]`` with ``coef`` of shape ``(K, d)``
    (row ``k`` is class ``k``) and ``intercept`` of shape ``(K,)`` (absent when
    ``fit_intercept=False``). ``link="softmax"``: multinomial cross-entropy
    (``K = c``, scikit-learn's multiclass LogisticRegression).
    ``link="sigmoid"``: a sum of ``K`` binary logistic losses (``K = 1`` for a
    binary model, ``K = c`` one-vs-rest for a multiclass SGDClassifier).

    Regularisation (the intercept is never penalised):
    LogisticRegression minimises ``C sum_i l_i + (1 - l1_ratio)/2 ||coef||^2
    + l1_ratio ||coef||_1`` (``C = inf``: no penalty); SGDClassifier minimises
    ``mean_i l_i + alpha R(coef)`` with ``R`` from ``penalty``/``l1_ratio``.
    """

    def __init__(self, coef, intercept, classes, link, *, estimator=None, reg=None):
        self.coef = np.asarray(coef, dtype=float)
        self.K, self.d = self.coef.shape
        self.fit_intercept = intercept is not None
        self.intercept = (
            np.zeros(self.K) if intercept is None else np.asarray(intercept, float).ravel()
        )
        self.classes_ = np.asarray(classes)
        self.n_classes = self.classes_.size
        self.link = link
        self.estimator = estimator
        self.reg = reg or ("none", 0.0, 0.0)  # (kind, l2 weight, l1 weight)
        self.n_params = self.K * self.d + (self.K if self.fit_intercept else 0)
        self.has_intercept = self.fit_intercept

    # construction --------------------------------------------------------
    @classmethod
    def from_estimator(cls, est):
        from sklearn.linear_model import LogisticRegression

        coef = np.asarray(est.coef_, dtype=float)
        intercept = np.asarray(est.intercept_, float) if est.fit_intercept else None
        classes = est.classes_
        if isinstance(est, LogisticRegression):
            link = "sigmoid" if classes.size == 2 else "softmax"
            if np.isinf(est.C):
                reg = ("lr", 0.0, 0.0)
            else:
                l1 = float(est.l1_ratio or 0.0)
                reg = ("lr", (1.0 - l1) / est.C, l1 / est.C)
        else:  # SGDClassifier(loss="log_loss"), one-vs-rest when multiclass
            link = "sigmoid"
            pen = est.penalty
            if pen is None:
                reg = ("sgd", 0.0, 0.0)
            elif pen == "l2":
                reg = ("sgd", est.alpha, 0.0)
            elif pen == "l1":
                reg = ("sgd", 0.0, est.alpha)
            else:
                reg = ("sgd", est.alpha * (1 - est.l1_ratio), est.alpha * est.l1_ratio)
        return cls(coef, intercept, classes, link, estimator=est, reg=reg)

    def get_theta(self):
        parts = [self.coef.ravel()]
        if self.fit_intercept:
            parts.append(self.intercept)
        return np.concatenate(parts)

    def split(self, theta):
        theta = np.asarray(theta, dtype=float)
        C = theta[: self.K * self.d].reshape(self.K, self.d)
        b = theta[self.K * self.d :] if self.fit_intercept else np.zeros(self.K)
        return C, b

    def with_theta(self, theta):
        est = copy.deepcopy(self.estimator)
        C, b = self.split(theta)
        est.coef_ = C.copy()
        if self.fit_intercept:
            est.intercept_ = b.copy()
        return est

    # core maths ------------------------------------------------------------
    def _onehot(self, yi):
        Y = np.zeros((yi.shape[0], self.K))
        if self.K == 1:
            Y[:, 0] = yi == 1
        else:
            Y[np.arange(yi.shape[0]), yi] = 1.0
        return Y

    def logits(self, theta, X):
        C, b = self.split(theta)
        return X @ C.T + b

    def _probs(self, H):
        return softmax(H, axis=1) if self.link == "softmax" else expit(H)

    def _jvp_link(self, P, A):
        """(d p / d h)^T A row-wise (the link Jacobian is symmetric)."""
        if self.link == "softmax":
            return P * A - P * np.sum(P * A, axis=1, keepdims=True)
        return P * (1.0 - P) * A

    def loss_per_sample(self, theta, X, yi):
        H = self.logits(theta, X)
        if self.link == "softmax":
            return -log_softmax(H, axis=1)[np.arange(H.shape[0]), yi]
        Y = self._onehot(yi)
        return np.sum(np.logaddexp(0.0, H) - Y * H, axis=1)

    def data_loss(self, theta, X, yi):
        return float(np.mean(self.loss_per_sample(theta, X, yi)))

    def _residuals(self, theta, X, yi):
        H = self.logits(theta, X)
        P = self._probs(H)
        return H, P, P - self._onehot(yi)

    def _pack(self, Gc, gb):
        return np.concatenate([Gc.ravel(), gb]) if self.fit_intercept else Gc.ravel()

    def data_grad(self, theta, X, yi):
        _, _, R = self._residuals(theta, X, yi)
        n = X.shape[0]
        return self._pack(R.T @ X / n, R.sum(axis=0) / n)

    def per_sample_grads(self, theta, X, yi):
        _, _, R = self._residuals(theta, X, yi)
        G = (R[:, :, None] * X[:, None, :]).reshape(X.shape[0], -1)
        return np.hstack([G, R]) if self.fit_intercept else G

    def penalty_grad(self, theta, n_clean, n_poison):
        kind, l2, l1 = self.reg
        C, _ = self.split(theta)
        grad = l2 * C + l1 * np.sign(C)
        if kind == "lr":  # C sum_i l_i + R  ->  divide by C n_clean (1/C folded in l2, l1)
            scale = 1.0 / n_clean
        else:  # mean_N l_i + alpha R  ->  multiply by N / n_clean
            scale = (n_clean + n_poison) / n_clean
        return self._pack(scale * grad, np.zeros(self.K))

    def mean_residual(self, theta, X, yi):
        """``mean_i (p_i - e_{y_i})`` over the classes (length ``n_classes``)."""
        _, _, R = self._residuals(theta, X, yi)
        r = R.mean(axis=0)
        if self.K == 1:  # binary sigmoid: p(class 0) - [y = 0] = -(sigmoid - y)
            return np.array([-r[0], r[0]])
        return r

    def margins(self, theta, X, yi, include_intercept=True):
        H, _, R = self._residuals(theta, X, yi)
        if not include_intercept:
            _, b = self.split(theta)
            H = H - b
        return np.sum(H * R, axis=1)

    def cancel_mask(self, cancel):
        """Boolean mask of the cancelled parameters (``None``: all of them)."""
        return _cancel_mask(cancel, self.n_params, self.K * self.d)

    def gc_grad(self, theta, g_eff, Xp, yp, n, mask=None):
        """``u`` and ``d (1/2 ||u[mask]||^2) / d Xp`` in closed form (BLAS only).

        The gradient is ``J^T (mask * u)`` with ``J = du/dXp``: masking the coordinates of
        ``u`` before the backward pass is exact, since the mask is a projection.
        """
        C, b = self.split(theta)
        H = Xp @ C.T + b
        P = self._probs(H)
        R = P - self._onehot(yp)
        u = g_eff + self._pack(R.T @ Xp / n, R.sum(axis=0) / n)
        if mask is not None:
            u = np.where(mask, u, 0.0)
        Uc, ub = self.split(u)
        A = Xp @ Uc.T + (ub if self.fit_intercept else 0.0)
        grad = (R @ Uc + self._jvp_link(P, A) @ C) / n
        return u, grad


# --------------------------------------------------------------------------- torch
class ParamGradTorchAdapter:
    """Autograd adapter on a functional model ``forward(params, X) -> outputs``.

    ``params`` is a dict of trainable tensors (flattened in insertion order into
    ``theta``). ``output`` says what ``forward`` returns: ``"logits"`` (softmax
    cross-entropy), ``"proba"`` (probabilities; the loss is ``-log(p_y + eps)``
    as in skorch's ``NeuralNetClassifier`` with ``NLLLoss``) or ``"logit1"``
    (one binary logit per row, sigmoid loss). Per-sample gradients use
    ``torch.func.vmap(torch.func.grad(...))``; the Gradient Canceling gradient
    is a double backward (a Hessian-vector product in the features).
    """

    def __init__(self, forward, params, classes, output="logits", dtype=None):
        import torch

        self.torch = torch
        self.forward = forward
        self.names = list(params)
        self.shapes = [tuple(p.shape) for p in params.values()]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        first = next(iter(params.values()))
        self.dtype = dtype or first.dtype
        self.device = first.device  # every tensor follows the parameters' device
        self.classes_ = np.asarray(classes)
        self.n_classes = self.classes_.size
        self.output = output
        self.n_params = int(sum(self.sizes))
        self.has_intercept = True  # the last layer's bias (networks end in nn.Linear)
        self._theta0 = torch.cat([p.detach().reshape(-1) for p in params.values()])

    # parameters -------------------------------------------------------------
    def get_theta(self):
        return _torch.to_numpy(self._theta0).copy()

    def _params(self, theta):
        torch = self.torch
        if not torch.is_tensor(theta):
            theta = self._tensor(theta)
        out, i = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            out[name] = theta[i : i + size].reshape(shape)
            i += size
        return out

    def _tensor(self, X):
        return _torch.to_tensor(X, dtype=self.dtype, device=self.device)

    def _label_tensor(self, yi):
        return self.torch.as_tensor(np.asarray(yi), dtype=self.torch.long, device=self.device)

    # losses -----------------------------------------------------------------
    def _log_probs(self, out):
        # skorch's convention: log(p + eps) of probabilities, log_softmax of logits
        return _torch.log_probabilities(out, self.output)

    def _loss_vec(self, params, X, y):
        torch = self.torch
        out = self.forward(params, X)
        if self.output == "logit1":
            h = out.reshape(-1)
            return torch.nn.functional.softplus(h) - y.to(h.dtype) * h
        logp = self._log_probs(out)
        return -logp.gather(-1, y.reshape(-1, 1)).reshape(-1)

    def loss_per_sample(self, theta, X, yi):
        with self.torch.no_grad():
            v = self._loss_vec(self._params(theta), self._tensor(X), self._label_tensor(yi))
        return _torch.to_numpy(v)

    def data_loss(self, theta, X, yi):
        return float(np.mean(self.loss_per_sample(theta, X, yi)))

    def data_grad(self, theta, X, yi):
        torch = self.torch
        theta_t = self._tensor(theta).requires_grad_(True)
        loss = self._loss_vec(self._params(theta_t), self._tensor(X), self._label_tensor(yi))
        (g,) = torch.autograd.grad(loss.mean(), theta_t)
        return _torch.to_numpy(g)

    def per_sample_grads(self, theta, X, yi, batch_size=256):
        from torch.func import grad, vmap

        theta_t = self._tensor(theta)

        def one(th, x, y):
            return self._loss_vec(self._params(th), x[None], y[None])[0]

        f = vmap(grad(one), in_dims=(None, 0, 0))
        X_t, y_t = self._tensor(X), self._label_tensor(yi)
        chunks = [
            _torch.to_numpy(f(theta_t, X_t[i : i + batch_size], y_t[i : i + batch_size]))
            for i in range(0, X_t.shape[0], batch_size)
        ]
        return np.concatenate(chunks, axis=0)

    def penalty_grad(self, theta, n_clean, n_poison):
        return np.zeros(self.n_params)

    def mean_residual(self, theta, X, yi):
        """``mean_i (p_i - e_{y_i})`` over the classes (length ``n_classes``)."""
        torch = self.torch
        with torch.no_grad():
            out = self.forward(self._params(theta), self._tensor(X))
            if self.output == "logit1":
                r = float(torch.sigmoid(out.reshape(-1)).double().mean().item())
                r -= float(np.mean(np.asarray(yi) == 1))
                return np.array([-r, r])
            P = _torch.to_numpy(self._log_probs(out).exp())
        counts = np.bincount(np.asarray(yi), minlength=P.shape[1]) / len(yi)
        return P.mean(axis=0) - counts

    def margins(self, theta, X, yi, include_intercept=True):
        """Per-row ``<h, p - y>`` (Theorem 4 on the last layer, bias included)."""
        torch = self.torch
        with torch.no_grad():
            out = self.forward(self._params(theta), self._tensor(X))
            y = self._label_tensor(yi)
            if self.output == "logit1":
                h = out.reshape(-1)
                return _torch.to_numpy(h * (torch.sigmoid(h) - y.to(h.dtype)))
            # <h, p - y> is invariant to h -> h + const, so log-probabilities
            # stand in for the logits of a network ending in Linear + softmax
            logp = self._log_probs(out)
            P = logp.exp()
            Y = torch.nn.functional.one_hot(y, P.shape[-1]).to(P.dtype)
            return _torch.to_numpy(torch.sum(logp * (P - Y), dim=-1))

    def cancel_mask(self, cancel):
        """Boolean mask of the cancelled parameters (``None``: all of them).

        ``"first_layer"`` is the first trainable tensor in the module's parameter order
        (for ``nn.Linear``/``nn.Conv2d`` first layers, the weight; the bias is the second).
        """
        return _cancel_mask(cancel, self.n_params, self.sizes[0])

    def gc_grad(self, theta, g_eff, Xp, yp, n, mask=None):
        torch = self.torch
        theta_t = self._tensor(theta)
        params = self._params(theta_t.requires_grad_(True))
        X = self._tensor(Xp).requires_grad_(True)
        loss = self._loss_vec(params, X, self._label_tensor(yp)).sum()
        (gp,) = torch.autograd.grad(loss, theta_t, create_graph=True)
        u = self._tensor(g_eff) + gp / n
        if mask is not None:
            u = u * self._tensor(mask.astype(np.float64))
        obj = 0.5 * torch.sum(u * u)
        gx = _torch.input_gradients(obj, X)
        return _torch.to_numpy(u), _torch.to_numpy(gx)


class ParamGradSkorchAdapter(ParamGradTorchAdapter):
    """Adapter of a fitted skorch ``NeuralNetClassifier`` (any torch module).

    The module is evaluated with eval semantics (deterministic dropout and batch
    norm) on an eval view (:func:`sklpoison.utils._torch.eval_view`; the net's own
    module and flags are never touched) through
    ``torch.func.functional_call``; the loss is the net's
    criterion per row (``NLLLoss`` on probabilities as skorch does, or
    ``CrossEntropyLoss`` on logits). Optimizer weight decay is not modelled.
    """

    def __init__(self, net, classes=None):
        from torch.func import functional_call

        output = _torch.skorch_output_kind(net)
        if output not in ("proba", "logits"):
            raise ValueError(
                "sklpoison supports skorch nets whose criterion is torch.nn.NLLLoss (module "
                "returns probabilities) or torch.nn.CrossEntropyLoss (module returns logits); got "
                f"{type(net.criterion_).__name__}."
            )
        crit = net.criterion_
        if getattr(crit, "weight", None) is not None or getattr(crit, "label_smoothing", 0.0):
            raise ValueError(
                "sklpoison does not model class weights (criterion__weight) or label smoothing "
                f"(criterion__label_smoothing) in the loss of a skorch net; got {crit!r}. Use "
                "the criterion without them."
            )
        module = net.module_
        self.net = net
        params = {k: v.detach() for k, v in module.named_parameters() if v.requires_grad}
        # eval semantics on a view of the module: functional_call swaps the parameters
        # of the view, never the caller's, and the caller's train/eval flags stay as they are
        view = _torch.eval_view(module)

        def forward(p, X):
            return functional_call(view, p, (X,))

        if classes is None:
            classes = getattr(net, "classes_", None)
            if classes is None:
                raise ValueError(
                    f"The classes of the skorch net {type(net).__name__} are unknown: pass "
                    "classes (the sorted labels it was trained on)."
                )
        super().__init__(forward, params, classes, output=output)

    def with_theta(self, theta):
        torch = self.torch
        from torch.nn.utils import parametrize

        if any(parametrize.is_parametrized(m) for m in self.net.module_.modules()):
            raise ValueError(
                "The target model is a copy of the skorch net with other parameters, but its "
                "module uses torch.nn.utils.parametrize (e.g. parametrizations.spectral_norm), "
                "which torch refuses to copy or pickle. Use the module without "
                "parametrizations for GradPC and GradientCanceling."
            )
        net = copy.deepcopy(self.net)
        trainable = [p for p in net.module_.parameters() if p.requires_grad]
        vec = torch.as_tensor(np.asarray(theta), dtype=self.dtype, device=trainable[0].device)
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(vec, trainable)
        return net
