"""Input checks shared by the degradation functions."""

from __future__ import annotations

import numpy as np


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` as a C-contiguous ``uint8`` ``(H, W, 3)`` array.

    Raises:
        TypeError: not a NumPy array.
        ValueError: wrong dtype or shape.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 RGB (0..255), got dtype {image.dtype}; "
                         "convert float [0, 1] images with hifacegan.io.float_to_uint8")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}")
    return np.ascontiguousarray(image)


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """One sample of ``U(low, high)`` as a Python float (exactly ``low`` when the range is a point)."""
    low, high = float(bounds[0]), float(bounds[1])
    return low if low == high else float(rng.uniform(low, high))
