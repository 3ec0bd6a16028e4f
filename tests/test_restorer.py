"""``Restorer.enhance``: faces found, aligned, restored in one batch and pasted back where they were."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import hifacegan
from hifacegan.faces.align import FFHQ_TEMPLATE, align, scale_affine, similarity_transform
from hifacegan.faces.detect import DetectedFace
from hifacegan.faces.paste import face_mask, paste, paste_region
from hifacegan.restorer import Restorer, resolve_device, to_float_rgb

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SIZE = 64  # crop size of the tiny test model: keeps every test well under a second


class FixedDetector:
    """Returns the given faces for every image, and counts calls."""

    def __init__(self, faces: list[DetectedFace]) -> None:
        self.faces = faces
        self.calls = 0

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        self.calls += 1
        return list(self.faces)


def _face(center: tuple[float, float], eye_distance: float, angle_deg: float = 0.0) -> DetectedFace:
    a = math.radians(angle_deg)
    scale = eye_distance / (FFHQ_TEMPLATE[1, 0] - FFHQ_TEMPLATE[0, 0])
    rotation = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    landmarks = (FFHQ_TEMPLATE - 0.5) @ rotation.T + center
    half = 0.5 * scale
    box = np.array([center[0] - half, center[1] - half, center[0] + half, center[1] + half])
    return DetectedFace(box=box, landmarks=landmarks, score=0.99)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = hifacegan.prepare_for_inference(hifacegan.create_model("test_hifacegan"))
    model.model_card = {"size": SIZE}
    return model


def _photo(h: int = 200, w: int = 260) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([0.5 + 0.3 * np.sin(x / 19), 0.5 + 0.3 * np.cos(y / 13), 0.4 + 0.2 * np.sin((x - y) / 29)], axis=2)


def test_faces_are_restored_in_place_and_nothing_else_changes(tiny_model):
    photo = _photo()
    face = _face((130.0, 100.0), 40.0, angle_deg=20.0)
    detector = FixedDetector([face])
    result = Restorer(tiny_model, "cpu", detector=detector, precision="fp32").enhance(photo)
    assert detector.calls == 1 and result.faces_detected == 1
    crop, affine = align(photo, face.landmarks, SIZE)
    assert np.array_equal(result.cropped_faces[0], crop)
    assert np.allclose(result.affines[0], affine)
    # The restored crop is the model's output for that crop...
    expected_face = hifacegan.restore_tensor(tiny_model, torch.from_numpy(crop.transpose(2, 0, 1))[None])[0]
    assert np.allclose(result.restored_faces[0], expected_face.numpy().transpose(1, 2, 0), atol=1e-5)
    # ...pasted back with the soft mask exactly where the face was, and only there.
    assert np.allclose(result.image, paste(photo, result.restored_faces[0], affine, face_mask(SIZE)), atol=1e-6)
    x0, y0, x1, y1 = paste_region(photo.shape[:2], affine, SIZE)
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(result.image[outside], photo[outside])
    assert np.abs(result.image[100, 130] - photo[100, 130]).max() > 1e-3  # the face centre did change
    assert np.allclose(result.landmarks[0], face.landmarks) and np.allclose(result.boxes[0], face.box)


def test_upscale_pastes_faces_onto_the_resized_photo_at_the_same_place(tiny_model):
    photo = _photo()
    face = _face((120.0, 90.0), 36.0)
    restorer = Restorer(tiny_model, "cpu", detector=FixedDetector([face]))
    plain = restorer.enhance(photo)
    big = restorer.enhance(photo, upscale=2)
    assert big.image.shape == (400, 520, 3)
    background = np.clip(cv2.resize(photo, (520, 400), interpolation=cv2.INTER_CUBIC), 0, 1)
    expected = paste(background, plain.restored_faces[0], scale_affine(plain.affines[0], 2), face_mask(SIZE))
    assert np.allclose(big.image, expected, atol=1e-6)


def test_all_faces_go_through_the_model_in_one_batch(tiny_model, monkeypatch):
    import hifacegan.inference as inference_module

    batches = []
    real = inference_module.restore_tensor

    def spy(model, images, batch_size=8, **kwargs):
        batches.append(images.shape[0])
        return real(model, images, batch_size, **kwargs)

    monkeypatch.setattr(inference_module, "restore_tensor", spy)
    faces = [_face((60.0, 60.0), 30.0), _face((190.0, 70.0), 34.0), _face((120.0, 150.0), 26.0)]
    result = Restorer(tiny_model, "cpu", detector=FixedDetector(faces)).enhance(_photo())
    assert batches == [3] and len(result.restored_faces) == 3


def test_max_faces_keeps_the_largest_and_center_face_the_central_one(tiny_model):
    faces = [_face((60.0, 60.0), 20.0), _face((190.0, 70.0), 40.0), _face((128.0, 105.0), 30.0)]
    restorer = Restorer(tiny_model, "cpu", detector=FixedDetector(faces))
    two = restorer.enhance(_photo(), max_faces=2)
    assert two.faces_detected == 3 and len(two.restored_faces) == 2
    assert sorted(b[2] - b[0] for b in two.boxes) == sorted(f.box[2] - f.box[0] for f in faces[1:])
    center = restorer.enhance(_photo(), only_center_face=True)
    assert len(center.restored_faces) == 1 and np.allclose(center.boxes[0], faces[2].box)


def test_no_face_copies_the_photo_through(tiny_model):
    photo = _photo()
    result = Restorer(tiny_model, "cpu", detector=FixedDetector([])).enhance(photo)
    assert result.faces_detected == 0 and result.restored_faces == [] and result.boxes.shape == (0, 4)
    assert np.array_equal(result.image, photo) and result.image is not photo


def test_input_kinds_numpy_uint8_uint16_float_and_pil_agree(tiny_model):
    from PIL import Image

    restorer = Restorer(tiny_model, "cpu", detector=FixedDetector([_face((130.0, 100.0), 40.0)]))
    as_uint8 = np.rint(_photo() * 255).astype(np.uint8)
    reference = restorer.enhance(as_uint8).image
    assert np.allclose(restorer.enhance(as_uint8.astype(np.float32) / 255).image, reference, atol=1e-6)
    assert np.allclose(restorer.enhance(as_uint8.astype(np.uint16) * 257).image, reference, atol=1e-6)
    assert np.allclose(restorer.enhance(Image.fromarray(as_uint8)).image, reference, atol=1e-6)
    pil = restorer.enhance(Image.fromarray(as_uint8)).to_pil()
    assert pil.mode == "RGB" and pil.size == (260, 200)


def test_grayscale_stays_gray_and_alpha_is_kept(tiny_model):
    from PIL import Image

    restorer = Restorer(tiny_model, "cpu", detector=FixedDetector([_face((130.0, 100.0), 40.0)]))
    gray = np.rint(_photo()[..., 1] * 255).astype(np.uint8)
    for image in (gray, Image.fromarray(gray, "L")):
        result = restorer.enhance(image)
        assert result.was_gray
        assert np.array_equal(result.image[..., 0], result.image[..., 1])
        assert np.array_equal(result.image[..., 1], result.image[..., 2])
    alpha = np.linspace(0, 1, 200 * 260, dtype=np.float32).reshape(200, 260)
    rgba = np.dstack([_photo(), alpha])
    result = restorer.enhance(rgba)
    assert np.array_equal(result.alpha, alpha)
    assert restorer.enhance(rgba, upscale=2).alpha.shape == (400, 520)
    assert result.to_pil().mode == "RGBA"


def test_bad_images_and_options_raise_clear_errors(tiny_model):
    restorer = Restorer(tiny_model, "cpu", detector=FixedDetector([]))
    with pytest.raises(ValueError, match="divide 0-255 data by 255"):
        restorer.enhance(_photo() * 255)
    with pytest.raises(TypeError, match="NumPy array or a PIL image"):
        restorer.enhance("photo.jpg")
    with pytest.raises(TypeError, match="dtype"):
        restorer.enhance(np.zeros((8, 8, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="shape"):
        restorer.enhance(np.zeros((8, 8, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="empty"):
        restorer.enhance(np.zeros((0, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="upscale"):
        restorer.enhance(_photo(), upscale=0)
    with pytest.raises(ValueError, match="max_faces"):
        restorer.enhance(_photo(), max_faces=0)


@pytest.mark.parametrize("shape", [(1, 1, 3), (20, 48, 3), (96, 160, 3)])
def test_aligned_input_is_restored_whole_at_its_own_size(tiny_model, shape):
    detector = FixedDetector([])
    image = np.random.default_rng(0).random(shape, dtype=np.float32)
    result = Restorer(tiny_model, "cpu", detector=detector, precision="fp32").enhance(image, aligned=True)
    assert detector.calls == 0
    assert result.image.shape == shape and len(result.restored_faces) == 1
    if min(shape[:2]) >= 64:
        direct = hifacegan.restore_tensor(tiny_model, torch.from_numpy(image.transpose(2, 0, 1))[None])[0]
        assert np.allclose(result.image, direct.numpy().transpose(1, 2, 0), atol=1e-5)


def test_model_from_a_file_takes_crop_size_and_template_from_its_card(tmp_path, tiny_model):
    from hifacegan.models.checkpoint import model_card_for, save_model

    model = hifacegan.create_model("test_hifacegan")
    template = [[0.3, 0.3], [0.7, 0.3], [0.5, 0.5], [0.33, 0.7], [0.67, 0.7]]
    card = model_card_for(model, "hifacegan", 8, size=96, face_template=template)
    save_model(tmp_path / "tiny.safetensors", model, card)
    restorer = Restorer(tmp_path / "tiny.safetensors", "cpu", detector=FixedDetector([_face((130.0, 100.0), 40.0)]))
    assert restorer.face_size == 96 and np.allclose(restorer.template, template)
    result = restorer.enhance(_photo())
    assert result.cropped_faces[0].shape == (96, 96, 3)
    assert np.allclose(result.affines[0], similarity_transform(result.landmarks[0], np.asarray(template) * 96))
    official = Restorer(tiny_model, "cpu", face_size=None)
    assert official.face_size == SIZE and np.allclose(official.template, FFHQ_TEMPLATE)


def test_no_default_model_says_so(monkeypatch):
    from hifacegan.models import pretrained

    monkeypatch.setattr(pretrained, "DEFAULT_MODEL_NAME", None)
    with pytest.raises(pretrained.NoDefaultModelError, match="no default model is shipped"):
        Restorer(device="cpu")


def test_devices_are_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="choose one of auto, cpu, cuda, mps"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_to_float_rgb_reports_gray_and_alpha():
    rgb, alpha, gray = to_float_rgb(np.full((4, 5, 4), 128, np.uint8))
    assert rgb.shape == (4, 5, 3) and alpha is not None and gray
    rgb, alpha, gray = to_float_rgb(np.dstack([np.zeros((4, 5)), np.ones((4, 5)), np.zeros((4, 5))]))
    assert alpha is None and not gray and rgb.dtype == np.float32


def test_a_real_face_in_a_photo_is_detected_and_restored_in_place(real_detector, tiny_model):
    """End to end with the real detector: a FFHQ-aligned face (landmarks = template) put into a scene."""
    faces_dir = SHARED / "data" / "realworld" / "cropped_faces"
    if not faces_dir.exists():
        pytest.skip(f"needs the project's shared data at {faces_dir} (present in CI, absent on user machines)")
    from PIL import Image

    face = np.asarray(Image.open(faces_dir / "Julia_Roberts_crop.png").convert("RGB"), dtype=np.float32) / 255
    angle, side, center = math.radians(-20.0), 200, np.array([250.0, 190.0])
    m = side / 512 * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    affine = np.hstack([m, (center - m @ [256, 256])[:, None]])
    scene = _photo(400, 520)
    inside = cv2.warpAffine(np.ones((512, 512), np.float32), affine, (520, 400))[..., None]
    scene = (inside * cv2.warpAffine(face, affine, (520, 400), flags=cv2.INTER_AREA) + (1 - inside) * scene)
    truth = FFHQ_TEMPLATE * 512 @ m.T + affine[:, 2]

    result = Restorer(tiny_model, "cpu").enhance(scene.astype(np.float32))
    assert result.faces_detected == 1
    error = np.linalg.norm(result.landmarks[0] - truth, axis=1).mean() / np.linalg.norm(truth[1] - truth[0])
    assert error < 0.15
    changed = np.abs(result.image - scene).max(axis=2) > 1e-6
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 0.25 * side * side
    # The restored pixels are centred where the face crop was put (the FFHQ crop's centre), none outside it.
    assert np.hypot(xs.mean() - center[0], ys.mean() - center[1]) < 0.05 * side
    assert np.hypot(xs - center[0], ys - center[1]).max() < 0.75 * side


def test_color_fix_follows_the_model_card_unless_told(tiny_model):
    image = _photo(64, 64)
    x = torch.from_numpy(image.transpose(2, 0, 1))[None]
    plain = hifacegan.restore_tensor(tiny_model, x)[0].permute(1, 2, 0).numpy()
    fixed = hifacegan.restore_tensor(tiny_model, x, color_fix=True)[0].permute(1, 2, 0).numpy()
    assert not np.allclose(plain, fixed, atol=1e-3)
    assert Restorer(tiny_model, "cpu").color_fix is False  # card without "color_fix"
    tiny_model.model_card = {"size": SIZE, "color_fix": True}
    by_card = Restorer(tiny_model, "cpu", precision="fp32")
    assert by_card.color_fix is True
    assert np.allclose(by_card.enhance(image, aligned=True).image, fixed, atol=1e-6)
    told_off = Restorer(tiny_model, "cpu", color_fix=False, precision="fp32")
    assert np.allclose(told_off.enhance(image, aligned=True).image, plain, atol=1e-6)


class _NaNModel(torch.nn.Module):
    """A generator whose weights went bad after loading (or a model passed in as a module): NaN out."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, float("nan"))


def test_a_non_finite_output_is_never_pasted():
    model = _NaNModel()
    model.model_card = {"size": SIZE}
    restorer = Restorer(model, device="cpu", detector=FixedDetector([_face((130.0, 100.0), 40.0)]))
    with pytest.raises(ValueError, match=r"non-finite values \(NaN or infinity\) for face\(s\) \[0\]"):
        restorer.enhance(_photo())
