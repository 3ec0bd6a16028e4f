"""The compiled package (hifacegan.aoti): built once into the cache, loaded afterwards, close to eager bf16,
and a failed build falls back after one warning.

Compiling even the tiny model takes 30-60 s on two busy cores, so the module compiles one face package and
shares it; the tests of failures, locking and fallbacks replace the compile step instead of running it.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time

import numpy as np
import pytest
import torch
from _tiny_model import save_tiny_generator

import hifacegan
from hifacegan import aoti, inference
from hifacegan.restorer import Restorer

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                       reason="compiling on the CPU needs a C++ compiler (apt install g++)"),
]


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return save_tiny_generator(tmp_path_factory.mktemp("model") / "tiny.safetensors", "lipspade", seed=6)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache folder of the module's own, and the automatic runtime (conftest pins PyTorch for other tests)."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HIFACEGAN_CACHE_DIR", str(folder))
        patch.delenv("HIFACEGAN_RUNTIME", raising=False)
        yield folder


@pytest.fixture(scope="module")
def compiled(tiny_file, cache):
    """A Restorer on the tiny model's face package, compiled here once for the whole module."""
    return Restorer(tiny_file, "cpu", runtime="aoti")


@pytest.fixture
def fast_bf16(monkeypatch):
    """The automatic runtime on a CPU with native bf16 (pretended, so it picks the package on any test machine)."""
    monkeypatch.delenv("HIFACEGAN_RUNTIME", raising=False)
    monkeypatch.setattr(inference, "cpu_has_fast_bf16", lambda: True)


def _crops(shape: tuple[int, int], count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(count)]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def test_the_package_restores_faces_as_eager_bf16_does(tiny_file, compiled):
    assert compiled.runtime == "aoti" and compiled.face_size == 64  # the card travelled in the package
    crops = _crops((64, 64), 3, seed=1)
    eager_model = hifacegan.load_model(tiny_file)
    exact = np.stack(hifacegan.restore_faces(eager_model, crops, precision="fp32"))
    eager = np.stack(hifacegan.restore_faces(eager_model, crops, precision="bf16"))
    fast = np.stack(hifacegan.restore_faces(compiled.model, crops))
    assert fast.shape == eager.shape == (3, 64, 64, 3)
    # Fused kernels round bf16 differently from eager ones; random ngf-8 weights amplify that to a few grey
    # levels at single pixels, but on average the package stays as close to fp32 as eager bf16 does.
    assert np.abs(fast.astype(float) - eager).mean() < 1.0
    assert _psnr(fast, exact) > _psnr(eager, exact) - 1.0 > 35


def test_later_restorers_load_the_package_without_compiling(tiny_file, compiled, cache, fast_bf16, monkeypatch):
    package = aoti.cached_package_path(tiny_file)
    built_at = package.stat().st_mtime_ns
    monkeypatch.setattr(aoti, "build_package", lambda *a, **k: pytest.fail("compiled a second time"))
    monkeypatch.setattr(hifacegan.restorer, "_load", lambda *a, **k: pytest.fail("loaded the torch weights"))
    again = Restorer(tiny_file, "cpu")  # the default runtime, on a CPU with native bf16
    assert again.runtime == "aoti" and again.face_size == 64
    assert package.stat().st_mtime_ns == built_at
    assert sorted(p.suffix for p in (cache / "aoti").iterdir()) == [".lock", ".pt2"]  # no temp files left
    crops = _crops((64, 64), 2, seed=2)
    assert np.array_equal(np.stack(hifacegan.restore_faces(again.model, crops)),
                          np.stack(hifacegan.restore_faces(compiled.model, crops)))


