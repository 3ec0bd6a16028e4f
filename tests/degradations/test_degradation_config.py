"""DegradationConfig: official defaults, validation, dict round trip, size scaling."""

from __future__ import annotations

import pytest

from hifacegan.degradations import DegradationConfig


def test_official_defaults():
    c = DegradationConfig()
    assert c.down_scale == (0.125, 0.25) and c.down_interpolation == "cubic"
    assert c.mosaic_block == 16
    assert c.noise_gaussian_sigma == (20.0, 40.0) and c.noise_laplace_scale == (20.0, 40.0)
    assert c.noise_poisson_lam == (15.0, 30.0) and c.noise_per_channel
    assert c.motion_blur_kernel == (10, 20) and c.gaussian_blur_sigma == (3.0, 8.0)
    assert c.jpeg_compression == (50.0, 85.0)
    assert c.realworld_kernel_size == 41 and c.realworld_blur_sigma == (0.1, 10.0)
    assert c.realworld_downsample == (0.8, 8.0) and c.realworld_noise_sigma == (0.0, 20.0)
    assert c.realworld_jpeg_quality == (60.0, 100.0)


def test_dict_round_trip_and_yaml_lists():
    c = DegradationConfig(noise_kinds=["gaussian"], gaussian_blur_sigma=[1.0, 2.0])
    assert c.noise_kinds == ("gaussian",) and c.gaussian_blur_sigma == (1.0, 2.0)
    assert DegradationConfig.from_dict(c.to_dict()) == c
    hash(c)  # frozen and hashable even when built from lists


def test_unknown_key_suggests_close_match():
    with pytest.raises(ValueError, match="did you mean mosaic_block"):
        DegradationConfig.from_dict({"mosaic_blocks": 8})


@pytest.mark.parametrize("changes", [
    {"gaussian_blur_sigma": (8.0, 3.0)},
    {"down_scale": (0.5, 2.0)},
    {"noise_kinds": ("speckle",)},
    {"noise_kinds": ()},
    {"down_interpolation": "bilinear"},
    {"jpeg_compression": (50.0, 120.0)},
    {"realworld_kernel_size": 40},
    {"realworld_gray_prob": 1.5},
    {"realworld_kernel_probs": (1.0,)},
    {"mosaic_block": "16"},
    {"motion_blur_direction": (-2.0, 1.0)},
])
def test_invalid_values_are_rejected(changes):
    with pytest.raises(ValueError):
        DegradationConfig(**changes)


def test_scaled_for_size_scales_only_spatial_extents():
    c = DegradationConfig().scaled_for_size(128)
    assert c.mosaic_block == 4
    assert c.gaussian_blur_sigma == (0.75, 2.0)
    assert c.motion_blur_kernel == (2, 5)
    assert c.realworld_kernel_size == 11 and c.realworld_blur_sigma == pytest.approx((0.025, 2.5))
    assert c.noise_gaussian_sigma == (20.0, 40.0) and c.jpeg_compression == (50.0, 85.0)
    assert c.down_scale == (0.125, 0.25) and c.realworld_downsample == (0.8, 8.0)
    assert DegradationConfig().scaled_for_size(512) == DegradationConfig()
