"""restore's GFPGAN-style flags: --suffix, --ext, --only-center-face, --upscale/-s with --bg, -w, and their aliases."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hifacegan.restorer as restorer_module
from hifacegan.cli import build_parser, main
from hifacegan.faces.align import FFHQ_TEMPLATE
from hifacegan.faces.detect import DetectedFace

pytestmark = pytest.mark.usefixtures("one_torch_thread")
H, W = 160, 240


@pytest.fixture(autouse=True)
def _info_logs(caplog):
    caplog.set_level(logging.INFO)



def _face(cx: float, cy: float, eye_distance: float = 16.0) -> DetectedFace:
    scale = eye_distance / (FFHQ_TEMPLATE[1, 0] - FFHQ_TEMPLATE[0, 0])
    landmarks = (FFHQ_TEMPLATE - 0.5) * scale + (cx, cy)
    return DetectedFace(np.array([cx - scale / 2, cy - scale / 2, cx + scale / 2, cy + scale / 2]), landmarks, 0.9)


CENTRE, SIDE = _face(W / 2, H / 2), _face(36, 36)  # boxes 65 px wide, apart


@pytest.fixture
def two_faces(monkeypatch):
    monkeypatch.setattr(restorer_module, "default_detector", lambda: (lambda image: [SIDE, CENTRE]))


def _photo(path: Path) -> Path:
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([x * 255 // W, y * 255 // H, 120 + 60 * np.sin(x / 5.0)], 2).astype(np.uint8)
    Image.fromarray(rgb).save(path, quality=95)
    return path


def _restore(tmp_path: Path, model: Path, *flags: str, name: str = "p.jpg") -> tuple[int, Path]:
    out = tmp_path / "out"
    return main(["restore", str(_photo(tmp_path / name)), "-o", str(out), "--model", str(model), "--device", "cpu",
                 *flags]), out


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_suffix_is_appended_to_restored_photos_and_faces_as_gfpgan_does(tmp_path, tiny_model_file, two_faces):
    rc, out = _restore(tmp_path, tiny_model_file, "--suffix", "v2")
    assert rc == 0
    assert _names(out / "restored_imgs") == ["p_v2.jpg"]
    assert _names(out / "restored_faces") == ["p_0_v2.png", "p_1_v2.png"]
    assert _names(out / "cropped_faces") == ["p_0.png", "p_1.png"]  # GFPGAN leaves these unsuffixed
    assert _names(out / "cmp") == ["p_0.png", "p_1.png"]


def test_suffix_with_aligned_crops(tmp_path, tiny_model_file):
    rc, out = _restore(tmp_path, tiny_model_file, "--aligned", "--suffix", "x", name="crop.png")
    assert rc == 0 and _names(out / "restored_faces") == ["crop_x.png"]


@pytest.mark.parametrize(("ext", "expected"), [("auto", "p.jpg"), ("png", "p.png"), ("jpg", "p.jpg")])
def test_ext_chooses_the_photo_format_as_gfpgan(tmp_path, tiny_model_file, two_faces, ext, expected):
    rc, out = _restore(tmp_path, tiny_model_file, "--ext", ext)
    assert rc == 0 and _names(out / "restored_imgs") == [expected]
    with Image.open(out / "restored_imgs" / expected) as written:
        assert written.format == {"p.jpg": "JPEG", "p.png": "PNG"}[expected]


@pytest.mark.parametrize("flag", ["--only-center-face", "--only_center_face"])
def test_only_center_face_restores_the_face_nearest_the_centre(tmp_path, tiny_model_file, two_faces, flag, caplog):
    rc, out = _restore(tmp_path, tiny_model_file, flag, "--ext", "png")
    assert rc == 0 and _names(out / "restored_faces") == ["p_0.png"]
    source = np.asarray(Image.open(tmp_path / "p.jpg")).astype(np.float32)
    restored = np.asarray(Image.open(out / "restored_imgs" / "p.png")).astype(np.float32)

    def changed(face: DetectedFace) -> float:
        x0, y0, x1, y1 = (int(v) for v in face.box)
        return float(np.abs(restored[y0:y1, x0:x1] - source[y0:y1, x0:x1]).mean())

    assert changed(CENTRE) > 5.0 and changed(SIDE) < 1.0
    assert "2 faces found, restored 1 (--only-center-face)" in caplog.text


def test_upscale_with_the_model_background_differs_from_lanczos_and_keeps_the_size(tmp_path, tiny_model_file,
                                                                                   monkeypatch):
    monkeypatch.setattr(restorer_module, "default_detector", lambda: (lambda image: []))  # background only
    outputs = {}
    for bg in ("lanczos", "model"):
        (tmp_path / bg).mkdir()
        rc, out = _restore(tmp_path / bg, tiny_model_file, "-s", "2", "--bg", bg, "--bg-tile", "128", "--ext", "png")
        assert rc == 0
        outputs[bg] = np.asarray(Image.open(out / "restored_imgs" / "p.png")).astype(np.float32)
        assert outputs[bg].shape == (2 * H, 2 * W, 3)
    source = np.asarray(Image.open(tmp_path / "lanczos" / "p.jpg").convert("RGB").resize((2 * W, 2 * H),
                                                                                         Image.LANCZOS))
    assert np.abs(outputs["lanczos"] - source).mean() < 3.0  # a plain enlargement
    assert np.abs(outputs["model"] - outputs["lanczos"]).mean() > 5.0  # the network redrew the background


def test_gfpgan_short_options_and_bad_tile_sizes():
    parser = build_parser()
    args = parser.parse_args(["restore", "in.jpg", "-o", "out", "-s", "3", "-w", "0.5", "--bg-tile", "0"])
    assert (args.upscale, args.weight, args.bg, args.bg_tile, args.suffix) == (3.0, 0.5, "lanczos", 0, None)
    for bad in ("8", "-5", "big"):
        with pytest.raises(SystemExit):
            parser.parse_args(["restore", "in.jpg", "-o", "out", "--bg-tile", bad])
