"""skorch classifier trained with an input-gradient penalty (double backprop)."""

import contextlib
import inspect
import threading
import warnings
from math import prod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNetClassifier
from skorch.dataset import unpack_data
from skorch.net import NeuralNet
from skorch.utils import is_dataset, to_tensor

from ..utils import _torch
from ..utils._images import resolve_image_shape
from ..utils.validation import (
    _skorch_input_dtype,
    check_known_labels,
    check_n_classes,
    check_y_given,
)
from .models import MLP

__all__ = ["GradRegNetClassifier", "input_gradient_penalty", "random_crop_flip"]


def input_gradient_penalty(loss_sum, X, *, create_graph=True):
    """Mean over the batch of the squared norm of each sample's loss gradient.

    ``X`` must require gradients and ``loss_sum`` must be the *sum* of the
    per-sample losses: its gradient with respect to the batch then holds, in
    row ``i``, the gradient of sample ``i``'s own loss with respect to its own
    input, for modules that treat samples independently. Batch normalisation in
    training mode couples the samples of a batch through the batch mean and
    variance: row ``i`` is then ``grad_{x_i} sum_j loss_j``, which also carries
    the terms ``grad_{x_i} loss_j`` (j != i) that flow through the batch
    statistics. They are not small (about 25 % of the norm for a freshly
    initialised ``PreActResNet(depth=8)`` on batches of 16); the exact
    per-sample gradient needs one backward pass per sample.

    Parameters
    ----------
    loss_sum : torch.Tensor
        Scalar: sum over the batch of the per-sample losses.
    X : torch.Tensor of shape (n, ...)
        The batch, with ``requires_grad=True``.
    create_graph : bool, default=True
        Keep the graph of the gradient so that the penalty can itself be
        differentiated (double backprop).

    Returns
    -------
    penalty : torch.Tensor
        Scalar ``mean_i ||grad_{x_i} loss_i||^2``.
    """
    grad = _torch.input_gradients(loss_sum, X, create_graph=create_graph)
    return grad.pow(2).flatten(1).sum(1).mean()


def random_crop_flip(X, *, padding=1, crop=True, flip=True, generator=None):
    """Random crop with zero padding and random horizontal flip of an image batch.

    Vectorised over the batch: one draw of offsets and flips per image, then a
    single gather.

    Parameters
    ----------
    X : torch.Tensor of shape (n, C, H, W)
        Image batch. Not modified.
    padding : int, default=1
        Zero padding added on each side before cropping back to ``(H, W)``; the
        image moves by up to ``padding`` pixels in each direction.
    crop, flip : bool, default=True
        Which of the two transformations to apply.
    generator : torch.Generator or None, default=None
        Source of randomness (``None`` uses torch's global generator).

    Returns
    -------
    X_aug : torch.Tensor of shape (n, C, H, W)
    """
    n, c, h, w = X.shape
    out = X
    if crop and padding > 0:
        Xp = torch.nn.functional.pad(X, (padding, padding, padding, padding))
        off = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(X.device)
        rows = off[0][:, None] + torch.arange(h, device=X.device)  # (n, H)
        cols = off[1][:, None] + torch.arange(w, device=X.device)  # (n, W)
        out = Xp[
            torch.arange(n, device=X.device)[:, None, None, None],
            torch.arange(c, device=X.device)[None, :, None, None],
            rows[:, None, :, None],
            cols[:, None, None, :],
        ]
    if flip:
        mask = (torch.rand(n, generator=generator) < 0.5).to(X.device)
        out = torch.where(mask[:, None, None, None], out.flip(-1), out)
    return out


# serialises the seeding of torch's global generator across threads
_SEED_LOCK = threading.Lock()

# argument names of sklpoison.nn.models that GradRegNetClassifier fills from the data
_DATA_ARGUMENTS = ("num_classes", "n_features", "in_channels", "image_size")


