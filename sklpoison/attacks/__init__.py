"""Poisoning attacks, all imbalanced-learn style samplers (``fit_resample``).

- :class:`PoisonTransformer`: backdoor / dirty-label poisoning with a trigger.
- :class:`LabelFlipper`: label flipping (random, targeted, ALFA, LFA, FLORAL flips).
- :class:`GradientCanceling`: model-targeted indiscriminate poisoning (Lu, Kamath and Yu,
  2023), with :class:`GradPC` target models and the threshold
  :func:`poisonability_threshold`.
"""

from ._backdoor import PoisonTransformer
from ._gradient_canceling import GradientCanceling
from ._gradpc import GradPC
from ._label_attacks import alfa_flips, floral_flips, lfa_flips
from ._label_flip import LabelFlipper
from ._threshold import ThresholdResult, poisonability_threshold

__all__ = [
    "GradPC",
    "GradientCanceling",
    "LabelFlipper",
    "PoisonTransformer",
    "ThresholdResult",
    "alfa_flips",
    "floral_flips",
    "lfa_flips",
    "poisonability_threshold",
]
