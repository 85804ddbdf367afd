"""Plotting helpers in scikit-learn's ``Display`` style (matplotlib is imported on use)."""

from importlib import import_module

_LAZY_ATTRIBUTES = {
    "TriggerDisplay": "sklpoison.plotting._trigger",
    "SafetyEfficacyDisplay": "sklpoison.plotting._safety_efficacy",
    "SpectrumDisplay": "sklpoison.plotting._spectrum",
    "CertificationDisplay": "sklpoison.plotting._certification",
}

__all__ = sorted(_LAZY_ATTRIBUTES)


def __getattr__(name):
    if name in _LAZY_ATTRIBUTES:
        value = getattr(import_module(_LAZY_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sklpoison.plotting' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
