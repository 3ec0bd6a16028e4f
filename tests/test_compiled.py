"""torch.compile path (Restorer(compile=True), restore --compile): same faces as eager, eager where compiling fails."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from _tiny_model import save_tiny_generator

import hifacegan
from hifacegan import compiled as compiled_module
from hifacegan.compiled import CompiledGenerator
from hifacegan.restorer import Restorer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return save_tiny_generator(tmp_path_factory.mktemp("model") / "tiny.safetensors", "lipspade", seed=5)


def _crops(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(count)]


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler (apt install g++)")
def test_compiled_faces_match_eager_bf16(tiny_file, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    restorer = Restorer(tiny_file, "cpu", runtime="torch", precision="bf16", compile=True)
    assert restorer.compiled and isinstance(restorer.model, CompiledGenerator)
    crops = _crops(3, seed=1)  # three faces of one size: one compilation, one face per call
    eager_model = hifacegan.load_model(tiny_file)
    exact = np.stack(hifacegan.restore_faces(eager_model, crops, precision="fp32")).astype(float)
    eager = np.stack(hifacegan.restore_faces(eager_model, crops, precision="bf16")).astype(float)
    fast = np.stack(hifacegan.restore_faces(restorer.model, crops, precision="bf16")).astype(float)
    assert not restorer.model.failed and fast.shape == eager.shape == (3, 64, 64, 3)
    # Fused kernels round bf16 differently from eager ones; random ngf-8 weights amplify that to a few grey
    # levels at single pixels (docs/speed.md, "Quality cost of bf16"), but on average both stay as close to fp32.
    assert np.abs(fast - eager).mean() < 0.5
    assert psnr(fast, exact) > psnr(eager, exact) - 1.0 > 35


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)))


def test_a_failing_compile_falls_back_to_eager_once(tiny_file, monkeypatch, caplog):
    calls = []

    def broken_compile(module, **kwargs):
        def run(images):
            calls.append(images.shape[0])
            raise RuntimeError("no C++ compiler found")
        return run

    monkeypatch.setattr(compiled_module.torch, "compile", broken_compile)
    generator = CompiledGenerator(hifacegan.load_model(tiny_file))
    crops = _crops(2, seed=2)
    with caplog.at_level(logging.WARNING, logger="hifacegan.compiled"):
        first = hifacegan.restore_faces(generator, crops, precision="bf16")
        second = hifacegan.restore_faces(generator, crops, precision="bf16")
    eager = hifacegan.restore_faces(hifacegan.load_model(tiny_file), crops, precision="bf16")
    assert generator.failed and calls == [1]  # tried once, then eager for good
    assert caplog.text.count("torch.compile failed") == 1 and "no C++ compiler" in caplog.text
    for a, b, c in zip(first, second, eager, strict=True):
        assert np.array_equal(a, c) and np.array_equal(b, c)


def test_compile_only_where_it_helps(tiny_file):
    assert not Restorer(tiny_file, "cpu", runtime="torch", precision="fp32", compile=True).compiled
    with pytest.raises(ValueError, match="cannot compile"):
        Restorer(tiny_file, "cpu", runtime="onnx", compile=True)
    restorer = Restorer(tiny_file, "cpu", precision="bf16", compile=True)  # runtime auto -> PyTorch
    assert restorer.runtime == "torch" and restorer.face_size == 64  # the card passes through the wrapper


def _args(**overrides):
    from hifacegan.jobs import ModelSettings  # what restore's --compile, --runtime, --model, -w... become

    values = {"compile": None, "runtime": None, "model": None, "fidelity_weight": 0.0, "device": "cpu",
              "precision": "auto"}
    return ModelSettings(**{**values, **overrides})


@pytest.mark.parametrize(("overrides", "photos", "videos", "env", "expected"), [
    ({}, 16, 0, None, True),                        # a folder on a bf16 CPU with a compiler
    ({}, 15, 0, None, False),                       # too few faces to repay compiling
    ({}, 1, 1, None, True),                         # a video: hundreds of frames
    ({"precision": "fp32"}, 40, 0, None, False),    # compiled fp32 was no faster
    ({"runtime": "onnx"}, 40, 0, None, False),
    ({"model": "m.onnx"}, 40, 0, None, False),
    ({"fidelity_weight": 0.5}, 40, 0, None, False),
    ({"compile": True}, 1, 0, "0", True),           # the flag beats the environment
    ({"compile": False}, 40, 0, "1", False),
    ({}, 1, 0, "1", True),                          # HIFACEGAN_COMPILE=1 beats the photo count
    ({}, 40, 0, "0", False),
])
def test_restore_compiles_by_default_only_where_it_pays(monkeypatch, overrides, photos, videos, env, expected):
    from hifacegan import inference
    from hifacegan.jobs import choose_compile

    monkeypatch.setattr(inference, "cpu_has_fast_bf16", lambda: True)
    monkeypatch.setattr(compiled_module, "cpu_compiler_available", lambda: True)
    if env is None:
        monkeypatch.delenv("HIFACEGAN_COMPILE", raising=False)
    else:
        monkeypatch.setenv("HIFACEGAN_COMPILE", env)
    assert choose_compile(_args(**overrides), photos, videos) is expected


def test_restore_does_not_compile_without_fast_bf16_or_a_compiler(monkeypatch):
    from hifacegan import inference
    from hifacegan.jobs import choose_compile

    monkeypatch.delenv("HIFACEGAN_COMPILE", raising=False)
    monkeypatch.setattr(compiled_module, "cpu_compiler_available", lambda: True)
    monkeypatch.setattr(inference, "cpu_has_fast_bf16", lambda: False)
    assert choose_compile(_args(), 40, 0) is False  # fp32 on this CPU: nothing to gain
    monkeypatch.setattr(inference, "cpu_has_fast_bf16", lambda: True)
    monkeypatch.setattr(compiled_module, "cpu_compiler_available", lambda: False)
    assert choose_compile(_args(), 40, 0) is False
