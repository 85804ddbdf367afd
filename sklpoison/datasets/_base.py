"""Embedded data sets (digits as images, the OR data set) and the MNIST / CIFAR-10 loaders."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.utils import Bunch, check_random_state

from ._files import CIFAR10_CLASSES, _check_folder, read_cifar10_split, read_mnist_split


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
        f"failed ({type(exc).__name__}: {exc}). This machine is probably offline. Pass the "
        f"folder of a local copy as path= (see the function's documentation for the files), "
        f"use the embedded sklpoison.datasets.load_digits_images() instead, or download the "
        f"data where a network is reachable and pass it as arrays."
    )


_SUBSETS = ("train", "test", "all")
# byte -> float32 in [0, 1], rounded once from float64 (the values OpenML's path gives)
_BYTE_TO_UNIT = (np.arange(256) / 255.0).astype(np.float32)
_BLOCK_ROWS = 1024  # rows converted at a time: temporaries of 3 MB (MNIST), 13 MB (CIFAR)


def _check_subset(subset, name):
    if not isinstance(subset, str) or subset not in _SUBSETS:
        raise ValueError(f"{name}: subset must be 'train', 'test' or 'all'; got {subset!r}.")


def _load_local(read_split, folder, subset):
    """Images and labels of ``subset`` (train rows then test rows for "all")."""
    splits = ("train", "test") if subset == "all" else (subset,)
    parts = [read_split(folder, split) for split in splits]  # uint8 views of the files
    n_train = sum(len(c) for c in parts[0][0]) if subset != "test" else 0
    chunks = [c for images, _ in parts for c in images]
    X = np.empty((sum(len(c) for c in chunks), *chunks[0].shape[1:]), dtype=np.float32)
    start = 0
    for c in chunks:  # bytes -> float32 into X, a block of rows at a time (small temporaries)
        for b in range(0, len(c), _BLOCK_ROWS):
            block = c[b : b + _BLOCK_ROWS]
            X[start : start + len(block)] = _BYTE_TO_UNIT[block]
            start += len(block)
    y = np.concatenate([c for _, labels in parts for c in labels]).astype(np.int64)
    return X, y, n_train


def _fetch_openml(name, openml_name, data_home, n_train_full, image_shape, subset):
    from sklearn.datasets import fetch_openml

    try:
        X, y = fetch_openml(
            openml_name, version=1, return_X_y=True, as_frame=False, data_home=data_home
        )
    except Exception as exc:  # network errors come in many types
        raise _offline_error(name, exc) from exc
    rows = {"train": slice(0, n_train_full), "test": slice(n_train_full, None)}
    rows["all"] = slice(None)
    X, y = X[rows[subset]], y[rows[subset]]
    X = (X / 255.0).astype(np.float32).reshape(-1, *image_shape)
    n_train = {"train": X.shape[0], "test": 0, "all": n_train_full}[subset]
    return X, y.astype(np.int64), n_train


def _result(X, y, n_train, subset, return_X_y, image_shape, target_names, descr):
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        image_shape=image_shape,
        target_names=np.asarray(target_names),
        n_train=n_train,
        subset=subset,
        DESCR=descr,
    )


def load_mnist(path=None, *, subset="all", data_home=None, return_X_y=True):
    """Load MNIST (images ``(n, 1, 28, 28)`` in [0, 1]) from a local folder or OpenML.

    With ``path``, the data is read from MNIST's four IDX files in that folder
    (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each gzipped with a
    ``.gz`` suffix or not; torchvision's ``MNIST/raw`` subfolder and the
    ``train-images.idx3-ubyte`` spelling of some mirrors are found too) with
    numpy: no network, no pickle. Gzip data is recognised by its content, so a
    compressed file without the suffix, or a ``.gz`` file that a browser already
    decompressed, is read as well. Their magic numbers, dimensions and sizes
    are checked, and a truncated or wrong file raises a ``ValueError`` that
    names it. Without ``path``, the data is downloaded from OpenML
    (``mnist_784``, cached in ``data_home``); offline that raises an ``OSError``
    that says so. Never needed by the tests or the default main job.

    Read more in the :ref:`User Guide <local_datasets>`.

    Parameters
    ----------
    path : str, path-like or None, default=None
        Folder holding the IDX files. ``None``: download from OpenML.
    subset : {"all", "train", "test"}, default="all"
        The 60000 training images, the 10000 test images, or both (training
        rows first, then test rows).
    data_home : str, path-like or None, default=None
        OpenML's download and cache folder (see
        :func:`sklearn.datasets.fetch_openml`); unused with ``path``.
    return_X_y : bool, default=True
        Return ``(X, y)``; if False, a :class:`~sklearn.utils.Bunch`.

    Returns
    -------
    data : tuple or Bunch
        ``(X, y)``: ``X`` float32 of shape ``(n, 1, 28, 28)`` (pixel / 255),
        ``y`` int64 of shape ``(n,)`` in 0..9. Or a Bunch with ``data``,
        ``target``, ``image_shape`` ``(1, 28, 28)``, ``target_names``,
        ``n_train`` (the first ``n_train`` rows are training images: 60000
        for ``subset="all"``), ``subset`` and ``DESCR``.

    Examples
    --------
    >>> from sklpoison.datasets import load_mnist
    >>> X, y = load_mnist("~/data/mnist", subset="test")  # doctest: +SKIP
    >>> X.shape, X.dtype, y[:3]  # doctest: +SKIP
    ((10000, 1, 28, 28), dtype('float32'), array([7, 2, 1]))
    """
    _check_subset(subset, "load_mnist")
    if path is not None:
        folder = _check_folder(path, "load_mnist")
        X, y, n_train = _load_local(read_mnist_split, folder, subset)
        X = X[:, None, :, :]
        source = f"IDX files in {str(folder)!r}"
    else:
        X, y, n_train = _fetch_openml(
            "load_mnist", "mnist_784", data_home, 60000, (1, 28, 28), subset
        )
        source = "OpenML (mnist_784)"
    descr = (
        f"MNIST handwritten digits, subset={subset!r}: {X.shape[0]} images of 28x28 pixels "
        f"scaled to [0, 1], the first {n_train} from the training set; read from {source}."
    )
    return _result(
        X, y, n_train, subset, return_X_y, (1, 28, 28), [str(i) for i in range(10)], descr
    )


def load_cifar10(path=None, *, subset="all", data_home=None, return_X_y=True):
    """Load CIFAR-10 (images ``(n, 3, 32, 32)`` in [0, 1]) from a local folder or OpenML.

    With ``path``, the data is read from the *binary version* of CIFAR-10
    (``cifar-10-binary.tar.gz`` from https://www.cs.toronto.edu/~kriz/cifar.html,
    extracted): the folder ``cifar-10-batches-bin`` with ``data_batch_1.bin`` ...
    ``data_batch_5.bin`` and ``test_batch.bin``, or the folder that contains it.
    Each record is one label byte then 3072 pixel bytes (red, green, blue
    planes, rows in order), parsed with numpy. The *python version*
    (``cifar-10-batches-py``) is a set of pickles and is refused: unpickling a
    file can run arbitrary code. Without ``path``, the data is downloaded from
    OpenML (``CIFAR_10``, cached in ``data_home``); offline that raises an
    ``OSError`` that says so. Never needed by the tests or the default main job.

    Read more in the :ref:`User Guide <local_datasets>`.

    Parameters
    ----------
    path : str, path-like or None, default=None
        ``cifar-10-batches-bin`` or its parent folder. ``None``: download from
        OpenML.
    subset : {"all", "train", "test"}, default="all"
        The 50000 training images (the five data batches in order), the 10000
        test images, or both (training rows first, then test rows).
    data_home : str, path-like or None, default=None
        OpenML's download and cache folder (see
        :func:`sklearn.datasets.fetch_openml`); unused with ``path``.
    return_X_y : bool, default=True
        Return ``(X, y)``; if False, a :class:`~sklearn.utils.Bunch`.

    Returns
    -------
    data : tuple or Bunch
        ``(X, y)``: ``X`` float32 of shape ``(n, 3, 32, 32)`` (pixel / 255),
        ``y`` int64 of shape ``(n,)`` in 0..9. Or a Bunch with ``data``,
        ``target``, ``image_shape`` ``(3, 32, 32)``, ``target_names`` (airplane
        ... truck), ``n_train`` (the first ``n_train`` rows are training
        images: 50000 for ``subset="all"``), ``subset`` and ``DESCR``.

    Examples
    --------
    >>> from sklpoison.datasets import load_cifar10
    >>> data = load_cifar10("~/data/cifar-10-batches-bin", return_X_y=False)  # doctest: +SKIP
    >>> data.data.shape, data.n_train  # doctest: +SKIP
    ((60000, 3, 32, 32), 50000)
    """
    _check_subset(subset, "load_cifar10")
    if path is not None:
        folder = _check_folder(path, "load_cifar10")
        X, y, n_train = _load_local(read_cifar10_split, folder, subset)
        source = f"the binary batches in {str(folder)!r}"
    else:
        X, y, n_train = _fetch_openml(
            "load_cifar10", "CIFAR_10", data_home, 50000, (3, 32, 32), subset
        )
        source = "OpenML (CIFAR_10)"
    descr = (
        f"CIFAR-10, subset={subset!r}: {X.shape[0]} colour images of 32x32 pixels scaled to "
        f"[0, 1], the first {n_train} from the training set; read from {source}."
    )
    return _result(X, y, n_train, subset, return_X_y, (3, 32, 32), CIFAR10_CLASSES, descr)
