"""Synthetic degradations of HiFaceGAN's tasks (paper Sec. 4.1) and a GFPGAN-style real-world mix.

``degrade(image, task, rng)`` is the one call most code needs; :func:`rng_for` derives its generator
from ``(seed, key)`` so results never depend on processing order, batching or worker count.
The building blocks (deterministic ``apply``-style functions and their ``random_*`` samplers that
return the drawn parameters) are exported too. Parameter ranges follow the official scripts'
imgaug settings (Face-Renovation ``degrade.py``; BasicSR ``prepare_hifacegan_dataset.py``),
re-implemented with NumPy/OpenCV.
"""

from hifacegan.degradations.blur import (
    bivariate_gaussian_kernel,
    filter_image_exact,
    gaussian_blur,
    imgaug_gaussian_ksize,
    motion_blur_kernel,
    motion_blur_weights,
    random_blur,
)
from hifacegan.degradations.config import REFERENCE_SIZE, DegradationConfig
from hifacegan.degradations.jpeg import (
    decode_jpeg,
    encode_jpeg,
    estimate_jpeg_quality,
    imgaug_compression_to_quality,
    jpeg_compress,
    random_jpeg,
)
from hifacegan.degradations.mosaic import mosaic
from hifacegan.degradations.noise import add_noise, noise_std, random_noise, sample_noise
from hifacegan.degradations.presets import PAPER_TASKS, TASKS, degrade
from hifacegan.degradations.realworld import random_realworld
from hifacegan.degradations.resize import down_up, random_down_up, resize
from hifacegan.degradations.seeding import rng_for
from hifacegan.degradations.sheet import contact_sheet

__all__ = [
    "PAPER_TASKS",
    "REFERENCE_SIZE",
    "TASKS",
    "DegradationConfig",
    "add_noise",
    "bivariate_gaussian_kernel",
    "contact_sheet",
    "decode_jpeg",
    "degrade",
    "down_up",
    "encode_jpeg",
    "estimate_jpeg_quality",
    "filter_image_exact",
    "gaussian_blur",
    "imgaug_compression_to_quality",
    "imgaug_gaussian_ksize",
    "jpeg_compress",
    "mosaic",
    "motion_blur_kernel",
    "motion_blur_weights",
    "noise_std",
    "random_blur",
    "random_down_up",
    "random_jpeg",
    "random_noise",
    "random_realworld",
    "resize",
    "rng_for",
    "sample_noise",
]
