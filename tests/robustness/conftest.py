"""Fixtures of the robustness corpus (issue 31) that need more than a folder: a small, real file system."""

from __future__ import annotations

import shutil
import subprocess

import pytest


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
