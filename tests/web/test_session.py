"""The page's work without a browser: limits, per-file messages, outputs, model choice (hifacegan.web.session)."""

from __future__ import annotations

import os
import struct
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hifacegan.faces.align import FFHQ_TEMPLATE
from hifacegan.faces.detect import DetectedFace
from hifacegan.io import read_image
from hifacegan.web.session import (
    DEFAULT_MODEL_LABEL,
    RestoreOptions,
    RestorerPool,
    ServeLimits,
    prune_runs,
    restore_uploads,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")



class CenterFaceDetector:
    """A stand-in detector: one face in the middle of every image, 40% of its width between the eyes."""

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        h, w = image.shape[:2]
        scale = 0.4 * w / (FFHQ_TEMPLATE[1, 0] - FFHQ_TEMPLATE[0, 0])
        landmarks = (FFHQ_TEMPLATE - 0.5) * scale + (w / 2, h / 2)
        return [DetectedFace(np.array([w / 2 - scale / 2, h / 2 - scale / 2, w / 2 + scale / 2, h / 2 + scale / 2]),
                             landmarks, 0.99)]


def _photo(path: Path, h: int = 96, w: int = 128, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 90)], 2)
    Image.fromarray(np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)).save(path)
    return path


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width x height`` with no pixels: refused from the header alone."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_bad_uploads_get_messages_and_the_good_photos_are_still_restored(tmp_path, tiny_model_file):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    good = [_photo(uploads / "first.png"), _photo(uploads / "second.jpg", 80, 100, seed=1)]
    not_image = uploads / "notes.png"
    not_image.write_text("this is a text file with an image's name\n")
    truncated = uploads / "cut.jpg"
    truncated.write_bytes(_photo(tmp_path / "whole.jpg", 200, 200).read_bytes()[:600])
    oversized = uploads / "huge.png"
    oversized.write_bytes(os.urandom(300_000))  # over the 0.2 MB limit below, whatever its content
    bomb = _png_header_only(uploads / "bomb.png", 3000, 1000)
    before = {p: p.read_bytes() for p in uploads.iterdir()}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    pool = RestorerPool(str(tiny_model_file), device="cpu", detector=CenterFaceDetector())

    report = restore_uploads([good[0], not_image, truncated, oversized, bomb, good[1]], RestoreOptions(), pool,
                             run_dir, ServeLimits(max_upload_mb=0.2, max_megapixels=2))

    assert [p.name for p in report.photos] == ["first.png", "second.jpg"]
    messages = dict(line.split(": ", 1) for line in report.messages)
    assert messages["first.png"].startswith("1 face restored")
    assert "not a readable image" in messages["notes.png"]
    assert "not a readable image" in messages["cut.jpg"]
    assert "over this page's upload limit of 0.2 MB" in messages["huge.png"]
    assert "3.0 MP exceeds the limit of 2 MP" in messages["bomb.png"]
    assert all(str(uploads) not in line for line in report.messages), "server paths must not reach the page"
    for photo, source in zip(report.photos, good, strict=True):
        after = read_image(photo.after).rgb
        original = read_image(source).rgb
        assert after.shape == original.shape == read_image(photo.before).rgb.shape
        assert np.abs(after - original).mean() > 1e-3, "the face region must have been restored"
        assert len(photo.faces) == 1 and all(p.is_file() for p in photo.faces[0])
    assert {p: p.read_bytes() for p in uploads.iterdir()} == before, "uploads are never modified"
    assert all(run_dir in p.parents for p in report.downloads)
    with zipfile.ZipFile(report.downloads[-1]) as archive:
        names = set(archive.namelist())
    assert {"restored_imgs/first.png", "restored_faces/first_0.png", "cropped_faces/second_0.png",
            "cmp/second_0.png"} <= names
    assert not any(n.startswith("inputs/") for n in names)


