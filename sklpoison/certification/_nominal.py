"""The nominal (unperturbed) model and SGD run that the certifier bounds."""

import numpy as np

from ..numerics import interval as ia


# --------------------------------------------------------------------------
# nominal model (numpy, broadcasts over leading "replay" axes)
# --------------------------------------------------------------------------
def _forward(params, X):
    """Nominal forward pass; returns the list of inputs to each layer and pre-activations."""
    hs, zs = [X], []
    for layer, (W, b) in enumerate(params):
        z = hs[-1] @ W + b[..., None, :]
        zs.append(z)
        if layer < len(params) - 1:
            hs.append(np.maximum(z, 0.0))
    return hs, zs


def _output_grad(kind, z, Y):
    """Derivative of the per-sample loss w.r.t. the output ``z``."""
    if kind == "squared_error":
        return 2.0 * (z - Y)
    if kind == "binary":
        return ia.sigmoid(z) - Y
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    return p - Y


def _nominal_grads(params, X, Y, kind, clip_gamma):
    """Mean (optionally per-sample clipped) gradient of the batch loss."""
    hs, zs = _forward(params, X)
    delta = _output_grad(kind, zs[-1], Y)
    n = X.shape[-2]
    grads = [None] * len(params)
    for layer in range(len(params) - 1, -1, -1):
        h = hs[layer]
        if clip_gamma is None:
            gW = np.swapaxes(h, -1, -2) @ delta / n
            gb = delta.sum(axis=-2) / n
        else:
            gW = np.clip(h[..., :, None] * delta[..., None, :], -clip_gamma, clip_gamma)
            gW = gW.sum(axis=-3) / n
            gb = np.clip(delta, -clip_gamma, clip_gamma).sum(axis=-2) / n
        grads[layer] = (gW, gb)
        if layer > 0:
            delta = (delta @ np.swapaxes(params[layer][0], -1, -2)) * (zs[layer - 1] > 0)
    return grads


def _lr_at(step, lr, lr_decay, lr_min):
    return max(lr / (1.0 + lr_decay * step), lr_min)


def _sgd_nominal(params, X, Y, batches, kind, *, lr, lr_decay, lr_min, l2, clip_gamma):
    """Plain mini-batch SGD; ``X``/``Y`` may carry a leading replay axis (many trainings)."""
    params = [(W.copy(), b.copy()) for W, b in params]
    for step, idx in enumerate(batches):
        eta = _lr_at(step, lr, lr_decay, lr_min)
        grads = _nominal_grads(params, X[..., idx, :], Y[..., idx, :], kind, clip_gamma)
        params = [
            ((1 - eta * l2) * W - eta * gW, (1 - eta * l2) * b - eta * gb)
            for (W, b), (gW, gb) in zip(params, grads)
        ]
    return params
