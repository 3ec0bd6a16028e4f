"""The package's cache folder on this machine: files it derives once and reuses (never downloads).

``$HIFACEGAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/hifacegan``, by default ``~/.cache/hifacegan``. It holds the NIQE parameters a user
fits (:mod:`hifacegan.metrics.niqe`) and the ONNX exports of model files (:mod:`hifacegan.onnx_runtime`);
deleting it loses nothing that cannot be made again.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "cache_dir"]


#: Environment variable naming the cache folder itself (``hifacegan serve`` pins it before it points
#: ``$XDG_CACHE_HOME`` into its temporary folder, so exports outlive a server restart).
CACHE_DIR_ENV = "HIFACEGAN_CACHE_DIR"


def cache_dir() -> Path:
    """The package's own cache folder: ``$HIFACEGAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/hifacegan``, by default
    ``~/.cache/hifacegan``."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hifacegan"
