"""Tests of sklpoison.datasets."""

import gzip
import sys
from unittest import mock

import numpy as np
import pytest

from sklpoison.datasets import load_cifar10, load_digits_images, load_mnist, make_or


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
        with pytest.raises(OSError, match="offline.*path="):
            load_cifar10()


def test_openml_fallback_layout():
    # OpenML returns flat float pixels 0..255 and string labels
    rng = np.random.RandomState(0)
    pixels = rng.randint(0, 256, size=(5, 784)).astype(np.float64)
    labels = np.array(["7", "2", "1", "0", "4"], dtype=object)
    with mock.patch("sklearn.datasets.fetch_openml", return_value=(pixels, labels)) as fetch:
        data = load_mnist(return_X_y=False, data_home="/nowhere")
    assert fetch.call_args.args[0] == "mnist_784"
    assert fetch.call_args.kwargs["data_home"] == "/nowhere"
    assert data.data.shape == (5, 1, 28, 28) and data.data.dtype == np.float32
    np.testing.assert_array_equal(data.data.reshape(5, -1), (pixels / 255.0).astype(np.float32))
    np.testing.assert_array_equal(data.target, [7, 2, 1, 0, 4])
    assert data.target.dtype == np.int64 and data.subset == "all"


def test_openml_fallback_subset_rows():
    # OpenML's mnist_784 holds the 60000 training images first, then the 10000 test ones
    pixels = np.broadcast_to(np.arange(70000, dtype=np.float64)[:, None] % 256, (70000, 784))
    labels = (np.arange(70000) % 10).astype(str).astype(object)
    with mock.patch("sklearn.datasets.fetch_openml", return_value=(pixels, labels)):
        test = load_mnist(subset="test", return_X_y=False)
    assert test.data.shape == (10000, 1, 28, 28) and test.n_train == 0
    expected = (np.arange(60000, 70000) % 256 / 255.0).astype(np.float32)
    np.testing.assert_array_equal(test.data[:, 0, 0, 0], expected)
    np.testing.assert_array_equal(test.target, np.arange(60000, 70000) % 10)


