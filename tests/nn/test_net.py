"""Tests of sklpoison.nn: the double-backprop penalty, augmentation and the models."""

import copy
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.utils._param_validation import InvalidParameterError
from skorch.helper import predefined_split

from sklpoison.datasets import load_digits_images
from sklpoison.nn import GradRegNetClassifier, input_gradient_penalty, random_crop_flip
from sklpoison.nn.models import MLP, PreActResNet, SmallCNN


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_images(return_X_y=True)
    return X[:400], y[:400]


def test_import_sklpoison_does_not_import_torch():
    code = "import sys, sklpoison; sklpoison.model_selection; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- the penalty
def _reference_objective(module, X, y, kappa):
    """Per-sample loop: mean CE + kappa/2 mean_i ||grad_{x_i} l_i||^2 (double backprop)."""
    losses, sq_norms = [], []
    for i in range(X.shape[0]):
        xi = X[i : i + 1].clone().requires_grad_(True)
        li = torch.nn.functional.cross_entropy(module(xi), y[i : i + 1])
        (gi,) = torch.autograd.grad(li, xi, create_graph=True)
        losses.append(li)
        sq_norms.append(gi.pow(2).sum())
    return torch.stack(losses).mean() + 0.5 * kappa * torch.stack(sq_norms).mean()


@pytest.mark.parametrize("module", [MLP, SmallCNN])
def test_train_step_matches_hand_written_double_backprop(module):
    rng = np.random.RandomState(0)
    X = rng.rand(7, 1, 8, 8).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2, 1])
    kappa = 0.7
    net = GradRegNetClassifier(module, kappa=kappa, max_epochs=0, random_state=0).fit(X, y)
    reference = copy.deepcopy(net.module_)

    net.history.new_epoch()
    net.history.new_batch()
    net.optimizer_.zero_grad()
    step = net.train_step_single((torch.from_numpy(X), torch.from_numpy(y)))
    got = {name: p.grad.clone() for name, p in net.module_.named_parameters()}

    objective = _reference_objective(reference, torch.from_numpy(X), torch.from_numpy(y), kappa)
    grads = torch.autograd.grad(objective, list(reference.parameters()))
    assert_allclose(step["loss"].item(), objective.item(), rtol=1e-5)
    for (name, _), g in zip(reference.named_parameters(), grads, strict=True):
        assert_allclose(got[name].numpy(), g.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    # the penalty is really there: it changes the gradient
    plain = torch.autograd.grad(
        _reference_objective(reference, torch.from_numpy(X), torch.from_numpy(y), 0.0),
        list(reference.parameters()),
    )
    assert max((a - b).abs().max().item() for a, b in zip(plain, grads, strict=True)) > 1e-4
    assert net.history[-1, "batches", -1, "grad_penalty"] > 0


@pytest.mark.parametrize("mixed_precision", ["bf16", True])
def test_bf16_mixed_precision_penalty_matches_float64(digits, mixed_precision):
    """bf16 autocast: the penalty and the double-backprop gradient against float64.

    Tolerances: bfloat16 keeps 8 significant bits (relative spacing 2**-8 = 3.9e-3);
    the penalty is asked to agree to 2e-2 relative (measured 3.2e-3) and the
    gradient of the penalised objective to 0.15 relative with cosine >= 0.99
    (measured 7.6e-2 and 0.997; the plain cross-entropy gradient under bf16 is
    off by 6.4e-2 on the same kind of batch).
    """
    X, y = digits[0][:64], digits[1][:64]
    kappa = 100.0  # the penalty's gradient dominates the objective's
    net = GradRegNetClassifier(
        SmallCNN, kappa=kappa, max_epochs=0, mixed_precision=mixed_precision, random_state=0
    ).fit(X, y)
    reference = copy.deepcopy(net.module_).double()
    net.history.new_epoch()
    net.history.new_batch()
    net.optimizer_.zero_grad()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(net.label_encoder_.transform(y))
    net.train_step_single((Xt, yt))
    penalty = net.history[-1, "batches", -1, "grad_penalty"]
    got = torch.cat([p.grad.reshape(-1) for p in net.module_.parameters()]).double()

    objective = _reference_objective(reference, Xt.double(), yt, kappa)
    expected = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(objective, list(reference.parameters()))]
    )
    ref_penalty = objective.item() - _reference_objective(reference, Xt.double(), yt, 0).item()
    ref_penalty /= 0.5 * kappa
    assert abs(penalty - ref_penalty) / ref_penalty < 2e-2
    assert abs(penalty - ref_penalty) / ref_penalty > 1e-6  # bf16 was really used
    assert ((got - expected).norm() / expected.norm()).item() < 0.15
    assert (torch.dot(got, expected) / (got.norm() * expected.norm())).item() > 0.99