class GradRegNetClassifier(NeuralNetClassifier):
    """Neural-network classifier trained with an input-gradient penalty.

    A :class:`skorch.NeuralNetClassifier` whose training loss is the mean
    cross-entropy plus ``kappa / 2`` times the batch mean of the squared norm
    of each sample's loss gradient with respect to its own input,

    .. math::

        J(w) = \\frac{1}{n}\\sum_i \\ell_i(w)
             + \\frac{\\kappa}{2}\\,\\frac{1}{n}\\sum_i \\lVert \\nabla_{x_i} \\ell_i(w) \\rVert^2,

    computed by double backprop (``torch.autograd.grad(..., create_graph=True)``).
    This is the defence of Granziol et al. (2026): it contracts the
    poison-aligned eigenmodes of the input Hessian and so lowers the success of
    backdoor attacks, at a cost in clean accuracy. ``kappa=0`` is plain
    training, without any extra backward pass. Validation losses and
    predictions never include the penalty. Optional data augmentation (random
    crop with padding, horizontal flip) is applied to training batches only.
    Training batches are reshuffled every epoch (skorch's own default does not
    shuffle; ``iterator_train__shuffle=False`` turns it off).

    With batch normalisation in training mode (e.g.
    :class:`~sklpoison.nn.models.PreActResNet`), sample ``i``'s loss also
    depends on the other inputs of its batch through the batch statistics. The
    penalty then uses row ``i`` of the gradient of the batch's summed loss,
    :math:`\\nabla_{x_i} \\sum_j \\ell_j`, the usual double-backprop
    implementation, rather than :math:`\\nabla_{x_i} \\ell_i` (which would cost
    one backward pass per sample); the two differ by the cross-sample terms
    through the batch mean and variance. For modules without batch
    normalisation (:class:`~sklpoison.nn.models.SmallCNN`,
    :class:`~sklpoison.nn.models.MLP`) the penalty is exactly the per-sample one.

    It is a scikit-learn classifier: it accepts any labels (they are encoded
    internally), validates its input, and composes with
    :class:`imblearn.pipeline.Pipeline` and
    :class:`~sklearn.model_selection.GridSearchCV` (every skorch parameter is
    searchable by prefix, e.g. ``module__hidden``, ``optimizer__momentum``).

    Parameters
    ----------
    module : torch.nn.Module class or instance, or None, default=None
        The network, returning logits. ``None`` means
        :class:`sklpoison.nn.models.MLP`. When a class is given, its
        constructor arguments ``num_classes``, ``n_features``, ``in_channels``
        and ``image_size`` (those it has) are filled in from the training data
        unless given as ``module__<name>``, so ``module=SmallCNN`` just works.
    kappa : float >= 0, default=0.0
        Strength of the input-gradient penalty, in the units of
        ``penalty_normalization``.
    penalty_normalization : {"per_sample", "batch_sum", "batch_mean"}, default="per_sample"
        How the penalty of a batch of ``B`` samples is normalised, with
        :math:`g_i = \\nabla_{x_i} \\ell_i` and :math:`\\bar L = \\frac1B\\sum_j \\ell_j`
        the batch mean of the per-sample losses (so :math:`\\nabla_{x_i} \\bar L = g_i / B`;
        :math:`\\ell_j` is sample ``j``'s weighted loss with class weights, and
        :math:`\\bar L` is the criterion's loss for an unweighted ``reduction="mean"``
        criterion; the mapping below holds for any criterion):

        - ``"per_sample"``: :math:`\\frac{\\kappa}{2}\\frac1B\\sum_i\\lVert g_i\\rVert^2`,
          the objective :math:`J(w)` of the paper's analysis, independent of ``B``;
        - ``"batch_sum"``: :math:`\\frac{\\kappa}{2}\\lVert\\nabla_X \\bar L\\rVert_F^2
          = \\frac{\\kappa}{2}\\frac1{B^2}\\sum_i\\lVert g_i\\rVert^2`, the squared norm
          of the gradient of the batch loss with respect to the whole batch (the
          literal double-backprop code of :math:`\\kappa\\lVert\\nabla_x L\\rVert^2`);
          ``kappa`` here equals ``B`` times the per-sample ``kappa``;
        - ``"batch_mean"``: :math:`\\frac{\\kappa}{2}\\frac1B\\sum_i
          \\lVert\\nabla_{x_i}\\bar L\\rVert^2 = \\frac{\\kappa}{2}\\frac1{B^3}\\sum_i
          \\lVert g_i\\rVert^2`, the per-row mean of that gradient; ``kappa`` here equals
          ``B**2`` times the per-sample ``kappa``.

        The last two let the values of a paper that penalises the gradient of its
        batch loss be typed in (Granziol et al. sweep ``kappa`` in {0, 1e3, 1e4, 1e5}
        at their batch size); see the user guide for the mapping. With a smaller
        last batch the batch forms weigh it differently (they depend on ``B``).
    augment : bool or {"crop", "flip"}, default=False
        Training-time augmentation of image inputs: ``True`` applies a random
        crop with zero padding and a random horizontal flip, ``"crop"`` or
        ``"flip"`` only one of them. Needs image inputs (4-D ``X``, 3-D ``X``
        or ``image_shape``).
    augment_padding : int or None, default=None
        Padding of the random crop; ``None`` means ``max(1, H // 8)`` (4 for
        32x32 images, 1 for 8x8 digits).
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)``: read flat ``X`` of shape ``(n, d)`` as
        images, which are passed to the module as ``(n, C, H, W)`` batches.
    random_state : int, RandomState instance or None, default=None
        Makes :meth:`fit` deterministic: the weights are initialised under a
        seeded (forked, thread-safe) torch random state, and shuffling and
        augmentation draw from a private seeded :class:`torch.Generator`; the
        caller's torch random state is left untouched. ``None`` uses torch's
        global generator. (Randomness inside the module itself, e.g. dropout,
        still uses the global generator.)
    mixed_precision : bool or "bf16", default=False
        Train with bfloat16 autocast (``True`` and ``"bf16"`` are the same): the
        forward pass of training batches runs in bfloat16 where torch deems it
        safe, the loss and the backward passes in float32. The penalty stays
        correct to bfloat16 precision: on digits batches its value agrees with
        float64 to 3.4e-3 (relative; bfloat16 keeps 8 bits, spacing 3.9e-3) and
        the double-backprop gradient to 7.6e-2, the order of the plain
        cross-entropy gradient's error under bf16 (6.4e-2). Prediction runs in
        full precision. Worth it on GPUs with bfloat16 units; on CPUs it is
        usually slower. A float64 module is left in float64 by autocast, so the
        option has no effect on it (a warning says so).
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        Loss on the logits; it must average (``reduction="mean"``) or sum over
        the batch. With class weights (``criterion__weight``) the penalty uses
        the gradient of each sample's weighted loss.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Optimizer (its options as ``optimizer__<name>``).
    lr : float, default=0.01
        Learning rate.
    max_epochs : int, default=20
        Number of passes over the training data.
    batch_size : int, default=64
        Mini-batch size; ``-1`` means the whole training set.
    train_split : callable or None, default=None
        skorch's internal validation split. ``None`` (the default) trains on
        all the data, so that an outer :class:`~sklearn.model_selection.GridSearchCV`
        controls validation. A split such as ``skorch.dataset.ValidSplit(5)``
        works on the validated data; a fixed validation set given with
        ``skorch.helper.predefined_split(Dataset(X_valid, y_valid))`` must be
        in the module's layout with labels encoded as ``0..n_classes-1``.
    verbose : int, default=0
        skorch's epoch log (``1`` prints one line per epoch).
    device : str or torch.device, default="cpu"
        Where the module and the batches live, e.g. ``"cuda"``.
    **kwargs
        Any other :class:`skorch.NeuralNet` argument (``callbacks``,
        ``iterator_train__shuffle``, ``module__<name>``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen at fit.
    n_features_in_ : int
        ``X.shape[1]`` at fit.
    input_shape_ : tuple of int
        Shape of one sample at fit.
    image_shape_ : tuple of int or None
        ``(C, H, W)`` when the samples are read as images, else ``None``.
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch and per-batch records; training batches record
        ``grad_penalty`` when ``kappa > 0``.

    See Also
    --------
    sklpoison.GradRegKRRClassifier : The same penalty for kernel ridge regression, in closed form.
    sklpoison.model_selection.select_kappa : Choose ``kappa`` from a sweep.

    References
    ----------
    D. Granziol et al. (2026). Safety-Efficacy Trade Off: Robustness against
    Data-Poisoning. arXiv:2602.00822.

    H. Drucker and Y. LeCun (1992). Improving generalization performance using
    double backpropagation. IEEE Transactions on Neural Networks 3(6).

    Examples
    --------
    >>> from sklpoison.datasets import load_digits_images
    >>> from sklpoison.nn import GradRegNetClassifier
    >>> from sklpoison.nn.models import SmallCNN
    >>> X, y = load_digits_images(return_X_y=True)
    >>> net = GradRegNetClassifier(SmallCNN, kappa=0.1, max_epochs=3, random_state=0)
    >>> net = net.fit(X[:1000], y[:1000])
    >>> bool(net.score(X[1000:], y[1000:]) > 0.8)
    True
    """

    # fit label-encodes y (any labels): the module's columns are the ranks of classes_,
    # which is what the GC family and poisonability_threshold take as label codes
    _encodes_labels = True

    _parameter_constraints = {
        "kappa": [Interval(Real, 0, None, closed="left")],
        "penalty_normalization": [StrOptions({"per_sample", "batch_sum", "batch_mean"})],
        "augment": ["boolean", StrOptions({"crop", "flip"})],
        "augment_padding": [Interval(Integral, 0, None, closed="left"), None],
        "image_shape": [tuple, list, None],
        "random_state": ["random_state"],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "device": [str, torch.device, None],
        "mixed_precision": ["boolean", StrOptions({"bf16"})],
    }

    def __init__(
        self,
        module=None,
        *,
        kappa=0.0,
        penalty_normalization="per_sample",
        augment=False,
        augment_padding=None,
        image_shape=None,
        random_state=None,
        mixed_precision=False,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=20,
        batch_size=64,
        train_split=None,
        verbose=0,
        device="cpu",
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            verbose=verbose,
            device=device,
            **kwargs,
        )
        self.kappa = kappa
        self.penalty_normalization = penalty_normalization
        self.augment = augment
        self.augment_padding = augment_padding
        self.image_shape = image_shape
        self.random_state = random_state
        self.mixed_precision = mixed_precision

    def _get_param_names(self):
        # skorch lists every attribute not ending in "_", including its private
        # bookkeeping set ``_params_to_validate``; it is rebuilt from the
        # keyword arguments by __init__, so it is not a parameter.
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    # ---------------------------------------------------------------- labels
    @property
    def classes_(self):
        if not hasattr(self, "label_encoder_"):
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'classes_': it is not fitted yet."
            )
        return self.label_encoder_.classes_

    def __sklearn_is_fitted__(self):
        return bool(self.initialized_) and hasattr(self, "label_encoder_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.non_deterministic = self.random_state is None
        return tags

    # -------------------------------------------------------------- the data
    def _check_params(self):
        validate_parameter_constraints(
            self._parameter_constraints,
            {k: getattr(self, k) for k in self._parameter_constraints},
            caller_name=type(self).__name__,
        )
        if self.device is not None:  # a clear error before any fitting, not torch's assertion
            _torch.resolve_device(self.device)

    def _check_image_module(self, input_shape, image_shape):
        """Refuse flat X for a module class that takes images, unless image_shape says how."""
        module = MLP if self.module is None else self.module
        if image_shape is not None or not isinstance(module, type):
            return
        try:
            names = set(inspect.signature(module).parameters)
        except (TypeError, ValueError):  # pragma: no cover - builtins without signature
            return
        if names & {"image_size", "in_channels"}:
            d = int(prod(input_shape))
            side = int(round(d**0.5))
            example = f"(e.g. image_shape=({side}, {side}) for {d} square grey-scale images)"
            if side * side != d:
                example = f"(C * H * W must equal the {d} features of X)"
            raise ValueError(
                f"{module.__name__} takes images, but X is flat with {d} features per sample and "
                f"image_shape is None. Pass image_shape=(H, W) or (C, H, W) {example}, or X of "
                "shape (n, H, W) or (n, C, H, W)."
            )

    def _prepare_fit(self, X, y, *, reset):
        check_y_given(y, type(self).__name__)
        X, y = validate_data(  # the module's dtype: float32 unless it is float64
            self,
            X,
            y,
            reset=reset,
            allow_nd=True,
            dtype=_skorch_input_dtype(self),
            ensure_all_finite=True,
        )
        check_classification_targets(y)
        if reset:
            input_shape = tuple(X.shape[1:])
            image_shape = resolve_image_shape(input_shape, self.image_shape)
            encoder = LabelEncoder().fit(y)
            check_n_classes(encoder.classes_, type(self).__name__)
            self._check_image_module(input_shape, image_shape)
            if self.augment is not False and image_shape is None:
                raise ValueError(
                    f"augment={self.augment!r} needs images, but X has samples of shape "
                    f"{input_shape}. Pass image_shape=(H, W) or (C, H, W) to read flat X as "
                    f"images, or set augment=False."
                )
            self.input_shape_ = input_shape
            self.image_shape_ = image_shape
            self.label_encoder_ = encoder
        else:
            if tuple(X.shape[1:]) != self.input_shape_:
                raise ValueError(
                    f"X has samples of shape {tuple(X.shape[1:])}, but {type(self).__name__} "
                    f"was fitted on samples of shape {self.input_shape_}."
                )
            check_known_labels(
                y, self.classes_, type(self).__name__, known_as="the classes of the first fit"
            )
        y_enc = self.label_encoder_.transform(y).astype(np.int64)
        return self._to_net_layout(X), y_enc

    def _to_net_layout(self, X):
        if self.image_shape_ is not None:
            return np.ascontiguousarray(X.reshape(X.shape[0], *self.image_shape_))
        return np.ascontiguousarray(X)

    def _prepare_predict(self, X):
        check_is_fitted(self)
        if is_dataset(X):
            # skorch's own validation data (train_split), already in the module's layout
            return X
        X = validate_data(
            self,
            X,
            reset=False,
            allow_nd=True,
            dtype=_skorch_input_dtype(self),
            ensure_all_finite=True,
        )
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but {type(self).__name__} was "
                f"fitted on samples of shape {self.input_shape_}."
            )
        return self._to_net_layout(X)

    def _torch_seed(self):
        if self.random_state is None:
            return None
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _initialize_seeded(self, seed):
        """``initialize()``, with torch's global generator seeded when ``seed`` is set.

        Weight initialisation draws from torch's global generator; it happens
        under a lock (and, when seeded, in a forked random state), so that
        concurrent fits in threads (joblib's threading or Dask backends)
        neither race nor disturb the caller's random state. Nothing else in
        :meth:`fit` or in prediction draws from the global generator (data
        loaders get private generators), so a seeded initialisation cannot be
        perturbed by other fits or predictions running in other threads.
        """
        if seed is None:
            with _SEED_LOCK:
                self.initialize()
            return
        device = str(self.device)
        devices = list(range(torch.cuda.device_count())) if device.startswith("cuda") else []
        with _SEED_LOCK, torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            self.initialize()

    @contextlib.contextmanager
    def _training_generator(self, seed):
        """A private torch.Generator for shuffling and augmentation during training.

        Without a seed it is seeded from torch's global generator (under the
        lock), so unseeded training stays random but never draws from the
        global generator while another thread initialises a seeded module.
        """
        if seed is None:
            with _SEED_LOCK:
                seed = int(torch.randint(0, 2**62, (1,)).item())
        self._train_generator = torch.Generator().manual_seed(seed + 1)
        try:
            yield
        finally:
            self._train_generator = None

    def get_iterator(self, dataset, training=False):
        """skorch's iterator; training batches are shuffled (by the seeded private generator).

        skorch's own default is not to shuffle; here training batches are
        shuffled every epoch unless ``iterator_train__shuffle=False`` (or a
        ``sampler``) is given. With ``random_state`` set, the permutations come
        from the private seeded generator.
        """
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        iterator = getattr(self, prefix)
        if isinstance(iterator, type) and issubclass(iterator, torch.utils.data.DataLoader):
            if training and "sampler" not in kwargs and "batch_sampler" not in kwargs:
                kwargs.setdefault("shuffle", True)
            # a DataLoader draws a base seed from its generator at every epoch,
            # from torch's global one when it has none: give it a private one
            generator = getattr(self, "_train_generator", None) if training else torch.Generator()
            if generator is not None:
                kwargs.setdefault("generator", generator)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        return iterator(dataset, **kwargs)

    # ------------------------------------------------------------ the module
    def _data_module_kwargs(self, module_cls):
        try:
            names = set(inspect.signature(module_cls).parameters)
        except (TypeError, ValueError):  # pragma: no cover - builtins without signature
            return {}
        values = {
            "num_classes": int(self.classes_.size),
            "n_features": int(prod(self.input_shape_)),
        }
        if self.image_shape_ is not None:
            values["in_channels"] = int(self.image_shape_[0])
            values["image_size"] = tuple(int(s) for s in self.image_shape_[1:])
        return {k: v for k, v in values.items() if k in names}

    def initialize_module(self):
        """Build ``module_``, filling data-dependent constructor arguments."""
        kwargs = self.get_params_for("module")
        module = MLP if self.module is None else self.module
        if isinstance(module, type):
            if not hasattr(self, "label_encoder_"):
                raise ValueError(
                    f"{type(self).__name__} builds its module from the training data; call "
                    f"fit(X, y) instead of initialize()."
                )
            kwargs = {**self._data_module_kwargs(module), **kwargs}
        self.module_ = self.initialized_instance(module, kwargs)
        return self

    # ---------------------------------------------------------- the training
    def _augment_batch(self, Xi):
        if self.augment is False:
            return Xi
        h = Xi.shape[-2]
        pad = max(1, h // 8) if self.augment_padding is None else int(self.augment_padding)
        return random_crop_flip(
            Xi,
            padding=pad,
            crop=self.augment in (True, "crop"),
            flip=self.augment in (True, "flip"),
            generator=getattr(self, "_train_generator", None),
        )

    def train_step_single(self, batch, **fit_params):
        """One training step: loss (plus the input-gradient penalty) and its backward pass.

        Returns ``{"loss": loss, "y_pred": y_pred}`` like skorch, where ``loss``
        is the penalised training objective.
        """
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = to_tensor(Xi, device=self.device)
        Xi = self._augment_batch(Xi)
        if self.kappa == 0:
            y_pred = self._train_forward(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            loss.backward()
            return {"loss": loss, "y_pred": y_pred}

        Xi = Xi.detach().requires_grad_(True)
        y_pred = self._train_forward(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        reduction = getattr(self.criterion_, "reduction", "mean")
        if reduction not in ("mean", "sum"):
            raise ValueError(
                f"The input-gradient penalty needs a criterion with reduction='mean' or 'sum'; "
                f"got reduction={reduction!r}."
            )
        # gradient of the SUM of per-sample losses: row i is grad_{x_i} loss_i
        denom = self._mean_denominator(yi, Xi.shape[0])
        loss_sum = loss * denom if reduction == "mean" else loss
        penalty = input_gradient_penalty(loss_sum, Xi, create_graph=True)
        if self.penalty_normalization != "per_sample":
            # the gradient of the batch mean (1/B) sum_j loss_j has rows grad_{x_i} loss_i / B,
            # whatever the criterion's reduction or class weights: divide by B or B**2
            B = Xi.shape[0]
            penalty = penalty / (B if self.penalty_normalization == "batch_sum" else B * B)
        total = loss + 0.5 * self.kappa * penalty
        total.backward()
        self.history.record_batch("grad_penalty", penalty.item())
        return {"loss": total, "y_pred": y_pred}

    def _train_forward(self, Xi, **fit_params):
        """The module's output on a training batch, in float32 under bf16 autocast.

        With ``mixed_precision`` the forward pass runs under ``torch.autocast``
        (bfloat16) on the batch's device; the loss and both backward passes (the
        penalty's double backprop included) run outside it, on the recorded
        graph, as autocast recommends.
        """
        if not self.mixed_precision:
            return self.infer(Xi, **fit_params)
        with torch.autocast(device_type=Xi.device.type, dtype=torch.bfloat16):
            y_pred = self.infer(Xi, **fit_params)
        # back to float32 from bfloat16 only: a float64 module's output stays float64
        return y_pred.float() if y_pred.dtype == torch.bfloat16 else y_pred

    def _warn_mixed_precision_no_effect(self):
        if not self.mixed_precision:
            return
        dtype = _torch.module_dtype_device(self.module_)[0]
        if dtype == torch.float64:
            warnings.warn(
                f"mixed_precision={self.mixed_precision!r} has no effect on a float64 module: "
                "torch.autocast leaves float64 operations alone, so training runs in float64. "
                "Use a float32 module for bfloat16 autocast, or mixed_precision=False.",
                UserWarning,
                stacklevel=3,
            )

    def _mean_denominator(self, yi, n):
        """What a ``reduction="mean"`` criterion divides the summed batch loss by.

        ``n``, except for cross-entropy and NLL losses with class weights or
        ignored labels, which divide by the total weight of the counted
        samples (then row ``i`` of the penalty's gradient is that of sample
        ``i``'s weighted loss).
        """
        crit = self.criterion_
        if not isinstance(crit, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)):
            return n
        yt = to_tensor(yi, device=self.device)
        if yt.ndim != 1 or yt.is_floating_point():  # class probabilities as targets
            return n
        counted = yt != crit.ignore_index
        if crit.weight is None:
            return counted.sum()
        return crit.weight[yt[counted]].sum()

    def fit(self, X, y, **fit_params):
        """Validate the data, then initialise (unless ``warm_start``) and train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n, H, W) or (n, C, H, W)
            Training inputs; cast to float32. Never modified.
        y : array-like of shape (n_samples,)
            Labels of any type.
        **fit_params : dict
            Passed to the module's ``forward`` and to ``train_split``.

        Returns
        -------
        self : GradRegNetClassifier
            The fitted classifier.
        """
        self._check_params()
        warm = bool(self.warm_start and self.initialized_ and hasattr(self, "label_encoder_"))
        Xt, yt = self._prepare_fit(X, y, reset=not warm)
        seed = self._torch_seed()
        if not warm:
            self._initialize_seeded(seed)
        self._warn_mixed_precision_no_effect()
        with self._training_generator(seed):
            NeuralNet.partial_fit(self, Xt, yt, _routing_method="fit", **fit_params)
        return self

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs, initialising at the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs.
        y : array-like of shape (n_samples,)
            Labels; at later calls only labels seen at the first call.
        classes : ignored
            Accepted for scikit-learn compatibility.
        **fit_params : dict
            Passed to the module's ``forward`` and to ``train_split``.

        Returns
        -------
        self : GradRegNetClassifier
        """
        self._check_params()
        first = not (self.initialized_ and hasattr(self, "label_encoder_"))
        Xt, yt = self._prepare_fit(X, y, reset=first)
        seed = self._torch_seed() if first else None
        if first:
            self._initialize_seeded(seed)
        self._warn_mixed_precision_no_effect()
        with self._training_generator(seed):
            NeuralNet.partial_fit(self, Xt, yt, **fit_params)
        return self

    # ------------------------------------------------------------ prediction
    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs in the layout seen at fit.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        Xt = self._prepare_predict(X)
        return NeuralNet.predict_proba(self, Xt)

    def predict(self, X):
        """Predicted labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs in the layout seen at fit.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        if is_dataset(X):
            # skorch datasets (e.g. the train_split validation set) hold encoded labels
            return np.argmax(proba, axis=1)
        return self.classes_[np.argmax(proba, axis=1)]

    def input_gradient_norms(self, X, y):
        """Norm of each sample's loss gradient with respect to its input (eval mode).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs in the layout seen at fit.
        y : array-like of shape (n_samples,)
            Their labels (among ``classes_``).

        Returns
        -------
        norms : ndarray of shape (n_samples,)
            ``||grad_x loss(f(x), y)||`` in the layout seen by the module.
        """
        Xt = self._prepare_predict(X)
        y_enc = self.label_encoder_.transform(np.asarray(y)).astype(np.int64)
        # eval semantics on a view of module_: its train/eval flags are left as they are
        grads = _torch.per_sample_input_gradients(
            self.module_, Xt, y_enc, loss=_torch.skorch_loss(self, reduction="sum")
        )
        return np.linalg.norm(grads, axis=1)
