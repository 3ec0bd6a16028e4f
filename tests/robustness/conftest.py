"""Fixtures of the robustness corpus (issue 31): a small, real file system; `restore` with the tiny model
and a stand-in detector (the video cases need a face in every frame, fast)."""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest
from _clips import CentreFace

import hifacegan.restorer as restorer_module
from hifacegan.cli import main


@pytest.fixture
def centre_face_detector(monkeypatch, caplog):
    """Every restorer finds one face in the centre (:class:`CentreFace`); INFO logs are captured."""
    monkeypatch.setattr(restorer_module, "default_detector", CentreFace)
    caplog.set_level(logging.INFO)


@pytest.fixture
def restore_cli(tiny_model_file):
    """``hifacegan restore ARGS --model <tiny model> --device cpu``; returns the exit status."""
    return lambda *args: main(["restore", *map(str, args), "--model", str(tiny_model_file), "--device", "cpu"])


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a tmpfs of 256 KiB: writes past that fail with ENOSPC, as on a full disk.

    Mounting needs root (CAP_SYS_ADMIN), as CI has; elsewhere the test is skipped, saying why.
    """
    folder = tmp_path / "small_disk"
    folder.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("needs mount(8) to make a small tmpfs")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                             check=False, capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