def test_mixed_precision_on_a_float64_module_warns_and_stays_float64(digits):
    # autocast leaves float64 alone: the option has no effect, and the loss must not be
    # cast down to float32 (it was: the output went through .float())
    X, y = digits[0][:32].reshape(32, -1).astype(np.float64), digits[1][:32]

    def module():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(64, 10)).double()

    kw = dict(kappa=1.0, max_epochs=2, batch_size=16, random_state=0)
    with pytest.warns(UserWarning, match="no effect on a float64 module"):
        mixed = GradRegNetClassifier(module(), mixed_precision="bf16", **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = GradRegNetClassifier(module(), **kw).fit(X, y)
    assert mixed.history[-1, "train_loss"] == plain.history[-1, "train_loss"]
    for a, b in zip(mixed.module_.parameters(), plain.module_.parameters(), strict=True):
        assert a.dtype == torch.float64 and torch.equal(a, b)


def test_mixed_precision_trains_and_predicts(digits):
    X, y = digits
    net = GradRegNetClassifier(
        SmallCNN, kappa=0.1, mixed_precision="bf16", max_epochs=3, random_state=0
    ).fit(X[:300], y[:300])
    assert net.score(X[300:], y[300:]) > 0.5
    with pytest.raises(InvalidParameterError, match="mixed_precision"):
        GradRegNetClassifier(mixed_precision="fp8").fit(X[:50], y[:50])


def test_penalty_with_class_weights_uses_the_weighted_per_sample_losses():
    rng = np.random.RandomState(0)
    X = rng.rand(9, 5).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2, 1, 1, 0])
    weight = torch.tensor([1.0, 3.0, 0.5])
    net = GradRegNetClassifier(
        kappa=2.0, max_epochs=0, criterion__weight=weight, random_state=0
    ).fit(X, y)
    reference = copy.deepcopy(net.module_)
    net.history.new_epoch()
    net.history.new_batch()
    step = net.train_step_single((torch.from_numpy(X), torch.from_numpy(y)))

    Xt, yt = torch.from_numpy(X).requires_grad_(True), torch.from_numpy(y)
    losses = weight[yt] * torch.nn.functional.cross_entropy(reference(Xt), yt, reduction="none")
    (g,) = torch.autograd.grad(losses.sum(), Xt)  # row i: grad of sample i's weighted loss
    expected_penalty = g.pow(2).sum(1).mean().item()
    assert_allclose(net.history[-1, "batches", -1, "grad_penalty"], expected_penalty, rtol=1e-5)
    expected = losses.sum().item() / weight[yt].sum().item() + expected_penalty
    assert_allclose(step["loss"].item(), expected, rtol=1e-5)


def test_input_gradient_penalty_is_per_sample():
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 2)
    X = torch.randn(5, 3, requires_grad=True)
    y = torch.tensor([0, 1, 1, 0, 1])
    loss_sum = torch.nn.functional.cross_entropy(lin(X), y, reduction="sum")
    got = input_gradient_penalty(loss_sum, X)
    # closed form for a linear model: grad_x l_i = W^T (softmax_i - onehot_i)
    p = torch.softmax(lin(X), 1) - torch.nn.functional.one_hot(y, 2)
    expected = (p @ lin.weight).pow(2).sum(1).mean()
    assert_allclose(got.item(), expected.item(), rtol=1e-6)


