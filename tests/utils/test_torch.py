"""Tests of the torch layer (sklpoison/utils/_torch.py) and of the device plumbing."""

import ast
import copy
import pathlib
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from sklpoison import (  # noqa: E402
    GradientCanceling,
    HessianSpectrumDetector,
    SpectralSignatureDetector,
)
from sklpoison.nn import GradRegNetClassifier  # noqa: E402
from sklpoison.nn.models import SmallCNN  # noqa: E402
from sklpoison.utils import _torch  # noqa: E402

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "sklpoison"


class RecordingNet(torch.nn.Module):
    """Batch norm and dropout; records every call of train()/eval() on itself."""

    def __init__(self, d=12, n_classes=4):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(d, 24),
            torch.nn.BatchNorm1d(24),
            torch.nn.Tanh(),
            torch.nn.Dropout(0.4),
            torch.nn.Linear(24, n_classes),
        )
        self.train_calls = []

    def train(self, mode=True):
        self.train_calls.append(mode)
        return super().train(mode)

    def forward(self, x):
        return self.body(x)


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread while a test compares threaded results bit for bit.

    With several intra-op threads, torch splits float32 reductions by the threads free at
    the time, so results from concurrent calls may differ in the last bits (seen on 2 cores
    with no thread cap: 4e-11) although no module state races. The tests below look for
    races in module state, so they fix the reduction order.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


@pytest.fixture
def bn_model():
    torch.manual_seed(0)
    model = RecordingNet()
    with torch.no_grad():  # non-trivial running statistics
        model(torch.randn(64, 12) * 2 + 1)
    model.train_calls.clear()
    assert model.training
    return model


def _flags(model):
    return [m.training for m in model.modules()]


class _Watcher:
    """Polls the train/eval flags of every submodule in a thread while work runs."""

    def __init__(self, model):
        self.model, self.seen, self.stop = model, set(), threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        while not self.stop.is_set():
            self.seen.add(tuple(_flags(self.model)))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_concurrent_hessian_detectors_on_one_module_equal_sequential_ones(
    bn_model, one_torch_thread
):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 12)).astype(np.float32)
    y = rng.randint(0, 4, size=90)
    before = {k: v.clone() for k, v in bn_model.state_dict().items()}
    flags = _flags(bn_model)

    def fit(seed):
        det = HessianSpectrumDetector(
            bn_model, n_components=3, max_iter=6, batch_size=30, random_state=seed
        )
        return det.fit(X, y)

    sequential = [fit(s) for s in range(4)]
    with _Watcher(bn_model) as watcher, ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(fit, [0, 1, 2, 3] * 2))
    assert watcher.seen == {tuple(flags)}  # never observed changed, not even briefly
    assert bn_model.train_calls == []  # no train()/eval() on the caller's module
    for a, b in zip(sequential * 2, threaded, strict=True):
        assert_array_equal(a.eigenvalues_, b.eigenvalues_)
        assert_array_equal(a.reference_top_eigenvalues_, b.reference_top_eigenvalues_)
    after = bn_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # and the eval semantics are those of an eval-mode copy: the running statistics
    ref = copy.deepcopy(bn_model).eval()
    det = HessianSpectrumDetector(ref, n_components=3, max_iter=6, batch_size=30, random_state=0)
    assert_allclose(det.fit(X, y).eigenvalues_, sequential[0].eigenvalues_, rtol=1e-6)


def test_concurrent_spectral_detectors_leave_module_untouched(bn_model):
    rng = np.random.RandomState(1)
    X = rng.normal(size=(80, 12)).astype(np.float32)
    flags = _flags(bn_model)

    def fit(_):
        det = SpectralSignatureDetector(bn_model, batch_size=16).fit(X)
        return det.reference_scores_, det.signature_scores(X)

    sequential = [fit(i) for i in range(3)]
    with _Watcher(bn_model) as watcher, ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(fit, range(6)))
    assert watcher.seen == {tuple(flags)}
    assert bn_model.train_calls == []
    assert not bn_model.body[-1]._forward_hooks  # the hook lived on a view only
    for a, b in zip(sequential * 2, threaded, strict=True):
        assert_array_equal(a[0], b[0])
        assert_array_equal(a[1], b[1])


