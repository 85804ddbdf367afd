"""Certified robustness to data poisoning by interval-bound training (Sosnin et al., 2024).

:class:`IntervalCertifier` (logistic / softmax regression or a ReLU network) and
:class:`IntervalCertifierRegressor` (linear regression or a ReLU network) train by
mini-batch SGD and, alongside the nominal parameters, propagate a set (a box
``[theta_lower, theta_upper]``, or a zonotope for the single-layer models) that contains
every parameter vector that any poisoning inside the threat model could produce with the
same initialisation and batch order. Certificates on test predictions follow from bounds
over the final set.

Reading ``fit``: the training plan and the nominal SGD step are in :mod:`._plan`, the
propagators of the reachable set in :mod:`._box` and :mod:`._zonotope` (persistent
label-flip symbols in :mod:`._flips`), the threat model and its sorted sums in
:mod:`._threat`; the LP refinement of the certificates (``bound="lp"``) in :mod:`._lp`.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context, is_regressor
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data

from ..exceptions import VacuousCertificateWarning
from ..numerics import interval as ia
from ..numerics.rounding import TINY, U, gamma
from ..utils._optional import import_optional
from ..utils.validation import (
    check_finite_result,
    check_known_labels,
    check_n_classes,
    warn_user,
)
from ._box import BoxPropagator, Intersection, _interval_forward
from ._flips import _alternatives
from ._plan import _forward, _TrainingPlan
from ._threat import _Threat
from ._zonotope import LinearZonotopePropagator, LogitZonotopePropagator
from ._zonotope_mlp import MLPZonotopePropagator, network_zonotope_affordable


def _to_numpy_params(module):
    """Linear/ReLU torch ``Sequential`` -> list of float64 ``(W (in, out), b (out,))``."""
    import torch

    from ..utils._torch import to_numpy  # any device: detach, cpu, float64

    params, expect_linear = [], True
    for child in module.children() if hasattr(module, "children") else []:
        if isinstance(child, torch.nn.Linear):
            if not expect_linear:
                raise ValueError(
                    "model must alternate Linear and ReLU layers (two Linear layers in a row "
                    "found); a ReLU is needed between Linear layers."
                )
            W = to_numpy(child.weight).T.copy()
            if child.bias is None:
                raise ValueError("every torch.nn.Linear of model must have a bias.")
            b = to_numpy(child.bias).copy()
            if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
                raise ValueError(
                    f"model's Linear layer {len(params)} holds NaN or infinite weights; the "
                    "initialisation must be finite (re-initialise or load finite weights)."
                )
            params.append((W, b))
            expect_linear = False
        elif isinstance(child, torch.nn.ReLU):
            if expect_linear:
                raise ValueError("model has a ReLU that does not follow a Linear layer.")
            expect_linear = True
        else:
            raise ValueError(
                f"model may only contain torch.nn.Linear and torch.nn.ReLU layers; got "
                f"{type(child).__name__}."
            )
    if not params or expect_linear:
        raise ValueError("model must be a torch.nn.Sequential ending with a Linear layer.")
    return params


class _LPOnce:
    """The LP relaxation of one public call: built on first use, at most once per call."""

    def __init__(self, box):
        self._box, self._lp = box, None

    def get(self):
        if self._lp is None:
            from ._lp import LPForwardBounds

            self._lp = LPForwardBounds(self._box)
        return self._lp


class _BaseIntervalCertifier(BaseEstimator):
    """Training and output bounds shared by :class:`IntervalCertifier` and
    :class:`IntervalCertifierRegressor` (the parameters they share, the nominal SGD run
    and the propagation of the reachable set beside it).

    Warning: This class should not be used directly. Use derived classes instead.
    """

    _parameter_constraints = {
        "hidden_layer_sizes": [tuple, list],
        "n_poison": [Interval(Integral, 0, None, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "n_label_flips": [Interval(Integral, 0, None, closed="left")],
        "paired": ["boolean"],
        "unbounded": ["boolean"],
        "clip_gamma": [Interval(Real, 0, None, closed="neither"), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_decay": [Interval(Real, 0, None, closed="left")],
        "lr_min": [Interval(Real, 0, None, closed="left")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "l2": [Interval(Real, 0, None, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "domain": [StrOptions({"auto", "zonotope", "box"})],
        "bound": [StrOptions({"interval", "lp"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model,
        *,
        hidden_layer_sizes=(),
        n_poison=0,
        epsilon=0.0,
        n_label_flips=0,
        paired=False,
        unbounded=False,
        clip_gamma=None,
        lr=0.1,
        lr_decay=0.0,
        lr_min=0.0,
        n_epochs=50,
        batch_size=None,
        l2=0.0,
        l1=0.0,
        momentum=0.0,
        domain="auto",
        bound="interval",
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.hidden_layer_sizes = hidden_layer_sizes
        self.n_poison = n_poison
        self.epsilon = epsilon
        self.n_label_flips = n_label_flips
        self.paired = paired
        self.unbounded = unbounded
        self.clip_gamma = clip_gamma
        self.lr = lr
        self.lr_decay = lr_decay
        self.lr_min = lr_min
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.l2 = l2
        self.l1 = l1
        self.momentum = momentum
        self.domain = domain
        self.bound = bound
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = False
        return tags

    def _label_epsilon(self):
        """The bound on a poisoned regression target (0 for classification)."""
        return 0.0

    # ------------------------------------------------------- vacuous results
    def _what_to_try(self, test_epsilon=0.0):
        """What to change when the certificates are vacuous, naming this estimator's values
        (and the certificate's test-time radius, when there is one)."""
        budget = [
            f"{name}={getattr(self, name)}"
            for name in ("n_poison", "n_label_flips", "epsilon", "label_epsilon")
            if getattr(self, name, 0)
        ]
        tries = [f"a smaller test-time radius (epsilon={test_epsilon:g})"] if test_epsilon else []
        tries += [
            f"a smaller poisoning budget ({', '.join(budget) or 'the threat model'})",
            f"fewer epochs (n_epochs={self.n_epochs}) or a smaller lr (lr={self.lr})",
        ]
        if self.bound == "interval":
            tries.append("bound='lp' (tighter output bounds; extra 'convex')")
        if self.domain == "box" and isinstance(self.model, str) and self.model != "mlp":
            tries.append("domain='zonotope'")
        if not is_regressor(self):  # partition aggregation certifies classifiers only
            tries.append(
                "for budgets this large, a defence certified by construction: "
                "sklpoison.certification.PartitionAggregationClassifier"
            )
        return "Try " + "; ".join(tries) + "."

    def _warn_if_vacuous(self, method, nothing_certified, detail="", test_epsilon=0.0):
        """A :class:`~sklpoison.exceptions.VacuousCertificateWarning` from a certificate
        method when the bounds diverged at fit or ``nothing_certified`` holds."""
        if not (self.bounds_diverged_ or nothing_certified):
            return
        reason = (
            "the parameter bounds diverged during fit"
            if self.bounds_diverged_
            else f"no prediction is certified{detail}"
        )
        warn_user(
            f"{type(self).__name__}.{method}: {reason}, so the certificate is vacuous. "
            + self._what_to_try(test_epsilon),
            VacuousCertificateWarning,
        )

    # ------------------------------------------------------------ validation
    def _check_config(self):
        if self.bound == "lp":
            # fail before a possibly long fit, not when the first certificate is asked for
            import_optional("cvxpy", extra="convex", feature="IntervalCertifier(bound='lp')")
        if isinstance(self.model, str) and self.model == "mlp":
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
            if self.epsilon > 0 or self.n_label_flips > 0 or self._label_epsilon() > 0:
                raise ValueError(
                    "unbounded=True already lets the n_poison samples be arbitrary; set "
                    "epsilon=0, n_label_flips=0"
                    + (" and label_epsilon=0." if is_regressor(self) else ".")
                )

    def _check_budgets(self, n_samples):
        """Refuse poisoning budgets larger than a batch (they count poisoned rows per batch)."""
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
        if kind == "squared_error" and self._label_epsilon() == 0:
            ky = 0
        eps = float(self.epsilon) if kx > 0 else 0.0
        if eps == 0:
            kx = 0
        return _Threat(
            kind=kind,
            kx=kx,
            ky=ky,
            eps=eps,
            nu=float(self._label_epsilon()),
            paired=self.paired,
            unbounded=self.unbounded,
            n_poison=self.n_poison,
            clip=self.clip_gamma,
            label_sets=label_sets,
        )

    def _propagator(self, params, kind, label_sets, n_samples):
        threat = self._threat(kind, label_sets)
        sgd = dict(momentum=self.momentum, l1=self.l1, l2=self.l2)
        plain = self.clip_gamma is None and not self.unbounded
        single = len(params) == 1 and plain
        full_batch = self.batch_size is None or self.batch_size >= n_samples
        # networks: classification (binary or softmax head), plain SGD steps only
        # (momentum and l1 are bounded by the box domain there)
        network = (
            len(params) > 1
            and plain
            and not self.momentum
            and not self.l1
            and kind != "squared_error"
        )
        if self.domain == "zonotope" and not (single or network):
            raise ValueError(
                "domain='zonotope' needs clip_gamma=None and unbounded=False, and either a "
                "single-layer model (model='linear' or 'logistic', or a torch Sequential with "
                "one Linear layer) or a ReLU network classifier (IntervalCertifier) trained "
                "by plain SGD (momentum=0, l1=0); use domain='box' (or 'auto')."
            )
        # "auto" takes a network's zonotope where it gains most for its cost: full-batch
        # label flips (persistent symbols); the per-step excess of other threats needs every
        # row's gradient as forms (rows x parameters x generators) and gains less
        # and only where its counted cost is within a budget of the box's
        persistent = full_batch and threat.ky > 0 and threat.kx == 0
        P = sum(W.size + b.size for W, b in params)
        if network and self.domain == "auto":
            n_alts = _alternatives(threat.label_sets).shape[1] if threat.ky > 0 else 1
            if not (persistent and network_zonotope_affordable(P, n_samples, n_alts)):
                network = False
        if self.domain == "box" or not (single or network):
            return BoxPropagator(params, threat, **sgd)
        if network:
            return Intersection(
                BoxPropagator(params, threat, **sgd),
                MLPZonotopePropagator(params, threat, n_samples, full_batch, 2 * P),
            )
        # the clean gradient of linear regression is affine in the parameters: the
        # clean part of the step maps a zonotope of parameters exactly
        if kind == "squared_error":
            return LinearZonotopePropagator(params, threat, **sgd)
        # the box alongside the zonotope: each step starts from their intersection
        return Intersection(
            BoxPropagator(params, threat, **sgd),
            LogitZonotopePropagator(params, threat, full_batch, 2 * P, **sgd),
        )

    # ------------------------------------------------------------------- fit
    def _batches(self, n_samples, rng):
        bs = n_samples if self.batch_size is None else min(self.batch_size, n_samples)
        batches = []
        for _ in range(self.n_epochs):
            perm = rng.permutation(n_samples) if bs < n_samples else np.arange(n_samples)
            batches.extend(perm[i : i + bs] for i in range(0, n_samples, bs))
        return batches

    def _init_params(self, n_features, n_outputs, rng):
        if not isinstance(self.model, str):
            params = _to_numpy_params(self.model)
            if params[0][0].shape[0] != n_features:
                raise ValueError(
                    f"The torch model expects {params[0][0].shape[0]} input features but X has "
                    f"{n_features}."
                )
            if params[-1][0].shape[1] != n_outputs:
                raise ValueError(
                    f"The torch model has {params[-1][0].shape[1]} outputs; this problem needs "
                    f"{n_outputs} (1 for regression or two classes, n_classes otherwise)."
                )
            return params
        if self.model in ("linear", "logistic"):
            return [(np.zeros((n_features, n_outputs)), np.zeros(n_outputs))]
        sizes = [n_features, *self.hidden_layer_sizes, n_outputs]
        params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            s = 1.0 / np.sqrt(fan_in)
            params.append(
                (rng.uniform(-s, s, size=(fan_in, fan_out)), rng.uniform(-s, s, size=fan_out))
            )
        return params

    def _training_plan(self, n_samples, n_features, n_outputs):
        """Initial parameters, batch order and step sizes (seeded, replayable)."""
        rng = check_random_state(self.random_state)
        params = self._init_params(n_features, n_outputs, rng)
        return _TrainingPlan(
            params,
            self._batches(n_samples, rng),
            self.n_epochs,
            lr=self.lr,
            lr_decay=self.lr_decay,
            lr_min=self.lr_min,
            l2=self.l2,
            momentum=self.momentum,
            l1=self.l1,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train nominally and propagate the parameter box.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (clean: the box covers their poisonings).
        y : array-like of shape (n_samples,)
            Targets.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_config()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=is_regressor(self))
        Y, n_out, label_sets = self._encode_targets(y)
        kind = self._loss_kind(n_out)
        self._check_budgets(X.shape[0])
        plan = self._training_plan(X.shape[0], X.shape[1], n_out)
        self._check_step_size(X, kind, n_out)
        propagator = self._propagator(plan.params0, kind, label_sets, X.shape[0])
        params, bufs = plan.params0, plan.initial_buffers()
        for step, idx, eta, decay in plan.steps(self.verbose):
            params, bufs = plan.step(
                params, bufs, X[idx], Y[idx], kind, eta, decay, self.clip_gamma
            )
            was_diverged = propagator.diverged
            propagator.step(X[idx], Y[idx], idx, eta, decay)
            if propagator.diverged and not was_diverged:
                # the set is unbounded: its propagation stops (the nominal training goes on)
                warn_user(
                    f"The parameter box diverged at step {step + 1}; certificates are vacuous. "
                    + self._what_to_try(),
                    VacuousCertificateWarning,
                )
        # MLPClassifier's rule: non-finite weights are an error, not a NaN model
        check_finite_result(
            np.concatenate([np.ravel(a) for layer in params for a in layer]),
            f"{type(self).__name__}.fit",
            what="nominal parameters",
            X=X,
            advice=f" Or the training diverged: reduce lr (lr={self.lr}) or n_epochs.",
        )
        self._store(n_out, len(plan.batches), params, propagator)
        return self

    def _store(self, n_out, n_steps, params, propagator):
        box = propagator.final_bounds()
        self.n_outputs_ = n_out
        self.n_iter_ = n_steps
        self.coefs_ = [W for W, _ in params]
        self.intercepts_ = [b for _, b in params]
        self.coefs_lower_ = [layer[0] for layer in box]
        self.coefs_upper_ = [layer[1] for layer in box]
        self.intercepts_lower_ = [layer[2] for layer in box]
        self.intercepts_upper_ = [layer[3] for layer in box]
        widths = [np.max(layer[1] - layer[0], initial=0.0) for layer in box]
        widths += [np.max(layer[3] - layer[2], initial=0.0) for layer in box]
        self.max_width_ = float(np.max(widths))
        self.bounds_diverged_ = propagator.diverged
        self.zonotope_ = propagator.reachable_set()
        self.n_generators_ = 0 if self.zonotope_ is None else self.zonotope_.n_generators

    # ------------------------------------------------------------- outputs
    def _params(self):
        return list(zip(self.coefs_, self.intercepts_))

    def _box(self):
        return list(
            zip(
                self.coefs_lower_, self.coefs_upper_, self.intercepts_lower_, self.intercepts_upper_
            )
        )

    def _decision(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._nominal_outputs(X)

    def _nominal_outputs(self, X):
        """Outputs of the nominal model on an already validated ``X`` (the public methods
        validate once: validating their own ndarray again would lose the feature names)."""
        _, zs = _forward(self._params(), X)
        return zs[-1]

    def predict_bounds(self, X, epsilon=0.0):
        """Bounds on the model outputs over the parameter box and an input ball.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        epsilon : float, default=0.0
            Radius of the l-infinity ball around each input.

        Returns
        -------
        lower, upper : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Lower and upper bounds of the outputs (logits for classification).
            With ``bound="lp"`` each bound is the tighter of the interval and the
            linear-relaxation bound.
        """
        _, x_lo, x_hi = self._input_box(X, epsilon)
        lo, hi = self._output_box(x_lo, x_hi)
        lp = self._lp_once()
        if lp is not None and lo.shape[0] > 0:
            lp_lo, lp_hi = lp.get().output_bounds(x_lo, x_hi)
            lo, hi = np.maximum(lo, lp_lo), np.minimum(hi, lp_hi)
        if getattr(self, "zonotope_", None) is not None and lo.shape[0] > 0:
            with np.errstate(invalid="ignore", over="ignore"):
                z_lo, z_hi = self._zonotope_outputs(x_lo, x_hi)
            # fmax / fmin: NaN zonotope bounds (epsilon=inf) leave the interval bounds
            lo, hi = np.fmax(lo, z_lo), np.fmin(hi, z_hi)
        if lo.shape[1] == 1:
            return lo[:, 0], hi[:, 0]
        return lo, hi

    def _input_box(self, X, epsilon, *, validated=False):
        check_is_fitted(self)
        if not validated:
            X = validate_data(self, X, dtype=np.float64, reset=False)
        if not (isinstance(epsilon, Real) and epsilon >= 0):
            raise ValueError(f"epsilon must be a non-negative float; got {epsilon!r}.")
        if epsilon == 0:
            return X, X, X
        # x -/+ epsilon: one rounded operation each, 2 U plus a nextafter step covers it
        lo, hi = ia.outward(X - epsilon, X + epsilon, rel=2 * U)
        return X, lo, hi

    def _lp_once(self):
        """The LP of one public call (``None`` unless ``bound="lp"`` and the box is finite)."""
        if self.bound != "lp" or self.bounds_diverged_:
            return None
        return _LPOnce(self._box())

    def _output_box(self, x_lo, x_hi):
        with np.errstate(over="ignore", invalid="ignore"):
            _, zs = _interval_forward(self._box(), x_lo, x_hi)
        lo, hi = zs[-1]
        return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)

    def _zonotope_outputs(self, x_lo, x_hi):
        """Output (logit) bounds over the zonotope: the margins against an implicit zero logit."""
        if hasattr(self.zonotope_, "outputs"):  # a network's set: its own forward pass
            return self.zonotope_.outputs(x_lo, x_hi, self._box())
        C = self.zonotope_.n_out
        n = x_lo.shape[0]
        lo, hi = np.empty((n, C)), np.empty((n, C))
        for c in range(C):
            # z_c = e_c . z: with Mout = identity rows, a margin against class c's own row
            # is z_ref - z_j; the single-logit layout gives (0, z) directly
            ref = np.full(n, 1 if C == 1 else c)
            m_lo, m_hi = self._zonotope_margins(x_lo, x_hi, ref, outputs=True)
            lo[:, c], hi[:, c] = m_lo[:, 0], m_hi[:, 0]
        return lo, hi

    def _zonotope_margins(self, x_lo, x_hi, ref, which="both", chunk=32, outputs=False):
        """Margin bounds ``z_ref - z_j`` minimised over the zonotope in closed form.

        The margin at ``x' = x_c + delta`` (``x_c`` the ball's centre) is
        ``v(x_c) . theta + delta . (W_ref - W_j)``: the first term is linear in
        ``theta`` (closed-form minimum over the zonotope), the second is bounded by
        ``sum_f r_f max|W_ref,f - W_j,f|`` over the parameter box.
        """
        Z = self.zonotope_
        if hasattr(Z, "margins"):  # a network's set: its own forward pass
            return Z.margins(x_lo, x_hi, ref, self._box())
        n, d = x_lo.shape
        C = Z.n_out
        Mout = np.array([[0.0], [1.0]]) if C == 1 else np.eye(C)
        if outputs:  # z_ref itself: the margin against a zero row
            Mout = np.vstack([np.zeros((1, C)), Mout]) if C > 1 else Mout
            ref = ref + (1 if C > 1 else 0)
        K = Mout.shape[0]
        xc = 0.5 * (x_lo + x_hi)
        r = np.maximum(np.nextafter(x_hi - xc, np.inf), np.nextafter(xc - x_lo, np.inf))
        W_lo, W_hi = self.coefs_lower_[0], self.coefs_upper_[0]
        m_lo = np.full((n, K), -np.inf)
        m_hi = np.full((n, K), np.inf)
        for a in range(0, n, chunk):
            sl = slice(a, min(n, a + chunk))
            xa = np.hstack([xc[sl], np.ones((xc[sl].shape[0], 1))])
            rr = ref[sl]
            dirs = Mout[rr][:, None, :] - Mout[None, :, :]  # (q, K, C)
            V = (xa[:, None, :, None] * dirs[:, :, None, :]).reshape(-1, (d + 1) * C)
            lo, hi = Z.linear_bounds(V, lower=which != "hi", upper=which != "lo")
            lo = np.full((V.shape[0] // K, K), -np.inf) if lo is None else lo.reshape(-1, K)
            hi = np.full((V.shape[0] // K, K), np.inf) if hi is None else hi.reshape(-1, K)
            if np.any(r[sl] > 0):
                # |delta . (W_ref - W_j)| with W_ref - W_j in the box difference
                Wd_lo = W_lo @ dirs.transpose(0, 2, 1).clip(min=0) + W_hi @ dirs.transpose(
                    0, 2, 1
                ).clip(max=0)
                Wd_hi = W_hi @ dirs.transpose(0, 2, 1).clip(min=0) + W_lo @ dirs.transpose(
                    0, 2, 1
                ).clip(max=0)
                wmax = np.maximum(np.abs(Wd_lo), np.abs(Wd_hi))  # (q, d, K)
                t = np.einsum("qd,qdk->qk", r[sl], wmax)
                # Wd: differences of two box ends (each <= U max|W| off, cancellation
                # included): absolute 2 gamma(2) max|W| per feature; then products and sums
                # of non-negative terms (Lemma 3.1): relative gamma(d + 3)
                Wm = np.maximum(np.abs(W_lo), np.abs(W_hi)).max(axis=1)  # (d,)
                t = t + 2 * gamma(2) * (r[sl] @ Wm)[:, None]
                t = t * (1 + gamma(d + 4)) + TINY
                lo, hi = lo - t, hi + t
            m_lo[sl], m_hi[sl] = lo, hi
        return m_lo, m_hi


class IntervalCertifier(ClassifierMixin, _BaseIntervalCertifier):
    """Certified robustness of a classifier to training-data poisoning by interval-bound SGD.

    Trains a model by mini-batch SGD with a fixed, seeded batch order and, at
    every step, propagates a box ``[theta_lower, theta_upper]`` around the
    parameters that provably contains the parameters reached by *any*
    poisoning of the training set inside the threat model (Sosnin et al.,
    2024). Per step it bounds every clean sample's gradient over the parameter
    box, and every poisonable sample's gradient over the box and the allowed
    input / label changes; the batch gradient bound adds to the sum of the
    clean bounds the ``k`` most extreme per-coordinate differences (the
    "sorted sum"); the SGD update then maps the box (the lower end moves by the
    upper gradient bound and vice versa). Predictions that are the same for
    every parameter in the final box are certified.

    The nominal model (``coefs_``, ``intercepts_``) is exactly what the same
    SGD produces on the data given to ``fit``: training a copy of the estimator
    on a poisoned copy of ``X, y`` of the same size replays the same batches.

    Read more in the :ref:`User Guide <certification>`.

    Parameters
    ----------
    model : {"logistic", "mlp"} or torch.nn.Sequential, default="logistic"
        ``"logistic"``: logistic regression for two classes, softmax
        regression otherwise (log-loss). ``"mlp"``: a ReLU network with
        ``hidden_layer_sizes``. A ``torch.nn.Sequential`` of ``Linear`` /
        ``ReLU`` layers is converted to float64 numpy weights used as the
        initialisation (the module itself is never modified); its last layer
        must have one output (binary cross-entropy) or one per class (softmax).
    hidden_layer_sizes : tuple of int, default=()
        Hidden widths of ``model="mlp"`` (ignored otherwise).
    n_poison : int, default=0
        Number of samples per batch whose features the adversary may move
        (inside the ``epsilon`` ball), or, with ``unbounded=True``, replace
        arbitrarily. With full-batch training it is the total number. At most
        the batch size (a larger budget raises a ``ValueError``).
    epsilon : float, default=0.0
        Radius of the l-infinity ball of feature perturbations.
    n_label_flips : int, default=0
        Number of samples per batch whose label may change: to any class, or
        only to ``poison_target`` if set. For regression, targets move by at
        most ``label_epsilon``. At most the batch size.
    paired : bool, default=False
        If True, the label-flipped samples are among the feature-perturbed ones
        (at most ``max(n_poison, n_label_flips)`` poisoned samples per batch,
        each with both changes). If False, the two sets are independent.
    unbounded : bool, default=False
        The unbounded adversary: ``n_poison`` samples per batch are replaced by
        arbitrary samples (features and labels). Needs ``clip_gamma``; excludes
        ``epsilon`` and label poisoning.
    clip_gamma : float or None, default=None
        If set, every per-sample gradient is clamped elementwise to
        ``[-clip_gamma, clip_gamma]`` (nominal training and bounds alike).
    lr : float, default=0.1
        Learning rate. For the single-layer models a ``UserWarning`` says when
        ``lr > 2 / L``, ``L`` the smoothness bound of the loss on ``X``
        (``c lambda_max([X, 1]^T [X, 1]) / n + l2``, ``c`` = 2, 1/4 or 1/2 for
        squared error, sigmoid or softmax): gradient descent may then
        oscillate, and the certified sets expand at every step. A nominal run
        that ends with non-finite parameters raises a ValueError.
    lr_decay : float, default=0.0
        Step size ``max(lr / (1 + lr_decay * t), lr_min)`` at step ``t``.
    lr_min : float, default=0.0
        Floor of the decayed learning rate.
    n_epochs : int, default=50
        Passes over the training set.
    batch_size : int or None, default=None
        Mini-batch size; ``None`` means full batch. The last batch of an epoch
        may be smaller.
    l2 : float, default=0.0
        L2 penalty (weight decay on all parameters): ``theta <- (1 - lr l2) theta - lr g``.
        Requires ``max(lr, lr_min) * l2 < 1`` (the step size never exceeds it).
    l1 : float, default=0.0
        L1 penalty ``l1 ||theta||_1`` on all parameters (its subgradient
        ``l1 sign(theta)``, ``sign(0) = 0``, is added to the gradient).
    momentum : float, default=0.0
        Momentum of SGD, as ``torch.optim.SGD(momentum=momentum, weight_decay=l2)``:
        ``buf <- momentum buf + g + l2 theta + l1 sign(theta)``, ``theta <- theta -
        lr buf``. The certified sets bound the buffer by a box (propagated alongside,
        from interval bounds of the gradient), in both domains.
    domain : {"auto", "zonotope", "box"}, default="auto"
        Abstract domain of the training bounds. ``"zonotope"``: the reachable
        parameters are kept as a zonotope (affine arithmetic) mapped exactly by
        the linear part of every step (no wrapping effect); available for the
        single-layer models (logistic and softmax regression) without
        clipping or the unbounded adversary; for logistic / softmax regression
        a sound linear relaxation of the loss derivative is used on each
        sample's logit range and a box is propagated alongside and intersected
        with it (never looser than ``"box"``). For ReLU networks (no clipping,
        not the unbounded adversary) the forward and backward passes are taken
        in affine arithmetic over the zonotope's symbols (DeepZ ReLU, the ReLU
        derivative as a {0, 1} step, products of uncertain weights and
        activations with an interval remainder), again with the box alongside.
        ``"box"``: interval bounds of every parameter (Sosnin et al.).
        ``"auto"``: ``"zonotope"`` where available (for networks: with
        full-batch label flips and no feature poisoning, where its persistent
        flip symbols pay off, and only while its counted cost per step,
        ``2 P + n A`` symbols per row and parameter for ``P`` parameters, ``n``
        rows and ``A`` alternative labels, is at most 50 times the box's, i.e.
        ``2 P + n A <= 500``: ask for ``"zonotope"`` beyond), otherwise ``"box"``.
    bound : {"interval", "lp"}, default="interval"
        Forward bounds used by the certificates: plain interval propagation,
        or in addition a linear relaxation (McCormick envelopes of the
        weight x activation products and the triangle relaxation of ReLU)
        solved with cvxpy, intersected with the interval bounds. Training
        bounds are always interval bounds.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation of ``"mlp"`` and the batch order.
    verbose : int, default=0
        Show a progress bar over epochs (on stderr) when positive. What a fit
        costs, with ``n`` rows of ``d`` features and ``n_epochs`` passes: the
        nominal SGD run, plus a bound propagation per step of a few times its cost
        with the box domain (interval products: ``O(n_epochs n d h)`` in all for
        ``h`` hidden units, ``O(n_epochs n d C)`` for ``C`` classes); the zonotope
        domain multiplies each step by its number of generators (``n_generators_``).
        ``bound="lp"`` adds one LP per certificate call.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coefs_ : list of ndarray of shape (n_in, n_out)
        Nominal weight matrices, one per layer.
    intercepts_ : list of ndarray of shape (n_out,)
        Nominal biases.
    coefs_lower_, coefs_upper_ : list of ndarray
        Bounds on the weights reachable under the threat model.
    intercepts_lower_, intercepts_upper_ : list of ndarray
        Bounds on the biases.
    n_outputs_ : int
        Width of the output layer.
    n_iter_ : int
        Number of SGD steps.
    max_width_ : float
        Largest width of the final parameter box.
    bounds_diverged_ : bool
        True when the box became unbounded during training (it is then set to
        ``(-inf, inf)`` and every certificate is vacuous).
    zonotope_ : object or None
        The final zonotope of logistic / softmax regression or of a ReLU
        network with the zonotope domain (certificates bound the class margins
        over it, in closed form or by an affine-arithmetic forward pass, and
        intersect with the box); ``None`` otherwise.
    n_generators_ : int
        Number of generator columns of ``zonotope_`` (0 without one): the
        ``[-1, 1]`` generators plus, with persistent label-flip symbols (full
        batch, label flips only), one column per training row and alternative label.
    n_features_in_ : int
        Number of features seen during fit.

    See Also
    --------
    IntervalCertifierRegressor : The same certificates for regression (squared error).
    sklpoison.plotting.CertificationDisplay : Certified accuracy against the budget.

    Notes
    -----
    The bounds hold for every poisoning with at most the given budgets *per
    batch* (with full-batch training: in total), for the initialisation and
    batch order fixed by ``random_state``. They are computed in float64 with
    outward rounding (see :mod:`sklpoison.numerics.interval`). Interval bounds compound
    over the steps (the interval image of a gradient step loses the
    contraction of gradient descent), so the method suits few, large steps or
    fine-tuning a last layer (``domain="box"``). The single-layer models are
    propagated more tightly by default (``domain="auto"``): linear regression's
    clean step is affine in the parameters, so the reachable set is kept as a
    zonotope mapped exactly by the step; for logistic / softmax regression the
    loss derivative is relaxed soundly on every sample's logit range (DeepZ /
    mean-value form), the linear part maps the zonotope exactly, and full-batch
    label flips keep persistent symbols across the steps (see the user guide).

    References
    ----------
    P. Sosnin, M. N. Mueller, M. Baader, C. Tsay, M. Wicker. "Certified Robustness to
    Data Poisoning in Gradient-Based Training", 2024. arXiv:2406.05670.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklpoison import IntervalCertifier
    >>> X, y = make_moons(200, noise=0.1, random_state=0)
    >>> cert = IntervalCertifier("logistic", n_label_flips=2, lr=0.5, n_epochs=20,
    ...                          random_state=0).fit(X, y)
    >>> worst, nominal, best = cert.certified_accuracy(X, y)
    >>> bool(worst <= nominal <= best)
    True
    """

    _parameter_constraints = {
        **_BaseIntervalCertifier._parameter_constraints,
        "model": [StrOptions({"logistic", "mlp"}), HasMethods(["forward"])],
        "poison_target": "no_validation",
    }

    def __init__(
        self,
        model="logistic",
        *,
        hidden_layer_sizes=(),
        n_poison=0,
        epsilon=0.0,
        n_label_flips=0,
        poison_target=None,
        paired=False,
        unbounded=False,
        clip_gamma=None,
        lr=0.1,
        lr_decay=0.0,
        lr_min=0.0,
        n_epochs=50,
        batch_size=None,
        l2=0.0,
        l1=0.0,
        momentum=0.0,
        domain="auto",
        bound="interval",
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            model=model,
            hidden_layer_sizes=hidden_layer_sizes,
            n_poison=n_poison,
            epsilon=epsilon,
            n_label_flips=n_label_flips,
            paired=paired,
            unbounded=unbounded,
            clip_gamma=clip_gamma,
            lr=lr,
            lr_decay=lr_decay,
            lr_min=lr_min,
            n_epochs=n_epochs,
            batch_size=batch_size,
            l2=l2,
            l1=l1,
            momentum=momentum,
            domain=domain,
            bound=bound,
            random_state=random_state,
            verbose=verbose,
        )
        self.poison_target = poison_target

    def _loss_kind(self, n_out):
        return "binary" if n_out == 1 else "ce"

    def _encode_targets(self, y):
        """Targets in the model's output layout and the label sets of the threat model."""
        try:
            check_classification_targets(y)
        except ValueError as exc:
            raise ValueError(
                f"{exc} IntervalCertifier certifies classifiers: use "
                "IntervalCertifierRegressor for regression targets."
            ) from exc
        y = column_or_1d(y, warn=True)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        n_classes = len(check_n_classes(self.classes_, "IntervalCertifier"))
        if self.poison_target is not None:
            hits = np.flatnonzero(self.classes_ == self.poison_target)
            if len(hits) == 0:
                raise ValueError(
                    f"poison_target={self.poison_target!r} is not one of the classes "
                    f"{self.classes_.tolist()}."
                )
            target_idx = int(hits[0])
        onehot = np.eye(n_classes, dtype=bool)[y_idx]
        if self.poison_target is None:
            flipped = np.ones_like(onehot)
        else:
            flipped = onehot.copy()
            flipped[:, target_idx] = True
        n_out = 1 if n_classes == 2 else n_classes
        if not isinstance(self.model, str):
            n_out_model = _to_numpy_params(self.model)[-1][0].shape[1]
            if n_classes == 2 and n_out_model == 2:
                n_out = 2
        if n_out == 1:
            Y = y_idx[:, None].astype(np.float64)
        else:
            Y = onehot.astype(np.float64)
        return Y, n_out, (onehot, flipped)

    def predict(self, X):
        """Predictions of the nominal model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Class labels.
        """
        return self._labels(self._decision(X))

    def _labels(self, z):
        if z.shape[1] == 1:
            return self.classes_[(z[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(z, axis=1)]

    def predict_proba(self, X):
        """Class probabilities of the nominal model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns ordered as ``classes_``.
        """
        z = self._decision(X)
        if z.shape[1] == 1:
            p = ia.sigmoid(z[:, 0])
            return np.column_stack([1 - p, p])
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def certify(self, X, epsilon=0.0):
        """Which predictions are certified.

        A row is certified when the nominal prediction at ``X`` is the
        prediction of every parameter vector in the box, for every input in
        the l-infinity ball of radius ``epsilon`` around the row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        epsilon : float, default=0.0
            Test-time perturbation radius (e.g. a backdoor trigger budget).

        Returns
        -------
        certified : ndarray of bool of shape (n_samples,)
        """
        check_is_fitted(self)
        X, x_lo, x_hi = self._input_box(X, epsilon)
        ref = self._class_index(self._labels(self._nominal_outputs(X)))
        certified = self._certain(x_lo, x_hi, ref, lp=self._lp_once())
        self._warn_if_vacuous(
            "certify", certified.size > 0 and not certified.any(), test_epsilon=epsilon
        )
        return certified

    def certified_accuracy(self, X, y, epsilon=0.0):
        """Worst-case, nominal and best-case accuracy over the parameter box.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test inputs.
        y : array-like of shape (n_samples,)
            True labels.
        epsilon : float, default=0.0
            Test-time perturbation radius.

        Returns
        -------
        worst : float
            Lower bound on the accuracy of any model reachable by poisoning
            (fraction of rows certified correct).
        nominal : float
            Accuracy of the nominal model.
        best : float
            Upper bound on that accuracy (rows not certified wrong).
        """
        check_is_fitted(self)
        X, x_lo, x_hi = self._input_box(X, epsilon)
        ref = self._class_index(y)
        lp = self._lp_once()  # one LP for both bounds
        worst = float(np.mean(self._certain(x_lo, x_hi, ref, lp=lp)))
        best = float(np.mean(self._possible(x_lo, x_hi, ref, lp=lp)))
        nominal = float(np.mean(self._labels(self._nominal_outputs(X)) == column_or_1d(y)))
        self._warn_if_vacuous(
            "certified_accuracy",
            worst == 0.0 and nominal > 0.0,
            f" (certified accuracy 0.0, nominal {nominal:.3g})",
            test_epsilon=epsilon,
        )
        return worst, nominal, best

    def certified_attack_success(self, X, trigger=None, *, target=None, y=None, epsilon=0.0):
        """Upper bound on the success rate of a backdoor / test-time trigger.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Clean test inputs.
        trigger : callable, array-like or None, default=None
            How the trigger is applied: a callable ``f(X) -> X_triggered``
            (e.g. :meth:`sklpoison.PoisonTransformer.apply_trigger`), an array
            of shape ``(n_features,)`` added to every row, or an array of the
            shape of ``X`` holding the triggered inputs. ``None``: no trigger
            (only the ``epsilon`` ball).
        target : label or None, default=None
            Targeted attack: success means predicting ``target`` (rows whose
            reference label is already ``target`` are left out). ``None`` uses
            ``poison_target`` if set, otherwise the attack is untargeted
            (success means any prediction different from the reference).
        y : array-like of shape (n_samples,) or None, default=None
            Reference labels; ``None`` uses the nominal predictions on clean ``X``.
        epsilon : float, default=0.0
            l-infinity ball around the triggered inputs.

        Returns
        -------
        bound : float
            Upper bound, over every parameter in the box and every input in the
            ball, on the fraction of rows on which the attack succeeds.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        ref = self._labels(self._nominal_outputs(X)) if y is None else column_or_1d(y)
        if trigger is None:
            Xt = X.copy()
        elif callable(trigger):
            Xt = np.asarray(trigger(X.copy()), dtype=np.float64)
        else:
            trig = np.asarray(trigger, dtype=np.float64)
            if trig.shape == X.shape:
                Xt = trig.copy()
            elif trig.shape == (X.shape[1],):
                Xt = X + trig
            else:
                raise ValueError(
                    f"trigger must be a callable, an array of shape ({X.shape[1]},) or of the "
                    f"shape of X {X.shape}; got shape {trig.shape}."
                )
        if Xt.shape != X.shape:
            raise ValueError(f"the trigger changed the shape of X: {X.shape} -> {Xt.shape}.")
        # X was validated above (with its feature names); the triggered copy is an ndarray
        Xt = check_array(Xt, dtype=np.float64, input_name="the triggered X")
        Xt, x_lo, x_hi = self._input_box(Xt, epsilon, validated=True)
        target = self.poison_target if target is None else target
        ref_idx = self._class_index(ref)
        if target is None:
            bound = float(np.mean(~self._certain(x_lo, x_hi, ref_idx, lp=self._lp_once())))
        else:
            t_idx = self._class_index(np.array([target]))[0]
            keep = ref_idx != t_idx
            if not np.any(keep):
                return 0.0
            tgt = np.full(int(keep.sum()), t_idx)
            bound = float(np.mean(self._possible(x_lo[keep], x_hi[keep], tgt, lp=self._lp_once())))
        self._warn_if_vacuous(
            "certified_attack_success",
            bound == 1.0,
            " (attack success bounded by 1.0 only)",
            test_epsilon=epsilon,
        )
        return bound

    def _margins(self, x_lo, x_hi, ref, which="both", lp=None):
        """Lower and upper bounds on ``z_ref - z_j`` for every class ``j`` (j == ref gives 0).

        For a single-logit binary model the implicit logits are ``(0, z)``. With
        ``bound="lp"`` and ``which="lo"`` (``"hi"``) the LP only refines the
        lower (upper) bounds, and only on rows the interval bounds leave
        undecided. ``lp``: the call's :class:`_LPOnce` (``None``: interval bounds only).
        """
        lo, hi = self._output_box(x_lo, x_hi)
        n = lo.shape[0]
        rows = np.arange(n)
        if lo.shape[1] == 1:
            lo = np.column_stack([np.zeros(n), lo[:, 0]])
            hi = np.column_stack([np.zeros(n), hi[:, 0]])
        with np.errstate(invalid="ignore"):
            m_lo = lo[rows, ref][:, None] - hi
            m_hi = hi[rows, ref][:, None] - lo
        m_lo = np.where(np.isnan(m_lo), -np.inf, m_lo)
        m_hi = np.where(np.isnan(m_hi), np.inf, m_hi)
        if getattr(self, "zonotope_", None) is not None and n > 0:
            with np.errstate(invalid="ignore", over="ignore"):
                z_lo, z_hi = self._zonotope_margins(x_lo, x_hi, ref, which)
            # fmax / fmin: a NaN zonotope bound (an infinite ball: x_c = (-inf + inf) / 2, or
            # an overflow) leaves the interval bound; np.maximum would propagate the NaN, and
            # a NaN upper margin read as "impossible" (best-case accuracy 0 below the nominal)
            m_lo, m_hi = np.fmax(m_lo, z_lo), np.fmin(m_hi, z_hi)
        if lp is not None and n > 0:
            other = np.ones_like(m_lo, dtype=bool)
            other[rows, ref] = False
            need = np.ones(n, dtype=bool)
            if which == "lo":  # rows not yet certified
                need = ~np.all((m_lo > 0) | ~other, axis=1)
            elif which == "hi":  # rows not yet shown impossible
                need = np.all((m_hi >= 0) | ~other, axis=1)
            if np.any(need):
                lp_lo, lp_hi = lp.get().margin_bounds(
                    x_lo[need], x_hi[need], ref[need], which=which
                )
                m_lo[need] = np.maximum(m_lo[need], lp_lo)
                m_hi[need] = np.minimum(m_hi[need], lp_hi)
        m_lo[rows, ref] = 0.0
        m_hi[rows, ref] = 0.0
        return m_lo, m_hi

    def _class_index(self, y):
        y = column_or_1d(y)
        return check_known_labels(
            y, self.classes_, "IntervalCertifier", known_as="the classes seen in fit"
        )

    def _certain(self, x_lo, x_hi, ref, lp=None):
        """Rows whose prediction is ``ref`` for every parameter in the box and input in the ball."""
        m_lo, _ = self._margins(x_lo, x_hi, ref, which="lo", lp=lp)
        rows = np.arange(len(ref))
        mask = np.ones_like(m_lo, dtype=bool)
        mask[rows, ref] = False
        return np.all((m_lo > 0) | ~mask, axis=1)

    def _possible(self, x_lo, x_hi, ref, lp=None):
        """Rows for which some parameter in the box / input in the ball may predict ``ref``."""
        _, m_hi = self._margins(x_lo, x_hi, ref, which="hi", lp=lp)
        return np.all(m_hi >= 0, axis=1)


class IntervalCertifierRegressor(RegressorMixin, _BaseIntervalCertifier):
    """Certified robustness of a regressor to training-data poisoning by interval-bound SGD.

    The regression counterpart of :class:`IntervalCertifier` (squared error):
    trains a linear model or a ReLU network by mini-batch SGD with a fixed,
    seeded batch order and propagates a set (a zonotope for linear regression,
    a box otherwise) that provably contains the parameters reached by *any*
    poisoning of the training set inside the threat model (Sosnin et al.,
    2024): features moved inside an ``epsilon`` ball, targets moved by at most
    ``label_epsilon``. Certificates bound the outputs (:meth:`predict_bounds`)
    and the test error (:meth:`certified_mse`) over the final set.

    The nominal model (``coefs_``, ``intercepts_``) is exactly what the same
    SGD produces on the data given to ``fit``.

    Read more in the :ref:`User Guide <certification>`.

    Parameters
    ----------
    model : {"linear", "mlp"} or torch.nn.Sequential, default="linear"
        ``"linear"``: linear regression. ``"mlp"``: a ReLU network with
        ``hidden_layer_sizes``. A ``torch.nn.Sequential`` of ``Linear`` /
        ``ReLU`` layers with one output is converted to float64 numpy weights
        used as the initialisation (the module itself is never modified).
    hidden_layer_sizes : tuple of int, default=()
        Hidden widths of ``model="mlp"`` (ignored otherwise).
    n_poison : int, default=0
        Number of samples per batch whose features the adversary may move
        (inside the ``epsilon`` ball), or, with ``unbounded=True``, replace
        arbitrarily. With full-batch training it is the total number. At most
        the batch size (a larger budget raises a ``ValueError``).
    epsilon : float, default=0.0
        Radius of the l-infinity ball of feature perturbations.
    n_label_flips : int, default=0
        Number of samples per batch whose label may change: to any class, or
        only to ``poison_target`` if set. For regression, targets move by at
        most ``label_epsilon``. At most the batch size.
    paired : bool, default=False
        If True, the label-flipped samples are among the feature-perturbed ones
        (at most ``max(n_poison, n_label_flips)`` poisoned samples per batch,
        each with both changes). If False, the two sets are independent.
    unbounded : bool, default=False
        The unbounded adversary: ``n_poison`` samples per batch are replaced by
        arbitrary samples (features and labels). Needs ``clip_gamma``; excludes
        ``epsilon`` and label poisoning.
    clip_gamma : float or None, default=None
        If set, every per-sample gradient is clamped elementwise to
        ``[-clip_gamma, clip_gamma]`` (nominal training and bounds alike).
    lr : float, default=0.1
        Learning rate. For the single-layer models a ``UserWarning`` says when
        ``lr > 2 / L``, ``L`` the smoothness bound of the loss on ``X``
        (``c lambda_max([X, 1]^T [X, 1]) / n + l2``, ``c = 2`` for
        squared error): gradient descent may then
        oscillate, and the certified sets expand at every step. A nominal run
        that ends with non-finite parameters raises a ValueError.
    lr_decay : float, default=0.0
        Step size ``max(lr / (1 + lr_decay * t), lr_min)`` at step ``t``.
    lr_min : float, default=0.0
        Floor of the decayed learning rate.
    n_epochs : int, default=50
        Passes over the training set.
    batch_size : int or None, default=None
        Mini-batch size; ``None`` means full batch. The last batch of an epoch
        may be smaller.
    l2 : float, default=0.0
        L2 penalty (weight decay on all parameters): ``theta <- (1 - lr l2) theta - lr g``.
        Requires ``max(lr, lr_min) * l2 < 1`` (the step size never exceeds it).
    l1 : float, default=0.0
        L1 penalty ``l1 ||theta||_1`` on all parameters (its subgradient
        ``l1 sign(theta)``, ``sign(0) = 0``, is added to the gradient).
    momentum : float, default=0.0
        Momentum of SGD, as ``torch.optim.SGD(momentum=momentum, weight_decay=l2)``:
        ``buf <- momentum buf + g + l2 theta + l1 sign(theta)``, ``theta <- theta -
        lr buf``. The certified sets bound the buffer by a box (propagated alongside,
        from interval bounds of the gradient), in both domains.
    domain : {"auto", "zonotope", "box"}, default="auto"
        Abstract domain of the training bounds. ``"zonotope"``: the reachable
        parameters are kept as a zonotope (affine arithmetic) mapped exactly by
        the linear part of every step (no wrapping effect); available for the
        linear model without clipping or the unbounded adversary. ``"box"``: interval bounds of
        every parameter (Sosnin et al.). ``"auto"``: ``"zonotope"`` where
        available, otherwise ``"box"``.
    bound : {"interval", "lp"}, default="interval"
        Forward bounds used by the certificates: plain interval propagation,
        or in addition a linear relaxation (McCormick envelopes of the
        weight x activation products and the triangle relaxation of ReLU)
        solved with cvxpy, intersected with the interval bounds. Training
        bounds are always interval bounds.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation of ``"mlp"`` and the batch order.
    verbose : int, default=0
        Show a progress bar over epochs (on stderr) when positive. What a fit
        costs, with ``n`` rows of ``d`` features and ``n_epochs`` passes: the
        nominal SGD run, plus a bound propagation per step of a few times its cost
        with the box domain (interval products: ``O(n_epochs n d h)`` in all for
        ``h`` hidden units, ``O(n_epochs n d C)`` for ``C`` classes); the zonotope
        domain multiplies each step by its number of generators (``n_generators_``).
        ``bound="lp"`` adds one LP per certificate call.

    Attributes
    ----------
    coefs_ : list of ndarray of shape (n_in, n_out)
        Nominal weight matrices, one per layer.
    intercepts_ : list of ndarray of shape (n_out,)
        Nominal biases.
    coefs_lower_, coefs_upper_ : list of ndarray
        Bounds on the weights reachable under the threat model.
    intercepts_lower_, intercepts_upper_ : list of ndarray
        Bounds on the biases.
    n_outputs_ : int
        Width of the output layer.
    n_iter_ : int
        Number of SGD steps.
    max_width_ : float
        Largest width of the final parameter box.
    bounds_diverged_ : bool
        True when the box became unbounded during training (it is then set to
        ``(-inf, inf)`` and every certificate is vacuous).
    n_features_in_ : int
        Number of features seen during fit.

    See Also
    --------
    IntervalCertifier : The same certificates for classification.
    sklpoison.plotting.CertificationDisplay : Certified MSE against the budget.

    Notes
    -----
    The bounds hold for every poisoning with at most the given budgets *per
    batch* (with full-batch training: in total), for the initialisation and
    batch order fixed by ``random_state``, in float64 with outward rounding.
    Linear regression's clean step is affine in the parameters, so by default
    (``domain="auto"``) the reachable set is kept as a zonotope mapped exactly
    by the step; only the poisoning's excess is bounded by intervals.

    References
    ----------
    P. Sosnin, M. N. Mueller, M. Baader, C. Tsay, M. Wicker. "Certified Robustness to
    Data Poisoning in Gradient-Based Training", 2024. arXiv:2406.05670.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklpoison import IntervalCertifierRegressor
    >>> X, y = make_regression(100, 3, noise=0.1, random_state=0)
    >>> X, y = X / abs(X).max(), y / abs(y).max()
    >>> cert = IntervalCertifierRegressor(n_label_flips=2, label_epsilon=0.1, lr=0.5,
    ...                                   n_epochs=20, random_state=0).fit(X, y)
    >>> worst, nominal, best = cert.certified_mse(X, y)
    >>> bool(best <= nominal <= worst)
    True
    """

    _parameter_constraints = {
        **_BaseIntervalCertifier._parameter_constraints,
        "model": [StrOptions({"linear", "mlp"}), HasMethods(["forward"])],
        "label_epsilon": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        model="linear",
        *,
        hidden_layer_sizes=(),
        n_poison=0,
        epsilon=0.0,
        n_label_flips=0,
        label_epsilon=0.0,
        paired=False,
        unbounded=False,
        clip_gamma=None,
        lr=0.1,
        lr_decay=0.0,
        lr_min=0.0,
        n_epochs=50,
        batch_size=None,
        l2=0.0,
        l1=0.0,
        momentum=0.0,
        domain="auto",
        bound="interval",
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            model=model,
            hidden_layer_sizes=hidden_layer_sizes,
            n_poison=n_poison,
            epsilon=epsilon,
            n_label_flips=n_label_flips,
            paired=paired,
            unbounded=unbounded,
            clip_gamma=clip_gamma,
            lr=lr,
            lr_decay=lr_decay,
            lr_min=lr_min,
            n_epochs=n_epochs,
            batch_size=batch_size,
            l2=l2,
            l1=l1,
            momentum=momentum,
            domain=domain,
            bound=bound,
            random_state=random_state,
            verbose=verbose,
        )
        self.label_epsilon = label_epsilon

    def _loss_kind(self, n_out):
        return "squared_error"

    def _label_epsilon(self):
        return self.label_epsilon

    def _encode_targets(self, y):
        """Targets in the model's output layout (one column) and no label sets."""
        y = column_or_1d(y, warn=True).astype(np.float64)
        return y[:, None], 1, None

    def predict(self, X):
        """Predictions of the nominal model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Regression outputs.
        """
        return self._decision(X)[:, 0]

    def certified_mse(self, X, y, epsilon=0.0):
        """Worst-case, nominal and best-case mean squared error (regression).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test inputs.
        y : array-like of shape (n_samples,)
            True targets.
        epsilon : float, default=0.0
            Test-time perturbation radius.

        Returns
        -------
        worst : float
            Upper bound on the MSE of any reachable model.
        nominal : float
            MSE of the nominal model.
        best : float
            Lower bound on that MSE.
        """
        check_is_fitted(self)
        y = column_or_1d(y).astype(np.float64)
        lo, hi = self.predict_bounds(X, epsilon)
        worst = np.maximum((lo - y) ** 2, (hi - y) ** 2)
        best = np.where((lo <= y) & (y <= hi), 0.0, np.minimum((lo - y) ** 2, (hi - y) ** 2))
        nominal = (self.predict(X) - y) ** 2
        self._warn_if_vacuous(
            "certified_mse", y.size > 0 and not np.isfinite(worst).any(), test_epsilon=epsilon
        )
        return float(worst.mean()), float(nominal.mean()), float(best.mean())
