"""Blur kernels and the paper's ``deblur`` task (the ``blur`` step of ``renovation``).

Official recipe (imgaug ``OneOf``): ``MotionBlur(k=(10, 20))`` or ``GaussianBlur((3.0, 8.0))``.
Facts of imgaug we reproduce:

* Motion blur: the kernel size ``k`` is an integer from ``[10, 20]``, even sizes become the next odd
  one. The kernel is a vertical line through the centre whose weights ramp linearly from ``d`` to
  ``1 - d`` with ``d = (direction + 1) / 2`` (direction ``U(-1, 1)``), quantised to 8 bits, rotated by
  ``angle ~ U(0, 360)`` degrees (bilinear) and normalised to sum 1.
* Gaussian blur: ``sigma ~ U(3, 8)``; the kernel side is ``3.3 sigma`` (sigma < 3), ``2.9 sigma``
  (sigma < 5) or ``2.6 sigma``, at least 5, made odd: imgaug truncates its Gaussians this way.
* Borders are reflected without repeating the edge pixel (OpenCV ``BORDER_REFLECT_101``).

The ``realworld`` degradation uses :func:`bivariate_gaussian_kernel` (GFPGAN/BasicSR's isotropic
and anisotropic Gaussians).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hifacegan.degradations._checks import check_image, uniform
from hifacegan.degradations.config import DegradationConfig

__all__ = [
    "BLUR_KINDS",
    "bivariate_gaussian_kernel",
    "filter_image_exact",
    "gaussian_blur",
    "imgaug_gaussian_ksize",
    "motion_blur_kernel",
    "motion_blur_weights",
    "random_blur",
]

BLUR_KINDS = ("motion", "gaussian")


def imgaug_gaussian_ksize(sigma: float) -> int:
    """Kernel side imgaug uses for a Gaussian blur of ``sigma`` (odd, at least 5)."""
    if sigma < 3.0:
        size = 3.3 * sigma
    elif sigma < 5.0:
        size = 2.9 * sigma
    else:
        size = 2.6 * sigma
    size = int(max(size, 5))
    return size if size % 2 else size + 1


def gaussian_blur(image: np.ndarray, sigma: float, ksize: int | None = None) -> np.ndarray:
    """Gaussian blur of a uint8 RGB image.

    Args:
        image: uint8 ``(H, W, 3)``.
        sigma: standard deviation in pixels (> 0).
        ksize: odd kernel side; ``None`` = imgaug's choice (:func:`imgaug_gaussian_ksize`).

    Returns:
        uint8 ``(H, W, 3)``.
    """
    image = check_image(image)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    ksize = imgaug_gaussian_ksize(sigma) if ksize is None else int(ksize)
    if ksize < 1 or ksize % 2 == 0:
        raise ValueError(f"ksize must be a positive odd number, got {ksize}")
    return cv2.GaussianBlur(image, (ksize, ksize), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)


def motion_blur_weights(k: int, angle: float, direction: float) -> np.ndarray:
    """imgaug's motion-blur kernel as the integer (8-bit) weights it is built from, before normalisation.

    Args:
        k: kernel size (an even size becomes ``k + 1``).
        angle: direction of motion in degrees (clockwise on screen, as imgaug's ``Affine(rotate=...)``).
        direction: -1..1, how the weight is spread along the streak (0 = evenly).

    Returns:
        int64 ``(k, k)`` weights in 0..255 with a positive sum.
    """
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = k if k % 2 else k + 1
    d = (float(np.clip(direction, -1.0, 1.0)) + 1.0) / 2.0
    line = np.zeros((k, k), dtype=np.float32)
    # imgaug draws the ramp as an 8-bit image before rotating it (the cast truncates).
    line[:, k // 2] = np.floor(np.linspace(d, 1.0 - d, num=k, dtype=np.float64) * 255.0)
    centre = ((k - 1) / 2.0, (k - 1) / 2.0)
    # OpenCV's positive angles turn counter-clockwise on screen, imgaug's clockwise.
    matrix = cv2.getRotationMatrix2D(centre, -float(angle), 1.0)
    rotated = cv2.warpAffine(line, matrix, (k, k), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
    weights = np.rint(rotated).astype(np.int64)  # imgaug's rotated kernel is again an 8-bit image
    if weights.sum() <= 0:  # only for k == 1 with all weight rounded away; a delta is the honest kernel then
        weights = np.zeros((k, k), dtype=np.int64)
        weights[k // 2, k // 2] = 1
    return weights


def motion_blur_kernel(k: int, angle: float, direction: float) -> np.ndarray:
    """imgaug's motion-blur kernel: :func:`motion_blur_weights` normalised to sum 1 (float32 ``(k, k)``)."""
    weights = motion_blur_weights(k, angle, direction)
    return (weights / weights.sum()).astype(np.float32)


def filter_image_exact(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Correlate a uint8 image with non-negative integer ``weights``, normalised, in exact integer arithmetic.

    ``out = round(sum(w * x) / sum(w))`` (halves round up) with reflect-101 borders, the same
    geometry as ``cv2.filter2D``. Integer sums are exact, so the result is identical on every machine;
    ``cv2.filter2D`` on uint8 picks a SIMD code path by CPU, which changes the rounding of some pixels
    (seen with the 11x11 kernels when AVX2 is switched off).

    Args:
        image: uint8 ``(H, W, C)``.
        weights: non-negative integer ``(k, k)`` array, odd ``k``, positive sum below ``2**30 / 255``.

    Returns:
        uint8 ``(H, W, C)``.
    """
    weights = np.asarray(weights, dtype=np.int64)
    k = weights.shape[0]
    if weights.shape != (k, k) or k % 2 == 0 or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"weights must be a non-negative odd square array with a positive sum, got {weights.shape}")
    total = int(weights.sum())
    if 255 * total >= 2**30:
        raise ValueError("weights too large for exact 32-bit accumulation")
    h, w = image.shape[:2]
    r = k // 2
    padded = cv2.copyMakeBorder(image, r, r, r, r, cv2.BORDER_REFLECT_101).astype(np.int32)
    acc = np.zeros(padded[r:r + h, r:r + w].shape, dtype=np.int32)
    term = np.empty_like(acc)
    for i, j in zip(*np.nonzero(weights)):  # a motion streak has only ~k..3k non-zero taps
        np.multiply(padded[i:i + h, j:j + w], np.int32(weights[i, j]), out=term)
        acc += term
    return ((2 * acc + total) // (2 * total)).astype(np.uint8)


def bivariate_gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """Anisotropic Gaussian kernel (GFPGAN/BasicSR ``bivariate_Gaussian``).

    Args:
        size: odd kernel side.
        sigma_x: standard deviation along the first principal axis (pixels).
        sigma_y: standard deviation along the second axis (``== sigma_x`` is isotropic).
        theta: rotation of the principal axes, radians.

    Returns:
        float32 ``(size, size)`` kernel summing to 1.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd number, got {size}")
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"sigmas must be positive, got {sigma_x}, {sigma_y}")
    half = size // 2
    y, x = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    c, s = math.cos(theta), math.sin(theta)
    # Coordinates in the kernel's principal frame: exp(-0.5 x^T Sigma^-1 x) with Sigma = R diag(sx^2, sy^2) R^T.
    u = c * x + s * y
    v = -s * x + c * y
    kernel = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).astype(np.float32)


def random_blur(image: np.ndarray, rng: np.random.Generator, config: DegradationConfig) -> tuple[np.ndarray, dict]:
    """Pick motion or Gaussian blur uniformly from ``config.blur_kinds`` and apply it with sampled parameters.

    Returns:
        The blurred uint8 image and its parameters (``{"op": "blur", "kind": ...}``).
    """
    image = check_image(image)
    kind = str(config.blur_kinds[int(rng.integers(len(config.blur_kinds)))])
    if kind == "motion":
        low, high = config.motion_blur_kernel
        k = int(rng.integers(low, high + 1))
        angle = uniform(rng, config.motion_blur_angle)
        direction = uniform(rng, config.motion_blur_direction)
        weights = motion_blur_weights(k, angle, direction)
        return filter_image_exact(image, weights), {"op": "blur", "kind": "motion", "k": int(weights.shape[0]),
                                                    "angle": angle, "direction": direction}
    sigma = uniform(rng, config.gaussian_blur_sigma)
    ksize = imgaug_gaussian_ksize(sigma)
    return gaussian_blur(image, sigma, ksize), {"op": "blur", "kind": "gaussian", "sigma": sigma, "ksize": ksize}
