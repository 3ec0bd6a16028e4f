"""Shared test fixtures: where ../shared lives, and skipping clearly when it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

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
