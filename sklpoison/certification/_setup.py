"""Configuration checks of :class:`~sklpoison.IntervalCertifier` and the choice of propagator.

Validation of parameter combinations (before and after seeing the data) and
the resolved threat model; :meth:`_SetupMixin._propagator` picks the abstract
domain (box, linear-regression zonotope, logistic / softmax zonotope).
"""

import warnings
from numbers import Integral

import numpy as np

from ..utils._optional import import_optional
from ._logit_zonotope import LogitZonotopePropagator
from ._propagators import BoxPropagator, LinearZonotopePropagator, _Threat


class _SetupMixin:
    """Private configuration helpers (mixed into IntervalCertifier)."""

    def _check_config(self):
        if self.bound == "lp":
            # fail before a possibly long fit, not when the first certificate is asked for
            import_optional("cvxpy", extra="convex", feature="IntervalCertifier(bound='lp')")
        loss = self._resolved_loss()
        is_str = isinstance(self.model, str)
        if is_str and self.model == "linear" and loss != "squared_error":
            raise ValueError(
                f"model='linear' trains with loss='squared_error'; got loss={self.loss!r}. "
                f"Use model='logistic' for classification."
            )
        if is_str and self.model == "logistic" and loss != "log_loss":
            raise ValueError(
                f"model='logistic' trains with loss='log_loss'; got loss={self.loss!r}. "
                f"Use model='linear' for regression."
            )
        if is_str and self.model == "mlp":
            sizes = tuple(self.hidden_layer_sizes)
            if len(sizes) == 0 or any(
                not isinstance(s, Integral) or isinstance(s, bool) or s < 1 for s in sizes
            ):
                raise ValueError(
                    "model='mlp' needs hidden_layer_sizes, a non-empty tuple of positive "
                    f"integers, e.g. (32,); got {self.hidden_layer_sizes!r}."
                )
        # the step size is max(lr / (1 + lr_decay t), lr_min) <= max(lr, lr_min): the decay
        # factor 1 - eta l2 must stay positive (the box update assumes it is non-negative)
        if self.l2 * max(self.lr, self.lr_min) >= 1:
            raise ValueError(
                f"lr * l2 must be < 1 for the weight-decay step to shrink the parameters, with "
                f"lr the largest step size max(lr, lr_min); got lr={self.lr}, "
                f"lr_min={self.lr_min}, l2={self.l2}."
            )
        if self.unbounded:
            if self.clip_gamma is None:
                raise ValueError(
                    "unbounded=True (arbitrary poisoned samples) needs gradient clipping: set "
                    "clip_gamma to a positive float."
                )
            if self.epsilon > 0 or self.n_label_flips > 0 or self.label_epsilon > 0:
                raise ValueError(
                    "unbounded=True already lets the n_poison samples be arbitrary; set "
                    "epsilon=0, n_label_flips=0 and label_epsilon=0."
                )
        if loss == "log_loss" and self.label_epsilon > 0:
            raise ValueError(
                "label_epsilon applies to regression targets; for classification use "
                "n_label_flips (and poison_target)."
            )
        if loss == "squared_error" and self.poison_target is not None:
            raise ValueError("poison_target applies to classification only; set it to None.")
        return loss

    def _check_budgets(self, n_samples):
        """Poisoning budgets larger than a batch are nonsense (issue: silently accepted)."""
        bs = n_samples if self.batch_size is None else min(self.batch_size, n_samples)
        where = "the training set" if bs == n_samples else f"a batch (batch_size={self.batch_size})"
        for name in ("n_poison", "n_label_flips"):
            k = getattr(self, name)
            if k > bs:
                raise ValueError(
                    f"{name}={k} exceeds the {bs} rows of {where}: the budget counts poisoned "
                    f"rows per batch (in total with full-batch training), so it can be at most "
                    f"{bs}. Lower {name} or use larger batches."
                )

    def _check_step_size(self, X, kind, n_out):
        """Warn when lr exceeds 2 / L for the smoothness constant L of the (convex) loss.

        For a single-layer model the mean loss has a Hessian at most
        ``c lambda_max(X_a^T X_a) / n + l2`` with ``X_a = [X, 1]`` and ``c = 2``
        (squared error), ``1/4`` (sigmoid) or ``1/2`` (softmax); gradient descent with
        ``lr > 2 / L`` can oscillate or diverge, and the certified bounds with it.
        """
        if not isinstance(self.model, str) or self.model == "mlp" or X.shape[0] == 0:
            return
        c = {"squared_error": 2.0, "binary": 0.25, "ce": 0.5}[kind]
        Xa = np.hstack([X, np.ones((X.shape[0], 1))])
        L = c * np.linalg.norm(Xa, 2) ** 2 / X.shape[0] + self.l2
        if self.lr > 2.0 / L:
            warnings.warn(
                f"lr={self.lr} exceeds 2 / L = {2.0 / L:.3g}, where L = {L:.3g} bounds the "
                "curvature of the training loss on X: gradient descent may oscillate or "
                "diverge, and the certified bounds grow with it. Use lr < 2 / L.",
                UserWarning,
                stacklevel=3,
            )

    def _threat(self, kind, label_sets):
        """The resolved threat model (budgets that cannot matter are set to 0)."""
        kx = 0 if self.unbounded else self.n_poison
        ky = self.n_label_flips
        if kind == "squared_error" and self.label_epsilon == 0:
            ky = 0
        eps = float(self.epsilon) if kx > 0 else 0.0
        if eps == 0:
            kx = 0
        return _Threat(
            kind=kind,
            kx=kx,
            ky=ky,
            eps=eps,
            nu=float(self.label_epsilon),
            paired=self.paired,
            unbounded=self.unbounded,
            n_poison=self.n_poison,
            clip=self.clip_gamma,
            label_sets=label_sets,
        )

    def _propagator(self, params, kind, label_sets, n_samples):
        threat = self._threat(kind, label_sets)
        single = len(params) == 1 and self.clip_gamma is None and not self.unbounded
        if self.domain == "zonotope" and not single:
            raise ValueError(
                "domain='zonotope' needs a single-layer model (model='linear' or 'logistic', or "
                "a torch Sequential with one Linear layer), clip_gamma=None and "
                "unbounded=False; use domain='box' (or 'auto')."
            )
        if self.domain == "box" or not single:
            return BoxPropagator(params, threat)
        # the clean gradient of linear regression is affine in the parameters: the
        # clean part of the step maps a zonotope of parameters exactly
        if kind == "squared_error":
            return LinearZonotopePropagator(params, threat)
        P = params[0][0].size + params[0][1].size
        full_batch = self.batch_size is None or self.batch_size >= n_samples
        return LogitZonotopePropagator(
            params, threat, BoxPropagator(params, threat), n_samples, full_batch, 2 * P
        )
