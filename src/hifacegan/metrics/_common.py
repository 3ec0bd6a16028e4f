"""Input checks and colour conversions shared by the metrics.

Every metric takes images as NumPy arrays ``(H, W, 3)`` RGB, either ``uint8`` in ``[0, 255]`` or
float in ``[0, 1]`` (the package's in-memory layout), and works internally on float64 in ``[0, 255]``
(:func:`hifacegan.pixels.to_float255` converts).
"""

from __future__ import annotations

import numpy as np

from hifacegan.pixels import to_float255

__all__ = ["check_pair", "crop", "rgb_to_y"]

# ITU-R BT.601 luma for RGB in [0, 1] giving Y in [16, 235]: the coefficients of MATLAB's rgb2ycbcr,
# which the super-resolution literature (and the HiFaceGAN paper's tables) use for "Y channel" scores.
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])


def check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert two images with :func:`to_float255` and check that their sizes match."""
    x = to_float255(a, "first image")
    y = to_float255(b, "second image")
    if x.shape != y.shape:
        raise ValueError(f"images differ in size: {x.shape} vs {y.shape}; full-reference metrics need equal sizes")
    return x, y


def rgb_to_y(image255: np.ndarray) -> np.ndarray:
    """BT.601 luma ``(H, W)`` in ``[16, 235]`` of a float ``(H, W, 3)`` RGB image in ``[0, 255]`` (not rounded)."""
    return image255 @ (_Y_WEIGHTS / 255.0) + 16.0


def crop(image: np.ndarray, border: int) -> np.ndarray:
    """Remove ``border`` pixels from each side of an ``(H, W[, C])`` array."""
    if border < 0:
        raise ValueError(f"crop_border must be >= 0, got {border}")
    if border == 0:
        return image
    if 2 * border >= min(image.shape[:2]):
        raise ValueError(f"crop_border={border} leaves nothing of a {image.shape[0]}x{image.shape[1]} image")
    return image[border:-border, border:-border]
