"""The package's cache folder on this machine: files it derives once and reuses (never downloads).

``$XDG_CACHE_HOME/hifacegan``, by default ``~/.cache/hifacegan``. It holds the NIQE parameters a user
fits (:mod:`hifacegan.metrics.niqe`) and the ONNX exports of model files (:mod:`hifacegan.onnx_runtime`);
deleting it loses nothing that cannot be made again.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """The package's own cache folder: ``$XDG_CACHE_HOME/hifacegan``, by default ``~/.cache/hifacegan``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hifacegan"
