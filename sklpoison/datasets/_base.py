"""Embedded data sets: scikit-learn's digits as images, Lu et al.'s OR data set."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.utils import Bunch, check_random_state


def load_digits_images(*, return_X_y=False, flat=False, dtype=np.float32):
    """Load scikit-learn's embedded 8x8 digits as float images in [0, 1].

    The 1797 images of scikit-learn's :func:`~sklearn.datasets.load_digits`
    (pixel values 0..16) are divided by 16, so that an L trigger of value 1
    is the brightest pixel. Nothing is downloaded.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a :class:`~sklearn.utils.Bunch`.
    flat : bool, default=False
        Return ``X`` of shape ``(n, 64)`` instead of ``(n, 1, 8, 8)``.
    dtype : dtype, default=np.float32
        Dtype of ``X`` (float32 is what torch models expect).

    Returns
    -------
    data : Bunch or tuple
        Bunch with ``data`` (``(n, 1, 8, 8)`` or ``(n, 64)``), ``target``
        (``(n,)`` int labels 0..9), ``image_shape`` ``(1, 8, 8)``,
        ``target_names`` and ``DESCR``; or ``(X, y)`` with ``return_X_y=True``.

    Examples
    --------
    >>> from sklpoison.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True)
    >>> X.shape, float(X.max())
    ((1797, 1, 8, 8), 1.0)
    """
    digits = load_digits()
    X = (digits.images / 16.0).astype(dtype)[:, None, :, :]
    if flat:
        X = X.reshape(X.shape[0], -1)
    y = digits.target.astype(np.int64)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        image_shape=(1, 8, 8),
        target_names=digits.target_names,
        DESCR="scikit-learn's 8x8 digits (1797 images, 10 classes) scaled to [0, 1].",
    )


def make_or(n_repeat=50, *, noise=0.1, random_state=None):
    """The 2-D OR data set of Lu, Kamath and Yu (2023), Figure 1 and Appendix C.

    The four points of the OR truth table, ``(0, 0) -> 0`` and ``(0, 1)``,
    ``(1, 0)``, ``(1, 1) -> 1``, each repeated ``n_repeat`` times with
    isotropic Gaussian noise of standard deviation ``noise``.

    Parameters
    ----------
    n_repeat : int, default=50
        Copies of each of the four points (the paper uses 50: 200 samples).
    noise : float, default=0.1
        Standard deviation of the Gaussian perturbation.
    random_state : int, RandomState instance or None, default=None
        Controls the noise.

    Returns
    -------
    X : ndarray of shape (4 * n_repeat, 2)
    y : ndarray of shape (4 * n_repeat,)
        Labels in {0, 1}.

    Examples
    --------
    >>> from sklpoison.datasets import make_or
    >>> X, y = make_or(random_state=0)
    >>> X.shape, int(y.sum())
    ((200, 2), 150)
    """
    if int(n_repeat) != n_repeat or n_repeat < 1:
        raise ValueError(f"n_repeat must be a positive integer; got {n_repeat!r}.")
    if noise < 0:
        raise ValueError(f"noise must be non-negative; got {noise!r}.")
    rng = check_random_state(random_state)
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1, 1])
    X = np.repeat(corners, int(n_repeat), axis=0)
    y = np.repeat(labels, int(n_repeat))
    X = X + noise * rng.standard_normal(X.shape)
    return X, y


def _offline_error(name, exc):
    return OSError(
        f"{name} needs a network connection to download the data set, and the download "
        f"failed ({type(exc).__name__}: {exc}). This machine is probably offline. Use the "
        f"embedded sklpoison.datasets.load_digits_images() instead, or download the data "
        f"where a network is reachable and pass it as arrays."
    )


def load_mnist(*, data_home=None, return_X_y=True):
    """Load MNIST (70000 images, (n, 1, 28, 28) in [0, 1]) from OpenML.

    Needs a network connection the first time (the data is then cached in
    ``data_home``); offline it raises an ``OSError`` that says so. Never needed
    by the tests or the default main job.
    """
    from sklearn.datasets import fetch_openml

    try:
        X, y = fetch_openml(
            "mnist_784", version=1, return_X_y=True, as_frame=False, data_home=data_home
        )
    except Exception as exc:  # network errors come in many types
        raise _offline_error("load_mnist", exc) from exc
    X = (X / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
    y = y.astype(np.int64)
    return (X, y) if return_X_y else Bunch(data=X, target=y, image_shape=(1, 28, 28))


def load_cifar10(*, data_home=None, return_X_y=True):
    """Load CIFAR-10 (60000 images, (n, 3, 32, 32) in [0, 1]) from OpenML.

    Needs a network connection the first time; offline it raises an
    ``OSError`` that says so. Never needed by the tests or the default main job.
    """
    from sklearn.datasets import fetch_openml

    try:
        X, y = fetch_openml(
            "CIFAR_10", version=1, return_X_y=True, as_frame=False, data_home=data_home
        )
    except Exception as exc:
        raise _offline_error("load_cifar10", exc) from exc
    X = (X / 255.0).astype(np.float32).reshape(-1, 3, 32, 32)
    y = y.astype(np.int64)
    return (X, y) if return_X_y else Bunch(data=X, target=y, image_shape=(3, 32, 32))
