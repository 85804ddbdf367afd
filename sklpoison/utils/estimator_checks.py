"""Common checks for sklpoison samplers (attacks and sanitisers with ``fit_resample``).

scikit-learn's ``parametrize_with_checks`` knows nothing of samplers; these
checks add what every sklpoison sampler must do, in the spirit of
imbalanced-learn's ``utils/estimator_checks.py``. ``tests/test_common.py`` runs
them on every discovered sampler; third-party samplers can run them too::

    from sklpoison.utils.estimator_checks import check_sampler
    check_sampler(MySampler())
"""

import numpy as np
from sklearn.base import clone
from sklearn.datasets import make_classification


def _data(n_samples=60, n_features=4, random_state=0):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=2,
        n_redundant=0,
        n_classes=2,
        random_state=random_state,
    )
    return X, y


def _with_seed(sampler, seed=0):
    sampler = clone(sampler)
    if "random_state" in sampler.get_params():
        sampler.set_params(random_state=seed)
    return sampler


def check_sampler_has_no_transform(sampler):
    """imblearn's Pipeline rejects steps with both ``transform`` and ``fit_resample``."""
    assert hasattr(sampler, "fit_resample"), "a sampler must define fit_resample"
    assert not hasattr(sampler, "transform"), (
        f"{type(sampler).__name__} defines transform; imblearn's Pipeline would reject it."
    )


def check_sampler_does_not_modify_input(sampler):
    """``fit_resample`` leaves the caller's X and y untouched and returns new arrays."""
    X, y = _data()
    X_orig, y_orig = X.copy(), y.copy()
    X_res, y_res = _with_seed(sampler).fit_resample(X, y)
    np.testing.assert_array_equal(X, X_orig)
    np.testing.assert_array_equal(y, y_orig)
    assert not np.shares_memory(X_res, X), "X_res must not share memory with the input X"
    assert not np.shares_memory(y_res, y), "y_res must not share memory with the input y"


def check_sampler_output_consistent(sampler):
    """X_res and y_res have the same number of rows and the feature shape of X."""
    X, y = _data()
    X_res, y_res = _with_seed(sampler).fit_resample(X, y)
    assert X_res.shape[0] == y_res.shape[0], "X_res and y_res have different lengths"
    assert X_res.shape[1:] == X.shape[1:], "X_res has a different feature shape"
    assert np.all(np.isfinite(X_res)), "X_res contains NaN or inf"
    assert set(np.unique(y_res)) <= set(np.unique(y)), "y_res contains labels not in y"


def check_sampler_deterministic(sampler):
    """The same random_state gives the same resampled set."""
    X, y = _data()
    X1, y1 = _with_seed(sampler, 3).fit_resample(X, y)
    X2, y2 = _with_seed(sampler, 3).fit_resample(X, y)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


def check_sampler_in_imblearn_pipeline(sampler):
    """In an imblearn Pipeline the sampler acts at fit and is skipped at predict."""
    from imblearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    pipe = make_pipeline(_with_seed(sampler), LogisticRegression()).fit(X, y)
    X_res, y_res = _with_seed(sampler).fit_resample(X, y)
    ref = LogisticRegression().fit(X_res, y_res)
    np.testing.assert_allclose(pipe.predict_proba(X), ref.predict_proba(X), rtol=1e-6, atol=1e-8)


SAMPLER_CHECKS = [
    check_sampler_has_no_transform,
    check_sampler_does_not_modify_input,
    check_sampler_output_consistent,
    check_sampler_deterministic,
    check_sampler_in_imblearn_pipeline,
]


def check_sampler(sampler):
    """Run every sampler check on ``sampler`` (raises AssertionError on failure)."""
    for check in SAMPLER_CHECKS:
        check(sampler)
