"""Estimator tags are computed from the raw parameters, before any validation."""

import pytest

from sklpoison import IntervalCertifier, IntervalCertifierRegressor


@pytest.mark.parametrize(
    "Estimator, params, estimator_type",
    [
        (IntervalCertifier, {}, "classifier"),
        (IntervalCertifier, {"model": "mlp"}, "classifier"),
        (IntervalCertifierRegressor, {}, "regressor"),
        (IntervalCertifierRegressor, {"model": "mlp"}, "regressor"),
        # nonsense values (refused later by fit) still give tags, without an exception
        (IntervalCertifier, {"model": object()}, "classifier"),
        (IntervalCertifierRegressor, {"model": "logistic"}, "regressor"),
    ],
)
def test_certifier_tags_follow_the_task(Estimator, params, estimator_type):
    tags = Estimator(**params).__sklearn_tags__()
    assert tags.estimator_type == estimator_type
    assert (tags.regressor_tags is not None) == (estimator_type == "regressor")
    assert (tags.classifier_tags is not None) == (estimator_type == "classifier")