def test_faces_of_a_batch_run_side_by_side_in_order(tiny_file, compiled):
    if aoti._openmp_thread_setter() is None:
        pytest.skip("faces run side by side only where torch uses OpenMP (then one after the other)")
    crops = _crops((64, 64), 5, seed=8)  # distinct faces: a mix-up of the order would show
    one_by_one = np.stack([hifacegan.restore_faces(compiled.model, [crop])[0] for crop in crops]).astype(float)
    side_by_side = aoti.AotiGenerator(tiny_file, aoti._load_package(aoti.cached_package_path(tiny_file), runners=2),
                                      lambda: hifacegan.load_model(tiny_file), parallel_faces=2)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)  # two faces at once, one thread each
    try:
        together = np.stack(hifacegan.restore_faces(side_by_side, crops, batch_size=5)).astype(float)
        assert torch.get_num_threads() == 2  # the workers' thread counts stay theirs
    finally:
        torch.set_num_threads(previous)
    assert side_by_side._pool is not None  # the side-by-side path ran
    # Thread counts change bf16 reduction order slightly; a face given another's output would be far off.
    for k in range(len(crops)):
        distances = [np.abs(together[k] - one_by_one[j]).mean() for j in range(len(crops))]
        assert int(np.argmin(distances)) == k and distances[k] < 1.0


