"""What a run records about itself besides checkpoints: the environment, the exported model's card, and
which settings changed since the checkpoint it resumes from."""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
import sys
from typing import Any

import torch

from hifacegan.training.config import Config
from hifacegan.training.distributed import DistInfo

__all__ = ["BOOKKEEPING_SETTINGS", "RunFacts", "config_changes", "environment", "model_card"]

#: Settings that change how a run is watched or paced, not the numbers it computes.
BOOKKEEPING_SETTINGS = frozenset({
    "run_dir", "train.max_minutes", "train.log_every", "train.val_every", "train.ckpt_every", "train.keep_every",
    "train.progress", "train.tensorboard", "data.num_workers", "data.pin_memory", "data.persistent_workers",
    "data.prefetch_factor", "data.val_max_items",
})


def environment(info: DistInfo) -> dict[str, Any]:
    """Versions, machine and process layout of this run (``<run_dir>/environment.json``)."""
    from hifacegan import __version__

    env: dict[str, Any] = {
        "hifacegan": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "world_size": info.world_size,
        "backend": info.backend or "single process",
        "device": str(info.device),
        "argv": sys.argv,
    }
    if info.device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(info.device)
    return env


@dataclasses.dataclass
class RunFacts:
    """What the trainer knows at export time that is not in the config."""

    steps: int
    images_seen: int
    uses_ema: bool
    perceptual_name: str
    bf16_autocast: bool
    training_seconds: float
    images_per_second: float
    validation: dict[str, float]


def model_card(config: Config, info: DistInfo, facts: RunFacts) -> dict[str, Any]:
    """The model card saved beside an exported generator (``final.json``)."""
    c = config
    env = environment(info)
    return {
        "variant": c.model.variant,
        "ngf": c.model.ngf,
        # The face size it restores: with patches (data.face_size) that is the whole face, not the patch.
        "size": c.data.face_size or c.data.size,
        "task": "renovation" if len(c.data.tasks) > 1 else c.data.tasks[0],
        "tasks": list(c.data.tasks),
        "steps": facts.steps,
        "images_seen": facts.images_seen,
        "weights": "ema" if facts.uses_ema else "generator",
        "ema_decay": c.train.ema_decay,
        "warmup_steps": c.train.warmup_steps,
        "d_warmup_steps": c.train.d_warmup_steps,
        "perceptual_network": facts.perceptual_name,
        "loss_weights": dataclasses.asdict(c.loss),
        "data": {"source": c.data.source, "train": c.data.train_root, "train_lq": c.data.train_lq_root or None,
                 "val": c.data.val_root or None, "size": c.data.size, "face_size": c.data.face_size or None,
                 "whole_face_prob": c.data.whole_face_prob, "component_patch_prob": c.data.component_patch_prob,
                 "degradation_scaled_to_size": c.data.degradation_scale,
                 "degradation_config": c.data.degradation_config or "official"},
        "compute": {"device": env.get("gpu", str(info.device)), "processes": info.world_size,
                    "batch_per_process": c.train.batch_size, "bf16_autocast": facts.bf16_autocast,
                    "training_hours": round(facts.training_seconds / 3600, 3),
                    "images_per_second": round(facts.images_per_second, 2), "torch": torch.__version__},
        "validation": facts.validation,
        "provenance": "trained with hifacegan train",
    }


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Differences between a checkpoint's config and the current one that change the training itself."""
    changes = []
    for section, values in new.items():
        if isinstance(values, dict):
            for key, value in values.items():
                before = (old.get(section) or {}).get(key)
                if before != value and f"{section}.{key}" not in BOOKKEEPING_SETTINGS:
                    changes.append(f"{section}.{key}: {before!r} -> {value!r}")
        elif old.get(section) != values and section not in BOOKKEEPING_SETTINGS:
            changes.append(f"{section}: {old.get(section)!r} -> {values!r}")
    return changes
