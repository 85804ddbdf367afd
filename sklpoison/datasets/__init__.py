"""Embedded data sets and generators (no downloads) and optional offline-safe loaders."""

from ._base import load_cifar10, load_digits_images, load_mnist, make_or
from ._floral_moon import load_floral_moon

__all__ = ["load_cifar10", "load_digits_images", "load_floral_moon", "load_mnist", "make_or"]
