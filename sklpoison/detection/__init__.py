"""Backdoor detectors, scikit-learn outlier detectors over the training rows.

- :class:`ActivationClusteringDetector`: per-class clustering of learned representations
  (Chen et al., 2018).
- :class:`HessianSpectrumDetector`: the top eigenvalues of each row's input-space loss Hessian
  (Granziol et al.).
- :class:`SpectralSignatureDetector`: spectral signatures of learned representations (Tran et
  al., 2018).
"""

from ._clustering import ActivationClusteringDetector
from ._hessian import HessianSpectrumDetector
from ._spectral import SpectralSignatureDetector

__all__ = [
    "ActivationClusteringDetector",
    "HessianSpectrumDetector",
    "SpectralSignatureDetector",
]
