"""sklpoison.base.BaseSampler: what every sampler shares."""

import numpy as np
import pytest

from sklpoison import GradientCanceling, LFALabelFlipper, PoisonTransformer, RandomLabelFlipper


@pytest.mark.parametrize("method", ["fit", "fit_resample"])
@pytest.mark.parametrize(
    "sampler, takes",
    [
        (RandomLabelFlipper(), "it takes no fit parameters"),
        (PoisonTransformer(), "it takes no fit parameters"),
        (GradientCanceling(), "it takes no fit parameters"),
        (LFALabelFlipper(), r"its fit parameters are \['X_val', 'y_val'\]"),
    ],
)
def test_an_unknown_fit_parameter_names_the_public_method(sampler, takes, method):
    # as scikit-learn's "LogisticRegression.fit() got an unexpected keyword argument",
    # not the private _fit the sampler delegates to
    X, y = np.zeros((10, 2)), np.array([0, 1] * 5)
    name = type(sampler).__name__
    with pytest.raises(TypeError, match=rf"^{name}\.{method}\(\) got an unexpected keyword "):
        getattr(sampler, method)(X, y, sample_weight=np.ones(10))
    if (name, method) == ("LFALabelFlipper", "fit_resample"):
        return  # its own signature (X_val, y_val): Python's message, already public
    with pytest.raises(TypeError, match=rf"'sample_weight': {takes}\.$"):
        getattr(sampler, method)(X, y, sample_weight=np.ones(10))
