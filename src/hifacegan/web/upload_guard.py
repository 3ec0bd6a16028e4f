"""Bounds on what visitors can make the page's server write to disk (issue 31, case 2).

Gradio bounds each uploaded file (``max_file_size``) but not a request's total, its number of files, or
what many requests leave behind: one POST of 8 x 70 MB wrote 560 MB, kept for an hour, and a client that
disconnects mid-upload leaves Gradio's temporary file forever. Two pieces close that:

- :class:`DiskBudget` keeps the server's folders (Gradio's uploads and cache, the results) under a total
  size, deleting the oldest entries first. Entries an upload in flight may still be writing are never
  deleted; when nothing else can go, the new upload is refused instead.
- :class:`UploadGuard`, an ASGI middleware in front of every route, refuses a multipart request before
  Gradio reads it when it has no ``Content-Length`` (411), declares more than the per-request bound (413),
  or cannot get room in the budget (507); while the body streams it counts the multipart parts and stops
  the request past the file bound (413).

Kept free of Gradio and Starlette imports: the middleware speaks raw ASGI, so it is tested without them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DiskBudget", "UploadBounds", "UploadGuard"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MB = 1_000_000
DEFAULT_REQUEST_MB = 200.0
DEFAULT_MAX_FILES = 20
DEFAULT_DISK_MB = 2000.0


@dataclass(frozen=True)
class UploadBounds:
    """What one request, and all of them together, may write.

    Attributes:
        max_request_mb: largest multipart request body, in MB (all its files together).
        max_files: most files (multipart parts) in one request.
        max_disk_mb: most the server's folders may hold at once, in MB; the oldest entries are deleted
            to make room. At least twice ``max_request_mb``, so one upload always fits beside another.
    """

    max_request_mb: float = DEFAULT_REQUEST_MB
    max_files: int = DEFAULT_MAX_FILES
    max_disk_mb: float = DEFAULT_DISK_MB

    def __post_init__(self) -> None:
        if self.max_request_mb <= 0 or self.max_files < 1:
            raise ValueError("the per-request bounds must be positive")
        if self.max_disk_mb < 2 * self.max_request_mb:
            raise ValueError(f"the disk budget ({self.max_disk_mb:g} MB) must be at least twice the largest "
                             f"request ({self.max_request_mb:g} MB)")

    @property
    def max_request_bytes(self) -> int:
        return round(self.max_request_mb * MB)

    @property
    def max_disk_bytes(self) -> int:
        return round(self.max_disk_mb * MB)


def _size(path: Path) -> int:
    """Bytes under ``path`` (a file or a folder); entries removed meanwhile count as 0."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
    except OSError:
        return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _entries(folders: tuple[Path, ...]) -> Iterator[tuple[float, Path]]:
    """(mtime, path) of each top-level entry of ``folders``: an upload's folder, a loose temporary file,
    a result run."""
    for folder in folders:
        try:
            children = list(folder.iterdir())
        except OSError:  # not made yet
            continue
        for child in children:
            try:
                yield child.lstat().st_mtime, child
            except OSError:
                continue


class DiskBudget:
    """Keeps ``folders`` under ``max_bytes`` in total by deleting their oldest top-level entries.

    Reservations stand for uploads in flight: their bytes count as used, and entries modified since the
    oldest of them began are not deleted (Gradio may be writing them). Single-threaded use: the
    middleware calls it from the event loop, the page's handler from its one queue worker; the worst a
    race can do is delete a finished result a moment early.
    """

    def __init__(self, folders: tuple[Path, ...], max_bytes: int):
        self.folders = folders
        self.max_bytes = max_bytes
        self._reserved: dict[int, tuple[float, int]] = {}
        self._next_ticket = 0

    def used(self) -> int:
        return sum(_size(folder) for folder in self.folders)

    def reserved(self) -> int:
        return sum(nbytes for _start, nbytes in self._reserved.values())

    def make_room(self, nbytes: int) -> bool:
        """Delete the oldest deletable entries until ``nbytes`` more fit; ``False`` when they cannot."""
        used = self.used() + self.reserved()
        if used + nbytes <= self.max_bytes:
            return True
        in_flight_since = min((start for start, _ in self._reserved.values()), default=float("inf"))
        for mtime, entry in sorted(_entries(self.folders)):
            if mtime >= in_flight_since:
                break  # sorted by age: everything from here on may belong to an upload in flight
            freed = _size(entry)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            logger.info("disk budget: deleted %s (%.1f MB, the oldest entry)", entry.name, freed / MB)
            used -= freed
            if used + nbytes <= self.max_bytes:
                return True
        return False

    def reserve(self, nbytes: int) -> int | None:
        """Make room for an upload of ``nbytes`` and hold it; a ticket for :meth:`release`, or ``None``."""
        if not self.make_room(nbytes):
            return None
        self._next_ticket += 1
        # The start time is taken a second early: a file Gradio creates in this same second then counts as
        # in flight even on file systems whose timestamps are coarse.
        self._reserved[self._next_ticket] = (time.time() - 1.0, nbytes)
        return self._next_ticket

    def release(self, ticket: int) -> None:
        self._reserved.pop(ticket, None)


class _TooManyParts(Exception):
    pass


class _PartCounter:
    """Counts multipart delimiters (``--boundary``) in a body that arrives in chunks of any size."""

    def __init__(self, boundary: bytes):
        self.delimiter = b"--" + boundary
        self.count = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> int:
        data = self._tail + chunk
        self.count += data.count(self.delimiter)
        # Keep the last len-1 bytes: too short to hold a whole (already counted) delimiter, long enough
        # that one split across two chunks is counted when its end arrives.
        self._tail = data[-(len(self.delimiter) - 1):]
        return self.count


def _boundary(content_type: str) -> bytes | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    return None


class UploadGuard:
    """ASGI middleware: the per-request and on-disk bounds of :class:`UploadBounds` for multipart POSTs."""

    def __init__(self, app: ASGIApp, bounds: UploadBounds, budget: DiskBudget):
        self.app = app
        self.bounds = bounds
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        content_type = headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/"):
            await self.app(scope, receive, send)
            return
        boundary = _boundary(content_type)
        try:
            length = int(headers["content-length"])
        except (KeyError, ValueError):
            await _refuse(send, 411, "an upload must state its Content-Length")
            return
        if length > self.bounds.max_request_bytes:
            await _refuse(send, 413, f"this upload is {length / MB:.1f} MB; the server takes at most "
                                     f"{self.bounds.max_request_mb:g} MB per upload")
            return
        if boundary is None:
            await _refuse(send, 400, "a multipart upload needs a boundary")
            return
        ticket = self.budget.reserve(length)
        if ticket is None:
            logger.warning("refused an upload of %.1f MB: the %g MB of upload space are in use", length / MB,
                           self.bounds.max_disk_mb)
            await _refuse(send, 507, "the server's upload space is full; try again in a few minutes")
            return
        counter = _PartCounter(boundary)
        # The closing delimiter is one more than the parts.
        most_delimiters = self.bounds.max_files + 1
        started = False

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and counter.feed(message.get("body", b"")) > most_delimiters:
                raise _TooManyParts
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _TooManyParts:
            # Gradio's partly written temporary files stay behind; they are the oldest entries the next
            # time room is needed, and the budget counts them meanwhile.
            if not started:
                await _refuse(send, 413, f"an upload holds at most {self.bounds.max_files} files")
        finally:
            self.budget.release(ticket)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
