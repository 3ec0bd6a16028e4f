"""The batch around ``hifacegan restore``'s per-photo function: shard, skip, restore, record.

:func:`restore_photo` is the one per-photo function both engines run (the local loop and the Ray actors):
it calls the CLI's ``_process`` (read, restore, write all outputs of the photo as one unit) and turns each
kind of failure into the per-file message and a manifest status. :class:`BatchSession` decides which
photos this process takes (``--shard``) and which are already done (``--skip-existing``), and appends the
manifest.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hifacegan.batch.manifest import MANIFEST_NAME, Manifest, ManifestRecord, file_digest
from hifacegan.batch.sharding import Shard, input_keys, parse_shard, resolve_shard
from hifacegan.cli._types import positive_int
from hifacegan.io import ImageReadError

if TYPE_CHECKING:
    from hifacegan.restorer import Restorer

__all__ = ["BatchSession", "PhotoOutcome", "add_batch_arguments", "outputs_complete", "restore_photo"]

logger = logging.getLogger(__name__)


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of resumable, sharded and Ray batches (docs/scaling.md)."""
    group = parser.add_argument_group("large batches (docs/scaling.md)")
    group.add_argument("--skip-existing", action="store_true",
                       help="skip photos whose outputs are already complete (resume a stopped batch)")
    group.add_argument("--shard", type=parse_shard, metavar="K/N",
                       help="process only shard K of N (0 <= K < N), a stable 1/N of the inputs chosen by a hash of "
                       "each path relative to its input folder (default: from SLURM_ARRAY_TASK_ID/COUNT, or "
                       "JOB_COMPLETION_INDEX with --shard-count)")
    group.add_argument("--shard-count", type=positive_int, metavar="N",
                       help="number of shards when the environment gives only an index (Kubernetes Indexed Jobs)")
    group.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: this process; ray: Ray Data actors, one model each (pip install "
                       "'hifacegan[ray]'; default local)")
    group.add_argument("--address", metavar="ADDR",
                       help="Ray cluster to join (e.g. ray://head:10001 or auto; default: start a local one)")
    group.add_argument("--ray-actors", type=positive_int, metavar="N",
                       help="model-holding Ray actors (default: one per GPU of the cluster, else one per CPU)")


@dataclass(frozen=True)
class PhotoOutcome:
    """What :func:`restore_photo` did with one input (``fatal``: the error concerns every file; stop)."""

    status: str
    faces: int = 0
    seconds: float = 0.0
    error: str | None = None
    fatal: bool = False


def restore_photo(path: Path, stem: str, args: argparse.Namespace, restorer: Restorer, protected: set[Path],
                  max_pixels: int) -> PhotoOutcome:
    """Restore one photo and write its outputs; never raises for a bad file (its message is logged instead)."""
    from hifacegan.cli.restore import _process, _RefusedError
    from hifacegan.faces.detect import DetectorUnavailableError

    started = time.perf_counter()
    try:
        faces = _process(path, stem, args, restorer, protected, started, max_pixels)
    except DetectorUnavailableError as exc:
        message, fatal = str(exc), True
    except (ImageReadError, _RefusedError) as exc:
        message, fatal = str(exc), False
    except (ValueError, TypeError) as exc:
        message, fatal = f"{path}: cannot restore this image: {exc}", False
    except (OSError, RuntimeError, MemoryError) as exc:
        # Disk full, permissions, out of memory on the device...: this file is lost, the batch goes on.
        message, fatal = f"{path}: failed: {type(exc).__name__}: {exc}", False
    else:
        status = "ok" if faces or args.aligned else "no_face"
        return PhotoOutcome(status, faces, time.perf_counter() - started)
    logger.error("%s", message)
    return PhotoOutcome("failed", 0, time.perf_counter() - started, message, fatal)


def outputs_complete(path: Path, stem: str, args: argparse.Namespace) -> bool:
    """Whether an earlier run left this photo's outputs complete.

    ``_process`` writes a photo's outputs as one unit and renames the whole photo (or, with ``--aligned``,
    the comparison) last, so its presence means the unit is complete. Its suffix follows ``--ext``; a photo
    with transparency is written as PNG, so PNG also counts.
    """
    from hifacegan.cli._restore_video import name_tag

    out = args.output
    tag = name_tag(args)  # --suffix, as _process names the restored files
    if args.aligned:
        return (out / "restored_faces" / f"{stem}{tag}.png").is_file() and (out / "cmp" / f"{stem}.png").is_file()
    from hifacegan.cli.restore import _output_suffix

    suffix, _ = _output_suffix(path, args.ext, has_alpha=False, bit_depth=8)  # _process's choice, less the alpha case
    return any((out / "restored_imgs" / f"{stem}{tag}{candidate}").is_file() for candidate in {suffix, ".png"})


@dataclass
class BatchSession:
    """This process's share of a batch and its manifest.

    Build it with :meth:`start`; :attr:`todo` lists the photos to restore, :meth:`record` appends one outcome.
    """

    manifest: Manifest
    keys: dict[Path, str]
    todo: list[Path] = field(default_factory=list)
    skipped: int = 0
    shard: Shard | None = None

    @classmethod
    def start(cls, inputs: list[Path], stems: dict[Path, str], args: argparse.Namespace) -> BatchSession:
        """Choose this process's photos: its shard, less those complete when ``--skip-existing``.

        Raises:
            ValueError: inconsistent shard options or environment (a usage error).
        """
        if args.engine != "ray" and (args.address or args.ray_actors):
            raise ValueError("--address and --ray-actors need --engine ray")
        shard = resolve_shard(args.shard, args.shard_count)
        keys = input_keys(inputs, args.inputs)
        session = cls(Manifest(args.output / MANIFEST_NAME), keys, shard=shard)
        mine = [path for path in inputs if shard is None or shard.contains(keys[path])]
        for path in mine:
            if args.skip_existing and outputs_complete(path, stems[path], args):
                session.record(path, PhotoOutcome("skipped"))
                session.skipped += 1
            else:
                session.todo.append(path)
        if shard is not None:
            logger.info("shard %s: %d of %d input(s)", shard, len(mine), len(inputs))
        if session.skipped:
            logger.info("%d photo(s) already complete, skipped (--skip-existing)", session.skipped)
        return session

    def record(self, path: Path, outcome: PhotoOutcome) -> None:
        append_outcome(self.manifest, path, self.keys[path], outcome)


def append_outcome(manifest: Manifest, path: Path, key: str, outcome: PhotoOutcome) -> None:
    """Append one photo's record (hashing the input now, after its outputs were written)."""
    size, sha256 = file_digest(path)
    manifest.append(ManifestRecord(input=str(path), key=key, size=size, sha256=sha256, status=outcome.status,
                                   faces=outcome.faces, seconds=round(outcome.seconds, 3), error=outcome.error))


def restorer_settings(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """The keyword arguments the CLI builds its :class:`~hifacegan.restorer.Restorer` with (for Ray actors)."""
    return {"model": model, "device": args.device, "arch": args.arch, "color_fix": args.color_fix,
            "fidelity_weight": args.weight, "precision": args.precision, "runtime": args.runtime,
            "compile": args.compile}
