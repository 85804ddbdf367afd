"""A small skorch net shared by the tests of the GC family, Sever and the parameter gradients."""

import pytest

torch = pytest.importorskip("torch")


class SoftmaxMLP(torch.nn.Module):
    """Two-layer perceptron returning probabilities (skorch's NLLLoss convention)."""

    def __init__(self, n_in=2, n_out=2):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_in, 8), torch.nn.Tanh(), torch.nn.Linear(8, n_out)
        )

    def forward(self, x):
        return torch.softmax(self.body(x), dim=-1)


def small_net(epochs=15):
    """A seeded ``NeuralNetClassifier`` of :class:`SoftmaxMLP` (full batches of up to 64 rows)."""
    from skorch import NeuralNetClassifier

    torch.manual_seed(0)
    return NeuralNetClassifier(
        SoftmaxMLP, max_epochs=epochs, lr=0.5, train_split=None, verbose=0, batch_size=64
    )
