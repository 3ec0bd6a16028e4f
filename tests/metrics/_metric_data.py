"""Paths of the shared reference data the metric tests use (absent on user machines: tests skip)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
NIQE_PARAMS = SHARED / "reference" / "niqe_pris_params.npz"
NIQE_REFERENCE = SHARED / "reference" / "niqe_reference.json"
UTK_VAL = SHARED / "data" / "utkface" / "val"


def require(path: Path) -> Path:
    """Skip the calling test, naming the path, when the shared data is not present."""
    if not path.exists():
        pytest.skip(f"needs the project's shared data at {path} (present in CI, absent on user machines)")
    return path
