"""Peak signal-to-noise ratio, on RGB (default) or on the BT.601 Y channel, with a peak of 255."""

from __future__ import annotations

import math

import numpy as np

from hifacegan.metrics._common import check_pair, crop, rgb_to_y

__all__ = ["psnr"]


def psnr(a: np.ndarray, b: np.ndarray, *, crop_border: int = 0, y_channel: bool = False) -> float:
    """PSNR in dB between two images of the same size.

    ``10 * log10(255**2 / MSE)``, the MSE taken over every pixel and channel of the ``[0, 255]`` data.

    Args:
        a: ``(H, W, 3)`` RGB, ``uint8`` in ``[0, 255]`` or float in ``[0, 1]`` (scaled by 255, not rounded).
        b: the other image, same size and conventions (the two may differ in dtype).
        crop_border: pixels removed from each side before measuring (super-resolution papers often crop the scale).
        y_channel: measure the BT.601 luma (MATLAB ``rgb2ycbcr``, range ``[16, 235]``) instead of RGB;
            the peak stays 255, as in the super-resolution literature.

    Returns:
        PSNR in dB; ``inf`` for identical images.

    Raises:
        ValueError: shapes differ or are not ``(H, W, 3)``, float data outside ``[0, 1]``, or a crop too large.
    """
    x, y = check_pair(a, b)
    if y_channel:
        x, y = rgb_to_y(x), rgb_to_y(y)
    x, y = crop(x, crop_border), crop(y, crop_border)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)