def test_concurrent_parameter_gradients_on_one_skorch_net(bn_model, one_torch_thread):
    """The parameter-gradient adapter (GC, GradPC, Sever, tau) on a net left in training mode."""
    from sklpoison import poisonability_threshold
    from sklpoison.numerics._param_gradients import make_param_grad_adapter

    rng = np.random.RandomState(2)
    X = rng.normal(size=(60, 12)).astype(np.float32)
    y = np.arange(60) % 4
    net = skorch.NeuralNetClassifier(
        bn_model, criterion=torch.nn.CrossEntropyLoss, max_epochs=0, train_split=None
    ).initialize()
    net.module_.train()
    net.module_.train_calls.clear()
    flags = _flags(net.module_)

    def work(_):
        adapter = make_param_grad_adapter(net, classes=np.arange(4))
        theta = adapter.get_theta()
        yi = y.astype(np.int64)
        return (
            adapter.per_sample_grads(theta, X, yi),
            adapter.gc_grad(theta, np.zeros(adapter.n_params), X[:5], yi[:5], 60)[1],
            poisonability_threshold(net, X, y).tau,
        )

    sequential = [work(i) for i in range(2)]
    with _Watcher(net.module_) as watcher, ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(work, range(6)))
    assert watcher.seen == {tuple(flags)}
    assert net.module_.train_calls == []
    for got in threaded:
        for a, b in zip(sequential[0], got, strict=True):
            assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["skorch", "sklpoison"])
def test_spectral_detector_without_labels_never_calls_the_nets_predict(bn_model, kind):
    # skorch's predict puts the caller's module in eval mode and leaves it there: the
    # labels come from an eval view instead, decoded as the net's predict decodes them
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator

    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 12)).astype(np.float32)
    y = rng.randint(0, 4, size=80)
    if kind == "skorch":
        net = skorch.NeuralNetClassifier(
            torch.nn.Sequential(bn_model, torch.nn.Softmax(dim=-1)),
            max_epochs=1,
            train_split=None,
            verbose=0,
        ).fit(X, y)
    else:
        net = GradRegNetClassifier(bn_model, max_epochs=1, random_state=0).fit(
            X, np.array(list("abcd"))[y]
        )
    net.module_.train()
    flags = [m.training for m in net.module_.modules()]
    with _Watcher(net.module_) as watcher:
        det = SpectralSignatureDetector(net).fit(X)
        scores = det.score_samples(X)
    assert watcher.seen == {tuple(flags)}
    expected = copy.deepcopy(net).predict(X)  # the labels the detector must have used
    ref = SpectralSignatureDetector(net).fit(X, expected)
    assert_array_equal(det.classes_, ref.classes_)
    assert_allclose(scores, ref.score_samples(X, expected))
    # clone drops the fit: an error, unless the net is frozen
    with pytest.raises(ValueError, match="not fitted.*FrozenEstimator"):
        clone(SpectralSignatureDetector(net)).fit(X, y)
    frozen = clone(SpectralSignatureDetector(FrozenEstimator(net))).fit(X)
    assert_allclose(frozen.score_samples(X), scores)
    assert [m.training for m in net.module_.modules()] == flags


def test_eval_view_computes_eval_mode_and_shares_parameters(bn_model):
    view = _torch.eval_view(bn_model)
    x = torch.randn(7, 12)
    ref = copy.deepcopy(bn_model).eval()
    assert torch.equal(view(x), ref(x))
    assert not any(m.training for m in view.modules())
    assert all(m.training for m in bn_model.modules())
    assert view.body[0].weight is bn_model.body[0].weight  # shared, not copied
    # gradients flow into the caller's parameters
    view(x).sum().backward()
    assert bn_model.body[0].weight.grad is not None
    # functional_call on the view never swaps the caller's tensors
    zeros = {k: torch.zeros_like(v) for k, v in bn_model.named_parameters()}
    out = torch.func.functional_call(view, zeros, (x,))
    assert torch.count_nonzero(out) == 0 and torch.count_nonzero(bn_model.body[0].weight) > 0


def test_eval_view_keeps_shared_submodules_shared():
    lin = torch.nn.Linear(3, 3)
    model = torch.nn.Sequential(lin, torch.nn.Dropout(0.5), lin)
    view = _torch.eval_view(model)
    assert view[0] is view[2] and view[0] is not lin


