"""GradRegNetClassifier(penalty_normalization=...): the paper-style batch normalisations of the
input-gradient penalty are the per-sample penalty with kappa rescaled by B or B**2 (issue 15)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklpoison.nn import GradRegNetClassifier  # noqa: E402
from sklpoison.nn.models import MLP, SmallCNN  # noqa: E402


def _data(n=48, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, 64).astype(np.float32)
    y = (X[:, :32].sum(1) > X[:, 32:].sum(1)).astype(int) + 2 * (X[:, 0] > 0.5)
    return X, y


def _fit(norm, kappa, module=MLP, batch_size=16, **kw):
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
    return net.fit(*_data())


@pytest.mark.parametrize("module, kw", [(MLP, {}), (SmallCNN, {"image_shape": (8, 8)})])
def test_batch_normalisations_train_identically_with_mapped_kappa(module, kw):
    B, kappa = 16, 0.7  # 48 rows: three full batches per epoch
    ref = _fit("per_sample", kappa, module, B, **kw)
    for norm, factor in (("batch_sum", B), ("batch_mean", B**2)):
        net = _fit(norm, kappa * factor, module, B, **kw)
        for p, q in zip(ref.module_.parameters(), net.module_.parameters(), strict=True):
            assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-5)
        # the recorded penalty is in the option's own units: per-sample / B or / B**2
        pen_ref = np.array(ref.history[:, "batches", :, "grad_penalty"]).ravel()
        pen = np.array(net.history[:, "batches", :, "grad_penalty"]).ravel()
        assert_allclose(pen * factor, pen_ref, rtol=1e-3)
    # the same kappa in both units is a different objective: B times stronger per sample
    strong = _fit("per_sample", kappa * B, module, B, **kw)
    diffs = [
        float((p - q).detach().abs().max())
        for p, q in zip(ref.module_.parameters(), strong.module_.parameters(), strict=True)
    ]
    assert max(diffs) > 1e-3


def test_batch_penalty_is_the_norm_of_the_batch_loss_gradient():
    # one step by hand: the batch_sum penalty is ||d mean_loss / d X||_F^2
    X, y = _data(16)
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
        GradRegNetClassifier(MLP, kappa=1.0, penalty_normalization="paper").fit(*_data())


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
    ref = _fit("per_sample", kappa, MLP, B, **criterion_kw)
    for norm, factor in (("batch_sum", B), ("batch_mean", B**2)):
        net = _fit(norm, kappa * factor, MLP, B, **criterion_kw)
        for p, q in zip(ref.module_.parameters(), net.module_.parameters(), strict=True):
            assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-5)
        pen_ref = np.array(ref.history[:, "batches", :, "grad_penalty"]).ravel()
        pen = np.array(net.history[:, "batches", :, "grad_penalty"]).ravel()
        assert_allclose(pen * factor, pen_ref, rtol=1e-3)
