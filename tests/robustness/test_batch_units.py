"""Issue 31, case 6: videos are units of a batch like photos (``--shard``, ``--skip-existing``,
``manifest.jsonl``). Real PyAV codecs, small synthetic clips, the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _clips import read_clip, scene, write_clip
from PIL import Image

pytest.importorskip("av", reason='restoring videos needs PyAV: pip install "hifacegan[video]"')

pytestmark = pytest.mark.usefixtures("one_torch_thread", "centre_face_detector")


def _records(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_videos_are_batch_units_shards_resume_and_manifest(tmp_path, restore_cli, caplog):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b", "c"):
        write_clip(inputs / f"{name}.mp4", [scene(64, 96)] * 2, fps=10, audio_rate=None)
    Image.fromarray(scene(64, 64)).save(inputs / "photo.png")
    out = tmp_path / "out"

    for shard in ("0/2", "1/2"):
        assert restore_cli(inputs, "-o", out, "--aligned", "--shard", shard) == 0
    records = _records(out)
    videos = [r for r in records if r["input"].endswith(".mp4")]
    # Each video was restored by exactly one of the two shards, and has its manifest line.
    assert sorted(r["key"] for r in videos) == ["a.mp4", "b.mp4", "c.mp4"]
    assert {r["status"] for r in videos} == {"ok"} and all(r["sha256"] for r in videos)
    written = {p.name: p.stat().st_mtime_ns for p in (out / "restored_videos").iterdir()}
    assert sorted(written) == ["a.mp4", "b.mp4", "c.mp4"]

    # A rerun with --skip-existing redoes nothing: not the photo, not the videos.
    caplog.clear()
    (out / "restored_videos" / "c.mp4").unlink()  # ...but a video whose output is missing is restored again
    assert restore_cli(inputs, "-o", out, "--aligned", "--skip-existing") == 0
    assert "3 file(s) already complete, skipped" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in (out / "restored_videos").iterdir() if p.name != "c.mp4"} == {
        name: stamp for name, stamp in written.items() if name != "c.mp4"}
    rerun = _records(out)[len(records):]
    assert sorted((r["key"], r["status"]) for r in rerun) == [("a.mp4", "skipped"), ("b.mp4", "skipped"),
                                                            ("c.mp4", "ok"), ("photo.png", "skipped")]
    assert np.asarray(read_clip(out / "restored_videos" / "c.mp4")[0]).shape[0] == 2
