"""Each degradation changes the image in its own measurable way."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hifacegan.degradations import (
    DegradationConfig,
    bivariate_gaussian_kernel,
    degrade,
    down_up,
    encode_jpeg,
    estimate_jpeg_quality,
    filter_image_exact,
    imgaug_compression_to_quality,
    imgaug_gaussian_ksize,
    jpeg_compress,
    mosaic,
    motion_blur_kernel,
    motion_blur_weights,
    noise_std,
    rng_for,
)


def _texture(size: int = 96, seed: int = 0) -> np.ndarray:
    """Mid-grey image with strong fine detail (random pattern smoothed a little)."""
    rng = np.random.default_rng(seed)
    pattern = rng.integers(40, 216, (size, size, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(pattern, (3, 3), 0.7), 0, 255).astype(np.uint8)


def _high_frequency_energy(image: np.ndarray) -> float:
    return float(cv2.Laplacian(image.astype(np.float32), cv2.CV_32F).var())


# --- mosaic (sr16x) ---------------------------------------------------------------------------------------

def test_mosaic_blocks_are_constant_and_equal_to_the_block_mean():
    image = _texture(40)  # 40 = 2 full 16-px blocks + an 8-px edge block on each axis
    out = mosaic(image, 16)
    for top in (0, 16, 32):
        for left in (0, 16, 32):
            block = out[top:top + 16, left:left + 16].reshape(-1, 3)
            assert (block == block[0]).all()
            expected = np.rint(image[top:top + 16, left:left + 16].reshape(-1, 3).mean(axis=0))
            assert np.array_equal(block[0], expected.astype(np.uint8))


def test_sr16x_uses_the_configured_block():
    image = _texture(64)
    out, params = degrade(image, "sr16x", rng_for(0, "a"), DegradationConfig(mosaic_block=8))
    assert params["steps"][0]["block"] == 8
    assert len(np.unique(out[:8, :8].reshape(-1, 3), axis=0)) == 1
    assert len(np.unique(out[:16, :16].reshape(-1, 3), axis=0)) > 1


# --- noise (denoise) --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,field,value", [("gaussian", "noise_gaussian_sigma", 30.0),
                                              ("laplace", "noise_laplace_scale", 20.0),
                                              ("poisson", "noise_poisson_lam", 20.0)])
def test_noise_residual_has_the_drawn_std_zero_mean_and_independent_channels(kind, field, value):
    grey = np.full((128, 128, 3), 128, np.uint8)  # mid-grey: clipping at 0/255 is negligible
    config = DegradationConfig(noise_kinds=(kind,), **{field: (value, value)})
    out, params = degrade(grey, "denoise", rng_for(0, kind), config)
    residual = out.astype(np.float64) - 128
    assert params["steps"][0]["kind"] == kind
    assert residual.std() == pytest.approx(noise_std(kind, value), rel=0.04)
    assert abs(residual.mean()) < 0.5
    assert abs(np.corrcoef(residual[..., 0].ravel(), residual[..., 1].ravel())[0, 1]) < 0.05


def test_noise_std_lies_in_the_configured_range_for_the_official_ranges():
    grey = np.full((96, 96, 3), 128, np.uint8)
    config = DegradationConfig()
    ranges = {"gaussian": config.noise_gaussian_sigma, "laplace": config.noise_laplace_scale,
              "poisson": config.noise_poisson_lam}
    kinds = set()
    for seed in range(24):
        out, params = degrade(grey, "denoise", rng_for(seed, "n"), config)
        step = params["steps"][0]
        kinds.add(step["kind"])
        low, high = (noise_std(step["kind"], v) for v in ranges[step["kind"]])
        measured = (out.astype(np.float64) - 128).std()
        assert 0.93 * low <= measured <= 1.04 * high  # lower slack: Laplace tails clip at 0/255
        assert measured == pytest.approx(step["std"], rel=0.08)
    assert kinds == {"gaussian", "laplace", "poisson"}


def test_shared_noise_when_not_per_channel():
    grey = np.full((32, 32, 3), 128, np.uint8)
    out, _ = degrade(grey, "denoise", rng_for(0, "a"), DegradationConfig(noise_per_channel=False))
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


# --- blur (deblur) ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["motion", "gaussian"])
def test_blur_removes_high_frequency_energy(kind):
    image = _texture()
    for seed in range(3):
        out, params = degrade(image, "deblur", rng_for(seed, kind), DegradationConfig(blur_kinds=(kind,)))
        assert params["steps"][0]["kind"] == kind
        assert _high_frequency_energy(out) < 0.2 * _high_frequency_energy(image)
        assert abs(float(out.mean()) - float(image.mean())) < 2  # blur keeps the brightness


def test_blur_parameters_stay_in_the_official_ranges():
    for seed in range(30):
        step = degrade(_texture(32), "deblur", rng_for(seed, "b"))[1]["steps"][0]
        if step["kind"] == "motion":
            assert step["k"] % 2 == 1 and 11 <= step["k"] <= 21
            assert 0 <= step["angle"] <= 360 and -1 <= step["direction"] <= 1
        else:
            assert 3 <= step["sigma"] <= 8 and step["ksize"] == imgaug_gaussian_ksize(step["sigma"])


def test_imgaug_gaussian_kernel_sizes():
    assert [imgaug_gaussian_ksize(s) for s in (1.0, 3.0, 4.9, 5.0, 8.0)] == [5, 9, 15, 13, 21]


def test_motion_kernel_shape_and_direction():
    vertical = motion_blur_kernel(10, angle=0.0, direction=0.0)
    assert vertical.shape == (11, 11)  # even sizes become odd, as in imgaug
    assert vertical.sum() == pytest.approx(1.0, abs=1e-5) and (vertical >= 0).all()
    assert np.count_nonzero(vertical[:, 5]) == 11 and np.count_nonzero(np.delete(vertical, 5, axis=1)) == 0
    horizontal = motion_blur_kernel(11, angle=90.0, direction=0.0)
    assert np.count_nonzero(horizontal[5, :]) == 11 and horizontal[5].sum() > 0.99
    one_sided = motion_blur_kernel(11, angle=0.0, direction=1.0)
    assert one_sided[0, 5] > one_sided[10, 5]  # the weight ramps from one end of the streak to the other


def test_exact_filter_is_the_rounded_true_correlation():
    image = _texture(24)
    weights = motion_blur_weights(13, 30.0, 0.4)
    out = filter_image_exact(image, weights)
    padded = np.pad(image.astype(np.float64), ((6, 6), (6, 6), (0, 0)), mode="reflect")  # numpy reflect = reflect-101
    reference = sum(weights[i, j] * padded[i:i + 24, j:j + 24] for i in range(13) for j in range(13))
    assert np.array_equal(out, np.floor(reference / weights.sum() + 0.5).astype(np.uint8))
    opencv = cv2.filter2D(image, -1, motion_blur_kernel(13, 30.0, 0.4), borderType=cv2.BORDER_REFLECT_101)
    assert np.abs(out.astype(int) - opencv).max() <= 1  # same operation as OpenCV's, up to rounding


def test_bivariate_gaussian_kernel():
    iso = bivariate_gaussian_kernel(21, 3.0, 3.0, 0.0)
    assert iso.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(iso, iso.T, atol=1e-7) and np.allclose(iso, iso[::-1], atol=1e-7)
    wide = bivariate_gaussian_kernel(21, 6.0, 1.0, 0.0)
    assert wide[10, 16] > wide[16, 10]  # spreads along x
    turned = bivariate_gaussian_kernel(21, 6.0, 1.0, np.pi / 2)
    assert np.allclose(turned, wide.T, atol=1e-6)


# --- JPEG -------------------------------------------------------------------------------------------------

def test_imgaug_compression_to_quality():
    assert imgaug_compression_to_quality(50) == 51
    assert imgaug_compression_to_quality(85) == 17
    assert imgaug_compression_to_quality(0) == 100


@pytest.mark.parametrize("quality", [10, 17, 33, 51, 75, 95])
def test_jpeg_quality_can_be_read_back_from_the_file(quality):
    assert estimate_jpeg_quality(encode_jpeg(_texture(32), quality)) == quality


def test_jpeg_task_output_is_a_jpeg_of_the_drawn_quality_in_the_official_band():
    image = _texture(64)
    qualities = []
    for seed in range(20):
        out, params = degrade(image, "jpeg", rng_for(seed, "j"))
        step = params["steps"][0]
        qualities.append(step["quality"])
        assert 17 <= step["quality"] <= 51 and 50 <= step["compression"] <= 85
        assert np.array_equal(out, jpeg_compress(image, step["quality"]))
        assert estimate_jpeg_quality(encode_jpeg(image, step["quality"])) == step["quality"]
    assert max(qualities) - min(qualities) >= 15  # the band is actually explored
    # Lower quality loses more: the 8x8 block structure shows up as a larger error.
    err = [np.abs(jpeg_compress(image, q).astype(int) - image).mean() for q in (17, 51, 95)]
    assert err[0] > err[1] > err[2]


def test_jpeg_bytes_are_deterministic():
    image = _texture(48)
    assert encode_jpeg(image, 30) == encode_jpeg(image.copy(), 30)


# --- down-up (sr4x) ---------------------------------------------------------------------------------------

def test_sr4x_loses_detail_and_keeps_colour():
    image = _texture()
    for seed in range(3):
        out, params = degrade(image, "sr4x", rng_for(seed, "s"))
        assert 0.125 <= params["steps"][0]["scale"] <= 0.25
        assert _high_frequency_energy(out) < 0.2 * _high_frequency_energy(image)
        assert abs(float(out.mean()) - float(image.mean())) < 3


def test_down_up_scale_one_is_identity_and_basicsr_preset_is_exact_quarter():
    image = _texture(64)
    assert np.array_equal(down_up(image, 1.0), image)
    config = DegradationConfig(down_scale=(0.25, 0.25), down_interpolation="area")
    out, params = degrade(image, "sr4x", rng_for(0, "a"), config)
    assert params["steps"][0]["scale"] == 0.25
    expected = cv2.resize(cv2.resize(image, (16, 16), interpolation=cv2.INTER_AREA), (64, 64),
                          interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(out, expected)


# --- realworld --------------------------------------------------------------------------------------------

def test_realworld_parameters_in_gfpgan_ranges():
    image = _texture(64)
    for seed in range(10):
        _, params = degrade(image, "realworld", rng_for(seed, "r"))
        step = params["steps"][0]
        (first,) = step["rounds"]  # second-order round off by default
        assert 0.1 <= first["sigma_x"] <= 10 and 0.1 <= first["sigma_y"] <= 10
        assert 0.8 <= first["downsample"] <= 8 and 60 <= first["jpeg_quality"] <= 100
        assert 0 <= first["noise_sigma"] <= 20 and first["kernel"] in ("iso", "aniso")
        if first["kernel"] == "iso":
            assert first["sigma_x"] == first["sigma_y"]


def test_realworld_gray_colour_shift_and_second_round():
    image = _texture(64)
    config = DegradationConfig(realworld_gray_prob=1.0, realworld_second_order_prob=1.0)
    out, params = degrade(image, "realworld", rng_for(0, "g"), config)
    assert params["steps"][0]["gray"] and len(params["steps"][0]["rounds"]) == 2
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    flat = np.full((32, 32, 3), 128, np.uint8)
    mild = DegradationConfig(realworld_color_jitter_prob=1.0, realworld_noise_sigma=(0.0, 0.0),
                             realworld_jpeg_quality=(100.0, 100.0))
    out, params = degrade(flat, "realworld", rng_for(1, "c"), mild)
    shift = params["steps"][0]["color_shift"]
    assert shift is not None and all(-20 <= s <= 20 for s in shift)
    assert np.allclose(out.reshape(-1, 3).mean(axis=0) - 128, shift, atol=1.5)
