"""Estimator tags are computed from the raw parameters, before any validation."""

import numpy as np
import pytest

from sklpoison import IntervalCertifier


@pytest.mark.parametrize(
    "params, estimator_type",
    [
        ({"model": "linear"}, "regressor"),
        ({"model": "logistic"}, "classifier"),
        ({"model": "logistic", "loss": "squared_error"}, "regressor"),
        ({"model": "linear", "loss": "log_loss"}, "classifier"),
        # nonsense values (refused later by fit) still give tags, without an exception
        ({"model": "linear", "loss": np.array(["squared_error", "log_loss"])}, "classifier"),
        ({"model": object(), "loss": None}, "classifier"),
    ],
)
def test_certifier_tags_follow_the_loss(params, estimator_type):
    tags = IntervalCertifier(**params).__sklearn_tags__()
    assert tags.estimator_type == estimator_type
    assert (tags.regressor_tags is not None) == (estimator_type == "regressor")
    assert (tags.classifier_tags is not None) == (estimator_type == "classifier")
