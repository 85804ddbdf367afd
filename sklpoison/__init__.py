"""sklpoison: data-poisoning attacks, defences, detectors and certificates.

Every public object is a scikit-learn estimator (or an imbalanced-learn style
sampler) so that poisoning, defending, detecting and certifying compose in
:class:`imblearn.pipeline.Pipeline` and :class:`~sklearn.model_selection.GridSearchCV`.

Heavy dependencies (torch, skorch, cvxpy, dask) are imported lazily: ``import
sklpoison`` only loads numpy, scipy and scikit-learn, and each public name is
resolved from its implementation module on first access.
"""

from importlib import import_module
from importlib.util import find_spec

__version__ = "0.1.0.dev0"

# public name -> private implementation module (resolved lazily on first access)
_LAZY_ATTRIBUTES = {
    # poisoning samplers (foundation)
    "PoisonTransformer": "sklpoison._poison",
    "LabelFlipper": "sklpoison._poison",
    # kernel ridge regression with input-gradient regularisation
    "GradRegKRR": "sklpoison._krr",
    "GradRegKRRClassifier": "sklpoison._krr",
    # FLORAL and label-poisoning baselines
    "FloralSVC": "sklpoison._floral",
    "LNSVC": "sklpoison._floral",
    "KNNLabelSanitizer": "sklpoison._floral",
    # Gradient Canceling and friends
    "GradientCanceling": "sklpoison._gc",
    "GradPC": "sklpoison._gc",
    "Sever": "sklpoison._gc",
    "poisonability_threshold": "sklpoison._gc",
    # curvature-based detection
    "HessianSpectrumDetector": "sklpoison._detect",
    "SpectralSignatureDetector": "sklpoison._detect",
    # certification
    "IntervalCertifier": "sklpoison._certify",
}

_SUBMODULES = ["datasets", "metrics", "model_selection", "nn", "plotting", "theory", "utils"]


def _available(module):
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # pragma: no cover
        return False


__all__ = sorted(
    [name for name, module in _LAZY_ATTRIBUTES.items() if _available(module)]
    + [name for name in _SUBMODULES if _available(f"sklpoison.{name}")]
)


def __getattr__(name):
    if name in _LAZY_ATTRIBUTES:
        value = getattr(import_module(_LAZY_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = import_module(f"sklpoison.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'sklpoison' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
