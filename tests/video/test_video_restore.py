"""``hifacegan restore clip.mp4``: frames restored, frame rate and audio kept, bad videos reported, batch goes on."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from _clips import SINE_HZ, CentreFace, pan_frames, read_clip, scene, write_clip  # tests/ is on sys.path

import hifacegan.restorer as restorer_module
from hifacegan.cli import main
from hifacegan.faces.detect import DetectedFace

av = pytest.importorskip("av", reason='restoring videos needs PyAV: pip install "hifacegan[video]"')


pytestmark = pytest.mark.usefixtures("one_torch_thread")
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PHOTO = SHARED / "data" / "realworld" / "whole_imgs" / "Blake_Lively.jpg"


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs the project's shared data at {path} (present in CI, absent on user machines)")
    return path


@pytest.fixture(autouse=True)
def _info_logs(caplog):
    caplog.set_level(logging.INFO)


def test_a_real_clip_is_restored_with_its_frame_rate_frame_count_and_audio(real_detector, tmp_path, caplog):
    from PIL import Image

    photo = np.asarray(Image.open(require_shared(PHOTO)).convert("RGB"))
    frames = pan_frames(photo[::2, ::2], frames=6)  # half size keeps the test to seconds
    clip = write_clip(tmp_path / "clip.mp4", frames, fps=12)
    inputs, _ = read_clip(clip)

    rc = main(["restore", str(clip), "-o", str(tmp_path / "out"), "--device", "cpu"])  # the shipped default model
    out = tmp_path / "out" / "restored_videos" / "clip.mp4"
    assert rc == 0 and out.is_file(), caplog.text
    restored, info = read_clip(out)
    assert len(restored) == len(frames)
    assert info["fps"] == 12 and info["size"] == (frames[0].shape[1], frames[0].shape[0])
    assert info["audio_codec"] == "aac" and info["audio_rate"] == 22050
    wave = info["audio"]
    assert len(wave) == pytest.approx(22050 * len(frames) / 12, rel=0.15)
    spectrum = np.abs(np.fft.rfft(wave))
    assert np.fft.rfftfreq(len(wave), 1 / 22050)[spectrum.argmax()] == pytest.approx(SINE_HZ, abs=5)

    from hifacegan.faces.detect import detect

    boxes = detect(inputs[0])
    assert boxes, "the test photo should hold a detectable face"
    changed = np.abs(restored[0].astype(np.float32) - inputs[0].astype(np.float32)).mean(axis=2)
    for face in boxes:
        x0, y0, x1, y1 = (int(v) for v in face.box)
        inner = changed[y0 + (y1 - y0) // 4:y1 - (y1 - y0) // 4, x0 + (x1 - x0) // 4:x1 - (x1 - x0) // 4]
        assert inner.mean() > 2.0  # the model redrew the face
    background = np.ones_like(changed, dtype=bool)
    for face in boxes:
        x0, y0, x1, y1 = (int(v) for v in face.box)
        pad = (x1 - x0) // 2
        background[max(y0 - pad, 0):y1 + pad, max(x0 - pad, 0):x1 + pad] = False
    assert changed[background].mean() < 2.0  # away from faces only the H.264 round trip differs
    assert "2 tracked" in caplog.text or "1 tracked" in caplog.text
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".hfg")]  # no temporary file left


def test_bad_videos_get_a_message_and_the_batch_goes_on(tmp_path, tiny_model_file, monkeypatch, caplog):
    monkeypatch.setattr(restorer_module, "default_detector", CentreFace)
    frames = [np.roll(scene(), t, axis=1) for t in range(20)]
    good = write_clip(tmp_path / "good.mp4", frames, fps=10)
    silent = write_clip(tmp_path / "silent.mkv", frames[:5], fps=10, audio_rate=None)
    whole = write_clip(tmp_path / "whole.mkv", frames, fps=10).read_bytes()
    (tmp_path / "cut.mkv").write_bytes(whole[: len(whole) * 6 // 10])
    (tmp_path / "junk.mp4").write_bytes(os.urandom(4000))
    (tmp_path / "cut_index.mp4").write_bytes(good.read_bytes()[:-3000])  # MP4's index is at the end: unreadable
    with av.open(str(good)) as source:  # one frame's bytes overwritten: FFmpeg refuses that packet
        packets = [(p.pos, p.size) for p in source.demux(source.streams.video[0]) if p.size]
    damaged = bytearray(good.read_bytes())
    position, size = packets[10]
    damaged[position:position + size] = b"\xff" * size
    (tmp_path / "damaged.mp4").write_bytes(bytes(damaged))
    out = tmp_path / "out"

    rc = main(["restore", str(tmp_path / "junk.mp4"), str(tmp_path / "cut_index.mp4"), str(good), str(silent),
               str(tmp_path / "cut.mkv"), str(tmp_path / "damaged.mp4"), "-o", str(out), "--model",
               str(tiny_model_file), "--device", "cpu"])
    assert rc == 0
    assert "junk.mp4: not a readable video" in caplog.text
    assert "cut_index.mp4: not a readable video" in caplog.text
    good_frames, good_info = read_clip(out / "restored_videos" / "good.mp4")
    assert len(good_frames) == 20 and good_info["audio_codec"] == "aac"
    silent_frames, silent_info = read_clip(out / "restored_videos" / "silent.mp4")
    assert len(silent_frames) == 5 and silent_info["audio_codec"] is None
    # The cut file: the frames before the cut are restored and kept, with a warning saying so.
    cut_frames, _ = read_clip(out / "restored_videos" / "cut.mp4")
    assert 0 < len(cut_frames) < 20
    assert "cut.mkv" in caplog.text and "ends early" in caplog.text
    # The damaged frame is skipped and every later frame keeps its time, so the sound stays in sync.
    assert "damaged.mp4: skipped an undecodable frame near" in caplog.text
    with av.open(str(out / "restored_videos" / "damaged.mp4")) as restored:
        times = [frame.time for frame in restored.decode(video=0)]
    steps = np.round(np.diff(times), 3).tolist()
    assert len(times) == 19 and times[-1] == pytest.approx(1.9)  # the end did not move
    assert sorted(steps) == [0.1] * 17 + [0.2]  # one gap where the frame was lost
    assert sorted(p.name for p in (out / "restored_videos").iterdir()) == ["cut.mp4", "damaged.mp4", "good.mp4",
                                                                            "silent.mp4"]
    # Faces were restored (the stand-in detector finds one per frame) and the inputs were left alone.
    assert "20 faces restored in 20 frames (1 tracked)" in caplog.text
    assert (tmp_path / "good.mp4").read_bytes() == good.read_bytes()


def test_video_frames_are_bounded_like_images_and_upscale_and_suffix_apply(tmp_path, tiny_model_file, monkeypatch,
                                                                           caplog):
    monkeypatch.setattr(restorer_module, "default_detector", CentreFace)
    clip = write_clip(tmp_path / "clip.mov", [scene()] * 3, fps=8, container="mov")
    rc = main(["restore", str(clip), "-o", str(tmp_path / "a"), "--model", str(tiny_model_file), "--device", "cpu",
               "--max-megapixels", "0.01"])
    assert rc == 1 and "more than the bound of 0.01 MP" in caplog.text and "--max-megapixels" in caplog.text
    assert not (tmp_path / "a" / "restored_videos" / "clip.mp4").exists()

    rc = main(["restore", str(tmp_path), "-o", str(tmp_path / "b"), "--model", str(tiny_model_file),
               "--device", "cpu", "--upscale", "1.5", "--suffix", "v1"])  # a folder: its videos are found too
    assert rc == 0
    frames, info = read_clip(tmp_path / "b" / "restored_videos" / "clip_v1.mp4")
    assert len(frames) == 3 and info["size"] == (192, 144) and info["fps"] == 8


def test_the_smoothing_reaches_the_alignment(tmp_path, tiny_model_file, monkeypatch):
    """A detector that jitters on a still video: the restored frames flicker less than with jitter unsmoothed."""
    from hifacegan.restorer import Restorer
    from hifacegan.video.pipeline import VideoOptions, restore_video
    from hifacegan.video.tracking import SmoothingConfig

    rng = np.random.default_rng(0)

    class Jittery(CentreFace):
        def __call__(self, image):
            face = super().__call__(image)[0]
            return [DetectedFace(face.box, face.landmarks + rng.normal(0, 1.5, (5, 2)), face.score)]

    clip = write_clip(tmp_path / "still.mp4", [scene()] * 12, fps=12, audio_rate=None)

    def flicker(config: SmoothingConfig) -> float:
        restorer = Restorer(tiny_model_file, device="cpu", detector=Jittery())
        target = tmp_path / f"{config.min_cutoff_hz}.mp4"
        restore_video(clip, target, restorer, VideoOptions(max_pixels=10**6, max_output_pixels=10**7,
                                                           smoothing=config, progress=False))
        frames = np.stack(read_clip(target)[0]).astype(np.float32)
        return float(np.abs(np.diff(frames[2:], axis=0)).mean())

    unsmoothed = flicker(SmoothingConfig(min_cutoff_hz=1e6))  # a cut-off far above the frame rate: no filtering
    assert flicker(SmoothingConfig()) < 0.7 * unsmoothed


def test_audio_mp4_cannot_hold_is_re_encoded_as_aac(tmp_path, tiny_model_file, monkeypatch, caplog):
    monkeypatch.setattr(restorer_module, "default_detector", CentreFace)
    clip = write_clip(tmp_path / "pcm.mov", [scene()] * 10, fps=10, audio_rate=8000, container="mov",
                      audio_codec="pcm_s16le")
    rc = main(["restore", str(clip), "-o", str(tmp_path / "out"), "--model", str(tiny_model_file), "--device", "cpu"])
    assert rc == 0 and "re-encoded as AAC (MP4 cannot hold pcm_s16le)" in caplog.text
    frames, info = read_clip(tmp_path / "out" / "restored_videos" / "pcm.mp4")
    assert len(frames) == 10 and info["audio_codec"] == "aac" and info["audio_rate"] == 8000
    assert len(info["audio"]) == pytest.approx(8000, rel=0.2)  # one second of sound, give or take AAC's padding
    spectrum = np.abs(np.fft.rfft(info["audio"]))
    assert np.fft.rfftfreq(len(info["audio"]), 1 / 8000)[spectrum.argmax()] == pytest.approx(SINE_HZ, abs=5)
