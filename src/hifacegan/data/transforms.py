"""Geometric helpers of the datasets: square crops, resizing, flips, the official stacked-pair layout.

All functions take and return uint8 RGB ``(H, W, 3)`` arrays and draw randomness only from a
passed ``numpy.random.Generator``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "center_square",
    "fit_square",
    "random_flip",
    "random_square_crop",
    "random_square_offset",
    "random_square_offset_containing",
    "resize_to",
    "split_stacked",
    "stack_pair",
]


def resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize with area averaging when shrinking (no aliasing) and bicubic when enlarging."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    shrinking = height * width < h * w
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def center_square(image: np.ndarray) -> np.ndarray:
    """The largest centred square of ``image`` (the image itself when already square)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square, then resize to ``size x size`` (whole aligned faces keep their aspect)."""
    return resize_to(center_square(image), size, size)


def random_square_crop(image: np.ndarray, size: int, rng: np.random.Generator, grid: int = 1) -> np.ndarray:
    """A random ``size x size`` crop; an image smaller than ``size`` is first enlarged so its short side fits.

    ``grid``: offsets are multiples of it (e.g. 16: block degradations line up with the whole image's blocks).
    """
    h, w = image.shape[:2]
    if min(h, w) < size:
        factor = size / min(h, w)
        image = resize_to(image, max(size, round(h * factor)), max(size, round(w * factor)))
        h, w = image.shape[:2]
    top, left = random_square_offset(h, w, size, rng, grid)
    return image[top:top + size, left:left + size]


def random_square_offset(height: int, width: int, size: int, rng: np.random.Generator,
                         grid: int = 1) -> tuple[int, int]:
    """``(top, left)`` of a random ``size x size`` window of a ``height x width`` image, multiples of ``grid``."""
    top = int(rng.integers(0, (height - size) // grid + 1)) * grid
    left = int(rng.integers(0, (width - size) // grid + 1)) * grid
    return top, left


def random_square_offset_containing(side: int, size: int, box: tuple[float, float, float, float],
                                    rng: np.random.Generator, grid: int = 1) -> tuple[int, int]:
    """``(top, left)`` of a random ``size x size`` window of a ``side x side`` image that wholly holds
    ``box`` (``x0, y0, x1, y1`` in pixels), multiples of ``grid``; any window when none on the grid does.
    """
    starts = []
    for low, high in ((box[1], box[3]), (box[0], box[2])):  # rows (top), then columns (left)
        first = max(0, math.ceil((math.ceil(high) - size) / grid) * grid)
        last = min(side - size, math.floor(low)) // grid * grid
        if first > last:
            return random_square_offset(side, side, size, rng, grid)
        starts.append(first + int(rng.integers(0, (last - first) // grid + 1)) * grid)
    return starts[0], starts[1]


def random_flip(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Mirror left-right with probability 1/2; returns the image and whether it was flipped."""
    flip = bool(rng.random() < 0.5)
    return (image[:, ::-1] if flip else image), flip


def stack_pair(degraded: np.ndarray, original: np.ndarray) -> np.ndarray:
    """The official stacked layout: ``degraded`` on top of ``original`` (concatenated along the height).

    Face-Renovation ``degrade.py`` writes ``np.concatenate((lr, hr), axis=0)`` and its test loader
    reads the input from the first ``W`` rows, so the degraded half is always the top one.
    """
    if degraded.shape != original.shape:
        raise ValueError(f"the two halves must have the same shape, got {degraded.shape} and {original.shape}")
    return np.concatenate([degraded, original], axis=0)


def split_stacked(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split an official stacked pair into ``(degraded, original)``.

    The official training loader cuts the image into squares along its longer side and takes the
    first as input, the second as target; we accept the same: ``2S x S`` (vertical, what the
    official scripts write) or ``S x 2S`` (side by side).

    Raises:
        ValueError: the image is not two equal squares.
    """
    h, w = image.shape[:2]
    if h == 2 * w:
        return image[:w], image[w:]
    if w == 2 * h:
        return image[:, :h], image[:, h:]
    raise ValueError(f"a stacked pair must be 2S x S (degraded on top) or S x 2S, got {h}x{w} pixels")
