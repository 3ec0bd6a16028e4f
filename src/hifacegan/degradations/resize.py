"""Downsample-then-upsample degradation (the paper's ``sr4x`` task and the ``down`` step of ``renovation``).

Official recipe (Face-Renovation ``degrade.py``, ``get_down``): imgaug ``Resize((0.125, 0.25))`` then
``Resize`` back, both bicubic: one scale factor per image, shared by height and width. BasicSR's
``sr4x`` preset is an exact 1/4 ``INTER_AREA`` downsample instead (``down_scale=(0.25, 0.25)``,
``down_interpolation="area"`` in :class:`~hifacegan.degradations.DegradationConfig`).
"""

from __future__ import annotations

import cv2
import numpy as np

from hifacegan.degradations._checks import check_image, uniform
from hifacegan.degradations.config import DegradationConfig

__all__ = ["INTERPOLATIONS", "down_up", "random_down_up", "resize"]

#: Interpolation names accepted by this package, and their OpenCV flags.
INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def _flag(interpolation: str) -> int:
    try:
        return INTERPOLATIONS[interpolation]
    except KeyError:
        raise ValueError(f"unknown interpolation {interpolation!r}; choose one of {', '.join(INTERPOLATIONS)}") from None


def resize(image: np.ndarray, height: int, width: int, interpolation: str = "cubic") -> np.ndarray:
    """Resize an ``(H, W, C)`` array to ``(height, width)`` (uint8 results saturate, never wrap)."""
    if height < 1 or width < 1:
        raise ValueError(f"target size must be positive, got {height}x{width}")
    if image.shape[0] == height and image.shape[1] == width:
        return image.copy()
    return cv2.resize(image, (int(width), int(height)), interpolation=_flag(interpolation))


def down_up(image: np.ndarray, scale: float, down_interpolation: str = "cubic",
            up_interpolation: str = "cubic") -> np.ndarray:
    """Shrink by ``scale`` then resize back to the original size.

    Args:
        image: uint8 RGB ``(H, W, 3)``.
        scale: factor in ``(0, 1]``; the small image is ``round(H * scale) x round(W * scale)`` (at least 1x1).
        down_interpolation: interpolation name for shrinking.
        up_interpolation: interpolation name for enlarging.

    Returns:
        uint8 ``(H, W, 3)``.
    """
    image = check_image(image)
    if not 0 < scale <= 1:
        raise ValueError(f"scale must lie in (0, 1], got {scale}")
    h, w = image.shape[:2]
    small = resize(image, max(1, round(h * scale)), max(1, round(w * scale)), down_interpolation)
    return resize(small, h, w, up_interpolation)


def random_down_up(image: np.ndarray, rng: np.random.Generator, config: DegradationConfig) -> tuple[np.ndarray, dict]:
    """:func:`down_up` with the scale drawn from ``config.down_scale``; returns the image and its parameters."""
    scale = uniform(rng, config.down_scale)
    out = down_up(image, scale, config.down_interpolation, config.up_interpolation)
    return out, {"op": "down", "scale": scale, "down_interpolation": config.down_interpolation,
                 "up_interpolation": config.up_interpolation}