def test_batch_norm_in_training_mode_couples_the_rows():
    """With batch normalisation in training mode, the penalty uses grad_{x_i} sum_j l_j.

    Batch statistics make l_j depend on x_i; the exact per-sample gradient
    grad_{x_i} l_i (one backward pass per sample) then differs. In eval mode the
    two coincide. This pins down what the docstrings state.
    """
    rng = np.random.RandomState(0)
    X = rng.rand(12, 1, 8, 8).astype(np.float32)
    y = np.arange(12) % 3
    net = GradRegNetClassifier(
        PreActResNet, module__depth=8, module__width=4, kappa=1.0, max_epochs=0, random_state=0
    ).fit(X, y)
    reference = copy.deepcopy(net.module_).train()
    net.history.new_epoch()
    net.history.new_batch()
    net.train_step_single((torch.from_numpy(X), torch.from_numpy(y)))
    got = net.history[-1, "batches", -1, "grad_penalty"]

    def penalties(module):
        Xt = torch.from_numpy(X).requires_grad_(True)
        losses = torch.nn.functional.cross_entropy(
            module(Xt), torch.from_numpy(y), reduction="none"
        )
        (g_sum,) = torch.autograd.grad(losses.sum(), Xt, retain_graph=True)
        (g_all,) = torch.autograd.grad(losses, Xt, torch.eye(12), is_grads_batched=True)
        g_own = g_all[torch.arange(12), torch.arange(12)]  # row i: grad_{x_i} l_i
        sq = lambda g: g.pow(2).flatten(1).sum(1).mean().item()  # noqa: E731
        return sq(g_sum), sq(g_own)

    batch_coupled, per_sample = penalties(reference)
    assert_allclose(got, batch_coupled, rtol=1e-5)
    assert abs(batch_coupled - per_sample) > 0.01 * per_sample
    batch_coupled, per_sample = penalties(reference.eval())
    assert_allclose(batch_coupled, per_sample, rtol=1e-5)


def test_kappa_lowers_input_gradient_norm(digits):
    X, y = load_digits_images(return_X_y=True)
    held_out, train_sq, score = {}, {}, {}
    for kappa in (0.0, 1.0, 10.0):
        net = GradRegNetClassifier(
            kappa=kappa, max_epochs=8, batch_size=32, module__hidden_sizes=(32,), random_state=0
        )
        net.fit(X[:200], y[:200])
        held_out[kappa] = net.input_gradient_norms(X[400:800], y[400:800]).mean()
        train_sq[kappa] = (net.input_gradient_norms(X[:200], y[:200]) ** 2).mean()
        score[kappa] = net.score(X[400:800], y[400:800])
    assert held_out[10.0] < held_out[1.0] < held_out[0.0]
    assert held_out[10.0] < 0.25 * held_out[0.0]
    assert train_sq[10.0] < 0.5 * train_sq[0.0]  # the penalised quantity itself
    assert train_sq[1.0] < train_sq[0.0]
    # the smaller gradients are not those of a collapsed model
    assert score[0.0] > 0.6 and score[1.0] > 0.6


@pytest.mark.filterwarnings("ignore:Full backward hook is firing:UserWarning")
def test_kappa_zero_costs_one_backward_pass(digits, monkeypatch):
    X, y = digits[0][:100], digits[1][:100]
    counts = {}
    for kappa in (0.0, 0.5):
        net = GradRegNetClassifier(kappa=kappa, max_epochs=0, batch_size=20, random_state=0)
        net.fit(X, y)
        calls = {"backward": 0, "grad": 0}
        net.module_.register_full_backward_hook(
            lambda *args, calls=calls: calls.__setitem__("backward", calls["backward"] + 1)
        )
        real_grad = torch.autograd.grad

        def counting_grad(*args, calls=calls, real_grad=real_grad, **kwargs):
            calls["grad"] += 1
            return real_grad(*args, **kwargs)

        monkeypatch.setattr(torch.autograd, "grad", counting_grad)
        net.set_params(max_epochs=1).partial_fit(X, y)
        monkeypatch.undo()
        counts[kappa] = calls
    assert counts[0.0] == {"backward": 5, "grad": 0}  # 5 batches, one backward pass each
    assert counts[0.5]["grad"] == 5
    assert counts[0.5]["backward"] > 5


