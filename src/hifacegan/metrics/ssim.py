"""Structural similarity (SSIM, Wang et al. 2004) and its multi-scale form (MS-SSIM, Wang et al. 2003).

Standard definitions: an 11x11 Gaussian window with sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, dynamic
range ``L = 255``, statistics over the "valid" part of the image (no padding). Colour images are
measured per RGB channel and averaged (the default), or on the BT.601 Y channel with
``y_channel=True`` (the usual choice of super-resolution tables). MS-SSIM uses the five published
scale weights and 2x2 average downsampling between scales.
"""

from __future__ import annotations

import cv2
import numpy as np

from hifacegan.metrics._common import check_pair, crop, rgb_to_y

__all__ = ["MS_SSIM_WEIGHTS", "ms_ssim", "ms_ssim_min_size", "ssim"]

WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
_C1 = (0.01 * 255.0) ** 2
_C2 = (0.03 * 255.0) ** 2
#: Weights of the five scales, finest first (Wang, Simoncelli and Bovik 2003, Table 1 fit).
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_KERNEL_1D = cv2.getGaussianKernel(WINDOW_SIZE, WINDOW_SIGMA, cv2.CV_64F)
_WINDOW = _KERNEL_1D @ _KERNEL_1D.T


def _valid_filter(plane: np.ndarray) -> np.ndarray:
    # filter2D pads the border, but cropping half a window from each side keeps only outputs computed
    # from real pixels: exactly the "valid" correlation of the standard definition.
    half = WINDOW_SIZE // 2
    return cv2.filter2D(plane, cv2.CV_64F, _WINDOW, borderType=cv2.BORDER_REFLECT)[half:-half, half:-half]


def _ssim_and_cs(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of two ``(H, W)`` float64 planes in ``[0, 255]``."""
    mu_x, mu_y = _valid_filter(x), _valid_filter(y)
    var_x = _valid_filter(x * x) - mu_x**2
    var_y = _valid_filter(y * y) - mu_y**2
    cov = _valid_filter(x * y) - mu_x * mu_y
    cs_map = (2.0 * cov + _C2) / (var_x + var_y + _C2)
    luminance = (2.0 * mu_x * mu_y + _C1) / (mu_x**2 + mu_y**2 + _C1)
    return float(np.mean(luminance * cs_map)), float(np.mean(cs_map))


def _planes(a: np.ndarray, b: np.ndarray, crop_border: int, y_channel: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    x, y = check_pair(a, b)
    if y_channel:
        return [(crop(rgb_to_y(x), crop_border), crop(rgb_to_y(y), crop_border))]
    x, y = crop(x, crop_border), crop(y, crop_border)
    return [(np.ascontiguousarray(x[..., c]), np.ascontiguousarray(y[..., c])) for c in range(3)]


def ssim(a: np.ndarray, b: np.ndarray, *, crop_border: int = 0, y_channel: bool = False) -> float:
    """Mean SSIM of two images of the same size.

    Args:
        a: ``(H, W, 3)`` RGB, ``uint8`` in ``[0, 255]`` or float in ``[0, 1]``; at least 11x11 after cropping.
        b: the other image, same size and conventions.
        crop_border: pixels removed from each side first.
        y_channel: measure the BT.601 luma instead of averaging the three RGB channels (default: RGB).

    Returns:
        SSIM in ``[-1, 1]``; exactly 1 for identical images.

    Raises:
        ValueError: shapes differ or are not ``(H, W, 3)``, float data outside ``[0, 1]``, or an image
            smaller than the 11x11 window.
    """
    planes = _planes(a, b, crop_border, y_channel)
    height, width = planes[0][0].shape
    if min(height, width) < WINDOW_SIZE:
        raise ValueError(f"SSIM needs images of at least {WINDOW_SIZE}x{WINDOW_SIZE} pixels, got {height}x{width}")
    return float(np.mean([_ssim_and_cs(x, y)[0] for x, y in planes]))


def _halve(plane: np.ndarray) -> np.ndarray:
    # 2x2 box average; an odd last row/column is averaged with a copy of itself (symmetric padding,
    # as the reference MATLAB code's imfilter(..., 'symmetric') followed by taking every second pixel).
    if plane.shape[0] % 2:
        plane = np.concatenate([plane, plane[-1:]], axis=0)
    if plane.shape[1] % 2:
        plane = np.concatenate([plane, plane[:, -1:]], axis=1)
    return 0.25 * (plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2])


def ms_ssim_min_size() -> int:
    """Smallest image side MS-SSIM accepts: the coarsest of the five scales must still hold the 11x11 window."""
    side = WINDOW_SIZE
    for _ in range(len(MS_SSIM_WEIGHTS) - 1):
        side = 2 * side - 1  # smallest n with ceil(n / 2) == side
    return side


def ms_ssim(a: np.ndarray, b: np.ndarray, *, crop_border: int = 0, y_channel: bool = False) -> float:
    """Multi-scale SSIM (five scales, standard weights) of two images of the same size.

    ``prod_{j<5} cs_j ** w_j * ssim_5 ** w_5`` per channel, averaged over the channels. Negative
    per-scale terms (strongly anti-correlated images) are clamped to 0 before the fractional powers,
    which would otherwise be undefined.

    Args:
        a: ``(H, W, 3)`` RGB, ``uint8`` in ``[0, 255]`` or float in ``[0, 1]``; both sides at least
            :func:`ms_ssim_min_size` (161) pixels after cropping.
        b: the other image, same size and conventions.
        crop_border: pixels removed from each side first.
        y_channel: measure the BT.601 luma instead of averaging the three RGB channels (default: RGB).

    Returns:
        MS-SSIM in ``[0, 1]``; exactly 1 for identical images.

    Raises:
        ValueError: shapes differ or are not ``(H, W, 3)``, float data outside ``[0, 1]``, or an image
            too small for five scales.
    """
    planes = _planes(a, b, crop_border, y_channel)
    height, width = planes[0][0].shape
    minimum = ms_ssim_min_size()
    if min(height, width) < minimum:
        raise ValueError(f"MS-SSIM needs images of at least {minimum}x{minimum} pixels (five scales of an "
                         f"{WINDOW_SIZE}x{WINDOW_SIZE} window), got {height}x{width}")
    scores = []
    for x, y in planes:
        value = 1.0
        for level, weight in enumerate(MS_SSIM_WEIGHTS):
            full, cs = _ssim_and_cs(x, y)
            last = level == len(MS_SSIM_WEIGHTS) - 1
            value *= max(full if last else cs, 0.0) ** weight
            if not last:
                x, y = _halve(x), _halve(y)
        scores.append(value)
    return float(np.mean(scores))
