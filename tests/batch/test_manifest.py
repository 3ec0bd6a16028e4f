"""OUT/manifest.jsonl: concurrent appends never interleave, a torn last line is tolerated and ended."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from pathlib import Path

import pytest

from hifacegan.batch.manifest import Manifest, ManifestRecord, file_digest, read_manifest

WRITERS = 4
RECORDS_EACH = 150


def _append_many(path: str, writer: int) -> None:
    manifest = Manifest(path)
    for i in range(RECORDS_EACH):
        # Long error texts make each line several KB, so an interleaving of two writes would show.
        manifest.append(ManifestRecord(input=f"w{writer}/{i}.jpg", key=f"{i}.jpg", size=i, sha256=None,
                                       status="failed", error=str(writer) * (1000 + 37 * i)))


def test_several_processes_append_whole_lines(tmp_path):
    path = str(tmp_path / "manifest.jsonl")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(path, w)) for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    lines = Path(path).read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == WRITERS * RECORDS_EACH
    records = read_manifest(path)
    assert len(records) == WRITERS * RECORDS_EACH
    for record in records:  # each line is one writer's record, intact
        writer, index = record["input"].split("/")
        assert record["error"] == writer[1:] * (1000 + 37 * int(index.split(".")[0]))
    assert {r["input"] for r in records} == {f"w{w}/{i}.jpg" for w in range(WRITERS) for i in range(RECORDS_EACH)}


def test_a_record_still_being_written_is_not_taken_for_a_torn_one(tmp_path):
    # Another writer holds the lock mid-record (a long record reaches the file page by page): a Manifest opened
    # meanwhile must wait for it, not end the "torn" line with a stray newline.
    import fcntl
    import threading

    path = tmp_path / "manifest.jsonl"
    line = ManifestRecord(input="a.jpg", key="a.jpg", size=1, sha256=None, status="ok").to_line()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, line[:20])
    opened = threading.Event()
    thread = threading.Thread(target=lambda: (Manifest(path), opened.set()))
    thread.start()
    assert not opened.wait(0.5)  # blocked on the lock
    os.write(fd, line[20:])
    os.close(fd)  # releases the lock
    thread.join(10)
    assert opened.is_set() and path.read_bytes() == line


def test_a_torn_last_line_is_skipped_and_the_next_record_starts_a_new_line(tmp_path, caplog):
    path = tmp_path / "manifest.jsonl"
    Manifest(path).append(ManifestRecord(input="a.jpg", key="a.jpg", size=1, sha256="00", status="ok", faces=2))
    with open(path, "ab") as handle:
        handle.write(b'{"input":"b.jpg","key":"b.jpg","si')  # a kill mid-record
    assert [r["input"] for r in read_manifest(path)] == ["a.jpg"]
    assert "skipped 1 incomplete" in caplog.text
    Manifest(path).append(ManifestRecord(input="c.jpg", key="c.jpg", size=3, sha256=None, status="no_face"))
    records = read_manifest(path)
    assert [(r["input"], r["status"]) for r in records] == [("a.jpg", "ok"), ("c.jpg", "no_face")]
    assert records[0]["faces"] == 2 and records[0]["pid"] == os.getpid() and records[0]["time"].endswith("Z")


def test_records_check_their_status_and_survive_names_that_are_not_utf8(tmp_path):
    with pytest.raises(ValueError, match="not one of ok, failed, no_face, skipped"):
        ManifestRecord(input="a", key="a", size=None, sha256=None, status="done")
    name = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 name: a lone surrogate in Python
    path = tmp_path / "manifest.jsonl"
    Manifest(path).append(ManifestRecord(input=name, key=name, size=None, sha256=None, status="skipped"))
    assert os.fsencode(read_manifest(path)[0]["input"]) == b"caf\xe9.jpg"
    assert read_manifest(tmp_path / "absent.jsonl") == []


def test_file_digest(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 5)  # more than one read chunk
    (tmp_path / "f.bin").write_bytes(data)
    assert file_digest(tmp_path / "f.bin") == (len(data), hashlib.sha256(data).hexdigest())
    assert file_digest(tmp_path / "missing.bin") == (None, None)
