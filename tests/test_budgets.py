"""Budgets that cannot be meant are refused before anything is allocated.

A budget relative to the data (``GradientCanceling(poison_rate=1e6)``, the
former ``poison_rate``: a million poisons per clean row) used to allocate its
poison rows first, 7.45 GiB for the first array on 200 rows, until the machine
ran out of memory. Now the fit refuses it at once
(:func:`sklpoison.utils.validation.check_budget_rows`), with the rows and bytes it
implies and the sensible range.
"""

import tracemalloc

import numpy as np
import pytest
from sklearn.datasets import make_classification

from sklpoison import FloralSVC, GradientCanceling, PoisonTransformer, RandomLabelFlipper
from sklpoison.utils.validation import check_budget_rows


@pytest.fixture(scope="module")
def data():
    return make_classification(200, 5, random_state=0)


def test_absurd_poison_rate_is_refused_before_any_allocation(data):
    X, y = data
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            GradientCanceling(poison_rate=1e6, max_iter=1).fit_resample(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "poison_rate=1e+06" in message
    assert "200000000 poison rows" in message  # what it implies: rows ...
    assert "37.3 GiB" in message  # ... and bytes
    assert "0 < poison_rate <= 100" in message  # the sensible range
    assert peak < 50 * 2**20  # nothing near the poisons' size was allocated


def test_poison_rate_at_the_cap_still_runs(data):
    X, y = data
    Xr, yr = GradientCanceling(poison_rate=100.0, max_iter=1, random_state=0).fit_resample(
        X[:4], y[:4]
    )
    assert Xr.shape == (404, 5) and yr.shape == (404,)


def test_check_budget_rows_counts_bytes():
    n_bytes = check_budget_rows(
        10, 5, name="k", value=2, who="M", row_shape=(3, 4), itemsize=4, n_copies=2
    )
    assert n_bytes == 2 * 10 * 3 * 4 * 4
    with pytest.raises(ValueError, match=r"M: k=2 asks for 10 rows x for n=4 rows \(2.5 per row\)"):
        check_budget_rows(
            10, 4, name="k", value=2, who="M", row_shape=(3,), max_per_row=2, noun="rows x"
        )


@pytest.mark.parametrize(
    "est, match",
    [
        (PoisonTransformer(poison_rate=2.0), "poison_rate"),
        (RandomLabelFlipper(poison_rate=1e6), "poison_rate"),
        (FloralSVC(poison_rate=1e6), "poison_rate"),
        (FloralSVC(candidate_factor=np.inf), "candidate_factor"),
    ],
    ids=repr,
)
def test_other_budgets_are_bounded_by_the_data(est, match, data):
    # the budgets of the other samplers and estimators are fractions in [0, 1] or
    # counts of at most n: none can allocate more rows than the data have
    X, y = data
    fit = est.fit_resample if hasattr(est, "fit_resample") else est.fit
    with pytest.raises(ValueError, match=match):
        fit(X, y)