def test_eval_view_of_a_recurrent_module_keeps_its_weights_list_apart():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True)
    view = _torch.eval_view(lstm)
    x = torch.randn(2, 5, 3)
    assert torch.equal(view(x)[0], copy.deepcopy(lstm).eval()(x)[0])
    zeros = {k: torch.zeros_like(v) for k, v in lstm.named_parameters()}
    assert torch.count_nonzero(torch.func.functional_call(view, zeros, (x,))[0]) == 0
    assert torch.count_nonzero(lstm(x)[0]) > 0 and lstm.training


def test_eval_view_of_a_parametrized_module():
    # torch.nn.utils.parametrize forbids copy.copy/pickling of the module; spectral norm
    # runs a power iteration (updating its buffers) in training mode only
    def build():
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.utils.parametrizations.spectral_norm(torch.nn.Linear(12, 12)),
            torch.nn.Tanh(),
            torch.nn.Linear(12, 4),
        )

    model = build()
    assert model.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ref = build()
    ref.load_state_dict(model.state_dict())
    ref.eval()
    x = torch.randn(7, 12)
    assert torch.equal(_torch.eval_view(model)(x), ref(x))
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 12)).astype(np.float32)
    y = rng.randint(0, 4, size=40)
    kw = dict(n_components=2, max_iter=4, random_state=0)
    det = HessianSpectrumDetector(model, **kw).fit(X, y)
    assert_allclose(det.eigenvalues_, HessianSpectrumDetector(ref, **kw).fit(X, y).eigenvalues_)
    assert SpectralSignatureDetector(model).fit(X, y).reference_scores_.shape == (40,)
    assert model.training and all(torch.equal(before[k], model.state_dict()[k]) for k in before)


def test_module_dtype_device():
    assert _torch.module_dtype_device(torch.nn.Linear(2, 2).double()) == (
        torch.float64,
        torch.device("cpu"),
    )
    buffers_only = torch.nn.BatchNorm1d(3, affine=False).half()
    assert _torch.module_dtype_device(buffers_only)[0] == torch.float16
    assert _torch.module_dtype_device(torch.nn.ReLU()) == (
        torch.get_default_dtype(),
        torch.device("cpu"),
    )
    emb = torch.nn.Sequential(torch.nn.Embedding(4, 2))  # integer-free params: float
    assert _torch.module_dtype_device(emb)[0] == torch.float32


def test_meta_device_modules_are_a_clear_error():
    """A module on the meta device (shapes, no values) is refused by name, not by torch's
    'Cannot copy out of meta tensor' or '.item() on meta tensors' deep inside a fit."""
    from sklpoison import IntervalCertifier

    def meta_mlp():
        with torch.device("meta"):
            return torch.nn.Sequential(
                torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)
            )

    X = np.random.RandomState(0).rand(20, 64).astype(np.float32)
    y = np.arange(20) % 2
    match = "Sequential module has tensors on the 'meta' device.*to_empty"
    with pytest.raises(ValueError, match=match):
        _torch.module_dtype_device(meta_mlp())
    with pytest.raises(ValueError, match=match):
        HessianSpectrumDetector(meta_mlp(), n_components=2, max_iter=4).fit(X, y)
    with pytest.raises(ValueError, match=match):
        SpectralSignatureDetector(meta_mlp()).fit(X, y)
    with pytest.raises(ValueError, match="weight\\) is on the 'meta' device"):
        IntervalCertifier(meta_mlp(), n_poison=1, epsilon=0.01, n_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="on the 'meta' device"):
        _torch.to_numpy(torch.zeros(3, device="meta"))


def test_resolve_device(monkeypatch):
    assert _torch.resolve_device("cpu") == torch.device("cpu")
    assert _torch.resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="is not a torch device"):
        _torch.resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA device is available"):
        _torch.resolve_device("cuda")
    with pytest.raises(ValueError, match="no CUDA device is available"):
        _torch.resolve_device(torch.device("cuda", 0))


