"""Everything a training run writes to disk: checkpoints, the resolved config, environment and metrics.

A training checkpoint (``<run_dir>/checkpoints/last.pt``) holds the generator, discriminator, EMA
generator, both optimisers and schedulers, the RNG states of Python, NumPy, torch and CUDA (one set
per process), the step, the epoch, the number of images seen and the resolved config: enough to
continue exactly as if the run had never stopped. Files are written atomically (temp file in the
same folder, fsync, rename, fsync of the folder), so a kill at any moment leaves either the old or
the new checkpoint, never a torn one. Checkpoints are read with ``torch.load(weights_only=True)``:
they contain only tensors and plain Python values.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hifacegan.io import atomic_write, atomic_write_bytes, remove_temporaries

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "TrainingCheckpointError",
    "append_jsonl",
    "capture_rng_state",
    "checkpoint_dir",
    "latest_checkpoint",
    "load_checkpoint",
    "remove_interrupted_writes",
    "restore_rng_state",
    "resume_checkpoint_path",
    "save_checkpoint",
    "write_text",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "hifacegan-train"
CHECKPOINT_VERSION = 1
LAST_NAME = "last.pt"


class TrainingCheckpointError(ValueError):
    """A training checkpoint cannot be used for resuming; the message says which file and why."""


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    """``<run_dir>/checkpoints``."""
    return Path(run_dir) / "checkpoints"


def remove_interrupted_writes(run_dir: str | os.PathLike) -> None:
    """Delete the temp files of checkpoint writes a killed run left in ``<run_dir>/checkpoints``.

    ``last.pt`` is never torn (it is replaced by a rename), but a ``kill -9`` during a write leaves the
    half-written ``.hfg*.tmp`` beside it, as large as a checkpoint, for ever. Called at start-up by the
    process that saves checkpoints, before it writes any (a second run writing into the same
    ``run_dir`` at the same time is not supported: it would also overwrite ``last.pt``).
    """
    for tmp in remove_temporaries(checkpoint_dir(run_dir)):
        logger.info("removed %s, an unfinished checkpoint write of a run that was killed", tmp)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` atomically: temp file beside ``path``, fsync, rename.

    The file is streamed to disk (no in-memory copy of a possibly multi-GB checkpoint).
    """
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint written by :func:`save_checkpoint` (``weights_only=True``, on the CPU).

    Raises:
        TrainingCheckpointError: missing, unreadable, or not a hifacegan training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise TrainingCheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TrainingCheckpointError(f"{path}: not a readable training checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingCheckpointError(
            f"{path}: not a hifacegan training checkpoint (to fine-tune from generator weights, "
            f"set model.pretrained to a generator file instead)")
    if state.get("version") != CHECKPOINT_VERSION:
        raise TrainingCheckpointError(
            f"{path}: checkpoint version {state.get('version')} is not supported (expected {CHECKPOINT_VERSION})")
    return state


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """``<run_dir>/checkpoints/last.pt`` if it exists, else None (``--resume auto``)."""
    path = checkpoint_dir(run_dir) / LAST_NAME
    return path if path.is_file() else None


def capture_rng_state() -> dict[str, Any]:
    """RNG states of Python, NumPy's global generator, torch (CPU) and every CUDA device, as plain values."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            # uint32 key stored as int64: weights_only checkpoints hold tensors, not numpy arrays.
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state({
        "bit_generator": np_state["bit_generator"],
        "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
        "has_gauss": np_state["has_gauss"],
        "gauss": np_state["gauss"],
    })
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a small text file atomically (resolved config, environment)."""

    return atomic_write_bytes(path, text.encode("utf-8"))


def append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one JSON record per line (metrics log; readable with any JSON-lines tool)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


def resume_checkpoint_path(run_dir: str | os.PathLike, resume: str | os.PathLike | None) -> Path | None:
    """The checkpoint a run should resume from, or None for a fresh run.

    Args:
        run_dir: the run folder.
        resume: ``None`` (fresh run), ``"auto"`` (the folder's latest checkpoint, if any) or a checkpoint path.

    Raises:
        ConfigError: a fresh run asked for in a folder that already holds a checkpoint.
        TrainingCheckpointError: an explicit path that does not exist.
    """
    from hifacegan.training.config import ConfigError

    existing = latest_checkpoint(run_dir)
    if resume is None:
        if existing is not None:
            raise ConfigError(
                f"{run_dir} already holds a checkpoint ({existing}); continue it with --resume auto, "
                f"or choose another run_dir (--set run_dir=...)")
        return None
    if str(resume) == "auto":
        if existing is None:
            logger.info("--resume auto: no checkpoint in %s yet, starting a new run", run_dir)
        return existing
    path = Path(resume)
    if not path.is_file():
        raise TrainingCheckpointError(f"{path}: no such checkpoint file (--resume)")
    return path
