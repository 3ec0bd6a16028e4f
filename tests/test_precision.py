"""Automatic precision and the one batch-restore function (hifacegan.restore_faces)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hifacegan
from hifacegan import inference
from hifacegan.inference import autocast_dtype, cpu_has_fast_bf16, restore_faces
from hifacegan.restorer import Restorer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

_FLAGS = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 avx512f {extra}\n"


@pytest.fixture(scope="module")
def tiny_lipspade() -> torch.nn.Module:
    torch.manual_seed(0)
    model = hifacegan.prepare_for_inference(hifacegan.create_model("lipspade", ngf=8))
    model.model_card = {"size": 64}
    return model


def _faces(count: int, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(count)]


@pytest.mark.parametrize(("extra", "fast"), [("avx512_bf16", True), ("amx_bf16 amx_tile", True), ("avx512_vnni", False)])
def test_bf16_is_fast_only_with_avx512_bf16_or_amx(tmp_path, extra, fast):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(_FLAGS.format(extra=extra))
    assert cpu_has_fast_bf16(cpuinfo) is fast


def test_no_cpuinfo_means_fp32(tmp_path):
    assert cpu_has_fast_bf16(tmp_path / "absent") is False


def test_auto_follows_the_cpu_and_explicit_choices_win(monkeypatch):
    monkeypatch.setattr(inference, "cpu_has_fast_bf16", lambda: True)
    assert autocast_dtype("auto", "cpu") is torch.bfloat16
    assert autocast_dtype("fp32", "cpu") is None
    monkeypatch.setattr(inference, "cpu_has_fast_bf16", lambda: False)
    assert autocast_dtype("auto", "cpu") is None
    assert autocast_dtype("bf16", "cpu") is torch.bfloat16
    assert autocast_dtype("fp16", "cuda") is torch.float16
    with pytest.raises(ValueError, match="fp16 is for GPUs"):
        autocast_dtype("fp16", "cpu")
    with pytest.raises(ValueError, match="unknown precision"):
        autocast_dtype("int8", "cpu")


def test_restorer_resolves_auto_and_refuses_unknown(tiny_lipspade, monkeypatch):
    monkeypatch.setattr(inference, "cpu_has_fast_bf16", lambda: True)
    assert Restorer(tiny_lipspade, "cpu").autocast_dtype is torch.bfloat16
    assert Restorer(tiny_lipspade, "cpu", precision="fp32").autocast_dtype is None
    with pytest.raises(ValueError, match="unknown precision"):
        Restorer(tiny_lipspade, "cpu", precision="half")


def test_bf16_runs_in_bf16_and_stays_close_to_fp32(tiny_lipspade):
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    fp32 = hifacegan.restore_tensor(tiny_lipspade, x, precision="fp32")
    bf16 = hifacegan.restore_tensor(tiny_lipspade, x, precision="bf16")
    assert bf16.dtype == torch.float32 and bf16.shape == fp32.shape
    difference = (bf16 - fp32).abs()
    assert difference.max() > 0  # the autocast really ran in bf16
    assert difference.mean() < 0.01 and difference.max() < 0.1


def test_restore_faces_keeps_order_and_dtype_across_mixed_sizes(tiny_lipspade):
    small, large = _faces(2, 64, 64), _faces(1, 96, 70, seed=1)
    crops = [small[0], large[0], small[1]]
    restored = restore_faces(tiny_lipspade, crops, batch_size=8, precision="fp32")
    assert [r.shape for r in restored] == [c.shape for c in crops]
    assert all(r.dtype == np.uint8 for r in restored)
    for crop, out in zip(crops, restored, strict=True):  # each crop's output is its own, whatever the batch
        alone = hifacegan.restore_tensor(tiny_lipspade, torch.from_numpy(crop).permute(2, 0, 1)[None] / 255.0)
        expected = np.rint(alone[0].permute(1, 2, 0).numpy() * 255)
        assert np.abs(out.astype(float) - expected).max() <= 1
    floats = restore_faces(tiny_lipspade, [c.astype(np.float32) / 255 for c in crops], precision="fp32")
    assert floats[1].dtype == np.float32 and floats[1].shape == (96, 70, 3)


def test_restore_faces_refuses_non_finite_output(tiny_lipspade):
    class NaNOut(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * float("nan")

    with pytest.raises(ValueError, match="non-finite"):
        restore_faces(NaNOut(), _faces(2, 64, 64))
    assert restore_faces(tiny_lipspade, []) == []


def test_benchmark_tasks_restores_through_restore_faces(tiny_lipspade, monkeypatch):
    from hifacegan.cli import benchmark_tasks

    calls = []
    real = hifacegan.restore_faces

    def spy(model, crops, **kwargs):
        calls.append((len(crops), kwargs["precision"]))
        return real(model, crops, **kwargs)

    monkeypatch.setattr(hifacegan, "restore_faces", spy)
    restore, color_fix = benchmark_tasks._model_restorer(tiny_lipspade, "cpu", batch_size=4, color_fix=None)
    out = restore(_faces(3, 64, 64))
    assert calls == [(3, "fp32")] and len(out) == 3 and color_fix is False
