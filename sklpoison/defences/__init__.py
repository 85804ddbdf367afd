"""Defences against poisoning.

- :class:`GradRegKRR` / :class:`GradRegKRRClassifier`: kernel ridge regression with an
  input-gradient penalty kappa (Granziol, 2026); :class:`sklpoison.nn.GradRegNetClassifier`
  is the same penalty for skorch networks.
- :class:`FloralSVC`: adversarial training of a kernel SVM against label flips (Bal et al.,
  2025), with the baselines :class:`LNSVC` and :class:`KNNLabelSanitizer`.
- :class:`Sever`: robust training by filtering outlying gradients (Diakonikolas et al., 2019).
"""

from ._floral import FloralSVC
from ._knn import KNNLabelSanitizer
from ._krr import GradRegKRR, GradRegKRRClassifier
from ._lnsvc import LNSVC
from ._sever import Sever

__all__ = ["FloralSVC", "GradRegKRR", "GradRegKRRClassifier", "KNNLabelSanitizer", "LNSVC", "Sever"]
