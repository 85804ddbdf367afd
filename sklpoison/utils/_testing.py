"""Reference implementations for tests and benchmarks (not used by any estimator).

Each one computes, slowly and directly, what a fast path of the library computes, so that
the tests can compare the two:

- :func:`dense_per_sample_hessians`: every per-sample input Hessian, formed column by
  column from the adapters' batched products (checks Lanczos and the closed forms);
- :func:`project_exact`: FLORAL's projection onto ``{0 <= lam <= C, y^T lam = 0}`` as a
  cvxpy QP (checks the fixed-point projection);
- :func:`linear_torch_adapter`: a torch twin of a
  ``ParamGradLinearAdapter`` (checks the analytic numpy gradients against autograd);
- :func:`replay_training` (with :func:`training_targets`): a fitted certifier's own SGD
  rerun on many attacked training sets at once (the replayed attacks that every
  certificate is checked against).
"""

import numpy as np

from ..numerics._lanczos import _batches


def dense_per_sample_hessians(adapter, X, y, *, batch_size=None):
    """Per-sample Hessians ``(n, d, d)`` formed from ``d`` batched products (reference use only)."""
    X = np.asarray(X)
    n, d = X.shape[0], adapter.n_features
    H = np.empty((n, d, d))
    eye = np.eye(d)
    for sl in _batches(n, batch_size):
        op = adapter.batch_operator(X[sl], y[sl])
        n_b = sl.stop - sl.start
        for j in range(d):
            H[sl, :, j] = op(np.broadcast_to(eye[j], (n_b, d)))
    return H


def project_exact(z, y, C):
    """One-off exact projection with cvxpy (see ``sklpoison.defences._floral._ExactProjector``)."""
    from ..defences._floral import _ExactProjector

    return _ExactProjector(z.shape[0], C)(z, y, C)[0]


def linear_torch_adapter(lin):
    """A ``ParamGradTorchAdapter`` computing what ``ParamGradLinearAdapter`` ``lin`` does.

    Used to check the analytic numpy path against autograd (the data terms;
    regularisation is added by ``ParamGradLinearAdapter.penalty_grad`` in both).
    """
    import torch

    from ..numerics._param_gradients import ParamGradTorchAdapter

    K, d = lin.K, lin.d
    theta = torch.as_tensor(lin.get_theta(), dtype=torch.float64)
    params = {"coef": theta[: K * d].reshape(K, d)}
    if lin.fit_intercept:
        params["intercept"] = theta[K * d :]

    def forward(p, X):
        out = X @ p["coef"].T
        if "intercept" in p:
            out = out + p["intercept"]
        return out

    if lin.link == "softmax":
        output = "logits"
    elif lin.K == 1:
        output = "logit1"
    else:
        raise ValueError("one-vs-rest sigmoid models have no torch twin here")
    return ParamGradTorchAdapter(forward, params, lin.classes_, output=output, dtype=torch.float64)


def training_targets(certifier, y):
    """A fitted certifier's targets ``y`` (any leading shape) in its training layout.

    Regression: ``y[..., None]``; classification: the class index (one logit) or the
    one-hot rows (one logit per class), as ``fit`` encodes them.
    """
    from sklearn.base import is_regressor

    if is_regressor(certifier):
        return np.asarray(y, dtype=np.float64)[..., None]
    idx = certifier._class_index(np.asarray(y).ravel()).reshape(np.shape(y))
    n_out = certifier.n_outputs_
    return idx[..., None].astype(np.float64) if n_out == 1 else np.eye(n_out)[idx]


def replay_training(certifier, X, y, clip_gamma="fit"):
    """Retrain a fitted certifier's nominal model, with ``fit``'s own SGD step, on many sets.

    ``X`` of shape ``(..., n_samples, n_features)`` and ``y`` of shape ``(..., n_samples)``
    (leading axes: attacked copies of the training set, each retrained with the
    initialisation and batch order of the fit). Returns the list of ``(W, b)`` with the
    same leading axes. ``clip_gamma`` overrides the clipping level (``"fit"``: the
    certifier's own).
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(certifier)
    X = np.asarray(X, dtype=np.float64)
    n_out = certifier.n_outputs_
    plan = certifier._training_plan(X.shape[-2], X.shape[-1], n_out)
    Y = training_targets(certifier, y)
    clip = certifier.clip_gamma if clip_gamma == "fit" else clip_gamma
    kind = certifier._loss_kind(n_out)
    params = [(W.copy(), b.copy()) for W, b in plan.params0]
    bufs = plan.initial_buffers()
    for _, idx, eta, decay in plan.steps():
        params, bufs = plan.step(
            params, bufs, X[..., idx, :], Y[..., idx, :], kind, eta, decay, clip
        )
    return params
