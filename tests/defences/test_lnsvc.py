"""LNSVC: the label-noise-corrected kernel SVM."""

import numpy as np
import pytest
from sklearn.svm import SVC

import sklpoison.defences._lnsvc as lnsvc
from sklpoison import LNSVC


class _SVCOutOfMemory(SVC):
    def fit(self, X, y, sample_weight=None):
        raise MemoryError("Unable to allocate 28.1 KiB for an array with shape (60, 60)")


def test_out_of_memory_in_libsvm_names_the_fit_and_the_fix(monkeypatch):
    # libsvm's copy of the Gram matrix is one of the three the message counts: a MemoryError
    # there is explained too, with the original error as its cause
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 2), np.repeat([0, 1], 30)
    monkeypatch.setattr(lnsvc, "SVC", _SVCOutOfMemory)
    with pytest.raises(MemoryError, match=r"LNSVC cannot fit n_samples=60.*86400 bytes") as info:
        LNSVC().fit(X, y)
    assert "Unable to allocate" in str(info.value.__cause__)
