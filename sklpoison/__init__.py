"""sklpoison: data-poisoning attacks, defences, detectors and certificates.

Every public object is a scikit-learn estimator (or an imbalanced-learn style
sampler) so that poisoning, defending, detecting and certifying compose in
:class:`imblearn.pipeline.Pipeline` and :class:`~sklearn.model_selection.GridSearchCV`.

Heavy dependencies (torch, skorch, cvxpy, dask) are imported lazily: ``import
sklpoison`` only loads numpy, scipy and scikit-learn, and each public name is
resolved from its implementation module on first access.
"""

from importlib import import_module

__version__ = "0.1.0.dev0"

# public name -> its canonical home (resolved lazily on first access)
_LAZY_ATTRIBUTES = {
    # poisoning samplers (foundation)
    "PoisonTransformer": "sklpoison.attacks",
    "RandomLabelFlipper": "sklpoison.attacks",
    "TargetedLabelFlipper": "sklpoison.attacks",
    "ALFALabelFlipper": "sklpoison.attacks",
    "LFALabelFlipper": "sklpoison.attacks",
    "FloralLabelFlipper": "sklpoison.attacks",
    # kernel ridge regression with input-gradient regularisation
    "GradRegKRR": "sklpoison.defences",
    "GradRegKRRClassifier": "sklpoison.defences",
    # FLORAL and label-poisoning baselines
    "FloralSVC": "sklpoison.defences",
    "LNSVC": "sklpoison.defences",
    "KNNLabelSanitizer": "sklpoison.defences",
    # Gradient Canceling and friends
    "GradientCanceling": "sklpoison.attacks",
    "GradPC": "sklpoison.attacks",
    "Sever": "sklpoison.defences",
    "poisonability_threshold": "sklpoison.attacks",
    # curvature-based detection
    "ActivationClusteringDetector": "sklpoison.detection",
    "HessianSpectrumDetector": "sklpoison.detection",
    "SpectralSignatureDetector": "sklpoison.detection",
    # certification
    "IntervalCertifier": "sklpoison.certification",
    "IntervalCertifierRegressor": "sklpoison.certification",
    "PartitionAggregationClassifier": "sklpoison.certification",
}

_SUBMODULES = [
    "attacks",
    "base",
    "certification",
    "datasets",
    "defences",
    "detection",
    "exceptions",
    "metrics",
    "model_selection",
    "nn",
    "numerics",
    "plotting",
    "theory",
    "utils",
]

__all__ = sorted([*_LAZY_ATTRIBUTES, *_SUBMODULES])


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
