"""The paper's degradation tasks and ``realworld``, behind one call: :func:`degrade`.

| task | what it does (official parameters, see :class:`~hifacegan.degradations.DegradationConfig`) |
|---|---|
| ``sr4x`` | shrink by ``U(1/8, 1/4)`` (bicubic) and enlarge back |
| ``sr16x`` | 16x16 mosaic (face hallucination) |
| ``denoise`` | Gaussian, Laplace or Poisson noise |
| ``deblur`` | motion or Gaussian blur |
| ``jpeg`` | JPEG quality 17..51 |
| ``renovation`` | blur, noise, JPEG and down, all four in a random order (the paper's "full") |
| ``realworld`` | GFPGAN's blur/down/noise/JPEG mix, colour jitter, gray (not in the paper) |

Every random choice comes from the generator passed in, so ``degrade(img, task, rng_for(seed, key))``
is a pure function of ``(img, task, seed, key, config)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hifacegan.degradations._checks import check_image
from hifacegan.degradations.blur import random_blur
from hifacegan.degradations.config import DegradationConfig
from hifacegan.degradations.jpeg import random_jpeg
from hifacegan.degradations.mosaic import mosaic
from hifacegan.degradations.noise import random_noise
from hifacegan.degradations.realworld import random_realworld
from hifacegan.degradations.resize import random_down_up

__all__ = ["PAPER_TASKS", "TASKS", "degrade"]

#: Every task :func:`degrade` knows, in the order the CLI and contact sheet show them.
TASKS: tuple[str, ...] = ("sr4x", "sr16x", "denoise", "deblur", "jpeg", "renovation", "realworld")
#: The paper's tasks (its five plus the combined "full" renovation).
PAPER_TASKS: tuple[str, ...] = TASKS[:6]

_DEFAULT_CONFIG = DegradationConfig()

Step = Callable[[np.ndarray, np.random.Generator, DegradationConfig], tuple[np.ndarray, dict]]


def _mosaic_step(image: np.ndarray, rng: np.random.Generator, config: DegradationConfig) -> tuple[np.ndarray, dict]:
    return mosaic(image, config.mosaic_block), {"op": "mosaic", "block": config.mosaic_block}


_STEPS: dict[str, Step] = {
    "blur": random_blur,
    "noise": random_noise,
    "jpeg": random_jpeg,
    "down": random_down_up,
}

_SINGLE: dict[str, Step] = {
    "sr4x": random_down_up,
    "sr16x": _mosaic_step,
    "denoise": random_noise,
    "deblur": random_blur,
    "jpeg": random_jpeg,
    "realworld": random_realworld,
}


def degrade(image: np.ndarray, task: str, rng: np.random.Generator,
            config: DegradationConfig | None = None) -> tuple[np.ndarray, dict]:
    """Degrade a face image the way one of the paper's tasks (or ``realworld``) does.

    Args:
        image: uint8 RGB ``(H, W, 3)``; not modified.
        task: one of :data:`TASKS`.
        rng: source of every random choice, e.g. ``rng_for(seed, file_stem)``.
        config: parameter ranges; ``None`` = the official ones.

    Returns:
        ``(degraded, params)``: uint8 RGB of the same size, and the sampled parameters as a
        JSON-serialisable dict ``{"task": task, "steps": [{"op": ..., ...}, ...]}`` in the order applied.

    Raises:
        ValueError: unknown task (the message lists the valid ones) or an image that is not uint8 ``(H, W, 3)``.
    """
    if task not in TASKS:
        raise ValueError(f"unknown degradation task {task!r}; choose one of {', '.join(TASKS)}")
    image = check_image(image)
    config = _DEFAULT_CONFIG if config is None else config
    if task == "renovation":
        order = [str(config.renovation_ops[i]) for i in rng.permutation(len(config.renovation_ops))]
        steps = []
        out = image
        for op in order:
            out, params = _STEPS[op](out, rng, config)
            steps.append(params)
    else:
        out, params = _SINGLE[task](image, rng, config)
        steps = [params]
    if out.shape != image.shape or out.dtype != np.uint8:  # internal invariant of every step
        raise AssertionError(f"{task} returned {out.shape} {out.dtype} for a {image.shape} image")
    return out, {"task": task, "steps": steps}
