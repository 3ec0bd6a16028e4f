"""Training and validation data: datasets from ``config.data``, and a resumable, reproducible loader.

The loader yields the same batches whatever the worker count and after a resume at any step:
:class:`ResumableSampler` (see :mod:`hifacegan.training.distributed`) gives ``(epoch, index)`` pairs and
:class:`EpochIndexed` seeds every item's global RNGs from ``(seed, epoch, index)``.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader, Dataset

from hifacegan.data import DegradedFolderDataset, PairedFolderDataset, StackedPairDataset
from hifacegan.degradations import DegradationConfig
from hifacegan.training.config import Config, ConfigError
from hifacegan.training.distributed import DistInfo, ResumableSampler

__all__ = [
    "EpochIndexed",
    "build_train_dataset",
    "build_val_dataset",
    "dataset_length",
    "degradation_config",
    "epoch_batches",
    "leave_stop_signals_to_main",
    "train_loader",
]


def dataset_length(dataset: Dataset) -> int:
    """``len(dataset)``; map-style datasets define it, but ``Dataset`` does not declare it."""
    return len(dataset)  # type: ignore[arg-type]


class EpochIndexed(Dataset):
    """Adapter between :class:`ResumableSampler`'s ``(epoch, index)`` pairs and a map-style dataset.

    It forwards the epoch to ``dataset.set_epoch`` (inside the worker that loads the item) and runs
    each item under global RNGs seeded from ``(seed, epoch, index)``, so any randomness a dataset
    draws from the global generators is reproducible whatever the worker count, and after a resume.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self._epoch: int | None = None

    def __len__(self) -> int:
        return dataset_length(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if epoch != self._epoch and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self._epoch = epoch
        item_seed = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0])
        in_main_process = torch.utils.data.get_worker_info() is None
        saved = (random.getstate(), np.random.get_state(), torch.get_rng_state()) if in_main_process else None
        random.seed(item_seed)
        np.random.seed(item_seed)
        torch.manual_seed(item_seed)
        try:
            return self.dataset[index]
        finally:
            if saved is not None:  # leave the trainer's own RNG streams untouched
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])


def leave_stop_signals_to_main(_worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGTERM/SIGINT; the main process handles them.

    ``timeout``, ``kill -- -PGID``, ``pkill -f`` and cluster schedulers signal the whole process group.
    A worker killed by that signal makes the main process raise mid-step, before its own handler can
    finish the step and save; ignoring the signal here lets the main process stop cleanly and shut the
    workers down. Orphaned workers still exit: PyTorch's worker loop watches its parent.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def degradation_config(config: Config) -> DegradationConfig:
    """The :class:`hifacegan.degradations.DegradationConfig` of ``config.data`` (file, then scaled to ``size``).

    Raises:
        ConfigError: unreadable file or unknown/invalid degradation settings.
    """
    d = config.data
    ranges = DegradationConfig()
    if d.degradation_config:
        try:
            with open(d.degradation_config, encoding="utf-8") as handle:
                values = yaml.safe_load(handle) or {}
            ranges = DegradationConfig.from_dict(values)
        except (OSError, yaml.YAMLError, ValueError, TypeError) as exc:
            raise ConfigError(f"data.degradation_config={d.degradation_config!r}: {exc}") from exc
    return ranges.scaled_for_size(d.face_size or d.size) if d.degradation_scale else ranges


def build_train_dataset(config: Config) -> Dataset:
    """The training dataset described by ``config.data`` (see :class:`~hifacegan.training.config.DataConfig`).

    Raises:
        ConfigError: no training folder configured, or bad degradation settings.
    """
    d = config.data
    if not d.train_root:
        raise ConfigError("data.train_root is empty: set it in the config or with --set data.train_root=FOLDER")
    seed = config.train.seed
    if d.source == "paired":
        return PairedFolderDataset(d.train_lq_root, d.train_root, size=d.size, flip=d.flip, seed=seed)
    if d.source == "stacked":
        return StackedPairDataset(d.train_root, size=d.size, flip=d.flip, seed=seed)
    return DegradedFolderDataset(d.train_root, d.size, tasks=tuple(d.tasks), seed=seed, random_crop=d.random_crop,
                                 flip=d.flip, face_size=d.face_size or None, config=degradation_config(config),
                                 max_items=d.max_items, whole_face_prob=d.whole_face_prob,
                                 component_patch_prob=d.component_patch_prob)


def build_val_dataset(config: Config) -> Dataset | None:
    """The held-out dataset of ``config.data`` (fixed degradations, seed ``data.val_seed``), or None."""
    d = config.data
    if not d.val_root:
        return None
    if d.source == "paired":
        return PairedFolderDataset(d.val_lq_root, d.val_root, size=d.size)
    if d.source == "stacked":
        return StackedPairDataset(d.val_root, size=d.size)
    # Whole faces at face_size: validation measures what restoring a photo's face does, not a patch.
    return DegradedFolderDataset(d.val_root, d.face_size or d.size, tasks=tuple(d.tasks), seed=d.val_seed,
                                 random_crop=False, flip=False, config=degradation_config(config),
                                 max_items=d.val_max_items)


def train_loader(dataset: Dataset, config: Config, info: DistInfo) -> tuple[DataLoader, ResumableSampler]:
    """The shuffled, resumable training loader of ``dataset`` (this process's share) and its sampler."""
    t, d = config.train, config.data
    sampler = ResumableSampler(dataset_length(dataset), info, seed=t.seed, shuffle=True)
    workers = d.num_workers
    kwargs: dict[str, Any] = {}
    if workers > 0:
        kwargs = {"persistent_workers": d.persistent_workers, "prefetch_factor": d.prefetch_factor}
    loader = DataLoader(EpochIndexed(dataset, t.seed), batch_size=t.batch_size, sampler=sampler,
                        num_workers=workers, pin_memory=d.pin_memory and info.device.type == "cuda",
                        drop_last=True, worker_init_fn=leave_stop_signals_to_main, **kwargs)
    return loader, sampler


def epoch_batches(loader: DataLoader, sampler: ResumableSampler, start_step: int, steps_per_epoch: int,
                  batch_size: int) -> Iterator[dict[str, Any]]:
    """Batches from ``start_step`` on, epoch after epoch, resuming mid-epoch when needed."""
    step = start_step
    while True:
        epoch, in_epoch = divmod(step, steps_per_epoch)
        sampler.set_position(epoch, in_epoch * batch_size)
        for batch in loader:
            step += 1
            yield batch
