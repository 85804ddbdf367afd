"""Readers of MNIST's IDX files and CIFAR-10's binary batches (numpy only, no pickle)."""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_URL = "https://yann.lecun.com/exdb/mnist/ (mirrored by torchvision and others)"

CIFAR10_DIR = "cifar-10-batches-bin"
CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue

# IDX: two zero bytes, a type code, the number of dimensions, then one big-endian
# int32 per dimension; 0x08 is unsigned byte, the only type MNIST uses
_IDX_UBYTE = 0x08


def _check_folder(path, name):
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"{name}: the folder {str(folder)!r} does not exist.")
    if not folder.is_dir():
        raise ValueError(
            f"{name}: path must be a folder holding the data files; {str(folder)!r} is a file."
            + (" Extract the archive first." if folder.name.endswith((".tar.gz", ".tgz")) else "")
        )
    return folder


_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(file):
    """The file's bytes, decompressed when they are gzip data.

    Whether to decompress is read from the content, not only the name: a gzip file
    saved without its ``.gz`` suffix is decompressed, and a ``.gz`` file that already
    holds IDX data (browsers often decompress a download but keep its name) is
    read as it is.
    """
    data = file.read_bytes()
    if file.suffix != ".gz" and not data.startswith(_GZIP_MAGIC):
        return data
    if file.suffix == ".gz" and data[:3] == bytes([0, 0, _IDX_UBYTE]):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{file} is not a complete gzip file ({type(exc).__name__}: {exc}); download it "
            "again, or store the file uncompressed without the .gz suffix."
        ) from exc