def test_a_failed_build_warns_once_and_falls_back(tiny_file, tmp_path, fast_bf16, monkeypatch, caplog):
    monkeypatch.setenv("HIFACEGAN_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("C++ compile error: cannot find omp.h")

    monkeypatch.setattr(aoti, "_compile", broken)
    crops = _crops((64, 64), 2, seed=3)
    with caplog.at_level(logging.WARNING):
        restorer = Restorer(tiny_file, "cpu", precision="bf16")
    assert restorer.runtime == "torch" and isinstance(restorer.model, torch.nn.Module)  # eager bf16
    assert len(caplog.records) == 1 and "omp.h" in caplog.text  # one warning, saying why
    eager = hifacegan.restore_faces(hifacegan.load_model(tiny_file), crops, precision="bf16")
    for a, b in zip(restorer.restore_faces(crops), eager, strict=True):
        assert np.array_equal(a, b)
    folder = tmp_path / "cache" / "aoti"
    assert sorted(p.suffix for p in folder.iterdir()) == [".failed", ".lock"]  # no half-written package
    # The next run does not spend another minute failing: one warning naming the note, no compile.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        Restorer(tiny_file, "cpu", precision="bf16")
    assert calls == [1] and len(caplog.records) == 1 and "earlier run" in caplog.text


def test_without_a_compiler_auto_turns_to_onnx_runtime_as_before(tiny_file, tmp_path, fast_bf16, monkeypatch,
                                                                  caplog):
    from hifacegan import compiled as compiled_module
    from hifacegan import onnx_runtime

    monkeypatch.setenv("HIFACEGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(compiled_module, "cpu_compiler_available", lambda: False)
    asked = []  # the export itself is tested in tests/test_onnx_runtime.py; here only that auto turns to it

    def no_export(weights, load, threads=None):
        asked.append(weights)

    monkeypatch.setattr(onnx_runtime, "cached_onnx_generator", no_export)
    with caplog.at_level(logging.WARNING, logger="hifacegan.aoti"):
        restorer = Restorer(tiny_file, "cpu")
    assert asked == [tiny_file] and restorer.runtime == "torch"  # no export either: eager PyTorch
    assert caplog.text.count("no C++ compiler") == 1 and not (tmp_path / "cache" / "aoti").exists()


def test_two_processes_building_at_once_compile_once(tiny_file, compiled, tmp_path, monkeypatch):
    """A second builder waits on the lock and loads the first one's package; nobody sees a partial file."""
    good = aoti.cached_package_path(tiny_file).read_bytes()
    monkeypatch.setenv("HIFACEGAN_CACHE_DIR", str(tmp_path / "cache"))
    target = aoti.cached_package_path(tiny_file)
    calls = []

    def slow_compile(program, handle, options):
        calls.append(1)
        for start in range(0, len(good), len(good) // 4 + 1):
            handle.write(good[start:start + len(good) // 4 + 1])
            assert not target.exists()  # the name appears only once the package is whole
            time.sleep(0.1)

    monkeypatch.setattr(aoti, "_compile", slow_compile)
    load = lambda: hifacegan.load_model(tiny_file)
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(aoti.cached_aoti_generator(tiny_file, load)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and len(results) == 2 and all(r is not None and r.face_size == 64 for r in results)


def test_a_damaged_package_is_built_again(tiny_file, compiled, tmp_path, monkeypatch, caplog):
    good = aoti.cached_package_path(tiny_file).read_bytes()
    monkeypatch.setenv("HIFACEGAN_CACHE_DIR", str(tmp_path / "cache"))
    target = aoti.cached_package_path(tiny_file)
    target.parent.mkdir(parents=True)
    target.write_bytes(good[: len(good) // 3])  # a package cut short (a full disk, a killed copy)
    monkeypatch.setattr(aoti, "_compile", lambda program, handle, options: handle.write(good))
    with caplog.at_level(logging.WARNING, logger="hifacegan.aoti"):
        generator = aoti.cached_aoti_generator(tiny_file, lambda: hifacegan.load_model(tiny_file))
    assert generator is not None and "unusable" in caplog.text and target.read_bytes() == good


def test_other_sizes_fall_back_to_eager_bf16_where_their_package_fails(tiny_file, compiled, tmp_path, monkeypatch,
                                                                       caplog):
    monkeypatch.setenv("HIFACEGAN_CACHE_DIR", str(tmp_path / "cache"))  # the failure note stays out of the module's
    generator = aoti.AotiGenerator(tiny_file, compiled.model.face_runner, lambda: hifacegan.load_model(tiny_file))

    def face_package_only(model, path, shape=aoti.FACE, face_size=512):
        raise aoti.PackageBuildError("RuntimeError: no dynamic shapes today")

    monkeypatch.setattr(aoti, "build_package", face_package_only)
    crops = _crops((96, 160), 2, seed=4)
    with caplog.at_level(logging.WARNING, logger="hifacegan.aoti"):
        out = hifacegan.restore_faces(generator, crops)
        hifacegan.restore_faces(generator, crops)  # decided once
    assert caplog.text.count("compiling the model failed") == 1
    eager = hifacegan.restore_faces(hifacegan.load_model(tiny_file), crops, precision="bf16")
    for a, b in zip(out, eager, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.slow  # compiles the dynamic-shape package: 60-90 s on two busy cores
def test_other_sizes_run_through_the_any_size_package(tiny_file, compiled, cache):
    crops = _crops((96, 160), 2, seed=5)
    fast = np.stack(hifacegan.restore_faces(compiled.model, crops))
    eager = np.stack(hifacegan.restore_faces(hifacegan.load_model(tiny_file), crops, precision="bf16"))
    assert aoti.cached_package_path(tiny_file, aoti.ANY_SIZE).is_file()
    assert fast.shape == (2, 96, 160, 3) and np.abs(fast.astype(float) - eager).mean() < 1.0


def test_runtime_aoti_refuses_what_it_cannot_honour(tiny_file):
    with pytest.raises(ValueError, match="runs bf16"):
        Restorer(tiny_file, "cpu", runtime="aoti", precision="fp32")
    with pytest.raises(ValueError, match="model file"):
        Restorer(hifacegan.load_model(tiny_file), "cpu", runtime="aoti")
    with pytest.raises(ValueError, match="fidelity"):
        Restorer(tiny_file, "cpu", runtime="aoti", fidelity_weight=0.5)


def test_cli_restore_with_the_compiled_package(tiny_file, compiled, tmp_path):
    from PIL import Image

    from hifacegan.cli import main

    src = tmp_path / "in"
    src.mkdir()
    crop = _crops((64, 64), 1, seed=7)[0]
    Image.fromarray(crop).save(src / "face.png")
    assert main(["restore", str(src), "-o", str(tmp_path / "out"), "--aligned", "--model", str(tiny_file),
                 "--runtime", "aoti", "--device", "cpu"]) == 0
    restored = np.asarray(Image.open(tmp_path / "out" / "restored_faces" / "face.png"))
    assert np.array_equal(restored, hifacegan.restore_faces(compiled.model, [crop])[0])


def test_package_names_change_with_weights_torch_and_cpu(tiny_file, tmp_path, monkeypatch):
    first = aoti.cached_package_path(tiny_file)
    assert aoti.cached_package_path(tiny_file, aoti.ANY_SIZE) != first
    other = save_tiny_generator(tmp_path / "tiny.safetensors", "lipspade", seed=7)  # same stem, new weights
    assert aoti.cached_package_path(other) != first
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    assert aoti.cached_package_path(tiny_file) != first
    monkeypatch.undo()
    monkeypatch.setattr(inference, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert aoti.cached_package_path(tiny_file) != first
