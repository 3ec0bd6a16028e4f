"""Processes and devices: one CPU, one GPU, or many GPUs/nodes launched by ``torchrun``.

``torchrun`` (``python -m torch.distributed.run``) starts one process per device and sets
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; this module reads
them (as nanoGPT's ``train.py`` and timm's ``timm/utils/distributed.py`` do), picks the backend
(NCCL for CUDA, gloo for CPU) and offers the few collectives the trainer needs. Without those
variables everything is a single process and the collectives are no-ops.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

__all__ = [
    "DistInfo",
    "ResumableSampler",
    "all_gather_objects",
    "all_reduce_max",
    "barrier",
    "cleanup_distributed",
    "init_distributed",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits.

    Attributes:
        rank: global rank (0 logs and writes files).
        local_rank: rank on this node (selects the GPU).
        world_size: number of processes.
        device: this process's device.
        backend: ``"nccl"``, ``"gloo"`` or ``""`` (single process).
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} must be an integer (set by torchrun)") from None


def init_distributed(device: str = "auto") -> DistInfo:
    """Read the ``torchrun`` environment, choose the device and start the process group if needed.

    Args:
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.

    Returns:
        This process's :class:`DistInfo`.

    Raises:
        RuntimeError: ``device="cuda"`` without a usable GPU, or fewer GPUs than local processes.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda:
        if not torch.cuda.is_available():
            raise RuntimeError("train.device=cuda but PyTorch sees no CUDA device; use train.device=cpu or auto")
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs are visible; "
                               f"start at most that many processes per node (--nproc_per_node)")
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    backend = ""
    if world_size > 1:
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if not dist.is_initialized():
            kwargs: dict[str, Any] = {"backend": backend, "rank": rank, "world_size": world_size}
            if dev.type == "cuda":
                kwargs["device_id"] = dev  # binds NCCL to this GPU up front (torch >= 2.3)
            try:
                dist.init_process_group(**kwargs)
            except TypeError:
                kwargs.pop("device_id", None)
                dist.init_process_group(**kwargs)
        logger.debug("process group %s: rank %d/%d, local rank %d, %s", backend, rank, world_size, local_rank, dev)
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size, device=dev, backend=backend)


def cleanup_distributed() -> None:
    """Destroy the process group if this process started one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op for one process)."""
    if info.distributed:
        if info.backend == "nccl":
            dist.barrier(device_ids=[info.local_rank])
        else:
            dist.barrier()


def all_reduce_max(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Element-wise maximum over processes, in place (flags: any process sets one, all see it)."""
    if info.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return values


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every process's ``obj``, in rank order (``[obj]`` for one process)."""
    if not info.distributed:
        return [obj]
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


class ResumableSampler(DistributedSampler):
    """:class:`~torch.utils.data.DistributedSampler` that can start mid-epoch and tags indices with the epoch.

    Each epoch's order is a permutation seeded by ``(seed, epoch)`` and split across processes
    exactly as ``DistributedSampler`` does; :meth:`set_position` skips the samples already consumed
    before a checkpoint, so a resumed run sees the same batches as an uninterrupted one without
    loading the skipped images. Indices are yielded as ``(epoch, index)`` pairs so that datasets
    whose degradations depend on the epoch stay correct inside persistent DataLoader workers
    (which hold a copy of the dataset and never see ``set_epoch`` calls made in the main process).

    Args:
        length: dataset length.
        info: this process's place (rank, world size).
        seed: shuffling seed (same on every process).
        shuffle: shuffle each epoch.
    """

    def __init__(self, length: int, info: DistInfo, seed: int = 0, shuffle: bool = True) -> None:
        # DistributedSampler only takes len() of its dataset: a range stands in for it.
        super().__init__(range(length), num_replicas=info.world_size, rank=info.rank,  # type: ignore[arg-type]
                         shuffle=shuffle, seed=seed, drop_last=False)
        self.skip = 0

    def set_position(self, epoch: int, skip: int = 0) -> None:
        """Start ``epoch`` after its first ``skip`` samples (of this process)."""
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(super().__iter__())[self.skip:]
        return iter([(self.epoch, int(i)) for i in indices])

    def __len__(self) -> int:
        return self.num_samples - self.skip