def test_model_kind_tests():
    from sklearn.linear_model import LogisticRegression

    net = skorch.NeuralNetClassifier(torch.nn.Linear, module__in_features=2, module__out_features=2)
    assert _torch.is_skorch_net(net) and not _torch.is_fitted_skorch_net(net)
    net.initialize()
    assert _torch.is_fitted_skorch_net(net)
    assert _torch.is_skorch_net(GradRegNetClassifier())
    assert _torch.is_skorch_net(skorch.NeuralNetRegressor(torch.nn.Linear))
    assert not _torch.is_skorch_net(LogisticRegression())
    assert not _torch.is_skorch_net(torch.nn.Linear(2, 2))
    assert _torch.is_torch_module(torch.nn.Linear(2, 2))
    assert not _torch.is_torch_module(net)
    assert _torch.skorch_label_kind(net) == "index"
    assert _torch.skorch_label_kind(skorch.NeuralNetBinaryClassifier(torch.nn.Linear)) == "binary"
    assert _torch.skorch_label_kind(skorch.NeuralNetRegressor(torch.nn.Linear)) == "regression"


def test_import_of_the_layer_loads_no_torch():
    code = (
        "import sys, sklpoison.utils._torch, sklpoison.numerics, sklpoison.detection; "
        "print('torch' in sys.modules, 'skorch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("criterion", ["nll", "ce"])
def test_skorch_loss_is_the_nets_get_loss(criterion):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 3)).astype(np.float32)
    y = rng.randint(0, 3, size=30)
    if criterion == "nll":
        module = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Softmax(dim=-1))
        kwargs = {}
    else:
        module = torch.nn.Linear(3, 3)
        kwargs = {"criterion": torch.nn.CrossEntropyLoss}
    net = skorch.NeuralNetClassifier(module, max_epochs=2, train_split=None, **kwargs).fit(X, y)
    out = net.module_(torch.from_numpy(X))
    expected = net.get_loss(out, torch.from_numpy(y)) * len(y)  # the mean, times n
    got = _torch.skorch_loss(net, reduction="sum")(out, torch.from_numpy(y))
    assert_allclose(got.item(), expected.item(), rtol=1e-5)
    assert net.criterion_.reduction == "mean"  # the net's criterion is not modified
    assert _torch.skorch_output_kind(net) == ("proba" if criterion == "nll" else "logits")


def test_per_sample_input_gradients_match_a_loop_over_rows():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, padding=1),
        torch.nn.BatchNorm2d(3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(3 * 5 * 5, 4),
    ).double()
    rng = np.random.RandomState(0)
    X = rng.normal(size=(11, 25))
    y = rng.randint(0, 4, size=11)
    G = _torch.per_sample_input_gradients(model, X, y, input_shape=(1, 5, 5), batch_size=4)
    ref = copy.deepcopy(model).eval()
    for i in range(len(X)):  # one backward pass per row, on an eval copy
        xi = torch.tensor(X[i].reshape(1, 1, 5, 5), requires_grad=True)
        li = torch.nn.functional.cross_entropy(ref(xi), torch.tensor(y[i : i + 1]))
        (gi,) = torch.autograd.grad(li, xi)
        assert_allclose(G[i], gi.reshape(-1).numpy(), rtol=1e-10, atol=1e-12)
    assert model.training


def test_to_tensor_and_to_numpy():
    X = np.arange(6.0).reshape(2, 3)
    X.setflags(write=False)
    t = _torch.to_tensor(X, module=torch.nn.Linear(3, 1))
    assert t.dtype == torch.float32 and t.device == torch.device("cpu")
    w = torch.ones(3, requires_grad=True)
    out = _torch.to_numpy(w * 2)
    assert out.dtype == np.float64 and np.array_equal(out, [2.0, 2.0, 2.0])
    assert _torch.to_numpy(torch.ones(2, dtype=torch.bfloat16)).dtype == np.float64
    # never a view of a tensor that requires gradients (a parameter): writing to it would
    # write into the caller's model
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    for dtype in (np.float64, None):
        out = _torch.to_numpy(p, dtype=dtype)
        out[0] = 5.0
        assert p[0].item() == 0.0


# ----------------------------------------------------------------- device plumbing
def _torch_using_modules():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if "torch" in text and path.name != "_torch.py":
            yield path, text


def test_no_numpy_conversion_or_flag_flip_outside_the_layer():
    """Every tensor -> numpy conversion goes through utils._torch.to_numpy (detach, cpu);
    no module calls .eval()/.train() or assigns .training on a module it was given."""
    offenders = []
    for path, text in _torch_using_modules():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("numpy", "eval", "train") and not node.args:
                    offenders.append(f"{path.name}:{node.lineno} .{node.func.attr}()")
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr == "training":
                        offenders.append(f"{path.name}:{node.lineno} .training =")
    assert offenders == []


