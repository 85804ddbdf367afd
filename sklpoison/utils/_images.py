"""Image layouts: how a sample's input shape maps to a (C, H, W) image.

sklpoison accepts images as ``(n, H, W)``, ``(n, C, H, W)`` or flat ``(n, d)``
arrays together with an ``image_shape``. These helpers are the one place where
that convention is decided, so that the poisoners, the neural networks and the
detectors agree on it.
"""

import numpy as np


def resolve_image_shape(input_shape, image_shape=None):
    """Return the ``(C, H, W)`` image shape of one sample, or ``None`` for tabular data.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample, i.e. ``X.shape[1:]``.
    image_shape : tuple of int or None
        ``(H, W)`` or ``(C, H, W)``; required to read flat samples as images,
        optional (and then checked) for 3-D and 4-D ``X``.

    Returns
    -------
    chw : tuple of int or None
        ``(C, H, W)`` or ``None`` when the samples are tabular feature vectors.

    Raises
    ------
    ValueError
        When ``image_shape`` is malformed or does not match ``input_shape``.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if image_shape is not None:
        try:
            image_shape = tuple(int(s) for s in image_shape)
        except TypeError as exc:
            raise ValueError(
                f"image_shape must be a tuple (H, W) or (C, H, W) of positive ints; "
                f"got {image_shape!r}."
            ) from exc
        if len(image_shape) not in (2, 3) or min(image_shape) < 1:
            raise ValueError(
                f"image_shape must be a tuple (H, W) or (C, H, W) of positive ints; "
                f"got {image_shape!r}."
            )
        chw = image_shape if len(image_shape) == 3 else (1, *image_shape)
        if int(np.prod(chw)) != int(np.prod(input_shape)) or (
            len(input_shape) > 1 and tuple(input_shape[-2:]) != chw[-2:]
        ):
            raise ValueError(
                f"image_shape={image_shape} does not match the samples of X, which have "
                f"shape {input_shape} ({int(np.prod(input_shape))} values each). Pass the "
                f"shape of one image, e.g. image_shape=(8, 8) for 64 features."
            )
        return chw
    if len(input_shape) == 1:
        return None
    if len(input_shape) == 2:
        return (1, *input_shape)
    if len(input_shape) == 3:
        return input_shape
    raise ValueError(
        f"Cannot read samples of shape {input_shape} as images: X must be (n, d), "
        f"(n, H, W) or (n, C, H, W)."
    )


def as_images(X, chw):
    """View ``X`` of shape ``(n, ...)`` as ``(n, C, H, W)`` (no copy when possible)."""
    X = np.asarray(X)
    return X.reshape(X.shape[0], *chw)


def to_imshow(image):
    """One ``(C, H, W)`` (or ``(H, W)``) image as matplotlib's ``imshow`` wants it.

    Single-channel images become ``(H, W)``; multi-channel ones ``(H, W, C)``.
    """
    image = np.asarray(image, dtype=float)
    if image.ndim == 3:
        return image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
    return image
