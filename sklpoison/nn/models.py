"""Torch modules for :class:`sklpoison.nn.GradRegNetClassifier`.

All modules map a batch of inputs to unnormalised class scores (logits), to
be trained with :class:`torch.nn.CrossEntropyLoss`. They accept image batches
``(n, C, H, W)`` of float32; :class:`MLP` also accepts flat ``(n, d)`` batches.

- :class:`PreActResNet`: pre-activation ResNet of depth ``6n + 2`` (He et al.,
  2016), e.g. Pre-ResNet-20 or the Pre-ResNet-110 of Granziol et al. (2026).
- :class:`SmallCNN`: two 3x3 convolutions with max-pooling and two fully
  connected layers, the small CNN of Lu, Kamath and Yu (2023).
- :class:`MLP`: a multilayer perceptron on the flattened input.

When one of these classes (not an instance) is given as ``module`` to
:class:`~sklpoison.nn.GradRegNetClassifier`, the arguments describing the data
(``num_classes``, ``in_channels``, ``image_size``, ``n_features``) are filled in
from the training data unless set with ``module__<name>``.
"""

import torch
from torch import nn

__all__ = ["MLP", "PreActResNet", "SmallCNN"]


def _check_positive_int(name, value):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _pair(name, value):
    if isinstance(value, int):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair (H, W); got {value!r}.")
    return tuple(_check_positive_int(name, v) for v in value)


class MLP(nn.Module):
    """Multilayer perceptron with ReLU activations on the flattened input.

    Parameters
    ----------
    n_features : int, default=64
        Number of input values per sample (``C * H * W`` for images).
    num_classes : int, default=10
        Number of output logits.
    hidden_sizes : tuple of int, default=(64,)
        Widths of the hidden layers; ``()`` gives multinomial logistic
        regression.

    Examples
    --------
    >>> import torch
    >>> from sklpoison.nn.models import MLP
    >>> MLP(n_features=64, num_classes=10)(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    """

    def __init__(self, n_features=64, num_classes=10, hidden_sizes=(64,)):
        super().__init__()
        n_features = _check_positive_int("n_features", n_features)
        num_classes = _check_positive_int("num_classes", num_classes)
        sizes = [n_features, *(_check_positive_int("hidden_sizes", h) for h in hidden_sizes)]
        layers = [nn.Flatten()]
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class SmallCNN(nn.Module):
    """Two 3x3 convolutions with max-pooling, then two fully connected layers.

    The architecture of the small CNN of Lu, Kamath and Yu (2023):
    ``conv3x3(channels[0]) - ReLU - maxpool2 - conv3x3(channels[1]) - ReLU -
    maxpool2 - fc(hidden) - ReLU - fc(num_classes)``. The convolutions are
    padded ("same"), and the size of the flattened feature map is computed from
    ``image_size``, so the same class serves 8x8 digits (a 2x2 map) and 28x28
    MNIST (7x7).

    Parameters
    ----------
    num_classes : int, default=10
        Number of output logits.
    in_channels : int, default=1
        Channels of the input images.
    image_size : int or (int, int), default=(8, 8)
        Height and width of the input images; each must be at least 4 (two
        2x2 poolings).
    channels : (int, int), default=(32, 64)
        Output channels of the two convolutions.
    hidden : int, default=128
        Width of the first fully connected layer.

    Examples
    --------
    >>> import torch
    >>> from sklpoison.nn.models import SmallCNN
    >>> SmallCNN(image_size=28)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> SmallCNN(image_size=8)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self, num_classes=10, in_channels=1, image_size=(8, 8), channels=(32, 64), hidden=128
    ):
        super().__init__()
        num_classes = _check_positive_int("num_classes", num_classes)
        in_channels = _check_positive_int("in_channels", in_channels)
        h, w = _pair("image_size", image_size)
        if h < 4 or w < 4:
            raise ValueError(
                f"SmallCNN pools twice by 2, so images must be at least 4x4; got image_size="
                f"{(h, w)}. Use MLP for smaller inputs."
            )
        c1, c2 = (_check_positive_int("channels", c) for c in channels)
        hidden = _check_positive_int("hidden", hidden)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.flat_features = c2 * (h // 4) * (w // 4)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.flat_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
        self.image_size = (h, w)
        self.in_channels = in_channels

    def forward(self, x):
        if x.ndim == 2:  # flat batch: read as images
            x = x.reshape(x.shape[0], self.in_channels, *self.image_size)
        return self.classifier(self.features(x))


class _PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 with an identity (or 1x1 conv) shortcut."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x):
        out = torch.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """Pre-activation ResNet for small images, of depth ``6n + 2``.

    Three stages of ``n`` pre-activation basic blocks with ``width``,
    ``2 * width`` and ``4 * width`` channels (strides 1, 2, 2), a final
    BN-ReLU, global average pooling and a linear classifier: the CIFAR ResNets
    of He et al. (2016) in the pre-activation form. ``depth=110`` is the
    Pre-ResNet-110 used by Granziol et al. (2026); ``depth=20`` is a small one.

    Parameters
    ----------
    depth : int, default=20
        Number of weighted layers; must be ``6n + 2`` with ``n >= 1`` (8, 14,
        20, 32, 44, 56, 110, ...).
    num_classes : int, default=10
        Number of output logits.
    in_channels : int, default=3
        Channels of the input images.
    width : int, default=16
        Channels of the first stage.

    Examples
    --------
    >>> import torch
    >>> from sklpoison.nn.models import PreActResNet
    >>> PreActResNet(depth=8, in_channels=1)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, depth=20, num_classes=10, in_channels=3, width=16):
        super().__init__()
        if isinstance(depth, bool) or int(depth) != depth or depth < 8 or (depth - 2) % 6:
            raise ValueError(
                f"PreActResNet depth must be 6n + 2 with n >= 1 (e.g. 8, 20, 56 or 110); got "
                f"depth={depth!r}."
            )
        n = (int(depth) - 2) // 6
        num_classes = _check_positive_int("num_classes", num_classes)
        in_channels = _check_positive_int("in_channels", in_channels)
        width = _check_positive_int("width", width)
        self.depth = int(depth)
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        blocks, planes = [], width
        for stage, stride in enumerate((1, 2, 2)):
            out_planes = width * 2**stage
            for i in range(n):
                blocks.append(_PreActBlock(planes, out_planes, stride if i == 0 else 1))
                planes = out_planes
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(planes)
        self.fc = nn.Linear(planes, num_classes)

    def forward(self, x):
        out = self.blocks(self.conv(x))
        out = torch.relu(self.bn(out))
        out = out.mean(dim=(2, 3))
        return self.fc(out)