def test_validation_loss_is_penalty_free(digits):
    X, y = digits
    Xv, yv = X[300:], y[300:]
    from skorch.dataset import Dataset

    net = GradRegNetClassifier(
        kappa=5.0, max_epochs=2, train_split=predefined_split(Dataset(Xv, yv)), random_state=0
    ).fit(X[:300], y[:300])
    with torch.no_grad():
        logits = net.module_(torch.from_numpy(Xv))
        ce = torch.nn.functional.cross_entropy(logits, torch.from_numpy(yv)).item()
    assert_allclose(net.history[-1, "valid_loss"], ce, rtol=1e-5)
    # while the training loss includes the (positive) penalty
    train_batches = [b for b in net.history[-1, "batches"] if "train_loss" in b]
    assert train_batches and all(b["grad_penalty"] > 0 for b in train_batches)


def test_fit_is_deterministic_and_leaves_torch_state_alone(digits):
    X, y = digits
    state = torch.random.get_rng_state()
    a = GradRegNetClassifier(SmallCNN, augment=True, max_epochs=2, random_state=3).fit(X, y)
    assert torch.equal(state, torch.random.get_rng_state())
    b = GradRegNetClassifier(SmallCNN, augment=True, max_epochs=2, random_state=3).fit(X, y)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def _training_orders(**params):
    """Order in which fit feeds 48 uniquely marked rows, per epoch."""
    from skorch.callbacks import Callback

    class Record(Callback):
        def initialize(self):
            self.seen = []
            return self

        def on_batch_begin(self, net, batch=None, training=False, **kwargs):
            if training:
                self.seen.append(batch[0][:, 0].numpy().copy())

    X = np.zeros((48, 3), dtype=np.float32)
    X[:, 0] = np.arange(48)
    rec = Record()
    GradRegNetClassifier(max_epochs=2, batch_size=16, callbacks=[rec], lr=1e-6, **params).fit(
        X, np.arange(48) % 2
    )
    return np.concatenate(rec.seen).reshape(2, 48).astype(int)


def test_training_batches_are_shuffled_reproducibly():
    a, b = _training_orders(random_state=0), _training_orders(random_state=0)
    assert_array_equal(a, b)  # same seed, same permutations
    for epoch in a:
        assert sorted(epoch) == list(range(48))  # each row once per epoch
        assert not np.array_equal(epoch, np.arange(48))  # shuffled
    assert not np.array_equal(a[0], a[1])  # a new permutation every epoch
    assert not np.array_equal(a, _training_orders(random_state=1))
    unshuffled = _training_orders(random_state=0, iterator_train__shuffle=False)
    assert_array_equal(unshuffled, np.tile(np.arange(48), (2, 1)))


def test_seeded_init_is_not_perturbed_by_a_concurrent_predict(monkeypatch):
    """Predictions in other threads (as in a threaded or Dask sweep) must not draw
    from torch's global generator while a seeded fit initialises its weights."""
    import threading

    rng = np.random.RandomState(0)
    X, y = rng.rand(64, 4).astype(np.float32), np.arange(64) % 2
    other = GradRegNetClassifier(max_epochs=1, random_state=0).fit(X, y)
    expected = GradRegNetClassifier(max_epochs=0, random_state=0).fit(X, y).module_
    initialize = GradRegNetClassifier.initialize

    def initialize_while_another_thread_predicts(self):
        thread = threading.Thread(target=other.predict_proba, args=(X,))
        thread.start()
        thread.join()
        return initialize(self)

    monkeypatch.setattr(
        GradRegNetClassifier, "initialize", initialize_while_another_thread_predicts
    )
    got = GradRegNetClassifier(max_epochs=0, random_state=0).fit(X, y).module_
    for a, b in zip(got.parameters(), expected.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "device",
    [
        "cpu:0",
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"),
        ),
    ],
)
def test_device_passes_through(digits, device, monkeypatch):
    from sklpoison.nn import _net

    X, y = digits[0][:64], digits[1][:64]
    seen = []
    to_tensor = _net.to_tensor

    def recording_to_tensor(X, device):
        seen.append(str(device))
        return to_tensor(X, device=device)

    monkeypatch.setattr(_net, "to_tensor", recording_to_tensor)
    net = GradRegNetClassifier(
        SmallCNN, kappa=0.5, augment="crop", max_epochs=1, device=device, random_state=0
    ).fit(X, y)
    norms = net.input_gradient_norms(X, y)
    assert seen and set(seen) == {device}  # training batches and input gradients
    assert {p.device.type for p in net.module_.parameters()} == {torch.device(device).type}
    assert norms.shape == (64,) and net.predict(X).shape == (64,)


