"""Issue 31, case 2: what visitors can make the page's server write to disk is bounded per request (size,
number of files) and over time (a disk budget, oldest entries deleted first), on a real server."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import time
import urllib.parse
from pathlib import Path

import pytest
from _web_server import assert_nothing_left, running_server

from hifacegan.web.upload_guard import DiskBudget, UploadBounds, UploadGuard, _PartCounter

MB = 1_000_000
BOUNDARY = "hfgboundary7d1e"


def _multipart(files: list[tuple[str, bytes]]) -> bytes:
    parts = [f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
             f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for name, data in files]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def test_parts_are_counted_whatever_the_chunking():
    body = _multipart([(f"f{k}.png", os.urandom(300)) for k in range(5)])
    for chunk in (1, 7, len(BOUNDARY) + 2, 1000, len(body)):
        counter = _PartCounter(BOUNDARY.encode())
        for start in range(0, len(body), chunk):
            counter.feed(body[start:start + chunk])
        assert counter.count == 6, chunk  # five parts and the closing delimiter


def test_the_budget_deletes_the_oldest_entries_and_spares_uploads_in_flight(tmp_path):
    uploads, runs = tmp_path / "gradio", tmp_path / "runs"
    uploads.mkdir()
    runs.mkdir()
    now = time.time()
    entries = []
    for age, folder in ((300, uploads), (200, runs), (100, uploads)):
        entry = folder / f"entry{age}"
        entry.mkdir()
        (entry / "data.bin").write_bytes(b"x" * 400)
        os.utime(entry, (now - age, now - age))
        entries.append(entry)
    budget = DiskBudget((uploads, runs), max_bytes=1000)
    assert budget.used() == 1200
    assert budget.make_room(0)
    assert [e.exists() for e in entries] == [False, True, True]  # only the oldest had to go
    ticket = budget.reserve(200)
    assert ticket is not None and budget.reserved() == 200
    # Written after the reservation began: may be the upload in flight, so never deleted.
    (uploads / "tmp_in_flight").write_bytes(b"y" * 300)
    # 800 B on disk + 300 B in flight + 200 B reserved: the two older entries go, and 500 + 600 > 1000 still.
    assert not budget.make_room(600)
    assert not entries[1].exists() and not entries[2].exists()
    assert (uploads / "tmp_in_flight").exists()
    budget.release(ticket)
    assert budget.make_room(800)  # nothing in flight any more: the leftover goes too
    assert not (uploads / "tmp_in_flight").exists() and budget.used() == 0


def test_the_bounds_refuse_a_budget_that_cannot_hold_two_uploads():
    with pytest.raises(ValueError, match="at least twice"):
        UploadBounds(max_request_mb=100, max_disk_mb=150)


def test_a_request_over_the_file_bound_stops_while_streaming(tmp_path):
    """The guard in front of a real ASGI app that reads the whole body: past the bound, 413 and no more reading."""
    read: list[int] = []

    async def reading_app(scope, receive, send):
        while True:
            message = await receive()
            read.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def post(files: int) -> tuple[int, int]:
        read.clear()
        body = _multipart([(f"f{k}", b"z" * 100) for k in range(files)])
        chunks = [body[k:k + 120] for k in range(0, len(body), 120)]
        sent: list[dict] = []

        async def receive():
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

        async def send(message):
            sent.append(message)

        guard = UploadGuard(reading_app, UploadBounds(max_request_mb=1, max_files=3, max_disk_mb=2),
                            DiskBudget((tmp_path,), 2 * MB))
        scope = {"type": "http", "method": "POST", "headers": [
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", str(len(body)).encode())]}
        await guard(scope, receive, send)
        return sent[0]["status"], len(read)

    status, reads = asyncio.run(post(3))
    assert status == 200
    status, reads_over = asyncio.run(post(8))
    assert status == 413
    assert reads_over < reads * 8 / 3  # stopped at the fourth part, not at the end of the body


def _post(url: str, body: bytes | None, chunked: bool = False, length: int | None = None) -> tuple[int, bytes]:
    """POST a multipart body to Gradio's upload route; ``length`` overrides the declared Content-Length."""
    parsed = urllib.parse.urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    try:
        if chunked:
            connection.request("POST", "/gradio_api/upload", body=iter([body or b""]), headers=headers,
                               encode_chunked=True)
        elif length is not None:  # declare a large body, send only its start: the guard must not wait for it
            connection.putrequest("POST", "/gradio_api/upload")
            for key, value in {**headers, "Content-Length": str(length)}.items():
                connection.putheader(key, value)
            connection.endheaders(body)
        else:
            connection.request("POST", "/gradio_api/upload", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _folder_bytes(*folders: Path) -> int:
    return sum(p.stat().st_size for folder in folders for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_uploads_are_bounded_per_request_and_over_time_on_a_real_server(tmp_path):
    if not os.environ.get("CI"):
        pytest.importorskip("gradio", reason="needs the [web] extra: pip install 'hifacegan[web]'")
    options = ("--max-upload-mb", "1", "--max-request-mb", "3", "--max-files", "4", "--max-disk-mb", "8")
    with running_server(tmp_path, *options) as (url, sandbox):
        # What the budget covers: Gradio's uploads and cache, and the results (not the detector's own files).
        workdir = next(sandbox["tmp"].glob("hifacegan-serve-*"))
        server_folder = workdir / "gradio"
        before = _folder_bytes(server_folder)

        status, text = _post(url, _multipart([(f"p{k}.png", b"q" * 1000) for k in range(5)]))
        assert status == 413 and b"at most 4 files" in text, text
        status, text = _post(url, _multipart([("big.png", b"r" * 1000)]), length=4 * MB)
        assert status == 413 and b"at most 3 MB" in text, text
        status, text = _post(url, _multipart([("p.png", b"s" * 1000)]), chunked=True)
        assert status == 411, text
        assert _folder_bytes(server_folder) < before + 10_000  # at most the refused 5-file request's start

        kept = []
        for k in range(5):  # 12.5 MB in all through an 8 MB budget
            status, text = _post(url, _multipart([(f"photo{k}.png", os.urandom(int(2.5 * MB)))]))
            assert status == 200, text
            kept.append(Path(json.loads(text)[0]))
            assert _folder_bytes(server_folder, workdir / "runs") <= 8 * MB, k
        assert kept[-1].exists() and kept[-2].exists()
        assert not kept[0].exists()  # the oldest upload made room for the newer ones
        status, _ = _post(url, _multipart([("small.png", b"t" * 100)]))
        assert status == 200  # the server goes on serving
    assert_nothing_left(sandbox)
    assert "disk budget: deleted" in sandbox["log"]
