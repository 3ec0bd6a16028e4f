"""Pasting back: the mask, and the landmarks -> template -> inverse warp round trip."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from hifacegan.faces.align import FFHQ_TEMPLATE, align, scale_affine
from hifacegan.faces.paste import face_mask, paste, paste_region


def _smooth_photo(h: int = 300, w: int = 400) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([0.5 + 0.4 * np.sin(x / 23), 0.5 + 0.4 * np.cos(y / 17), 0.5 + 0.3 * np.sin((x + y) / 31)], axis=2)


def _landmarks(angle_deg: float, scale: float, center: tuple[float, float], size: int = 128) -> np.ndarray:
    a = math.radians(angle_deg)
    rotation = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (FFHQ_TEMPLATE * size - size / 2) @ rotation.T + center


def _warped_mask(affine: np.ndarray, size: int, shape: tuple[int, int]) -> np.ndarray:
    return cv2.warpAffine(face_mask(size), affine, (shape[1], shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def test_face_mask_is_zero_at_the_border_one_in_the_middle_and_symmetric():
    mask = face_mask(128)
    assert mask.shape == (128, 128) and mask.dtype == np.float32
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1], mask[:8, :].ravel()])
    assert border.max() == 0.0  # the eroded band (1/16 of the side) is exactly zero: no seam
    assert mask[32:96, 32:96].min() == 1.0
    assert np.allclose(mask, mask.T) and np.allclose(mask, mask[::-1, ::-1])
    assert np.all(np.diff(mask[64, :64]) >= 0)  # rises monotonically from the edge
    with pytest.raises(ValueError):
        face_mask(64, erode=0.3, feather=0.3)


@pytest.mark.parametrize("angle,scale", [(0.0, 1.0), (23.0, 1.25), (-40.0, 0.8)])
def test_round_trip_returns_the_original_pixels_inside_the_mask(angle, scale):
    photo = _smooth_photo()
    crop, affine = align(photo, _landmarks(angle, scale, (210.0, 140.0)), 128)
    pasted = paste(np.zeros_like(photo), crop, affine)
    weight = _warped_mask(affine, 128, photo.shape[:2])
    inside = weight > 0.999
    assert inside.sum() > 4000
    # Two bilinear resamplings of a smooth photo: equal to within a fraction of a grey level.
    assert np.abs(pasted - photo)[inside].max() < 2e-3
    # Where the mask is zero the background (here zeros) is untouched, bit for bit.
    assert np.all(pasted[weight == 0] == 0)


def test_round_trip_onto_an_upscaled_photo():
    photo = _smooth_photo()
    crop, affine = align(photo, _landmarks(15.0, 1.0, (200.0, 150.0)), 128)
    big = cv2.resize(photo, (800, 600), interpolation=cv2.INTER_LINEAR)
    scaled = scale_affine(affine, 2)
    pasted = paste(np.zeros_like(big), crop, scaled)
    inside = _warped_mask(scaled, 128, big.shape[:2]) > 0.999
    assert inside.sum() > 16000
    assert np.abs(pasted - big)[inside].max() < 2e-3


def test_paste_leaves_the_background_and_far_pixels_alone():
    photo = _smooth_photo()
    crop, affine = align(photo, _landmarks(0.0, 1.0, (200.0, 150.0)), 128)
    before = photo.copy()
    result = paste(photo, np.ones_like(crop), affine)
    assert np.array_equal(photo, before)  # not modified
    x0, y0, x1, y1 = paste_region(photo.shape[:2], affine, 128)
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(result[outside], photo[outside])
    assert np.allclose(result[150, 200], 1.0)  # the face centre is fully replaced
    in_place = paste(photo, np.ones_like(crop), affine, out=photo)
    assert in_place is photo and np.array_equal(photo, result)


def test_paste_of_a_face_outside_the_photo_changes_nothing():
    photo = _smooth_photo()
    crop, affine = align(photo, _landmarks(0.0, 1.0, (-500.0, -500.0)), 128)
    assert paste_region(photo.shape[:2], affine, 128) is None
    assert np.array_equal(paste(photo, crop, affine), photo)
