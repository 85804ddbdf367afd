"""Tests of sklpoison.datasets."""

import sys
from unittest import mock

import numpy as np
import pytest

from sklpoison.datasets import load_digits_images, load_mnist, make_or


def test_digits_images_layouts():
    bunch = load_digits_images()
    assert bunch.data.shape == (1797, 1, 8, 8) and bunch.data.dtype == np.float32
    assert bunch.data.min() == 0.0 and bunch.data.max() == 1.0
    assert bunch.image_shape == (1, 8, 8)
    X, y = load_digits_images(return_X_y=True, flat=True, dtype=np.float64)
    assert X.shape == (1797, 64) and X.dtype == np.float64
    np.testing.assert_array_equal(X.reshape(-1, 1, 8, 8), bunch.data.astype(np.float64))
    assert set(np.unique(y)) == set(range(10))


def test_make_or():
    X, y = make_or(n_repeat=50, noise=0.0)
    assert X.shape == (200, 2)
    np.testing.assert_array_equal(np.unique(X, axis=0), [[0, 0], [0, 1], [1, 0], [1, 1]])
    # y is the OR of the (noise-free) coordinates
    np.testing.assert_array_equal(y, np.logical_or(X[:, 0], X[:, 1]).astype(int))
    X1, _ = make_or(noise=0.1, random_state=0)
    X2, _ = make_or(noise=0.1, random_state=0)
    np.testing.assert_array_equal(X1, X2)
    assert 0.05 < np.std(X1 - make_or(noise=0.0)[0]) < 0.15
    with pytest.raises(ValueError, match="n_repeat"):
        make_or(0)
    with pytest.raises(ValueError, match="noise"):
        make_or(noise=-1)


def test_loaders_fail_clearly_offline():
    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    with mock.patch("sklearn.datasets.fetch_openml", offline):
        with pytest.raises(OSError, match="offline"):
            load_mnist()


def test_import_is_light():
    import subprocess

    code = (
        "import sys, sklpoison, sklpoison.datasets, sklpoison.metrics, sklpoison.plotting;"
        "sklpoison.PoisonTransformer;"
        "heavy = [m for m in ('torch', 'skorch', 'cvxpy', 'dask', 'matplotlib')"
        " if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
