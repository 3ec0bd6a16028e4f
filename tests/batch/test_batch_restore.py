"""``restore --skip-existing`` and ``--shard`` with the local engine: what each run takes, skips and records."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from PIL import Image

import hifacegan.restorer as restorer_module
from hifacegan.batch.manifest import read_manifest
from hifacegan.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _info_logs(caplog):
    caplog.set_level(logging.INFO)



@pytest.fixture
def crops(tmp_path):
    folder = tmp_path / "crops"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"face_{i}.png")
    (folder / "notes.png").write_text("not an image")
    return folder


def _restore(inputs, out, model, *extra) -> int:
    return main(["restore", *map(str, inputs), "-o", str(out), "--model", str(model), "--device", "cpu", *extra])


def _by_key(out):
    return {r["key"]: r for r in read_manifest(out / "manifest.jsonl")}


def test_two_shards_cover_the_inputs_once_and_record_each(crops, tmp_path, tiny_model_file):
    out = tmp_path / "out"
    for k in range(2):
        assert _restore([crops], out, tiny_model_file, "--aligned", "--shard", f"{k}/2") == 0
    records = read_manifest(out / "manifest.jsonl")
    assert sorted(r["key"] for r in records) == sorted(p.name for p in crops.iterdir())  # each input once
    assert {r["pid"] for r in records} == {os.getpid()}
    statuses = {r["key"]: r["status"] for r in records}
    assert statuses.pop("notes.png") == "failed" and set(statuses.values()) == {"ok"}
    assert sorted(p.name for p in (out / "restored_faces").iterdir()) == [f"face_{i}.png" for i in range(6)]
    good = _by_key(out)["face_0.png"]
    assert good["size"] == (crops / "face_0.png").stat().st_size and len(good["sha256"]) == 64
    assert good["faces"] == 1 and good["error"] is None and good["seconds"] >= 0
    assert "not a readable image" in _by_key(out)["notes.png"]["error"]


def test_skip_existing_resumes_only_what_is_missing(crops, tmp_path, tiny_model_file, caplog):
    out = tmp_path / "out"
    assert _restore([crops], out, tiny_model_file, "--aligned") == 0
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    (out / "cmp" / "face_3.png").unlink()  # as if the run had been killed before face_3 was complete
    caplog.clear()
    assert _restore([crops], out, tiny_model_file, "--aligned", "--skip-existing") == 0
    assert "5 file(s) already complete, skipped" in caplog.text
    records = read_manifest(out / "manifest.jsonl")[7:]  # the second run's
    assert {r["key"]: r["status"] for r in records} == {
        **{f"face_{i}.png": "skipped" for i in range(6) if i != 3}, "face_3.png": "ok", "notes.png": "failed"}
    assert all(r["sha256"] for r in records if r["status"] == "skipped")
    for path, mtime in first.items():  # complete outputs were not rewritten
        if path.name != "face_3.png":
            assert path.stat().st_mtime_ns == mtime, path
    assert (out / "cmp" / "face_3.png").is_file()
    # Everything complete: nothing to do is success, not failure.
    (crops / "notes.png").unlink()
    assert _restore([crops], out, tiny_model_file, "--aligned", "--skip-existing") == 0


def test_photos_without_faces_are_complete_once_copied_through(tmp_path, tiny_model_file, monkeypatch):
    monkeypatch.setattr(restorer_module, "default_detector", lambda: (lambda image: []))
    Image.fromarray(np.full((40, 50, 3), 120, np.uint8)).save(tmp_path / "empty.jpg")
    out = tmp_path / "out"
    assert _restore([tmp_path / "empty.jpg"], out, tiny_model_file) == 0
    assert (out / "restored_imgs" / "empty.jpg").is_file()
    assert _restore([tmp_path / "empty.jpg"], out, tiny_model_file, "--skip-existing") == 0
    assert [r["status"] for r in read_manifest(out / "manifest.jsonl")] == ["no_face", "skipped"]


def test_shard_from_the_environment_and_its_errors(crops, tmp_path, tiny_model_file, monkeypatch, caplog):
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    assert _restore([crops], tmp_path / "slurm", tiny_model_file, "--aligned") in (0, 1)
    slurm_keys = set(_by_key(tmp_path / "slurm"))
    assert f"shard 1/3: {len(slurm_keys)} of 7 input(s)" in caplog.text
    assert _restore([crops], tmp_path / "flag", tiny_model_file, "--aligned", "--shard", "1/3") in (0, 1)
    assert set(_by_key(tmp_path / "flag")) == slurm_keys  # the environment means the same as the flag
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    caplog.clear()
    assert _restore([crops], tmp_path / "k8s", tiny_model_file, "--aligned") == 2
    assert "pass --shard-count N" in caplog.text and not (tmp_path / "k8s" / "manifest.jsonl").exists()


def test_ray_options_without_the_ray_engine_are_a_usage_error(crops, tmp_path, tiny_model_file, caplog):
    assert _restore([crops], tmp_path / "out", tiny_model_file, "--aligned", "--address", "auto") == 2
    assert "--address and --ray-actors need --engine ray" in caplog.text
