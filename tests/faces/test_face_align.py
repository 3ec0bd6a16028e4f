"""Landmarks -> template: the similarity fit, the crop it produces, and rescaling for upscaled photos."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hifacegan.faces.align import (
    FFHQ_TEMPLATE,
    align,
    invert_affine,
    scale_affine,
    similarity_transform,
    template_points,
)


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[scale * math.cos(a), -scale * math.sin(a), tx], [scale * math.sin(a), scale * math.cos(a), ty]])


def _apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def test_similarity_transform_recovers_a_known_transform_exactly():
    source = FFHQ_TEMPLATE * 512
    truth = _similarity(-33.0, 0.37, 120.5, -40.25)
    fitted = similarity_transform(source, _apply(truth, source))
    assert np.allclose(fitted, truth, atol=1e-9)


def test_similarity_transform_never_mirrors():
    source = FFHQ_TEMPLATE * 100
    mirrored = source * [-1, 1]  # a left-right flip: the best *similarity* must still be a rotation
    fitted = similarity_transform(source, mirrored)
    assert np.linalg.det(fitted[:, :2]) > 0


def test_similarity_transform_rejects_degenerate_input():
    with pytest.raises(ValueError, match="coincide"):
        similarity_transform(np.ones((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="N >= 2"):
        similarity_transform(np.ones((5, 2)), np.ones((4, 2)))


def test_template_points_scale_and_validate():
    assert np.allclose(template_points(512), [[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                                              [201.26117, 371.41043], [313.08905, 371.15118]])
    assert np.allclose(template_points(128), template_points(512) / 4)
    with pytest.raises(ValueError, match="normalised to \\[0, 1\\]"):
        template_points(128, FFHQ_TEMPLATE * 512)


def test_align_puts_the_landmarks_on_the_template():
    rng = np.random.default_rng(0)
    image = rng.random((300, 400, 3), dtype=np.float32)
    landmarks = _apply(_similarity(25.0, 1.3, 180.0, 90.0), FFHQ_TEMPLATE * 128)
    crop, affine = align(image, landmarks, 128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.float32
    assert np.allclose(_apply(affine, landmarks), template_points(128), atol=1e-6)
    # The crop's pixel at the left eye is the photo's pixel at the left eye (bilinear sample).
    import cv2

    eye = template_points(128)[0].round().astype(int)
    source = _apply(invert_affine(affine), eye[None].astype(float))[0]
    expected = cv2.getRectSubPix(image, (1, 1), (float(source[0]), float(source[1])))[0, 0]
    assert np.allclose(crop[eye[1], eye[0]], expected, atol=1e-4)


def test_align_reduces_large_faces_without_aliasing_but_keeps_geometry():
    # A fine checkerboard shrunk 8x: plain bilinear sampling aliases into strong patterns, area
    # averaging gives flat gray. The landmark mapping must stay the same either way.
    yy, xx = np.mgrid[0:1200, 0:1200]
    board = np.repeat((((yy // 2) + (xx // 2)) % 2).astype(np.float32)[..., None], 3, axis=2)
    landmarks = _apply(_similarity(10.0, 8.0, 600.0, 600.0), FFHQ_TEMPLATE * 128 - 64)
    crop, affine = align(board, landmarks, 128)
    assert abs(float(crop.mean()) - 0.5) < 0.02 and float(crop.std()) < 0.05
    assert np.allclose(_apply(affine, landmarks), template_points(128), atol=1e-6)


def test_scale_affine_follows_cv2_resize_pixel_centres():
    affine = _similarity(12.0, 0.8, 5.0, -3.0)
    point = np.array([[37.0, 21.0]])
    for factor in (2.0, (3.0, 1.5)):
        fx, fy = np.broadcast_to(np.asarray(factor, dtype=float), (2,))
        moved = np.array([[(point[0, 0] + 0.5) * fx - 0.5, (point[0, 1] + 0.5) * fy - 0.5]])
        assert np.allclose(_apply(scale_affine(affine, factor), moved), _apply(affine, point))
