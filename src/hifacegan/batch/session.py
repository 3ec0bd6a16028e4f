"""The batch around the per-file job: which inputs this process takes, which are done, and the manifest.

:class:`BatchSession` decides which inputs (photos and videos alike) this process takes (``shard``) and
which an earlier run already completed (``skip_existing``), and appends one manifest record per input. Both engines (the
local loop and the Ray actors) run :func:`hifacegan.jobs.restore_file` on each photo it leaves to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from hifacegan.batch.manifest import MANIFEST_NAME, Manifest, ManifestRecord, file_digest
from hifacegan.batch.sharding import Shard, input_keys, resolve_shard
from hifacegan.jobs import JobOptions, JobOutcome, outputs_complete

__all__ = ["ENGINES", "BatchOptions", "BatchSession", "append_outcome"]

logger = logging.getLogger(__name__)

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BatchOptions:
    """How a batch of many photos is run (docs/scaling.md).

    Attributes:
        skip_existing: skip photos whose outputs are already complete (resume a stopped batch).
        shard: process only this shard of the inputs (``None``: from the environment's job array, else all).
        shard_count: number of shards when the environment gives only an index (Kubernetes Indexed Jobs).
        engine: ``local`` (this process) or ``ray`` (Ray Data actors, one model each).
        address: Ray cluster to join (``None``: start a local one); needs ``engine="ray"``.
        ray_actors: model-holding Ray actors (``None``: one per GPU of the cluster, else one per CPU).

    Raises:
        ValueError: an unknown engine, or Ray options without the Ray engine.
    """

    skip_existing: bool = False
    shard: Shard | None = None
    shard_count: int | None = None
    engine: str = "local"
    address: str | None = None
    ray_actors: int | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.engine != "ray" and (self.address or self.ray_actors):
            raise ValueError("--address and --ray-actors need --engine ray")
        for name in ("shard_count", "ray_actors"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class BatchSession:
    """This process's share of a batch and its manifest.

    Build it with :meth:`start`; :attr:`todo` lists the inputs to restore, :meth:`record` appends one outcome.
    """

    manifest: Manifest
    keys: dict[Path, str]
    todo: list[Path] = field(default_factory=list)
    skipped: int = 0
    shard: Shard | None = None

    @classmethod
    def start(cls, inputs: list[Path], entries: list[str], stems: dict[Path, str], job: JobOptions,
              batch: BatchOptions) -> BatchSession:
        """Choose this process's inputs: its shard, less those complete when ``batch.skip_existing``.

        Args:
            inputs: every photo and video of the batch.
            entries: the files, folders and globs they were listed from (shard keys are relative to them).
            stems: the output stem of each input.
            job: where the outputs go.
            batch: shard and resume options.

        Raises:
            ValueError: inconsistent shard options or environment (a usage error).
        """
        shard = resolve_shard(batch.shard, batch.shard_count)
        keys = input_keys(inputs, entries)
        session = cls(Manifest(job.output / MANIFEST_NAME), keys, shard=shard)
        mine = [path for path in inputs if shard is None or shard.contains(keys[path])]
        for path in mine:
            if batch.skip_existing and outputs_complete(path, stems[path], job):
                session.record(path, JobOutcome(path, "skipped"))
                session.skipped += 1
            else:
                session.todo.append(path)
        if shard is not None:
            logger.info("shard %s: %d of %d input(s)", shard, len(mine), len(inputs))
        if session.skipped:
            logger.info("%d file(s) already complete, skipped (--skip-existing)", session.skipped)
        return session

    def record(self, path: Path, outcome: JobOutcome) -> None:
        append_outcome(self.manifest, path, self.keys[path], outcome)


def append_outcome(manifest: Manifest, path: Path, key: str, outcome: JobOutcome) -> None:
    """Append one input's record (hashing the input now, after its outputs were written).

    A record that cannot be written (a full disk) is logged and lost; the batch goes on: the outputs,
    not the manifest, say what is complete (``--skip-existing``).
    """
    size, sha256 = file_digest(path)
    record = ManifestRecord(input=str(path), key=key, size=size, sha256=sha256, status=outcome.status,
                            faces=outcome.faces, seconds=round(outcome.seconds, 3), error=outcome.error)
    try:
        manifest.append(record)
    except OSError as exc:
        logger.error("%s: its record could not be added to %s: %s", path, manifest.path, exc.strerror or exc)