@pytest.fixture
def direct_numpy_calls(monkeypatch):
    """Records every Tensor.numpy() made by sklpoison code other than the torch layer."""
    calls = []
    real = torch.Tensor.numpy

    def numpy(self, *args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("sklpoison") and caller != "sklpoison.utils._torch":
            calls.append(caller)
        if self.device.type != "cpu" or self.requires_grad:  # pragma: no cover
            calls.append(f"{caller}: numpy() of a {self.device} tensor requiring grad")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "numpy", numpy)
    return calls


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")], ids=["str", "torch.device"])
def test_deep_paths_take_device_objects_and_convert_through_the_layer(device, direct_numpy_calls):
    from sklpoison import GradPC, Sever

    rng = np.random.RandomState(0)
    X = rng.rand(60, 1, 8, 8).astype(np.float32)
    y = np.repeat([0, 1, 2], 20)
    net = GradRegNetClassifier(
        SmallCNN,
        kappa=0.5,
        augment=True,
        module__channels=(2, 4),
        module__hidden=8,
        max_epochs=1,
        device=device,
        random_state=0,
    ).fit(X, y)
    assert net.input_gradient_norms(X, y).shape == (60,)
    det = HessianSpectrumDetector(net, n_components=2, max_iter=4, random_state=0).fit(X, y)
    assert np.all(np.isfinite(det.eigenvalues_))
    assert SpectralSignatureDetector(net).fit(X, y).reference_scores_.shape == (60,)
    flat = X.reshape(60, -1)
    small = skorch.NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(64, 3), torch.nn.Softmax(dim=-1)),
        max_epochs=2,
        train_split=None,
        device=device,
    )
    gc = GradientCanceling(small, epsilon_w=0.05, poison_rate=0.1, max_iter=3)
    Xp, yp = gc.fit_resample(flat, y)
    assert Xp.shape[0] > 60 and Xp.shape[1] == 64
    assert GradPC(small, epsilon_w=0.05, max_iter=3).fit(flat, y).target_model_ is not None
    assert Sever(small, removal_fraction=0.1, n_iter=1).fit(flat, y).predict(flat).shape == (60,)
    assert direct_numpy_calls == []


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X = np.random.RandomState(0).rand(20, 4).astype(np.float32)
    with pytest.raises(ValueError, match="no CUDA device is available"):
        GradRegNetClassifier(device="cuda", max_epochs=1).fit(X, np.arange(20) % 2)
    with pytest.raises(ValueError, match="is not a torch device"):
        GradRegNetClassifier(device="gpu", max_epochs=1).fit(X, np.arange(20) % 2)


def test_gc_family_skorch_net_on_a_missing_device_is_a_clear_error(monkeypatch):
    from sklpoison import GradPC, Sever

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X = np.random.RandomState(0).rand(20, 4).astype(np.float32)
    y = np.arange(20) % 2

    def net(device):
        module = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Softmax(dim=-1))
        return skorch.NeuralNetClassifier(module, max_epochs=1, train_split=None, device=device)

    for make in (
        lambda n: GradientCanceling(n, poison_rate=0.1, max_iter=2),
        lambda n: GradPC(n, max_iter=2),
        lambda n: Sever(n, n_iter=1),
    ):
        name = type(make(None)).__name__
        with pytest.raises(ValueError, match=f"{name}: the skorch net's device='cuda' but no CUDA"):
            make(net("cuda")).fit(X, y)
        with pytest.raises(ValueError, match="device='gpu' is not a torch device"):
            make(net("gpu")).fit(X, y)


@pytest.mark.parametrize("n_features", [64, 65])
def test_image_module_on_flat_X_needs_image_shape(n_features):
    X = np.random.RandomState(0).rand(20, n_features).astype(np.float32)
    with pytest.raises(ValueError, match="image_shape"):
        GradRegNetClassifier(SmallCNN, max_epochs=1).fit(X, np.arange(20) % 2)


def test_image_module_on_flat_X_with_image_shape_fits():
    X = np.random.RandomState(0).rand(20, 64).astype(np.float32)
    net = GradRegNetClassifier(SmallCNN, image_shape=(8, 8), max_epochs=1).fit(X, np.arange(20) % 2)
    assert net.image_shape_ == (1, 8, 8)