def test_upscale_and_aligned_crops(tmp_path, tiny_model_file):
    photo = _photo(tmp_path / "p.png", 64, 80)
    pool = RestorerPool(str(tiny_model_file), device="cpu", detector=CenterFaceDetector())
    limits = ServeLimits()

    report = restore_uploads([photo], RestoreOptions(upscale=2), pool, tmp_path / "a", limits)
    assert read_image(report.photos[0].after).size == read_image(report.photos[0].before).size == (128, 160)

    report = restore_uploads([photo], RestoreOptions(aligned=True), pool, tmp_path / "b", limits)
    assert report.messages[0].startswith("p.png: restored as one aligned 80x64 face")
    assert read_image(report.photos[0].after).size == (64, 80)


def test_aligned_crops_have_the_command_lines_smaller_pixel_bound(tmp_path, tiny_model_file):
    crop = _png_header_only(tmp_path / "big_crop.png", 2500, 2000)  # 5 MP: over 4 MP for crops, under 25 MP
    pool = RestorerPool(str(tiny_model_file), device="cpu", detector=CenterFaceDetector())
    report = restore_uploads([crop], RestoreOptions(aligned=True), pool, tmp_path / "run", ServeLimits())
    assert "5.0 MP exceeds the limit of 4 MP" in report.messages[0]
    assert ServeLimits().max_pixels(aligned=False) == 25_000_000


def test_a_model_that_is_not_shipped_is_a_message_not_a_crash(tmp_path, monkeypatch):
    from hifacegan.models import pretrained

    monkeypatch.setitem(pretrained.MODEL_ALIASES, "renovation", None)  # as in a version without its weights
    photo = _photo(tmp_path / "p.png")
    pool = RestorerPool(None, device="cpu", detector=CenterFaceDetector())
    report = restore_uploads([photo], RestoreOptions(model="renovation"), pool, tmp_path / "run", ServeLimits())
    assert report.photos == []
    assert report.messages == [report.messages[0]] and report.messages[0].startswith("Model 'renovation' cannot")
    assert "not shipped with this version" in report.messages[0]


def test_one_restorer_per_model_and_the_weight_knob_reuses_it(tiny_model_file):
    pool = RestorerPool(str(tiny_model_file), device="cpu")
    plain = pool.get(DEFAULT_MODEL_LABEL, 0.0)
    assert pool.get(DEFAULT_MODEL_LABEL, 0.0) is plain
    mixed = pool.get(DEFAULT_MODEL_LABEL, 0.3)
    assert mixed is not plain and mixed.model.weight == pytest.approx(0.3)
    assert pool.get(DEFAULT_MODEL_LABEL, 0.7) is mixed and mixed.model.weight == pytest.approx(0.7)


def test_empty_upload_and_bad_options(tmp_path, tiny_model_file):
    pool = RestorerPool(str(tiny_model_file), device="cpu")
    assert restore_uploads([], RestoreOptions(), pool, tmp_path, ServeLimits()).messages[0].startswith("No file")
    report = restore_uploads([_photo(tmp_path / "p.png")], RestoreOptions(weight=2), pool, tmp_path, ServeLimits())
    assert report.photos == [] and "weight 2" in report.messages[0]


def test_prune_runs_removes_only_old_runs(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    for run in (old, new):
        run.mkdir()
        (run / "x.png").write_bytes(b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    prune_runs(tmp_path, 3600)
    assert not old.exists() and (new / "x.png").is_file()


def test_two_uploads_of_one_name_are_told_apart(tmp_path, tiny_model_file):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    photos = [_photo(tmp_path / "a" / "me.png"), _photo(tmp_path / "b" / "me.png", seed=3)]
    pool = RestorerPool(str(tiny_model_file), device="cpu", detector=CenterFaceDetector())
    report = restore_uploads(photos, RestoreOptions(), pool, tmp_path / "run", ServeLimits())
    assert [p.name for p in report.photos] == ["me.png", "me-2.png"]
    assert report.photos[0].after != report.photos[1].after and report.photos[1].after.is_file()
