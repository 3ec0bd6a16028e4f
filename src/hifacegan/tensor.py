"""Image <-> tensor conversions: kept as an import path; they live in :mod:`hifacegan.pixels`."""

from hifacegan.pixels import image_to_tensor, tensor_to_image

__all__ = ["image_to_tensor", "tensor_to_image"]
