"""Sharpness and the sharpness ratio: does a restoration have as much fine detail as the truth?

PSNR and SSIM reward a blurry average over a detailed guess, so a restorer can score well while
looking soft; NIQE judges naturalness without looking at the truth. The sharpness ratio states the
one thing in between: how much edge energy the restored image has compared with its reference.

* :func:`sharpness`: mean luma gradient magnitude. Luma is BT.601 Y in ``[16, 235]`` (the same Y as
  the other metrics' ``y_channel``, computed from RGB in ``[0, 255]``, not rounded); the gradient is
  the central difference ``(Y[x+1] - Y[x-1]) / 2`` in each direction, on interior pixels only (no
  border padding that would invent edges), and its magnitude ``sqrt(gx^2 + gy^2)`` is averaged.
  Central differences rather than Sobel: Sobel's smoothing across the edge would hide part of the
  fine noise-like texture that separates a sharp restoration from an oversharpened one.
* :func:`sharpness_ratio`: ``sharpness(restored) / sharpness(reference)``. 1 is ideal; below 1 the
  result is blurrier than the truth, above 1 it has more edges (oversharpening, noise, artefacts).
  So neither a higher nor a lower value is better: ``hifacegan evaluate`` marks it "target 1", and
  its mean over images can hide blurry and noisy results that cancel, which the per-image CSV shows.
"""

from __future__ import annotations

import numpy as np

from hifacegan.metrics._common import check_pair, rgb_to_y
from hifacegan.pixels import to_float255

__all__ = ["sharpness", "sharpness_ratio"]


def _sharpness255(image255: np.ndarray) -> float:
    luma = rgb_to_y(image255)
    if min(luma.shape) < 3:
        raise ValueError(f"sharpness needs at least 3x3 pixels, got {luma.shape[0]}x{luma.shape[1]}")
    gx = (luma[1:-1, 2:] - luma[1:-1, :-2]) / 2.0
    gy = (luma[2:, 1:-1] - luma[:-2, 1:-1]) / 2.0
    return float(np.mean(np.hypot(gx, gy)))


def sharpness(image: np.ndarray) -> float:
    """Mean luma gradient magnitude of one image (see the module docstring).

    Args:
        image: ``(H, W, 3)`` RGB, ``uint8`` in ``[0, 255]`` or float in ``[0, 1]``; at least 3x3.

    Returns:
        Mean gradient magnitude in Y levels per pixel (``0`` for a flat image; at most about 155).

    Raises:
        ValueError: malformed image or smaller than 3x3.
    """
    return _sharpness255(to_float255(image))


def sharpness_ratio(restored: np.ndarray, reference: np.ndarray) -> float:
    """``sharpness(restored) / sharpness(reference)``: 1 is ideal, < 1 blurrier, > 1 more edges than the truth.

    Args:
        restored: ``(H, W, 3)`` RGB, ``uint8`` or float in ``[0, 1]``.
        reference: its ground truth, same size and conventions.

    Returns:
        The ratio (``>= 0``).

    Raises:
        ValueError: sizes differ, an image is malformed or under 3x3, or the reference is flat (no
            gradient at all, so the ratio is undefined).
    """
    x, y = check_pair(restored, reference)
    reference_sharpness = _sharpness255(y)
    if reference_sharpness <= 1e-12:
        raise ValueError("the sharpness ratio is undefined: the reference image is flat (no luma gradient)")
    return _sharpness255(x) / reference_sharpness