# ---------------------------------------------------------------- local files
def _idx(array):
    """IDX bytes of a uint8 array: magic 0x0000 08 ndim, big-endian dims, the data."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def _write(path, payload, gz):
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def _mnist_arrays(seed=0, n_train=5, n_test=3):
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n_train + n_test, 28, 28)).astype(np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # both ends of the range
    labels = rng.randint(0, 10, size=n_train + n_test).astype(np.uint8)
    return images, labels, n_train


def _write_mnist(folder, images, labels, n_train, gz=(False, False, False, False)):
    names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    arrays = [images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]]
    folder.mkdir(parents=True, exist_ok=True)
    return [_write(folder / n, _idx(a), z) for n, a, z in zip(names, arrays, gz)]


@pytest.mark.parametrize(
    "gz", [(False,) * 4, (True,) * 4, (True, False, False, True)], ids=["raw", "gz", "mixed"]
)
def test_load_mnist_local_round_trip(tmp_path, gz):
    images, labels, n_train = _mnist_arrays()
    _write_mnist(tmp_path, images, labels, n_train, gz)
    X, y = load_mnist(tmp_path)
    assert X.shape == (8, 1, 28, 28) and X.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(X[:, 0], (images / 255.0).astype(np.float32))
    np.testing.assert_array_equal(np.rint(X[:, 0] * 255).astype(np.uint8), images)
    np.testing.assert_array_equal(y, labels)
    assert X.min() == 0.0 and X.max() == 1.0

    train = load_mnist(str(tmp_path), subset="train", return_X_y=False)
    test = load_mnist(tmp_path, subset="test", return_X_y=False)
    full = load_mnist(tmp_path, return_X_y=False)
    assert (train.n_train, test.n_train, full.n_train) == (5, 0, 5)
    np.testing.assert_array_equal(train.data, X[:5])
    np.testing.assert_array_equal(test.data, X[5:])
    np.testing.assert_array_equal(test.target, labels[5:])
    np.testing.assert_array_equal(full.data[: full.n_train], train.data)
    assert full.image_shape == (1, 28, 28) and len(full.target_names) == 10
    assert full.subset == "all" and "IDX" in full.DESCR


def test_load_mnist_torchvision_layout(tmp_path):
    images, labels, n_train = _mnist_arrays(seed=1)
    _write_mnist(tmp_path / "MNIST" / "raw", images, labels, n_train, (True,) * 4)
    X, y = load_mnist(tmp_path)
    np.testing.assert_array_equal(X[:, 0], (images / 255.0).astype(np.float32))
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_file_name_and_compression_variants(tmp_path):
    images, labels, n_train = _mnist_arrays(seed=2)
    expected = (images / 255.0).astype(np.float32)
    # Kaggle's spelling "train-images.idx3-ubyte", plain and gzipped
    for gz in (False, True):
        folder = tmp_path / f"dotted-{gz}"
        for f in _write_mnist(folder, images, labels, n_train, (gz,) * 4):
            f.rename(f.with_name(f.name.replace("-idx", ".idx")))
        X, y = load_mnist(folder)
        np.testing.assert_array_equal(X[:, 0], expected)
        np.testing.assert_array_equal(y, labels)
    # gzip data without the .gz suffix, and IDX data that kept a .gz suffix (a browser
    # decompressed the download): recognised by content
    swapped = tmp_path / "swapped"
    for f in _write_mnist(swapped, images, labels, n_train, (True, False, True, False)):
        f.rename(f.with_name(f.name[:-3] if f.suffix == ".gz" else f.name + ".gz"))
    assert sorted(p.suffix for p in swapped.iterdir()) == ["", "", ".gz", ".gz"]
    X, y = load_mnist(swapped)
    np.testing.assert_array_equal(X[:, 0], expected)
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_header_overflow_and_subset_type(tmp_path):
    # 2**31 * 2**31 * 4 = 2**64 wraps to 0 in int64: the size check must not be fooled
    payload = bytes([0, 0, 8, 3]) + np.array([2**31, 2**31, 4], dtype=">u4").tobytes()
    _corrupt_mnist(tmp_path, 0, payload)
    with pytest.raises(ValueError, match="truncated.*2147483648"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="subset must be"):
        load_mnist(tmp_path, subset=np.array(["train"]))


def test_load_mnist_local_reads_no_network(tmp_path):
    images, labels, n_train = _mnist_arrays()
    _write_mnist(tmp_path, images, labels, n_train)

    def fail(*args, **kwargs):  # pragma: no cover - must not be called
        raise AssertionError("fetch_openml called with a local folder")

    with mock.patch("sklearn.datasets.fetch_openml", fail):
        load_mnist(tmp_path)


def _corrupt_mnist(tmp_path, which, payload, gz=False):
    images, labels, n_train = _mnist_arrays()
    files = _write_mnist(tmp_path, images, labels, n_train)
    target = files[which]
    target.unlink()
    _write(target, payload, gz)
    return images, labels


@pytest.mark.parametrize(
    "which, payload, match",
    [
        # label file where the images should be: 1 dimension, magic 0x801
        (0, _idx(np.zeros(5)), "0x00000801.*swapped"),
        (1, _idx(np.zeros((5, 28, 28))), "has 3 dimensions"),
        (0, b"\x01\x02\x08\x03" + bytes(20), "not an IDX file of unsigned bytes"),
        # gzip's magic without a .gz suffix is read as gzip: a broken one says so
        (0, b"\x1f\x8b\x08\x03" + bytes(20), "train-images-idx3-ubyte is not a complete gzip"),
        (0, bytes([0, 0, 0x0D, 3]) + bytes(20), "magic number 0x00000d03"),  # float IDX
        (0, _idx(np.zeros((5, 28, 28)))[:-7], "truncated.*\\(5, 28, 28\\)"),
        (0, _idx(np.zeros((5, 28, 28))) + b"x", "longer than its header"),
        (0, bytes([0, 0, 8, 3, 0, 0]), "truncated: its header"),
        (2, b"\x00\x00", "only 2 bytes"),
        (0, _idx(np.zeros((5, 8, 8))), "8x8 pixels"),
        (1, _idx(np.zeros(4)), "5 images but the label file 4"),
        (3, _idx(np.full(3, 10)), "0..9; found 10"),
    ],
)
def test_load_mnist_bad_files(tmp_path, which, payload, match):
    _corrupt_mnist(tmp_path, which, payload)
    with pytest.raises(ValueError, match=match):
        load_mnist(tmp_path)


def test_load_mnist_bad_gzip(tmp_path):
    images, labels, n_train = _mnist_arrays()
    files = _write_mnist(tmp_path, images, labels, n_train, (True,) * 4)
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz is not a complete gzip"):
        load_mnist(tmp_path)
    files[0].write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="not a complete gzip"):
        load_mnist(tmp_path)
    # the test split does not read the broken training file
    X, _ = load_mnist(tmp_path, subset="test")
    np.testing.assert_array_equal(X[:, 0], (images[n_train:] / 255.0).astype(np.float32))


def test_load_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(
        FileNotFoundError, match="train-images-idx3-ubyte \\(or .*\\.gz\\) not found"
    ):
        load_mnist(tmp_path)
    afile = tmp_path / "mnist.tar.gz"
    afile.write_bytes(b"")
    with pytest.raises(ValueError, match="is a file.*Extract the archive"):
        load_mnist(afile)
    with pytest.raises(ValueError, match="subset must be 'train', 'test' or 'all'"):
        load_mnist(tmp_path, subset="validation")


def _cifar_arrays(seed=0, per_batch=(2, 3, 1, 2, 2), n_test=3):
    rng = np.random.RandomState(seed)
    n = sum(per_batch) + n_test
    images = rng.randint(0, 256, size=(n, 3, 32, 32)).astype(np.uint8)
    labels = rng.randint(0, 10, size=n).astype(np.uint8)
    return images, labels, per_batch


def _cifar_bytes(images, labels):
    records = np.concatenate([labels[:, None], images.reshape(len(labels), -1)], axis=1)
    return records.astype(np.uint8).tobytes()


def _write_cifar(folder, images, labels, per_batch):
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for i, k in enumerate(per_batch, start=1):
        stop = start + k
        (folder / f"data_batch_{i}.bin").write_bytes(
            _cifar_bytes(images[start:stop], labels[start:stop])
        )
        start = stop
    (folder / "test_batch.bin").write_bytes(_cifar_bytes(images[start:], labels[start:]))
    (folder / "batches.meta.txt").write_text("airplane\nautomobile\n")
    return start


@pytest.mark.parametrize("parent", [False, True], ids=["bin-folder", "parent"])
def test_load_cifar10_local_round_trip(tmp_path, parent):
    images, labels, per_batch = _cifar_arrays()
    n_train = _write_cifar(tmp_path / "cifar-10-batches-bin", images, labels, per_batch)
    path = tmp_path if parent else tmp_path / "cifar-10-batches-bin"
    X, y = load_cifar10(path)
    assert X.shape == (13, 3, 32, 32) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X, (images / 255.0).astype(np.float32))
    np.testing.assert_array_equal(y, labels)
    data = load_cifar10(path, subset="test", return_X_y=False)
    np.testing.assert_array_equal(data.data, X[n_train:])
    assert data.n_train == 0 and data.image_shape == (3, 32, 32)
    assert list(data.target_names[:2]) == ["airplane", "automobile"]
    assert load_cifar10(path, return_X_y=False).n_train == n_train == 10
    np.testing.assert_array_equal(load_cifar10(path, subset="train")[1], labels[:n_train])


@pytest.mark.parametrize("block_rows", [1, 2, 4])
def test_local_loaders_convert_in_blocks(tmp_path, monkeypatch, block_rows):
    # the bytes -> float conversion runs in blocks of rows straight into the output
    # (no concatenated uint8 copy): blocks that split files give the same arrays
    from sklpoison.datasets import _base

    monkeypatch.setattr(_base, "_BLOCK_ROWS", block_rows)
    images, labels, per_batch = _cifar_arrays(seed=3)
    _write_cifar(tmp_path / "cifar-10-batches-bin", images, labels, per_batch)
    X, y = load_cifar10(tmp_path)
    np.testing.assert_array_equal(X, (images / 255.0).astype(np.float32))
    np.testing.assert_array_equal(y, labels)
    images, labels, n_train = _mnist_arrays(seed=3)
    _write_mnist(tmp_path / "mnist", images, labels, n_train)
    for subset, rows in [("all", slice(None)), ("train", slice(0, 5)), ("test", slice(5, 8))]:
        X, y = load_mnist(tmp_path / "mnist", subset=subset)
        np.testing.assert_array_equal(X[:, 0], (images[rows] / 255.0).astype(np.float32))
        np.testing.assert_array_equal(y, labels[rows])


def test_load_cifar10_record_layout(tmp_path):
    # one record written byte by byte: label, then 1024 red, 1024 green, 1024 blue bytes,
    # each plane row-major
    record = np.zeros(3073, dtype=np.uint8)
    record[0] = 7
    record[1 + 0 * 1024 + 0 * 32 + 5] = 10  # red, row 0, column 5
    record[1 + 1 * 1024 + 2 * 32 + 0] = 20  # green, row 2, column 0
    record[1 + 2 * 1024 + 31 * 32 + 31] = 255  # blue, bottom-right pixel
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (folder / name).write_bytes(record.tobytes())
    X, y = load_cifar10(tmp_path, subset="test")
    assert y.tolist() == [7]
    expected = np.zeros((1, 3, 32, 32), dtype=np.float32)
    expected[0, 0, 0, 5] = np.float32(10 / 255)
    expected[0, 1, 2, 0] = np.float32(20 / 255)
    expected[0, 2, 31, 31] = 1.0
    np.testing.assert_array_equal(X, expected)


def test_load_cifar10_refuses_python_version(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(b"\x80\x04not read")
    for path in (tmp_path, folder):
        with pytest.raises(ValueError, match="python version.*pickle.*binary version"):
            load_cifar10(path)


def test_load_cifar10_bad_files(tmp_path):
    images, labels, per_batch = _cifar_arrays()
    folder = tmp_path / "cifar-10-batches-bin"
    _write_cifar(folder, images, labels, per_batch)
    good = (folder / "data_batch_3.bin").read_bytes()
    (folder / "data_batch_3.bin").write_bytes(good[:-100])
    with pytest.raises(ValueError, match="data_batch_3.bin is not a CIFAR-10 binary batch.*trunc"):
        load_cifar10(tmp_path)
    (folder / "data_batch_3.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="0 bytes is not a positive multiple of .* 3073"):
        load_cifar10(tmp_path)
    bad = bytearray(good)
    bad[0] = 12
    (folder / "data_batch_3.bin").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="labels must be 0..9 but found 12"):
        load_cifar10(tmp_path)
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3.bin is missing"):
        load_cifar10(tmp_path)
    load_cifar10(tmp_path, subset="test")  # the test split is intact
    (tmp_path / "cifar-10-batches-bin" / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 binary batches.*cifar-10-binary"):
        load_cifar10(tmp_path / "cifar-10-batches-bin" / "empty")


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
