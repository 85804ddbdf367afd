"""Neural networks through skorch, trained with an input-gradient penalty.

Importing this subpackage imports torch and skorch (``import sklpoison`` does not).

- :class:`GradRegNetClassifier`: a :class:`skorch.NeuralNetClassifier` whose loss
  adds ``kappa / 2`` times the mean squared norm of each sample's input gradient
  (double backprop), with optional training-time augmentation.
- :mod:`sklpoison.nn.models`: ``PreActResNet``, ``SmallCNN`` and ``MLP``.
"""

from ..utils._optional import import_optional

for _name in ("torch", "skorch"):
    import_optional(_name, extra="torch", feature="sklpoison.nn (GradRegNetClassifier)")
del _name

from . import models  # noqa: E402
from ._net import GradRegNetClassifier, input_gradient_penalty, random_crop_flip  # noqa: E402

__all__ = ["GradRegNetClassifier", "input_gradient_penalty", "models", "random_crop_flip"]
