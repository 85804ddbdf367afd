"""The nominal (unperturbed) model and SGD run that the certifier bounds."""

import numpy as np

from ..numerics import interval as ia
from ..utils._progress import progress


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


def _sgd_step(params, Xb, Yb, kind, eta, decay, clip_gamma):
    """One SGD step ``theta <- decay theta - eta grad``: the step ``fit`` runs and replays use.

    ``Xb`` / ``Yb`` may carry leading "replay" axes (many trainings at once).
    """
    grads = _nominal_grads(params, Xb, Yb, kind, clip_gamma)
    return [(decay * W - eta * gW, decay * b - eta * gb) for (W, b), (gW, gb) in zip(params, grads)]


def _penalised_step(params, bufs, grads, eta, decay, momentum, l1, l2):
    """SGD with momentum and an L1 penalty, as ``torch.optim.SGD(momentum, weight_decay=l2)``
    on the loss plus ``l1 ||theta||_1``: ``d = g + l2 theta + l1 sign(theta)``,
    ``buf <- momentum buf + d`` (``buf = 0`` before the first step) and
    ``theta <- theta - eta buf``, computed as ``decay theta - eta (g + momentum buf + l1
    sign(theta))`` (``decay = 1 - eta l2``, the same in exact arithmetic), the form the
    certified sets are propagated in. Returns the new parameters and buffers.
    """
    new_params, new_bufs = [], []
    for (W, b), (gW, gb), (mW, mb) in zip(params, grads, bufs):
        layer, layer_buf = [], []
        for p, g, m in ((W, gW, mW), (b, gb, mb)):
            s = l1 * np.sign(p)
            layer.append(decay * p - eta * (g + momentum * m + s))
            layer_buf.append(momentum * m + g + l2 * p + s)
        new_params.append(tuple(layer))
        new_bufs.append(tuple(layer_buf))
    return new_params, new_bufs


class _TrainingPlan:
    """Initial parameters, batch order, step sizes and update rule of one (replayable) SGD run."""

    def __init__(
        self, params0, batches, n_epochs, *, lr, lr_decay, lr_min, l2, momentum=0.0, l1=0.0
    ):
        self.params0 = params0
        self.batches = batches
        self.n_epochs = n_epochs
        self.lr, self.lr_decay, self.lr_min, self.l2 = lr, lr_decay, lr_min, l2
        self.momentum, self.l1 = momentum, l1

    def initial_buffers(self):
        """Zero momentum buffers of the shape of the parameters (``None`` for plain SGD)."""
        if self.momentum == 0 and self.l1 == 0:
            return None
        return [(np.zeros_like(W), np.zeros_like(b)) for W, b in self.params0]

    def step(self, params, bufs, Xb, Yb, kind, eta, decay, clip_gamma):
        """One step of the run: ``(params, bufs)`` after it (``bufs`` from :meth:`initial_buffers`).

        ``Xb`` / ``Yb`` (and the parameters, buffers) may carry leading "replay" axes.
        """
        if bufs is None:  # plain SGD: decay theta - eta g
            return _sgd_step(params, Xb, Yb, kind, eta, decay, clip_gamma), None
        grads = _nominal_grads(params, Xb, Yb, kind, clip_gamma)
        return _penalised_step(params, bufs, grads, eta, decay, self.momentum, self.l1, self.l2)

    def steps(self, verbose=0, desc="IntervalCertifier"):
        """Yield ``(step, batch_indices, eta, decay)`` for every SGD step, in order."""
        per_epoch = len(self.batches) // self.n_epochs
        epochs = progress(range(self.n_epochs), verbose, desc=desc, unit="epoch")
        step = 0
        for _ in epochs:
            for idx in self.batches[step : step + per_epoch]:
                eta = _lr_at(step, self.lr, self.lr_decay, self.lr_min)
                yield step, idx, eta, 1.0 - eta * self.l2
                step += 1
