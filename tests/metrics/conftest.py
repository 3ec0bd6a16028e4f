"""Metric tests never see the user's caches or environment, so "file missing" paths are tested for real."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_user_files(monkeypatch, tmp_path):
    for var in ("HIFACEGAN_NIQE_PARAMS", "HIFACEGAN_LPIPS_ALEXNET", "HIFACEGAN_LPIPS_HEADS",
                "HIFACEGAN_FID_INCEPTION", "HIFACEGAN_DLIB_MODELS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
