"""Geometric helpers: square fitting, crops, the stacked layout, tensor conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hifacegan.data.transforms import (
    center_square,
    fit_square,
    random_square_crop,
    resize_to,
    split_stacked,
    stack_pair,
)
from hifacegan.pixels import uint8_to_chw_tensor


def _image(h, w):
    return (np.arange(h * w * 3).reshape(h, w, 3) % 251).astype(np.uint8)


def test_stack_and_split_are_inverse_and_vertical():
    degraded, original = _image(8, 8), 255 - _image(8, 8)
    stacked = stack_pair(degraded, original)
    assert stacked.shape == (16, 8, 3) and np.array_equal(stacked[:8], degraded)
    top, bottom = split_stacked(stacked)
    assert np.array_equal(top, degraded) and np.array_equal(bottom, original)
    left, right = split_stacked(np.concatenate([degraded, original], axis=1))
    assert np.array_equal(left, degraded) and np.array_equal(right, original)
    with pytest.raises(ValueError, match="2S x S"):
        split_stacked(_image(10, 8))
    with pytest.raises(ValueError):
        stack_pair(_image(8, 8), _image(8, 9))


def test_fit_square_crops_the_centre_then_resizes():
    image = _image(10, 16)
    assert np.array_equal(center_square(image), image[:, 3:13])
    assert fit_square(image, 10).shape == (10, 10, 3) and np.array_equal(fit_square(image, 10), image[:, 3:13])
    assert fit_square(image, 5).shape == (5, 5, 3) and fit_square(image, 30).shape == (30, 30, 3)


def test_resize_to_averages_when_shrinking():
    checker = np.indices((8, 8)).sum(axis=0) % 2 * 255
    image = np.repeat(checker[..., None], 3, axis=2).astype(np.uint8)
    small = resize_to(image, 4, 4)
    assert np.all(np.abs(small.astype(int) - 128) <= 1)  # area averaging, not sampling


def test_random_square_crop_enlarges_small_images():
    rng = np.random.default_rng(0)
    assert random_square_crop(_image(20, 30), 16, rng).shape == (16, 16, 3)
    assert random_square_crop(_image(10, 12), 16, rng).shape == (16, 16, 3)


def test_to_tensor_layout_and_range():
    image = _image(4, 6)
    tensor = uint8_to_chw_tensor(image[:, ::-1])  # negative strides are fine
    assert tensor.shape == (3, 4, 6) and tensor.dtype == torch.float32
    assert torch.allclose(tensor[:, 0, 0] * 255, torch.tensor(image[0, -1], dtype=torch.float32))
