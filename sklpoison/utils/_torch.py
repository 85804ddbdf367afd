"""The torch layer: the one place where sklpoison talks to torch modules and skorch nets.

Every estimator, adapter and detector that touches torch goes through these helpers:

- :func:`is_torch_module`, :func:`is_skorch_net` (and :func:`is_fitted_skorch_net`,
  :func:`skorch_label_kind`): what kind of model was passed;
- :func:`module_dtype_device`, :func:`resolve_device`: where tensors live (they follow
  the module: its first floating parameter or buffer, the CPU otherwise);
- :func:`eval_view`: eval-mode semantics (deterministic dropout, batch norm on its
  running statistics) **without touching the caller's module**: a structural copy that
  shares the caller's parameter and buffer tensors (no memory is copied) but has its
  own ``training`` flags, hooks and parameter dictionaries, so that concurrent users of
  the same module (threads, Dask workers) never observe a flag flip and
  :func:`torch.func.functional_call` on the view never swaps the caller's tensors;
- :func:`forward`, :func:`to_tensor`, :func:`to_numpy`: one forward convention (the first
  element of a tuple output) and torch <-> numpy conversions that follow the module's
  device (``.detach().cpu()`` before ``.numpy()``);
- :func:`skorch_output_kind`, :func:`log_probabilities`, :func:`skorch_loss`: skorch's loss
  convention (a ``NeuralNetClassifier`` with ``NLLLoss`` feeds ``log(p + eps)`` of the
  module's probabilities to the criterion);
- :func:`input_gradients`, :func:`per_sample_input_gradients`: per-sample input gradients
  by the sum trick (row ``i`` of ``grad_X sum_j loss_j`` is ``grad_{x_i} loss_i`` when the
  rows do not interact, e.g. in eval mode).

Importing this module does not import torch: torch (and skorch) are imported inside
the functions, or looked up in :data:`sys.modules` for the type tests (an object cannot
be a torch module or a skorch net unless torch or skorch has been imported).
"""

import copy
import sys

import numpy as np

__all__ = [
    "eval_view",
    "forward",
    "input_gradients",
    "is_fitted_skorch_net",
    "is_skorch_net",
    "is_torch_module",
    "log_probabilities",
    "module_dtype_device",
    "per_sample_input_gradients",
    "resolve_device",
    "skorch_label_kind",
    "skorch_loss",
    "skorch_output_kind",
    "to_numpy",
    "to_tensor",
]


