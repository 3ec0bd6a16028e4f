"""Issue 31, case 7: the local cluster of ``restore --engine ray`` listens on loopback only, and nothing of it
outlives its ``hifacegan restore`` process, even one killed with SIGKILL.

A real local Ray cluster (no mocks), started by ``hifacegan restore`` as a subprocess on tiny photos with the
tiny model (``--aligned``: no face detector). The cluster's processes are those whose environment holds a
marker unique to the test (every process Ray starts inherits its driver's environment); their listening
sockets are read from ``/proc`` (Linux).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hifacegan.batch.manifest import read_manifest

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads processes from /proc (Linux)")

MARKER = "HIFACEGAN_TEST_RAY_CLUSTER"
#: How long a killed run's cluster may take to go away (the issue's grace period).
GRACE_SECONDS = 30
#: Ray's start-up on a loaded 2-core machine, plus the first photo.
START_SECONDS = 240


@pytest.fixture(scope="module", autouse=True)
def _needs_ray_data():
    import importlib.metadata

    try:
        importlib.metadata.distribution("ray")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs Ray for --engine ray (pip install 'hifacegan[ray]')")


@pytest.fixture
def scratch():
    """A short ``$TMPDIR`` for the run (Ray's socket paths under it must fit in 107 bytes); removed after."""
    folder = Path(tempfile.mkdtemp(prefix="hfgt-", dir="/tmp" if Path("/tmp").is_dir() else None))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _photos(folder: Path, count: int) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"face{index:03d}.png")
    return folder


def _start(photos: Path, out: Path, model: Path, scratch: Path, marker: str, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "hifacegan", "restore", str(photos), "-o", str(out), "--model", str(model),
               "--device", "cpu", "--aligned", "--engine", "ray", "--ray-actors", "1"]
    env = {**os.environ, MARKER: marker, "TMPDIR": str(scratch)}
    env.pop("RAY_ADDRESS", None)  # a local cluster, whatever the machine's setting
    with log.open("wb") as sink:
        return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _marked(marker: str) -> dict[int, str]:
    """``pid -> name`` of the live (not zombie) processes whose environment holds ``MARKER=marker``."""
    needle = f"{MARKER}={marker}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2] != "Z":
                found[int(entry.name)] = (entry / "comm").read_text().strip()
        except OSError:
            continue  # gone meanwhile, or another user's
    return found


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)  # /proc/net/tcp*: 32-bit words in host (little-endian) order
    ordered = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(ordered)


def _listening(pids: dict[int, str]) -> list[tuple[str, str]]:
    """``(process name, address:port)`` of each listening TCP socket of ``pids``."""
    listening = {}
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                address, port = fields[1].split(":")
                listening[fields[9]] = f"{_address(address)}:{int(port, 16)}"
    sockets = []
    for pid, name in pids.items():
        try:
            links = [os.readlink(link) for link in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        for link in links:
            inode = link[len("socket:["):-1] if link.startswith("socket:[") else None
            if inode in listening:
                sockets.append((name, listening[inode]))
    return sockets


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)  # [::ffff:127.0.0.1]: IPv4 loopback on a dual-stack socket
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _kill_marked(marker: str) -> None:
    for pid in _marked(marker):  # this test's processes only
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@contextlib.contextmanager
def _restore_run(photos: Path, out: Path, model: Path, scratch: Path, log: Path):
    """A running ``restore --engine ray``; yields ``(process, marker)``; kills whatever is left of it after."""
    marker = uuid.uuid4().hex
    proc = _start(photos, out, model, scratch, marker, log)
    try:
        yield proc, marker
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_marked(marker)


def _wait_for_actors_at_work(proc: subprocess.Popen, out: Path, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not any(r["status"] == "ok" for r in read_manifest(out / "manifest.jsonl")):
        assert proc.poll() is None, "the run ended before it could be inspected:\n" + log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no photo restored within {START_SECONDS} s"
        time.sleep(0.1)


def test_local_cluster_listens_on_loopback_and_dies_with_a_killed_driver(tiny_model_file, tmp_path, scratch):
    out, log = tmp_path / "out", tmp_path / "run.log"
    with _restore_run(_photos(tmp_path / "photos", 60), out, tiny_model_file, scratch, log) as (proc, marker):
        _wait_for_actors_at_work(proc, out, log)
        cluster = _marked(marker)
        sockets = _listening(cluster)
        assert proc.poll() is None, "the run ended before it could be inspected: give it more photos"
        assert {"raylet", "gcs_server"} <= set(cluster.values()), cluster
        assert {name for name, _ in sockets} >= {"raylet", "gcs_server"}, sockets  # not a vacuous check
        assert [s for s in sockets if not _loopback(s[1])] == [], "listening beyond this machine"

        os.kill(proc.pid, signal.SIGKILL)  # the driver, `hifacegan restore`, mid-batch
        proc.wait(timeout=10)
        deadline = time.monotonic() + GRACE_SECONDS
        while (left := _marked(marker)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == {}, f"still running {GRACE_SECONDS} s after the kill (of {sorted(cluster.values())})"
        assert list(scratch.iterdir()) == [], "Ray's temporary folder was left behind"
        assert 0 < len(read_manifest(out / "manifest.jsonl")) < 60  # killed mid-batch, as meant


def test_local_cluster_leaves_nothing_after_a_complete_run(tiny_model_file, tmp_path, scratch):
    out, log = tmp_path / "out", tmp_path / "run.log"
    with _restore_run(_photos(tmp_path / "photos", 3), out, tiny_model_file, scratch, log) as (proc, marker):
        assert proc.wait(timeout=START_SECONDS) == 0, log.read_text()[-3000:]
        assert sorted(r["status"] for r in read_manifest(out / "manifest.jsonl")) == ["ok"] * 3
        deadline = time.monotonic() + 5  # SIGKILL is sent before the run exits, delivered a moment later
        while (left := _marked(marker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == {}
        assert list(scratch.iterdir()) == [], "Ray's temporary folder was left behind"


def test_a_killed_cluster_driver_ends_the_run_with_a_message_and_leaves_nothing(tiny_model_file, tmp_path, scratch):
    out, log = tmp_path / "out", tmp_path / "run.log"
    with _restore_run(_photos(tmp_path / "photos", 60), out, tiny_model_file, scratch, log) as (proc, marker):
        _wait_for_actors_at_work(proc, out, log)
        drivers = [pid for pid in _marked(marker)
                   if b"_driver_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(drivers) == 1, _marked(marker)
        os.kill(drivers[0], signal.SIGKILL)  # the private cluster's driver, not `hifacegan restore`
        assert proc.wait(timeout=GRACE_SECONDS + 60) == 1
        text = log.read_text()
        assert "driver stopped before the end of the batch (killed by SIGKILL)" in text, text[-3000:]
        assert "--skip-existing resumes" in text and "Traceback" not in text, text[-3000:]
        assert _marked(marker) == {}
        assert list(scratch.iterdir()) == [], "Ray's temporary folder was left behind"
