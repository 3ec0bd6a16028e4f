"""``realworld``: GFPGAN's synthetic real-world degradation (beyond the paper's five tasks).

The order and ranges of GFPGAN ``gfpgan/data/ffhq_degradation_dataset.py`` with the defaults of
``options/train_gfpgan_v1.yml`` (Wang et al., CVPR 2021), on float images in ``[0, 1]``:

1. blur with an isotropic or anisotropic Gaussian kernel (41x41, sigma 0.1..10, any rotation);
2. downsample by ``s ~ U(0.8, 8)`` (bilinear, to ``floor(W / s) x floor(H / s)``);
3. Gaussian noise, sigma ``U(0, 20)`` levels, per channel;
4. JPEG at quality ``int(U(60, 100))``;
5. (optional, ``realworld_second_order_prob``) a second, milder round of 1-4 as in Real-ESRGAN;
6. resize back to the original size (bilinear);
7. with probability 0.3 shift each colour channel by ``U(-20, 20)`` levels, with probability 0.01
   make the image grayscale (the target stays in colour).

GFPGAN's torchvision brightness/contrast/saturation/hue jitter (``color_jitter_pt_prob``) is left out.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hifacegan.degradations._checks import check_image, uniform
from hifacegan.degradations.blur import bivariate_gaussian_kernel
from hifacegan.degradations.config import DegradationConfig
from hifacegan.degradations.jpeg import jpeg_compress
from hifacegan.pixels import levels_to_uint8

__all__ = ["random_realworld"]


def _random_kernel(rng: np.random.Generator, config: DegradationConfig, sigma_range: tuple[float, float],
                   ) -> tuple[np.ndarray, dict]:
    probs = np.asarray(config.realworld_kernel_probs, dtype=np.float64)
    kind = str(config.realworld_kernel_kinds[int(rng.choice(len(probs), p=probs / probs.sum()))])
    sigma_x = uniform(rng, sigma_range)
    if kind == "iso":
        sigma_y, theta = sigma_x, 0.0
    else:
        sigma_y = uniform(rng, sigma_range)
        theta = uniform(rng, (-math.pi, math.pi))
    kernel = bivariate_gaussian_kernel(config.realworld_kernel_size, sigma_x, sigma_y, theta)
    return kernel, {"kernel": kind, "sigma_x": sigma_x, "sigma_y": sigma_y, "theta": theta,
                    "kernel_size": config.realworld_kernel_size}


# OpenCV convolves kernels of at least 130 taps through the FFT on every CPU; smaller ones take a
# direct path whose SIMD variant (and so the rounding) depends on the CPU. Zero-padding small kernels
# to 13x13 keeps the arithmetic, and so the bytes, the same on every machine.
_FFT_MIN_SIDE = 13


def _blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    if kernel.shape[0] < _FFT_MIN_SIDE:
        pad = (_FFT_MIN_SIDE - kernel.shape[0]) // 2
        kernel = np.pad(kernel, pad)
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def _round(image: np.ndarray, rng: np.random.Generator, config: DegradationConfig, sigma_range: tuple[float, float],
           scale_range: tuple[float, float], noise_range: tuple[float, float], quality_range: tuple[float, float],
           shrink: bool) -> tuple[np.ndarray, dict]:
    """One blur -> resize -> noise -> JPEG round on a float32 ``[0, 1]`` image."""
    kernel, params = _random_kernel(rng, config, sigma_range)
    image = _blur(image, kernel)
    h, w = image.shape[:2]
    factor = uniform(rng, scale_range)
    # GFPGAN divides the size by a downsampling factor; Real-ESRGAN's second round multiplies by a resize factor.
    new_w, new_h = (int(w // factor), int(h // factor)) if shrink else (int(w * factor), int(h * factor))
    new_w, new_h = max(1, new_w), max(1, new_h)
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    sigma = uniform(rng, noise_range)
    image = np.clip(image + rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma / 255.0), 0, 1)
    quality = int(uniform(rng, quality_range))
    quality = min(max(quality, 1), 100)
    image = jpeg_compress(levels_to_uint8(image * 255.0), quality).astype(np.float32) / 255.0
    params.update({"downsample" if shrink else "resize": factor, "size": [new_h, new_w], "noise_sigma": sigma,
                   "jpeg_quality": quality})
    return image, params


def random_realworld(image: np.ndarray, rng: np.random.Generator, config: DegradationConfig,
                     ) -> tuple[np.ndarray, dict]:
    """GFPGAN-style degradation of a uint8 RGB image (see the module docstring).

    Returns:
        The degraded uint8 image (same size) and ``{"op": "realworld", "rounds": [...], "color_shift",
        "gray"}``.
    """
    image = check_image(image)
    h, w = image.shape[:2]
    x: np.ndarray = image.astype(np.float32) / 255.0
    x, first = _round(x, rng, config, config.realworld_blur_sigma, config.realworld_downsample,
                      config.realworld_noise_sigma, config.realworld_jpeg_quality, shrink=True)
    rounds = [first]
    if config.realworld_second_order_prob > 0 and rng.random() < config.realworld_second_order_prob:
        x, second = _round(x, rng, config, config.realworld2_blur_sigma, config.realworld2_resize,
                           config.realworld2_noise_sigma, config.realworld2_jpeg_quality, shrink=False)
        rounds.append(second)
    x = cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)
    shift = None
    if config.realworld_color_jitter_prob > 0 and rng.random() < config.realworld_color_jitter_prob:
        limit = config.realworld_color_jitter_shift
        shift = [float(v) for v in rng.uniform(-limit, limit, 3)]
        x = np.clip(x + np.asarray(shift, dtype=np.float32) / 255.0, 0, 1)
    gray = bool(config.realworld_gray_prob > 0 and rng.random() < config.realworld_gray_prob)
    if gray:
        x = np.repeat(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return levels_to_uint8(x * 255.0), {"op": "realworld", "rounds": rounds, "color_shift": shift, "gray": gray}