def _find_mnist_file(folders, stem):
    # the original names, and the "train-images.idx3-ubyte" spelling of some mirrors
    # (e.g. Kaggle's MNIST data set)
    dotted = stem.replace("-idx", ".idx")
    for folder in folders:
        for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def parse_idx(buffer, *, expected_ndim, source="IDX data"):
    """Parse an IDX buffer of unsigned bytes into an array of its declared shape.

    Parameters
    ----------
    buffer : bytes
        The whole (decompressed) file.
    expected_ndim : int
        3 for an image file (count, rows, columns), 1 for a label file.
    source : str
        Name used in error messages.

    Returns
    -------
    array : ndarray of uint8 with ``expected_ndim`` dimensions
    """
    if len(buffer) < 4:
        raise ValueError(f"{source} is not an IDX file: only {len(buffer)} bytes.")
    zero0, zero1, dtype_code, ndim = buffer[:4]
    magic = int.from_bytes(buffer[:4], "big")
    if zero0 != 0 or zero1 != 0 or dtype_code != _IDX_UBYTE:
        raise ValueError(
            f"{source} is not an IDX file of unsigned bytes: magic number 0x{magic:08x}, "
            f"expected 0x{0x800 + expected_ndim:08x}."
        )
    if ndim != expected_ndim:
        kind = "image" if expected_ndim == 3 else "label"
        raise ValueError(
            f"{source} has {ndim} dimensions (magic number 0x{magic:08x}) but a {kind} file "
            f"has {expected_ndim} (magic number 0x{0x800 + expected_ndim:08x}); are the image "
            "and label files swapped?"
        )
    header = 4 + 4 * ndim
    if len(buffer) < header:
        raise ValueError(f"{source} is truncated: its header needs {header} bytes.")
    dims = tuple(int(v) for v in np.frombuffer(buffer, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(dims)  # Python ints: no overflow for absurd headers
    if len(buffer) != expected:
        what = "truncated" if len(buffer) < expected else "longer than its header says"
        raise ValueError(
            f"{source} is {what}: the header declares shape {dims} ({expected} bytes with the "
            f"header) but the file holds {len(buffer)} bytes."
        )
    return np.frombuffer(buffer, dtype=np.uint8, offset=header).reshape(dims)


def read_mnist_split(folder, split):
    """``([images (n, 28, 28) uint8], [labels (n,) uint8])`` of MNIST's ``split`` in
    ``folder``: one chunk each, views of the file's bytes (no copy)."""
    folders = [folder, folder / "MNIST" / "raw", folder / "raw"]
    arrays = []
    for stem, ndim in zip(MNIST_FILES[split], (3, 1)):
        file = _find_mnist_file(folders, stem)
        if file is None:
            raise FileNotFoundError(
                f"load_mnist: {stem} (or {stem}.gz) not found in {str(folder)!r}. The folder "
                f"must hold MNIST's four IDX files, {', '.join(sum(MNIST_FILES.values(), ()))}, "
                f"gzipped or not (from {MNIST_URL})."
            )
        arrays.append(parse_idx(_read_bytes(file), expected_ndim=ndim, source=str(file)))
    images, labels = arrays
    if images.shape[1:] != (28, 28):
        raise ValueError(
            f"load_mnist: {split} images of {images.shape[1]}x{images.shape[2]} pixels; MNIST's "
            "are 28x28."
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"load_mnist: the {split} image file holds {images.shape[0]} images but the label "
            f"file {labels.shape[0]} labels."
        )
    if labels.size and labels.max() > 9:
        raise ValueError(
            f"load_mnist: {split} labels must be digits 0..9; found {int(labels.max())}."
        )
    return [images], [labels]


def _cifar10_folder(folder):
    """The ``cifar-10-batches-bin`` folder: ``folder`` itself or its child of that name."""
    for candidate in (folder, folder / CIFAR10_DIR):
        if (candidate / CIFAR10_FILES["test"][0]).is_file() or any(
            (candidate / f).is_file() for f in CIFAR10_FILES["train"]
        ):
            return candidate
    python_version = next(
        (
            c
            for c in (folder, folder / "cifar-10-batches-py")
            if (c / "data_batch_1").is_file() or (c / "test_batch").is_file()
        ),
        None,
    )
    if python_version is not None:
        raise ValueError(
            f"load_cifar10: {str(python_version)!r} holds the python version of CIFAR-10 "
            "(pickled batches), which is not read because unpickling a file can run arbitrary "
            f"code. Download the binary version instead ({CIFAR10_URL}, 162 MB) and extract it: "
            f"it holds {CIFAR10_DIR}/data_batch_1.bin ... test_batch.bin."
        )
    raise FileNotFoundError(
        f"load_cifar10: no CIFAR-10 binary batches in {str(folder)!r}. Pass the folder "
        f"{CIFAR10_DIR} (data_batch_1.bin ... data_batch_5.bin, test_batch.bin) or its parent; "
        f"download cifar-10-binary.tar.gz from {CIFAR10_URL}."
    )


def parse_cifar10_batch(buffer, *, source="CIFAR-10 batch"):
    """``(images (n, 3, 32, 32) uint8, labels (n,) uint8)`` of one binary batch."""
    if len(buffer) == 0 or len(buffer) % _CIFAR_RECORD:
        raise ValueError(
            f"{source} is not a CIFAR-10 binary batch: {len(buffer)} bytes is not a positive "
            f"multiple of the record size {_CIFAR_RECORD} (1 label byte + 3072 pixel bytes); "
            "the file may be truncated."
        )
    records = np.frombuffer(buffer, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0]
    if labels.max() > 9:
        raise ValueError(
            f"{source}: labels must be 0..9 but found {int(labels.max())}; is it a CIFAR-100 "
            "file (two label bytes per record)?"
        )
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def read_cifar10_split(folder, split):
    """``(image chunks, label chunks)`` of CIFAR-10's ``split``: per batch file, images
    ``(n_b, 3, 32, 32)`` uint8 and labels ``(n_b,)`` uint8, views of the file's bytes
    (the caller converts them chunk by chunk: no concatenated uint8 copy)."""
    root = _cifar10_folder(folder)
    images, labels = [], []
    for name in CIFAR10_FILES[split]:
        file = root / name
        if not file.is_file():
            raise FileNotFoundError(
                f"load_cifar10: {name} is missing from {str(root)!r}; the binary version has "
                f"{', '.join(sum(CIFAR10_FILES.values(), ()))}."
            )
        X, y = parse_cifar10_batch(file.read_bytes(), source=str(file))
        images.append(X)
        labels.append(y)
    return images, labels
