"""Poisoning attacks, all imbalanced-learn style samplers (``fit_resample``).

- :class:`PoisonTransformer`: backdoor / dirty-label poisoning with a trigger.
- Label flipping, one sampler per attack over :class:`BaseLabelFlipper`:
  :class:`RandomLabelFlipper`, :class:`TargetedLabelFlipper`, and the attacks on an SVM
  :class:`ALFALabelFlipper`, :class:`LFALabelFlipper`, :class:`FloralLabelFlipper`.
- :class:`GradientCanceling`: model-targeted indiscriminate poisoning (Lu, Kamath and Yu,
  2023), with :class:`GradPC` target models and the threshold
  :func:`poisonability_threshold`.
"""

from ._backdoor import PoisonTransformer
from ._gradient_canceling import GradientCanceling
from ._gradpc import GradPC
from ._label_attacks import alfa_flips, floral_flips, lfa_flips
from ._label_flip import (
    ALFALabelFlipper,
    BaseLabelFlipper,
    FloralLabelFlipper,
    LFALabelFlipper,
    RandomLabelFlipper,
    TargetedLabelFlipper,
)
from ._threshold import ThresholdResult, poisonability_threshold

__all__ = [
    "ALFALabelFlipper",
    "BaseLabelFlipper",
    "FloralLabelFlipper",
    "GradPC",
    "GradientCanceling",
    "LFALabelFlipper",
    "PoisonTransformer",
    "RandomLabelFlipper",
    "TargetedLabelFlipper",
    "ThresholdResult",
    "alfa_flips",
    "floral_flips",
    "lfa_flips",
    "poisonability_threshold",
]
