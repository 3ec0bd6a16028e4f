"""What a training run did: the value :meth:`hifacegan.training.trainer.Trainer.fit` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TrainResult"]


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` did.

    Attributes:
        step: steps completed (in all runs of this run folder).
        images_seen: training images consumed (all processes).
        reason: ``"done"``, ``"budget"`` (``train.max_minutes`` spent), ``"signal"`` (SIGTERM/SIGINT)
            or ``"stop_at"`` (the caller's ``stop_at``).
        checkpoint: last checkpoint written, if any.
        exported: the exported generator (``final.safetensors``), if any.
        validation: the last validation metrics.
        images_per_second: mean training throughput of this run (all processes).
    """

    step: int
    images_seen: int
    reason: str
    checkpoint: Path | None = None
    exported: Path | None = None
    validation: dict[str, float] = field(default_factory=dict)
    images_per_second: float = 0.0
