"""The threat model's sorted sums (``_threat.py``)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose


@pytest.mark.parametrize("k", [1, 2, 4, 5, 70])
def test_sorted_sums_match_sorting_with_ties(k):
    from sklpoison.certification._threat import _topk_last

    rng = np.random.RandomState(17)
    V = rng.normal(size=(6, 3, 80))
    V[..., :6] = V[..., :1]  # ties
    V0 = V.copy()
    s = np.sort(V, axis=-1)
    assert_allclose(_topk_last(V, k, largest=True), s[..., -k:].sum(-1), rtol=0, atol=1e-12)
    assert_allclose(_topk_last(V, k, largest=False), s[..., :k].sum(-1), rtol=0, atol=1e-12)
    assert np.array_equal(V, V0)  # without overwrite, the values are left as they are
