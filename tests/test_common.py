"""scikit-learn's common estimator checks over every public sklpoison estimator.

Estimators are discovered by walking the package, so estimators added later are
covered without editing this file. An estimator whose constructor needs
arguments (a meta-estimator, say) must be given a fast instance in
``INSTANCES``; discovery fails loudly otherwise. ``EXPECTED_FAILED_CHECKS``
lists only checks that cannot apply, each with its reason.
"""

import importlib
import inspect
import pkgutil

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklpoison


def _discover_estimators():
    classes = {}
    for info in pkgutil.walk_packages(sklpoison.__path__, prefix="sklpoison."):
        if ".tests" in info.name:
            continue
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseEstimator)
                and obj.__module__.startswith("sklpoison")
                and not name.startswith("_")
                and not name.startswith("Base")
                and not inspect.isabstract(obj)
            ):
                classes[name] = obj
    return [classes[k] for k in sorted(classes)]


def _fast_instances():
    """Instances with small, fast settings for estimators that need them."""
    from sklpoison import _testing_instances

    return _testing_instances.INSTANCES


def _instances():
    specific = _fast_instances()
    out = []
    for cls in _discover_estimators():
        if cls.__name__ in specific:
            out.extend(specific[cls.__name__]())
            continue
        try:
            out.append(cls())
        except TypeError as exc:  # pragma: no cover - tells the developer what to do
            raise RuntimeError(
                f"{cls.__name__} cannot be built without arguments; add a fast instance "
                f"to sklpoison/_testing_instances.py"
            ) from exc
    return out


def _expected_failed_checks(estimator):
    from sklpoison import _testing_instances

    return _testing_instances.EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


ESTIMATORS = _instances()


def test_discovery_finds_the_foundation():
    names = {type(e).__name__ for e in ESTIMATORS}
    assert {"PoisonTransformer", "LabelFlipper"} <= names


def test_public_names_are_exported():
    for name in sklpoison.__all__:
        assert getattr(sklpoison, name) is not None


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