# --------------------------------------------------------------- augmentation
def test_random_crop_flip_is_a_shifted_flipped_copy():
    rng = np.random.RandomState(0)
    X = torch.from_numpy(rng.rand(16, 2, 5, 6).astype(np.float32))
    gen = torch.Generator().manual_seed(0)
    out = random_crop_flip(X, padding=2, generator=gen)
    assert out.shape == X.shape
    Xp = torch.nn.functional.pad(X, (2, 2, 2, 2))
    n_flipped = 0
    for i in range(16):
        candidates = [(f, dy, dx) for f in (False, True) for dy in range(5) for dx in range(5)]
        found = False
        for f, dy, dx in candidates:
            crop = Xp[i, :, dy : dy + 5, dx : dx + 6]
            crop = crop.flip(-1) if f else crop
            if torch.equal(crop, out[i]):
                found, n_flipped = True, n_flipped + f
                break
        assert found, f"image {i} is not a padded crop (possibly flipped) of the input"
    assert 0 < n_flipped < 16
    assert not torch.equal(out, X)


def test_augmentation_at_training_time_only(digits):
    X, y = digits[0][:128], digits[1][:128]
    net = GradRegNetClassifier(
        SmallCNN, augment=True, max_epochs=0, iterator_train__shuffle=False, random_state=0
    ).fit(X, y)
    seen = {True: [], False: []}
    net.module_.register_forward_pre_hook(
        lambda mod, args: seen[mod.training].append(args[0].detach().clone())
    )
    net.set_params(max_epochs=1).partial_fit(X, y)
    proba = net.predict_proba(X)
    train_inputs = torch.cat(seen[True]).numpy()
    eval_inputs = torch.cat(seen[False]).numpy()
    assert train_inputs.shape == X.shape
    changed = np.any(train_inputs != X, axis=(1, 2, 3))
    assert changed.mean() > 0.5  # most training images are shifted or flipped
    assert_array_equal(eval_inputs, X)
    assert_array_equal(proba, net.predict_proba(X))


def test_augment_needs_images(digits):
    X, y = digits
    with pytest.raises(ValueError, match="augment=True needs images"):
        GradRegNetClassifier(augment=True, max_epochs=1).fit(X.reshape(len(X), -1), y)


# ---------------------------------------------------------------- input layouts
def test_flat_input_with_image_shape_matches_images(digits):
    X, y = digits
    params = dict(module=SmallCNN, max_epochs=2, random_state=0)
    images = GradRegNetClassifier(**params).fit(X, y)
    flat = GradRegNetClassifier(image_shape=(8, 8), **params).fit(X.reshape(len(X), -1), y)
    as_float64 = GradRegNetClassifier(**params).fit(X.astype(np.float64), y)
    assert flat.image_shape_ == (1, 8, 8) and flat.module_.in_channels == 1
    assert_allclose(flat.predict_proba(X.reshape(len(X), -1)), images.predict_proba(X))
    assert_allclose(as_float64.predict_proba(X.astype(np.float64)), images.predict_proba(X))
    assert images.score(X, y) > 0.5
    with pytest.raises(ValueError, match="image_shape=\\(7, 7\\) does not match"):
        GradRegNetClassifier(image_shape=(7, 7)).fit(X.reshape(len(X), -1), y)


