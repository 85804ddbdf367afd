"""scikit-learn's common estimator checks over every public sklpoison estimator.

Estimators are discovered by walking the package, so estimators added later are
covered without editing this file. An estimator whose constructor needs
arguments (a meta-estimator, say) must be given fast instances in a file of
``tests/instances/`` (see the README there); discovery fails loudly otherwise.
``EXPECTED_FAILED_CHECKS`` there lists only checks that cannot apply, each with
its reason.
"""

import importlib
import importlib.util
import inspect
import pkgutil
from pathlib import Path

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklpoison
from sklpoison.utils.estimator_checks import CERTIFIER_CHECKS, DETECTOR_CHECKS, SAMPLER_CHECKS


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


def _load_registries():
    instances, expected = {}, {}
    for path in sorted((Path(__file__).parent / "instances").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_instances_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, factory in getattr(module, "INSTANCES", {}).items():
            assert name not in instances, f"{name} registered twice in tests/instances"
            instances[name] = factory
        expected.update(getattr(module, "EXPECTED_FAILED_CHECKS", {}))
    return instances, expected


INSTANCE_FACTORIES, EXPECTED_FAILED_CHECKS = _load_registries()


def _instances():
    specific = INSTANCE_FACTORIES
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
                f"in a file of tests/instances/"
            ) from exc
    return out


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


ESTIMATORS = _instances()


def test_discovery_finds_the_foundation():
    names = {type(e).__name__ for e in ESTIMATORS}
    assert {"PoisonTransformer", "RandomLabelFlipper"} <= names


def test_public_names_are_exported():
    for name in sklpoison.__all__:
        assert getattr(sklpoison, name) is not None


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# Kinds are told apart by their API, not by a list of names, so that a sampler,
# detector or certifier added later (with or without a registry entry) is covered.
SAMPLERS = [e for e in ESTIMATORS if hasattr(e, "fit_resample")]
DETECTORS = [e for e in ESTIMATORS if get_tags(e).estimator_type == "outlier_detector"]
CERTIFIERS = [e for e in ESTIMATORS if hasattr(e, "predict_bounds")]


def test_every_kind_is_covered():
    kinds = {
        "samplers": ({type(e).__name__ for e in SAMPLERS}, SAMPLER_NAMES),
        "detectors": ({type(e).__name__ for e in DETECTORS}, DETECTOR_NAMES),
        "certifiers": ({type(e).__name__ for e in CERTIFIERS}, CERTIFIER_NAMES),
    }
    for kind, (found, expected) in kinds.items():
        assert expected <= found, f"{kind} missing from the common checks: {expected - found}"


SAMPLER_NAMES = {
    "PoisonTransformer",
    "RandomLabelFlipper",
    "TargetedLabelFlipper",
    "ALFALabelFlipper",
    "LFALabelFlipper",
    "FloralLabelFlipper",
    "GradientCanceling",
    "KNNLabelSanitizer",
}
DETECTOR_NAMES = {
    "ActivationClusteringDetector",
    "HessianSpectrumDetector",
    "SpectralSignatureDetector",
}
CERTIFIER_NAMES = {"IntervalCertifier", "IntervalCertifierRegressor"}


@pytest.mark.parametrize("sampler", SAMPLERS, ids=repr)
@pytest.mark.parametrize("check", SAMPLER_CHECKS, ids=lambda c: c.__name__)
def test_sampler_checks(sampler, check):
    reason = _expected_failed_checks(sampler).get(check.__name__)
    if reason is not None:  # the check cannot apply: it must still fail, for that reason
        with pytest.raises((AssertionError, ValueError)):
            check(sampler)
        pytest.xfail(reason)
    check(sampler)


@pytest.mark.parametrize("detector", DETECTORS, ids=repr)
@pytest.mark.parametrize("check", DETECTOR_CHECKS, ids=lambda c: c.__name__)
def test_detector_checks(detector, check):
    check(detector)


@pytest.mark.parametrize("certifier", CERTIFIERS, ids=repr)
@pytest.mark.parametrize("check", CERTIFIER_CHECKS, ids=lambda c: c.__name__)
def test_certifier_checks(certifier, check):
    check(certifier)
