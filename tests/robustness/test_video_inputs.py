"""Issue 31, videos that break the pipeline: each is one message and the batch goes on; what is restored
plays as the input does. Real PyAV codecs, small synthetic clips, the tiny model."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from _clips import read_clip, scene, write_clip
from _hostile_inputs import pcm_video, unknown_codec_video

av = pytest.importorskip("av", reason='restoring videos needs PyAV: pip install "hifacegan[video]"')

pytestmark = pytest.mark.usefixtures("one_torch_thread", "centre_face_detector")


def test_an_unknown_video_codec_is_one_message_and_the_later_videos_are_restored(tmp_path, restore_cli, caplog):
    broken = unknown_codec_video(tmp_path / "zzzz.avi")
    good = write_clip(tmp_path / "later.mp4", [scene(64, 96)] * 3, fps=10, audio_rate=None)

    assert restore_cli(broken, good, "-o", tmp_path / "out") == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len([e for e in errors if "zzzz.avi" in e]) == 1, errors  # one message, no traceback
    assert "zzzz.avi: its video stream's codec is unknown to FFmpeg" in caplog.text
    assert len(read_clip(tmp_path / "out" / "restored_videos" / "later.mp4")[0]) == 3


@pytest.mark.parametrize("container, channels", [("matroska", 2), ("avi", 2), ("avi", 1)])
def test_pcm_sound_of_camera_files_is_re_encoded_as_aac(container, channels, tmp_path, restore_cli, caplog):
    clip = pcm_video(tmp_path / f"camera.{'mkv' if container == 'matroska' else 'avi'}", container, channels)
    assert restore_cli(clip, "-o", tmp_path / "out") == 0, caplog.text
    assert "re-encoded as AAC (MP4 cannot hold pcm_s16le)" in caplog.text
    frames, info = read_clip(tmp_path / "out" / "restored_videos" / "camera.mp4")
    assert len(frames) == 10 and info["audio_codec"] == "aac" and info["audio_rate"] == 8000
    with av.open(str(tmp_path / "out" / "restored_videos" / "camera.mp4")) as restored:
        assert restored.streams.audio[0].codec_context.layout.nb_channels == channels
    # One second of the sine on each channel, give or take AAC's padding.
    assert len(info["audio"]) == pytest.approx(8000 * channels, rel=0.2)


def test_a_video_stopped_by_a_full_disk_says_what_was_kept(small_disk, tmp_path, restore_cli, caplog):
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(40)]  # incompressible frames
    clip = write_clip(tmp_path / "long.mp4", noise, fps=10, audio_rate=None)
    out = small_disk / "out"

    assert restore_cli(clip, "-o", out, "--video-crf", "0") == 1
    message = next(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and "long.mp4" in r.getMessage())
    assert "stopped after" in message and "No space left on device" in message, message
    videos = out / "restored_videos"
    left = sorted(p.name for p in videos.iterdir())
    if left:  # a partial video is promised only where it is kept, complete and playable
        assert left == ["long.partial.mp4"] and str(videos / "long.partial.mp4") in message
        assert 0 < len(read_clip(videos / "long.partial.mp4")[0]) < 40
    else:
        assert "could not be finished" in message and "removed" in message
    # What was removed is free again: the manifest still takes the video's record.
    assert "could not be added" not in caplog.text
    assert json.loads((out / "manifest.jsonl").read_text().splitlines()[-1])["status"] == "failed"
