"""Propagators of the reachable parameter set: one object per abstract domain.

Every propagator has the same interface: it is built from the initial
parameters and the threat model, advanced by :meth:`step` once per SGD step
(after the nominal step, on the same batch), and read with :meth:`bounds`,
the per-layer box ``(W_lo, W_hi, b_lo, b_hi)`` that contains every parameter
vector reachable under the threat model.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from ..numerics import interval as ia
from ..numerics.rounding import U
from ._box import (
    _interval_backward,
    _interval_deltas,
    _interval_forward,
    _output_grad_interval,
    _sgd_box_update,
)
from ._threat import _combine_per_sample, _variant_terms
from ._zonotope import _affine_zonotope_update, _linear_excess, _zonotope_box


@dataclass(frozen=True)
class _Threat:
    """The resolved threat model of one fit.

    ``kx``: feature-poisoned samples per batch (``eps`` ball); ``ky``: label changes
    per batch; ``nu``: bound on a regression target's change; ``n_poison``: the raw
    budget (the unbounded adversary's count).
    """

    kind: str
    kx: int
    ky: int
    eps: float
    nu: float
    paired: bool
    unbounded: bool
    n_poison: int
    clip: object
    label_sets: object


class _Propagator:
    """Common state: the divergence flag and the switch to an infinite box."""

    diverged = False
    diverged_at = None
    warn_divergence = True
    warned = False

    def _check_finite(self, box, step):
        if all(np.all(np.isfinite(a)) for layer in box for a in layer):
            return box
        # the set is unbounded: stop propagating it (the nominal training goes on)
        # and make the certificates vacuous
        self.diverged, self.diverged_at = True, step
        if self.warn_divergence:
            self.warned = True
            warnings.warn(
                f"The parameter box diverged at step {step}; certificates are vacuous. "
                "Reduce lr, n_epochs or the poisoning budget.",
                RuntimeWarning,
                stacklevel=4,
            )
        return [
            tuple(np.full_like(a, s * np.inf) for a, s in zip(layer, (-1, 1, -1, 1)))
            for layer in box
        ]


class BoxPropagator(_Propagator):
    """Interval (box) propagation of every layer (Sosnin et al., 2024).

    Per step: bounds on every clean sample's gradient over the box and on
    every poisonable sample's gradient over the box and the allowed changes;
    the sorted sums of the differences bound the batch gradient; the box is
    mapped by the SGD update (the lower end moves by the upper gradient bound).
    """

    def __init__(self, params, threat):
        self.threat = threat
        self.box = [(W.copy(), W.copy(), b.copy(), b.copy()) for W, b in params]

    def bounds(self):
        return self.box

    def step(self, Xb, Yb, idx, eta, decay, step=0):
        if self.diverged:
            return
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            grads = self._gradient_bounds(Xb, Yb, idx)
            box = []
            for (W_lo, W_hi, b_lo, b_hi), (gW_lo, gW_hi, gb_lo, gb_hi) in zip(self.box, grads):
                nW_lo, nW_hi = _sgd_box_update(W_lo, W_hi, gW_lo, gW_hi, decay, eta)
                nb_lo, nb_hi = _sgd_box_update(b_lo, b_hi, gb_lo, gb_hi, decay, eta)
                box.append((nW_lo, nW_hi, nb_lo, nb_hi))
        self.box = self._check_finite(box, step + 1)

    def _labels_for(self, Yb, idx, flipped):
        t = self.threat
        if t.kind == "squared_error":
            return (Yb, float(t.nu) if flipped else 0.0)
        onehot, flip = t.label_sets
        return flip[idx] if flipped else onehot[idx]

    def _gradient_bounds(self, Xb, Yb, idx):
        """Bounds ``(gW_lo, gW_hi, gb_lo, gb_hi)`` per layer on the batch-mean gradient."""
        t, box = self.threat, self.box
        kind, kx, ky, eps, clip = t.kind, t.kx, t.ky, t.eps, t.clip
        B = Xb.shape[0]
        hs, zs = _interval_forward(box, Xb, Xb)
        clean_lab = self._labels_for(Yb, idx, False)
        d_lo, d_hi = _output_grad_interval(kind, *zs[-1], clean_lab)
        poisoned = (kx > 0 or ky > 0 or t.unbounded) and B > 0
        if not (poisoned or clip is not None):
            clean = _interval_backward(box, hs, zs, d_lo, d_hi)
            return [tuple(a / B for a in layer) for layer in clean]

        # per-sample bounds: (layer inputs, output deltas) of every variant
        variants = {"clean": (hs, _interval_deltas(box, zs, d_lo, d_hi))}
        hs_x = zs_x = None
        if kx > 0:
            # x -/+ eps: one rounded operation each, 2 U plus a nextafter step covers it
            x_lo, x_hi = ia.outward(Xb - eps, Xb + eps, rel=2 * U)
            hs_x, zs_x = _interval_forward(box, x_lo, x_hi)
        flip_lab = self._labels_for(Yb, idx, True) if ky > 0 else None
        wanted = []
        if kx > 0 and not (t.paired and ky > 0):
            wanted.append(("x", hs_x, zs_x, clean_lab))
        if ky > 0 and not (t.paired and kx > 0):
            wanted.append(("y", hs, zs, flip_lab))
        if kx > 0 and ky > 0:
            wanted.append(("xy", hs_x, zs_x, flip_lab))
        for name, hv, zv, lab in wanted:
            pd_lo, pd_hi = _output_grad_interval(kind, *zv[-1], lab)
            variants[name] = (hv, _interval_deltas(box, zv, pd_lo, pd_hi))
        if t.unbounded:
            terms = None
        else:
            terms = _variant_terms(kx, ky, t.paired)
        return _combine_per_sample(variants, len(box), B, terms, min(t.n_poison, B), clip)


class LinearZonotopePropagator(_Propagator):
    """Zonotope propagation for single-output linear regression (squared error, no clipping).

    The clean gradient is affine in the parameters, so the clean part of the
    step maps a zonotope of parameters exactly; only the poisoning's excess is
    bounded by intervals (one new diagonal generator per step).
    """

    def __init__(self, params, threat):
        ((W, b),) = params
        self.threat = threat
        self.centre = np.concatenate([W[:, 0], b])
        self.gens = np.zeros((len(self.centre), 0))
        self.box = [(W.copy(), W.copy(), b.copy(), b.copy())]

    def bounds(self):
        return self.box

    def step(self, Xb, Yb, idx, eta, decay, step=0):
        if self.diverged:
            return
        t = self.threat
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            excess = _linear_excess(self.box[0], Xb, Yb, t.kx, t.ky, t.eps, float(t.nu), t.paired)
            self.centre, self.gens = _affine_zonotope_update(
                self.centre, self.gens, Xb, Yb, excess, decay, eta
            )
            box = [_zonotope_box(self.centre, self.gens)]
        self.box = self._check_finite(box, step + 1)
