"""PSNR, SSIM and MS-SSIM: closed forms, the standard window, monotonic response to noise, input checks."""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import pytest

from hifacegan.metrics import ms_ssim, psnr, ssim
from hifacegan.metrics.ssim import MS_SSIM_WEIGHTS, ms_ssim_min_size


def _face_like(size: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, structured uint8 RGB image (gradients + blobs), deterministic."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([0.5 + 0.4 * np.sin(6 * x + c) * np.cos(4 * y - c) for c in (0.0, 1.0, 2.0)], axis=2)
    noise = cv2.GaussianBlur(rng.random((size, size, 3)), (0, 0), 2.0) - 0.5
    return np.clip((base + 0.3 * noise) * 255, 0, 255).astype(np.uint8)


def _noisy(image: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


# ---- PSNR ----


def test_psnr_identical_is_inf():
    image = _face_like()
    assert psnr(image, image) == math.inf
    assert psnr(image / 255.0, image) == math.inf  # float [0, 1] and uint8 describe the same image


def test_psnr_matches_closed_form_for_known_error():
    # Every sample off by exactly +-d/255 (random signs): MSE = d^2 on the [0, 255] scale.
    rng = np.random.default_rng(0)
    a = np.full((32, 48, 3), 0.5)
    for d in (1.0, 5.0, 20.0):
        b = a + rng.choice([-1.0, 1.0], size=a.shape) * d / 255.0
        assert psnr(a, b) == pytest.approx(20 * math.log10(255.0 / d), abs=1e-9)


def test_psnr_of_gaussian_noise_is_close_to_its_sigma():
    image = np.full((256, 256, 3), 128, dtype=np.uint8)
    noisy = _noisy(image, 10.0)
    assert psnr(image, noisy) == pytest.approx(20 * math.log10(255 / 10.0), abs=0.1)


def test_psnr_y_channel_and_crop():
    a = np.zeros((20, 20, 3), dtype=np.uint8)
    b = a.copy()
    b[..., 1] = 10  # only green differs: Y differs by 10 * 128.553 / 255
    assert psnr(a, b, y_channel=True) == pytest.approx(20 * math.log10(255 / (10 * 128.553 / 255)), abs=1e-9)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / (100 / 3)), abs=1e-9)
    c = a.copy()
    c[0, :, :] = 255  # damage only the border row
    assert psnr(a, c, crop_border=1) == math.inf
    assert psnr(a, c) < 20


@pytest.mark.parametrize("metric", [psnr, ssim, ms_ssim])
def test_bad_inputs_raise_value_error(metric):
    image = _face_like()
    with pytest.raises(ValueError, match="differ in size"):
        metric(image, image[:-1])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        metric(image[..., 0], image[..., 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metric(image.astype(np.float32), image.astype(np.float32))  # 0..255 floats are a unit mistake
    with pytest.raises(ValueError, match="dtype"):
        metric(image.astype(np.int32), image.astype(np.int32))


# ---- SSIM ----


def test_ssim_identical_is_one_and_falls_with_noise():
    image = _face_like()
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-12)
    assert ssim(image, image, y_channel=True) == pytest.approx(1.0, abs=1e-12)
    scores = [ssim(image, _noisy(image, s)) for s in (2, 8, 20, 50)]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores
    assert scores[0] < 1.0 and scores[-1] < 0.5


def test_ssim_of_constant_images_is_the_luminance_term():
    # No variance: the contrast-structure term is exactly 1, SSIM reduces to (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 100.0, 140.0
    c1 = (0.01 * 255) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    x = np.full((32, 32, 3), a / 255.0)
    y = np.full((32, 32, 3), b / 255.0)
    assert ssim(x, y) == pytest.approx(expected, abs=1e-12)
    # MS-SSIM: every cs is 1, the coarsest scale contributes l^w5.
    big_x, big_y = np.full((161, 170, 3), a / 255.0), np.full((161, 170, 3), b / 255.0)
    assert ms_ssim(big_x, big_y) == pytest.approx(expected ** MS_SSIM_WEIGHTS[-1], abs=1e-12)


def test_ssim_uses_the_standard_gaussian_window():
    # Brute force on a 14x14 image: 4x4 valid positions of an 11x11 Gaussian (sigma 1.5) window.
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (14, 14)).astype(np.float64)
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255)
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(4):
        for j in range(4):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (window * px).sum(), (window * py).sum()
            vx, vy = (window * px * px).sum() - mx**2, (window * py * py).sum() - my**2
            cov = (window * px * py).sum() - mx * my
            values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    def gray(plane: np.ndarray) -> np.ndarray:
        return np.repeat(plane[..., None], 3, axis=2) / 255.0

    assert ssim(gray(x), gray(y)) == pytest.approx(np.mean(values), abs=1e-9)


def test_ssim_rejects_images_smaller_than_the_window():
    tiny = np.zeros((10, 30, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="11x11"):
        ssim(tiny, tiny)


# ---- MS-SSIM ----


def test_ms_ssim_identical_is_one_and_falls_with_noise():
    image = _face_like(200)
    assert ms_ssim(image, image) == pytest.approx(1.0, abs=1e-12)
    scores = [ms_ssim(image, _noisy(image, s)) for s in (2, 10, 30, 80)]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores
    assert 0.0 <= scores[-1] < scores[0] < 1.0


def test_ms_ssim_weights_and_minimum_size():
    assert MS_SSIM_WEIGHTS == (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    assert sum(MS_SSIM_WEIGHTS) == pytest.approx(1.0, abs=1e-4)
    assert ms_ssim_min_size() == 161  # ceil-halving 161 four times leaves 11
    ok = np.zeros((161, 161, 3), dtype=np.uint8)
    assert ms_ssim(ok, ok) == pytest.approx(1.0)
    small = np.zeros((160, 300, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="161x161"):
        ms_ssim(small, small)
