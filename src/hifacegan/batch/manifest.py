"""``OUT/manifest.jsonl``: one JSON line per photo processed, appended atomically by any number of processes.

Each record is written with a single ``write`` on a descriptor opened with ``O_APPEND`` and fsynced, so
lines of concurrent writers (shards, Ray actors) never interleave on a local file system: POSIX makes the
seek-to-end and the write one step. A process killed mid-line (power loss) can leave a torn last line;
:func:`read_manifest` skips lines that are not complete JSON, and :class:`Manifest` ends such a line before
appending, so the next record is not glued to it. Writers hold an exclusive ``flock`` while they write or
look for a torn line: a long record is copied into the file page by page, and without the lock a writer
starting up could see another's record half-written, take it for torn and add a stray blank line. NFS does
not honour ``O_APPEND`` across clients: there give each node its own output folder or accept that a rare
record may be lost (outputs are unaffected).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hifacegan.io import file_sha256

__all__ = ["MANIFEST_NAME", "STATUSES", "Manifest", "ManifestRecord", "file_digest", "read_manifest"]

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
STATUSES = ("ok", "failed", "no_face", "skipped")


@dataclass(frozen=True)
class ManifestRecord:
    """What happened to one input.

    Attributes:
        input: the input path as listed (``os.fsdecode`` form, so names that are not UTF-8 survive).
        key: the path relative to its input folder: what ``--shard`` hashes and what identifies the photo
            across machines that mount the archive at different places.
        size: bytes, or None when the file could not be read.
        sha256: hex digest of the file's bytes, or None when it could not be read.
        status: ``ok``, ``failed``, ``no_face`` (copied through) or ``skipped`` (outputs already complete).
        faces: faces restored.
        seconds: wall time spent on this photo by the worker.
        error: the per-file message for ``failed``, else None.
        host: the machine that processed it.
        pid: the process that processed it.
        time: when the record was written (UTC, ISO 8601).
    """

    input: str
    key: str
    size: int | None
    sha256: str | None
    status: str
    faces: int = 0
    seconds: float = 0.0
    error: str | None = None
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    time: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"manifest status {self.status!r} is not one of {', '.join(STATUSES)}")

    def to_line(self) -> bytes:
        # ensure_ascii keeps the line pure ASCII, so surrogate-escaped (non-UTF-8) names encode too.
        return (json.dumps(asdict(self), ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


def file_digest(path: str | os.PathLike) -> tuple[int | None, str | None]:
    """``(size, sha256 hex)`` of a file, or ``(None, None)`` when it cannot be read."""
    try:
        return os.path.getsize(path), file_sha256(path)
    except OSError:
        return None, None


class Manifest:
    """Appends records to ``path``; safe to use from several processes at once (see the module docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._end_torn_line()

    def append(self, record: ManifestRecord) -> None:
        """Append one record as one ``write`` (O_APPEND), then fsync, so it survives a crash of the machine."""
        line = record.to_line()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by close
            written = os.write(fd, line)
            while written < len(line):  # only on a full disk or a signal; the reader tolerates the torn line
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)

    def _end_torn_line(self) -> None:
        # A record cut short by a crash has no newline: end it, so the next record starts on its own line. Under
        # the writers' lock, so that a record another process is still writing is not taken for a torn one.
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        except OSError:  # absent (nothing to end) or unreadable (append reports it)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.write(fd, b"\n")
        finally:
            os.close(fd)


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Every complete record of a manifest, in file order; torn or foreign lines are skipped (and counted in a log).

    Returns:
        A list of dicts with the fields of :class:`ManifestRecord` (empty when the file does not exist).
    """
    records: list[dict] = []
    skipped = 0
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return records
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if isinstance(record, dict) and "input" in record and record.get("status") in STATUSES:
            records.append(record)
        else:
            skipped += 1
    if skipped:
        logger.warning("%s: skipped %d incomplete or unknown line(s) (a run killed mid-write leaves one)", path,
                       skipped)
    return records
