"""ONNX export (dynamic batch, height, width) and ONNX Runtime inference within 1 grey level of torch fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tiny_model import save_tiny_generator
from PIL import Image

import hifacegan
from hifacegan.cli import main
from hifacegan.restorer import Restorer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    """A lipspade ngf-8 generator with random weights, saved with a model card (face size 64)."""
    return save_tiny_generator(tmp_path_factory.mktemp("model") / "tiny.safetensors", "lipspade", seed=3)


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


@pytest.fixture
def auto_runtime(tmp_path, monkeypatch):
    """The user's default on a CPU without native bf16 (elsewhere auto compiles: tests/test_aoti.py):
    HIFACEGAN_RUNTIME unset, and a fresh cache folder (returned)."""
    from hifacegan import inference

    monkeypatch.delenv("HIFACEGAN_RUNTIME", raising=False)
    monkeypatch.delenv("HIFACEGAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(inference, "cpu_has_fast_bf16", lambda: False)
    return tmp_path / "cache" / "hifacegan" / "onnx"


def test_auto_runtime_exports_a_model_file_once_and_reuses_it(tiny_file, auto_runtime, monkeypatch):
    from hifacegan import onnx_runtime

    first = Restorer(tiny_file, "cpu")
    assert first.runtime == "onnx"
    (cached,) = auto_runtime.iterdir()
    assert cached == onnx_runtime.cached_onnx_path(tiny_file) and first.face_size == 64  # the card came along
    # The second Restorer must load the cached file, not export (nor even load the torch weights).
    monkeypatch.setattr(onnx_runtime, "export_onnx", lambda *a, **k: pytest.fail("exported twice"))
    second = Restorer(tiny_file, "cpu")
    assert second.runtime == "onnx" and second.model.path == cached
    crops = _crops((64, 64), 2, seed=11)
    torch_out = hifacegan.restore_faces(hifacegan.load_model(tiny_file), crops, precision="fp32")
    for a, b in zip(second.restore_faces([c.astype(np.float32) / 255 for c in crops]), torch_out, strict=True):
        assert np.abs(np.round(a * 255).astype(int) - b.astype(int)).max() <= 1


def test_auto_runtime_reexports_a_changed_or_damaged_file(tiny_file, auto_runtime, tmp_path):
    Restorer(tiny_file, "cpu")
    (cached,) = auto_runtime.iterdir()
    cached.write_bytes(b"truncated")  # a damaged cache file is exported again, not an error
    assert Restorer(tiny_file, "cpu").runtime == "onnx" and cached.stat().st_size > 1000
    # other weights under the same name: a new cache entry
    other = save_tiny_generator(tmp_path / "tiny.safetensors", "lipspade", seed=4)
    Restorer(other, "cpu")
    assert len(list(auto_runtime.iterdir())) == 2


@pytest.mark.parametrize("case", ["bf16", "fidelity", "module", "no exporter", "unwritable cache", "env"])
def test_auto_runtime_runs_pytorch_where_onnx_does_not_suit(tiny_file, auto_runtime, monkeypatch, case):
    from hifacegan import onnx_runtime

    kwargs: dict = {}
    model: object = tiny_file
    if case == "bf16":  # where bf16 cannot be compiled (tests/test_aoti.py covers where it can)
        from hifacegan import compiled

        monkeypatch.setattr(compiled, "cpu_compiler_available", lambda: False)
        kwargs["precision"] = "bf16"
    elif case == "fidelity":
        kwargs["fidelity_weight"] = 0.5
    elif case == "module":
        model = hifacegan.load_model(tiny_file)
    elif case == "no exporter":
        monkeypatch.setattr(onnx_runtime, "can_export_onnx", lambda: False)
    elif case == "unwritable cache":
        blocker = auto_runtime.parent.parent / "file"
        blocker.parent.mkdir(parents=True)
        blocker.write_text("a file where the cache folder would go")
        monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    else:
        monkeypatch.setenv("HIFACEGAN_RUNTIME", "torch")
    restorer = Restorer(model, "cpu", **kwargs)
    assert restorer.runtime == "torch" and isinstance(restorer.model, torch.nn.Module)
    assert not auto_runtime.exists() or not list(auto_runtime.iterdir())


def test_auto_runtime_keeps_the_loaders_message_for_a_bad_checkpoint(auto_runtime, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(hifacegan.CheckpointError):
        Restorer(bad, "cpu")
