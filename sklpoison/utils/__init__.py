"""Utilities shared by sklpoison estimators (image layouts, validation helpers)."""

from ._images import as_images, resolve_image_shape

__all__ = ["as_images", "resolve_image_shape"]
