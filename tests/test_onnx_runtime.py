"""ONNX export (dynamic batch, height, width) and ONNX Runtime inference within 1 grey level of torch fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import hifacegan
from hifacegan.cli import main
from hifacegan.models.checkpoint import model_card_for, save_model
from hifacegan.restorer import Restorer

pytest.importorskip("onnx", reason="ONNX export needs the [onnx] extra (pip install -e '.[onnx]')")
pytest.importorskip("onnxscript", reason="ONNX export needs the [onnx] extra (pip install -e '.[onnx]')")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    """A lipspade ngf-8 generator with random weights, saved with a model card (face size 64)."""
    torch.manual_seed(3)
    model = hifacegan.create_model("lipspade", ngf=8)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(path, model, model_card_for(model, "lipspade", 8, size=64))
    return path


@pytest.fixture(scope="module")
def exported(tiny_file, tmp_path_factory):
    """The file ``hifacegan export-onnx`` writes (exporting takes seconds: once per module)."""
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    assert main(["export-onnx", str(tiny_file), str(path)]) == 0
    return path


def _crops(shape: tuple[int, int], count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(count)]


@pytest.mark.parametrize(("shape", "count"), [((64, 64), 1), ((96, 160), 2), ((50, 70), 1), ((128, 64), 3)])
def test_onnx_outputs_are_within_one_grey_level_of_torch(tiny_file, exported, shape, count):
    from hifacegan.onnx_runtime import load_onnx

    crops = _crops(shape, count, seed=shape[0])
    torch_out = hifacegan.restore_faces(hifacegan.load_model(tiny_file), crops, precision="fp32")
    onnx_out = hifacegan.restore_faces(load_onnx(exported), crops)
    for a, b in zip(onnx_out, torch_out, strict=True):
        assert a.shape == b.shape == (*shape, 3)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_the_model_card_travels_in_the_file(exported):
    from hifacegan.onnx_runtime import load_onnx

    generator = load_onnx(exported)
    assert generator.model_card["size"] == 64 and generator.model_card["variant"] == "lipspade"
    restorer = Restorer(exported, "cpu")  # an .onnx path picks ONNX Runtime by itself
    assert restorer.runtime == "onnx" and restorer.face_size == 64


def test_onnx_refuses_what_it_cannot_honour(exported):
    with pytest.raises(ValueError, match="runs fp32"):
        Restorer(exported, "cpu", runtime="onnx", precision="bf16")
    with pytest.raises(ValueError, match="unknown runtime"):
        Restorer(exported, "cpu", runtime="tensorrt")


def test_a_broken_onnx_file_is_a_clear_error(tmp_path):
    from hifacegan.onnx_runtime import load_onnx

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(ValueError, match="not a usable ONNX model"):
        load_onnx(bad)


def test_cli_export_then_restore_with_onnx_runtime(tiny_file, exported, tmp_path, caplog):
    onnx_path = exported
    assert main(["export-onnx", str(tiny_file), str(tmp_path / "tiny.bin")]) == 2
    src = tmp_path / "in"
    src.mkdir()
    crop = _crops((64, 64), 1, seed=7)[0]
    Image.fromarray(crop).save(src / "face.png")
    for runtime, model in (("onnx", onnx_path), ("torch", tiny_file)):
        rc = main(["restore", str(src), "-o", str(tmp_path / runtime), "--aligned", "--model", str(model),
                   "--runtime", runtime, "--precision", "fp32", "--device", "cpu"])
        assert rc == 0
    a, b = (np.asarray(Image.open(tmp_path / r / "restored_faces" / "face.png")).astype(int) for r in ("onnx", "torch"))
    assert a.shape == (64, 64, 3) and np.abs(a - b).max() <= 1
    assert main(["restore", str(src), "-o", str(tmp_path / "x"), "--aligned", "--model", str(onnx_path),
                 "--precision", "bf16"]) == 2
    assert "runs fp32" in caplog.text
