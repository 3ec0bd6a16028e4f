"""``--engine ray``: the same per-photo function on Ray Data actors that each load the model once.

The driver lists, shards and skips the inputs as the local engine does, then streams the remaining paths
through ``Dataset.map_batches`` over a pool of actors (``ActorPoolStrategy``): each actor builds one
:class:`~hifacegan.restorer.Restorer` (one GPU per actor where the cluster has GPUs, one CPU otherwise),
runs :func:`~hifacegan.jobs.restore_file` on each path, writes the outputs itself and appends
the manifest (an ``O_APPEND`` line per photo, safe across actors on one machine). So the outputs, the
manifest and the per-file messages are those of the local engine; a killed batch resumes with
``--skip-existing``.

Ray never starts its dashboard here and usage statistics stay off (``RAY_USAGE_STATS_ENABLED=0``), so
nothing reaches the network. Every node must have hifacegan installed and see the input and output
folders at the same paths (a shared file system).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hifacegan.batch.manifest import MANIFEST_NAME, Manifest
from hifacegan.batch.session import BatchOptions, append_outcome
from hifacegan.jobs import JobOptions, JobOutcome, ModelSettings, restore_file

__all__ = ["RayUnavailableError", "run_with_ray"]

logger = logging.getLogger(__name__)


class RayUnavailableError(RuntimeError):
    """Ray (with Ray Data) is not installed."""


def _import_ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before import: Ray reads it when it starts
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise RayUnavailableError(f"--engine ray needs Ray Data: pip install 'hifacegan[ray]' ({exc})") from None
    return ray


class _PhotoActor:
    """One model per actor; ``__call__`` restores a batch of paths and returns one outcome row per path."""

    def __init__(self, settings: ModelSettings, job: JobOptions, protected: set[Path], threads: int) -> None:
        import torch

        if threads > 0:
            torch.set_num_threads(threads)  # the CPUs Ray granted this actor, not the whole node's
        self.restorer = settings.build()
        self.job = job
        self.protected = protected
        self.manifest = Manifest(job.output / MANIFEST_NAME)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: dict[str, list] = {"path": [], "status": [], "faces": [], "seconds": [], "error": [], "fatal": []}
        for raw_path, raw_stem, raw_key in zip(batch["path"], batch["stem"], batch["key"], strict=True):
            path, stem, key = Path(os.fsdecode(raw_path)), os.fsdecode(raw_stem), os.fsdecode(raw_key)
            outcome = restore_file(path, self.job, self.restorer, stem=stem, protected=self.protected)
            append_outcome(self.manifest, path, key, outcome)
            rows["path"].append(raw_path)
            rows["status"].append(outcome.status)
            rows["faces"].append(outcome.faces)
            rows["seconds"].append(outcome.seconds)
            rows["error"].append(outcome.error or "")
            rows["fatal"].append(outcome.fatal)
        return {name: np.array(values, dtype=object if name in ("path", "error") else None)
                for name, values in rows.items()}


def run_with_ray(todo: list[Path], stems: dict[Path, str], keys: dict[Path, str], job: JobOptions,
                 settings: ModelSettings, batch: BatchOptions, protected: set[Path]) -> dict[Path, JobOutcome]:
    """Restore ``todo`` on Ray actors; returns each path's outcome (as reported by the actors).

    Joins ``batch.address`` (``auto``, ``ray://host:10001``, ``host:6379``) or starts a local cluster when
    it is None or ``local``; an already initialised Ray (a test's, a notebook's) is used as it is.

    Raises:
        RayUnavailableError: Ray Data is not installed.
    """
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        address = None if batch.address in (None, "local") else batch.address
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                 configure_logging=False, log_to_driver=False)  # the driver reports each outcome itself
    # Ray Data's progress reports every few seconds would drown the per-file messages.
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(max(logging.WARNING, logging.getLogger("ray.data").level))
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = max(1, int(resources.get("CPU", 1)))
        actors = batch.ray_actors or (gpus if gpus else cpus)
        per_actor = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        threads = 0 if gpus else 1
        logger.info("ray: %d actor(s) with %s each on a cluster of %d CPU(s), %d GPU(s)", actors,
                    "1 GPU" if gpus else "1 CPU", cpus, gpus)
        # "auto" would be judged on each node; the pool was sized for GPUs or for CPUs, so say which.
        actor_settings = replace(settings, device="cuda" if gpus else "cpu") if settings.device == "auto" else settings
        rows = [{"path": os.fsencode(path), "stem": os.fsencode(stems[path]), "key": os.fsencode(keys[path])}
                for path in todo]
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), actors * 4)))
        results = dataset.map_batches(
            _PhotoActor, batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            fn_constructor_kwargs={"settings": actor_settings, "job": job, "protected": protected,
                                   "threads": threads},
            **per_actor,
        )
        outcomes: dict[Path, JobOutcome] = {}
        for row in results.iter_rows():
            path = Path(os.fsdecode(row["path"]))
            outcomes[path] = JobOutcome(path, str(row["status"]), int(row["faces"]), float(row["seconds"]),
                                        error=str(row["error"]) or None, fatal=bool(row["fatal"]))
            if outcomes[path].fatal:
                break  # e.g. no face detector: every other photo would fail the same way
        return outcomes
    finally:
        if started_here:
            ray.shutdown()
