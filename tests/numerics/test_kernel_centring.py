"""One extreme but finite row must not wipe out the other rows' kernel values.

The RBF expansion ``||x||^2 + ||y||^2 - 2 x.y`` is computed after a shift (distances
are translation invariant). Shifting by the mean let a single entry of 1e150 (whose
square, 1e300, is still finite) move every ordinary row by ~1e148, so all their
distances cancelled to 0 and the kernel matrix became all ones among them: a silent
constant classifier. The median keeps the ordinary rows exact.
"""

import numpy as np
from sklearn.datasets import make_classification

from sklpoison.defences import GradRegKRRClassifier
from sklpoison.numerics.kernels import kernel_matrix


def _data():
    X, y = make_classification(200, 5, random_state=0)
    Xb = X.copy()
    Xb[3, 2] = 1e150
    return X, Xb, y


def test_ordinary_rows_keep_their_kernel_values_beside_an_extreme_row():
    X, Xb, _ = _data()
    keep = np.arange(len(X)) != 3
    K = kernel_matrix(Xb, gamma=0.2)
    np.testing.assert_allclose(K[np.ix_(keep, keep)], kernel_matrix(X[keep], gamma=0.2), atol=1e-12)
    # the far row is isolated: kernel 0 to every other row, 1 to itself
    np.testing.assert_array_equal(K[3, keep], 0.0)
    assert K[3, 3] == 1.0


def test_classifier_with_one_extreme_row_agrees_with_a_fit_without_it():
    X, Xb, y = _data()
    keep = np.arange(len(X)) != 3
    ref = GradRegKRRClassifier().fit(X[keep], y[keep]).predict(X)
    assert np.mean(GradRegKRRClassifier().fit(Xb, y).predict(X) == ref) >= 0.99