# ------------------------------------------------------------------ what kind of model
def is_torch_module(obj):
    """True when ``obj`` is a ``torch.nn.Module`` instance (never imports torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def is_skorch_net(obj):
    """True when ``obj`` is a skorch ``NeuralNet``, fitted or not (never imports skorch)."""
    net = sys.modules.get("skorch.net")
    return net is not None and isinstance(obj, net.NeuralNet)


def is_fitted_skorch_net(obj):
    """True for an initialised skorch net (it has ``module_`` and ``criterion_``)."""
    return is_skorch_net(obj) and hasattr(obj, "module_") and hasattr(obj, "criterion_")


def skorch_label_kind(net):
    """What the net's loss takes as target: ``"index"`` (class indices of a
    ``NeuralNetClassifier``), ``"binary"`` (``NeuralNetBinaryClassifier``) or
    ``"regression"`` (any other ``NeuralNet``)."""
    import skorch

    if isinstance(net, skorch.NeuralNetBinaryClassifier):
        return "binary"
    if isinstance(net, skorch.NeuralNetClassifier):
        return "index"
    return "regression"


# ------------------------------------------------------------------ dtype and device
def module_dtype_device(module):
    """``(dtype, device)`` of a module: those of its first floating parameter or buffer.

    A module without floating tensors gives torch's default dtype on the CPU.
    A module on the ``"meta"`` device (shapes without values) is a ``ValueError``:
    nothing can be computed from it.
    """
    import torch

    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_meta:
            what = f"The {type(module).__name__} module has tensors"
            raise ValueError(_META_MESSAGE.format(what=what))
        if t.is_floating_point():
            return t.dtype, t.device
    return torch.get_default_dtype(), torch.device("cpu")


_META_MESSAGE = (
    "{what} on the 'meta' device: shapes without values, so nothing can be "
    "computed from it. Materialise it first, e.g. module.to_empty(device='cpu') followed by "
    "module.load_state_dict(weights) (or torch.nn.Module.reset_parameters on each layer)."
)


def resolve_device(device, *, name="device"):
    """Validate a device given as a string or a ``torch.device``; return the ``torch.device``.

    Raises ``ValueError`` (not torch's ``AssertionError`` deep inside a fit) for a
    malformed name, and for a CUDA (or MPS) device that this machine does not have.
    """
    import torch

    try:
        dev = device if isinstance(device, torch.device) else torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"{name}={device!r} is not a torch device; use e.g. 'cpu', 'cuda' or 'cuda:0'."
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}={device!r} but no CUDA device is available (torch.cuda.is_available() "
                "is False: no GPU, or a CPU-only build of torch). Use device='cpu'."
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"{name}={device!r} but this machine has {count} CUDA device(s) "
                f"(indices 0..{count - 1})."
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"{name}={device!r} but no MPS device is available.")
    return dev


# ------------------------------------------------------------------ eval semantics
_DICT_ATTRIBUTES = (
    "_parameters",
    "_buffers",
    "_non_persistent_buffers_set",
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


def eval_view(module):
    """An eval-mode view of ``module`` that leaves ``module`` itself untouched.

    The view is a structural copy of the module tree: every submodule is a new
    object whose ``training`` flag is ``False`` and whose parameter, buffer and
    hook dictionaries are its own, while the parameter and buffer *tensors* are
    the caller's (shared, not copied). So the view computes exactly what
    ``module.eval()`` would, gradients flow into the caller's parameters, and yet
    the caller's flags are never flipped (not even temporarily) and hooks
    registered on the view, or tensors swapped in by
    :func:`torch.func.functional_call`, never reach the caller's module. Making
    a view costs one shallow copy per submodule.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    view : torch.nn.Module
        Same class and structure, in eval mode.
    """
    memo = {}

    def clone(m):
        if id(m) in memo:  # a submodule registered twice stays shared
            return memo[id(m)]
        # new object, new __dict__ holding the same values; not copy.copy, which goes
        # through __getstate__ and so raises for a parametrized module
        # (torch.nn.utils.parametrize forbids pickling it)
        c = object.__new__(type(m))
        c.__dict__.update(m.__dict__)
        memo[id(m)] = c
        for attr in _DICT_ATTRIBUTES:
            value = m.__dict__.get(attr)
            if value is not None:
                c.__dict__[attr] = copy.copy(value)
        for attr, value in m.__dict__.items():  # e.g. an RNN's _flat_weights list
            if isinstance(value, list) and value and all(_is_tensor(t) for t in value):
                c.__dict__[attr] = list(value)
        c.__dict__["_modules"] = type(m._modules)(
            (k, None if v is None else clone(v)) for k, v in m._modules.items()
        )
        c.__dict__["training"] = False
        return c

    return clone(module)


def _is_tensor(obj):
    torch = sys.modules.get("torch")
    return obj is None or (torch is not None and torch.is_tensor(obj))


def forward(module, x):
    """``module(x)``, keeping the first element when the module returns a tuple or list."""
    out = module(x)
    if isinstance(out, tuple | list):
        out = out[0]
    return out


# ------------------------------------------------------------------ conversions
def to_tensor(X, *, dtype=None, device=None, module=None):
    """A numpy array (or tensor) as a tensor of ``dtype`` on ``device``.

    ``module`` given: its dtype and device (:func:`module_dtype_device`) fill in
    whichever of the two is ``None``.
    """
    import torch

    if module is not None and (dtype is None or device is None):
        m_dtype, m_device = module_dtype_device(module)
        dtype = m_dtype if dtype is None else dtype
        device = m_device if device is None else device
    if torch.is_tensor(X):
        return X.to(dtype=dtype, device=device)
    X = np.asarray(X)
    if not X.flags.writeable:  # torch cannot wrap read-only memory: copy it
        X = X.copy()
    return torch.as_tensor(X, dtype=dtype, device=device)


def to_numpy(t, dtype=np.float64):
    """A tensor on any device as a numpy array (``detach().cpu()`` first).

    ``dtype`` casts the result (``None`` keeps the tensor's dtype). The result
    never shares memory with a tensor that requires gradients.
    """
    import torch

    if not torch.is_tensor(t):
        return np.asarray(t, dtype=dtype)
    if t.is_meta:
        raise ValueError(_META_MESSAGE.format(what="A tensor (e.g. a module's weight) is"))
    requires_grad = t.requires_grad
    t = t.detach().cpu()  # on the CPU, still the tensor's memory (e.g. a parameter's)
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16
        t = t.float()
    out = t.numpy()
    out = out if dtype is None else out.astype(dtype, copy=False)
    if requires_grad and np.may_share_memory(out, t.numpy()):  # no cast above copied it
        out = out.copy()
    return out


# ------------------------------------------------------------------ skorch's loss convention
def skorch_output_kind(net):
    """What the module of a skorch classifier returns, by its criterion.

    ``"proba"``: a ``NeuralNetClassifier`` with ``NLLLoss`` (skorch's default): the
    module returns probabilities and skorch feeds ``log(p + eps)`` to the loss.
    ``"logits"``: ``CrossEntropyLoss`` on logits. ``"other"``: any other criterion.
    """
    import torch

    crit = getattr(net, "criterion_", None)
    if isinstance(crit, torch.nn.NLLLoss) and skorch_label_kind(net) == "index":
        return "proba"
    if isinstance(crit, torch.nn.CrossEntropyLoss):
        return "logits"
    return "other"


def log_probabilities(out, kind):
    """Log-probabilities of a classifier's output: ``log(p + eps)`` as skorch computes it
    for ``kind="proba"`` (``eps`` the machine epsilon of the dtype), ``log_softmax`` for
    ``kind="logits"``."""
    import torch

    if kind == "proba":
        return torch.log(out + torch.finfo(out.dtype).eps)
    if kind == "logits":
        return torch.log_softmax(out, dim=-1)
    raise ValueError(f"kind must be 'proba' or 'logits'; got {kind!r}.")


def skorch_loss(net, reduction="sum"):
    """The loss a fitted skorch net trains with, as ``loss(output, target)``.

    A copy of ``net.criterion_`` with the given ``reduction`` (the net's own
    criterion is not modified), applied to ``log(p + eps)`` when the net is a
    ``NeuralNetClassifier`` with ``NLLLoss`` (skorch's convention).
    """
    crit = copy.copy(net.criterion_)
    if hasattr(crit, "reduction"):
        crit.reduction = reduction
    proba = skorch_output_kind(net) == "proba"

    def loss(out, target):
        if proba:
            out = log_probabilities(out, "proba")
        return crit(out, target)

    return loss


def cross_entropy_sum(out, target):
    """Summed cross-entropy on logits (the loss of a bare torch module)."""
    import torch

    return torch.nn.functional.cross_entropy(out, target, reduction="sum")


# ------------------------------------------------------------------ input gradients
def input_gradients(loss_sum, x, *, create_graph=False):
    """``grad_x loss_sum`` by one backward pass (the sum trick).

    With ``loss_sum = sum_i loss_i`` and rows that do not interact (eval mode,
    no batch statistics), row ``i`` is ``grad_{x_i} loss_i``: all per-sample input
    gradients of a batch for the price of one gradient. A loss that does not
    depend on ``x`` gives zeros.
    """
    import torch

    (g,) = torch.autograd.grad(loss_sum, x, create_graph=create_graph, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def per_sample_input_gradients(module, X, y, *, loss=None, input_shape=None, batch_size=256):
    """Per-sample input gradients ``grad_{x_i} loss(module(x_i), y_i)`` of a torch module.

    The module is evaluated through :func:`eval_view` (the caller's module is not
    touched), on its own device and dtype, one batch at a time with
    :func:`input_gradients`.

    Parameters
    ----------
    module : torch.nn.Module
    X : ndarray of shape (n, ...)
        Inputs (flat rows are reshaped to ``input_shape``).
    y : ndarray of shape (n,)
        Targets of the loss (class indices for the default loss).
    loss : callable or None, default=None
        ``loss(output, target) -> summed loss``; ``None`` means the summed
        cross-entropy on logits.
    input_shape : tuple of int or None, default=None
        Shape of one sample as the module takes it; ``None`` keeps ``X.shape[1:]``.
    batch_size : int, default=256

    Returns
    -------
    grads : ndarray of shape (n, prod(input_shape)), float64
    """
    import torch

    loss = cross_entropy_sum if loss is None else loss
    view = eval_view(module)
    dtype, device = module_dtype_device(module)
    X = np.asarray(X)
    shape = tuple(X.shape[1:]) if input_shape is None else tuple(input_shape)
    y = np.asarray(y)
    out = []
    for start in range(0, X.shape[0], batch_size):
        xb = X[start : start + batch_size].reshape(-1, *shape)
        xb = to_tensor(xb, dtype=dtype, device=device).requires_grad_(True)
        yb = torch.as_tensor(y[start : start + batch_size], device=device)
        with torch.enable_grad():
            g = input_gradients(loss(forward(view, xb), yb), xb)
        out.append(to_numpy(g.reshape(g.shape[0], -1)))
    if not out:
        return np.zeros((0, int(np.prod(shape))))
    return np.concatenate(out)
