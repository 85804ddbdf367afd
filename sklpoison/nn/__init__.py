"""Neural networks through skorch, trained with an input-gradient penalty.

Importing this subpackage imports torch and skorch (``import sklpoison`` does not).

- :class:`GradRegNetClassifier`: a :class:`skorch.NeuralNetClassifier` whose loss
  adds ``kappa / 2`` times the mean squared norm of each sample's input gradient
  (double backprop), with optional training-time augmentation.
- :mod:`sklpoison.nn.models`: ``PreActResNet``, ``SmallCNN`` and ``MLP``.
"""

from . import models
from ._net import GradRegNetClassifier, input_gradient_penalty, random_crop_flip

__all__ = ["GradRegNetClassifier", "input_gradient_penalty", "models", "random_crop_flip"]