def test_labels_are_encoded_and_decoded(digits):
    X, y = digits
    names = np.array(list("abcdefghij"))[y]
    net = GradRegNetClassifier(max_epochs=5, random_state=0).fit(X, names)
    assert set(net.predict(X)) <= set(names)
    assert net.module_.net[-1].out_features == 10


def test_float64_module_gets_float64_inputs():
    # inputs follow the module's dtype (they were cast to float32: a dtype error in torch)
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(40, 6)), rng.randint(0, 3, size=40)
    module = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    net = GradRegNetClassifier(module.double(), kappa=0.1, max_epochs=2, random_state=0)
    net.fit(X, y)
    assert net.predict_proba(X).dtype == np.float64 and net.predict(X).shape == (40,)
    norms = net.input_gradient_norms(X, y)
    ref = copy.deepcopy(net.module_).eval()
    x0 = torch.tensor(X[:1], requires_grad=True)
    loss = torch.nn.functional.nll_loss(
        torch.log(ref(x0).softmax(-1) + torch.finfo(torch.float64).eps), torch.tensor(y[:1])
    )
    assert_allclose(norms[0], torch.autograd.grad(loss, x0)[0].norm().item(), rtol=1e-10)


def test_parameter_validation(digits):
    X, y = digits
    with pytest.raises(InvalidParameterError, match="kappa"):
        GradRegNetClassifier(kappa=-1.0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        GradRegNetClassifier(batch_size=0).fit(X, y)
    full_batch = GradRegNetClassifier(batch_size=-1, max_epochs=1).fit(X, y)
    assert len([b for b in full_batch.history[-1, "batches"] if "train_loss" in b]) == 1
    with pytest.raises(ValueError, match="GradRegNetClassifier needs at least 2 classes in y"):
        GradRegNetClassifier().fit(X, np.zeros(len(X)))


# -------------------------------------------------------------------- models
def test_preactresnet_depth_and_shapes():
    for depth in (7, 21, 0, 112):
        with pytest.raises(ValueError, match="6n \\+ 2"):
            PreActResNet(depth=depth)
    net = PreActResNet(depth=110)
    convs = [
        m
        for name, m in net.named_modules()
        if isinstance(m, torch.nn.Conv2d) and "shortcut" not in name
    ]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) + len(linears) == 110
    small = PreActResNet(depth=8, num_classes=7, in_channels=1, width=4)
    assert small(torch.zeros(3, 1, 8, 8)).shape == (3, 7)
    assert PreActResNet(depth=20, width=4)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_smallcnn_and_mlp_shapes():
    assert SmallCNN(image_size=28)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert SmallCNN(image_size=(8, 8), num_classes=3)(torch.zeros(2, 1, 8, 8)).shape == (2, 3)
    assert SmallCNN(in_channels=3, image_size=32)(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert SmallCNN(image_size=28).flat_features == 64 * 7 * 7
    with pytest.raises(ValueError, match="at least 4x4"):
        SmallCNN(image_size=3)
    assert MLP(n_features=12, num_classes=4, hidden_sizes=())(torch.zeros(5, 12)).shape == (5, 4)


def test_preactresnet_in_the_classifier(digits):
    X, y = digits
    net = GradRegNetClassifier(
        PreActResNet, module__depth=8, module__width=4, kappa=0.1, max_epochs=1, random_state=0
    ).fit(X[:64], y[:64])
    assert net.module_.fc.out_features == 10
    assert net.predict_proba(X[:5]).shape == (5, 10)


# ---------------------------------------------------------------- penalty_normalization
# the paper-style batch normalisations of the input-gradient penalty are the per-sample
# penalty with kappa rescaled by B or B**2
def _mlp_data(n=48, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, 64).astype(np.float32)
    y = (X[:, :32].sum(1) > X[:, 32:].sum(1)).astype(int) + 2 * (X[:, 0] > 0.5)
    return X, y


def _fit_normalized(norm, kappa, module=MLP, batch_size=16, **kw):
    net = GradRegNetClassifier(
        module,
        kappa=kappa,
        penalty_normalization=norm,
        optimizer=torch.optim.SGD,
        max_epochs=4,
        batch_size=batch_size,
        random_state=0,
        **{"lr": 0.1, **kw},
    )
    return net.fit(*_mlp_data())


@pytest.mark.parametrize("module, kw", [(MLP, {}), (SmallCNN, {"image_shape": (8, 8)})])
def test_batch_normalisations_train_identically_with_mapped_kappa(module, kw):
    B, kappa = 16, 0.7  # 48 rows: three full batches per epoch
    ref = _fit_normalized("per_sample", kappa, module, B, **kw)
    for norm, factor in (("batch_sum", B), ("batch_mean", B**2)):
        net = _fit_normalized(norm, kappa * factor, module, B, **kw)
        for p, q in zip(ref.module_.parameters(), net.module_.parameters(), strict=True):
            assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-5)
        # the recorded penalty is in the option's own units: per-sample / B or / B**2
        pen_ref = np.array(ref.history[:, "batches", :, "grad_penalty"]).ravel()
        pen = np.array(net.history[:, "batches", :, "grad_penalty"]).ravel()
        assert_allclose(pen * factor, pen_ref, rtol=1e-3)
    # the same kappa in both units is a different objective: B times stronger per sample
    strong = _fit_normalized("per_sample", kappa * B, module, B, **kw)
    diffs = [
        float((p - q).detach().abs().max())
        for p, q in zip(ref.module_.parameters(), strong.module_.parameters(), strict=True)
    ]
    assert max(diffs) > 1e-3


