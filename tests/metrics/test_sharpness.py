"""Sharpness ratio: 1 for the image itself, below 1 when blurred, above 1 when noised; clear errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hifacegan.metrics import sharpness, sharpness_ratio


def _face(size: int = 96) -> np.ndarray:
    # Smooth shading plus fine texture, like skin and hair at small scale.
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    base = 0.5 + 0.3 * np.sin(6 * x)[..., None] * np.cos(4 * y)[..., None] * np.array([1.0, 0.8, 0.6])
    texture = cv2.GaussianBlur(rng.normal(0, 0.08, (size, size, 3)), (0, 0), 0.8)
    return (np.clip(base + texture, 0, 1) * 255).astype(np.uint8)


def test_ratio_is_one_for_the_image_itself_and_orders_blur_and_noise():
    face = _face()
    assert sharpness_ratio(face, face) == pytest.approx(1.0)
    blurred = cv2.GaussianBlur(face, (0, 0), 1.5)
    noisy = np.clip(face + np.random.default_rng(1).normal(0, 12, face.shape), 0, 255).astype(np.uint8)
    assert sharpness_ratio(blurred, face) < 0.7
    assert sharpness_ratio(noisy, face) > 1.3
    more_blur = cv2.GaussianBlur(face, (0, 0), 3.0)
    assert sharpness_ratio(more_blur, face) < sharpness_ratio(blurred, face)


def test_sharpness_values_and_layouts():
    flat = np.full((16, 16, 3), 77, dtype=np.uint8)
    assert sharpness(flat) == 0.0
    ramp = np.repeat(np.tile(np.arange(0, 160, 10, dtype=np.uint8), (16, 1))[..., None], 3, axis=2)
    # Gray: Y = 16 + 219/255 * value, and a step of 10 per pixel gives a central-difference gradient of 10 * 219/255.
    assert sharpness(ramp) == pytest.approx(10 * 219 / 255)
    face = _face()
    assert sharpness(face / 255.0) == pytest.approx(sharpness(face))  # float [0, 1] and uint8 agree


def test_errors():
    face = _face()
    with pytest.raises(ValueError, match="differ in size"):
        sharpness_ratio(face[:64], face)
    with pytest.raises(ValueError, match="reference image is flat"):
        sharpness_ratio(face, np.full_like(face, 128))
    with pytest.raises(ValueError, match="3x3"):
        sharpness(face[:2, :2])
    with pytest.raises(ValueError, match="RGB"):
        sharpness(face[..., 0])