def test_batch_penalty_is_the_norm_of_the_batch_loss_gradient():
    # one step by hand: the batch_sum penalty is ||d mean_loss / d X||_F^2
    X, y = _mlp_data(16)
    net = GradRegNetClassifier(
        MLP,
        kappa=2.0,
        penalty_normalization="batch_sum",
        max_epochs=1,
        batch_size=16,
        optimizer=torch.optim.SGD,
        lr=1e-12,
        random_state=0,
    ).fit(X, y)
    Xt = torch.as_tensor(X).requires_grad_(True)
    yt = torch.as_tensor(np.searchsorted(net.classes_, y))
    loss = torch.nn.functional.cross_entropy(net.module_(Xt), yt)
    (g,) = torch.autograd.grad(loss, Xt)
    rec = net.history[0, "batches", 0, "grad_penalty"]
    assert rec == pytest.approx(float(g.pow(2).sum()), rel=1e-5)


def test_penalty_normalization_is_validated():
    with pytest.raises(ValueError, match="penalty_normalization"):
        GradRegNetClassifier(MLP, kappa=1.0, penalty_normalization="paper").fit(*_mlp_data())


@pytest.mark.parametrize(
    "criterion_kw",
    [
        {"criterion__weight": torch.tensor([1.0, 3.0, 0.5, 2.0])},  # class weights
        {"criterion__reduction": "sum", "lr": 0.01},  # a summing criterion
    ],
)
def test_kappa_mapping_holds_with_class_weights_and_summing_criteria(criterion_kw):
    # the documented mapping (batch_sum = B kappa, batch_mean = B**2 kappa) does not depend on
    # how the criterion reduces the batch: the batch forms are the per-sample penalty / B, / B**2
    B, kappa = 16, 0.7
    ref = _fit_normalized("per_sample", kappa, MLP, B, **criterion_kw)
    for norm, factor in (("batch_sum", B), ("batch_mean", B**2)):
        net = _fit_normalized(norm, kappa * factor, MLP, B, **criterion_kw)
        for p, q in zip(ref.module_.parameters(), net.module_.parameters(), strict=True):
            assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-5)
        pen_ref = np.array(ref.history[:, "batches", :, "grad_penalty"]).ravel()
        pen = np.array(net.history[:, "batches", :, "grad_penalty"]).ravel()
        assert_allclose(pen * factor, pen_ref, rtol=1e-3)
