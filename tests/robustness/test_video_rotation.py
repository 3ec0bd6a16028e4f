"""Issue 31, case 5: a video whose display matrix turns its frames (a phone filmed upright) is restored
upright and plays as the input does. Real PyAV codecs, small synthetic clips, the tiny model."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from _clips import CentreFace, read_clip, scene, write_clip
from _hostile_inputs import portrait_phone_video

import hifacegan.restorer as restorer_module

av = pytest.importorskip("av", reason='restoring videos needs PyAV: pip install "hifacegan[video]"')

pytestmark = pytest.mark.usefixtures("one_torch_thread", "centre_face_detector")


def upright_picture(h: int = 96, w: int = 64) -> np.ndarray:
    """A portrait picture no turn or mirror leaves alike: a gradient down (red), one across (green) and a
    white block in the top-left corner."""
    y, x = np.mgrid[0:h, 0:w]
    picture = np.stack([(y * 255) // (h - 1), (x * 255) // (w - 1), np.full_like(x, 60)], 2).astype(np.uint8)
    picture[: h // 4, : w // 4] = 255
    return picture


def stored_for(upright: np.ndarray, rotation: int, mirror: bool) -> np.ndarray:
    """The frame a camera stores so that turning it ``rotation`` degrees counter-clockwise, then mirroring
    it if ``mirror``, shows ``upright``."""
    return np.ascontiguousarray(np.rot90(upright[:, ::-1] if mirror else upright, -rotation // 90))


def ring_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference outside the middle of the frame (where the face is restored)."""
    h, w = a.shape[:2]
    ring = np.ones((h, w), bool)
    ring[h // 5: h - h // 5, w // 5: w - w // 5] = False
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32))[ring].mean())


def same_shape_turns(image: np.ndarray) -> list[np.ndarray]:
    """The other turns and mirrors of ``image`` with its shape (what a wrong sign or a missed flip gives)."""
    candidates = [np.rot90(image, 2), image[::-1], image[:, ::-1]]
    if image.shape[0] == image.shape[1]:
        candidates += [np.rot90(image, 1), np.rot90(image, -1), image.transpose(1, 0, 2)]
    return candidates


@pytest.fixture
def detector_sizes(monkeypatch):
    """The (height, width) of every frame the face detector is shown."""
    sizes: list[tuple[int, int]] = []

    class Recording(CentreFace):
        def __call__(self, image):
            sizes.append(image.shape[:2])
            return super().__call__(image)

    monkeypatch.setattr(restorer_module, "default_detector", Recording)
    return sizes


def assert_written_upright(path):
    """The output has no display matrix: every player shows its frames as stored."""
    with av.open(str(path)) as restored:
        frame = next(restored.decode(video=0))
        assert frame.rotation == 0 and frame.side_data.get("DISPLAYMATRIX") is None


def test_a_portrait_phone_video_plays_upright_as_the_input_does(tmp_path, restore_cli, detector_sizes, caplog):
    clip = portrait_phone_video(tmp_path / "phone.mp4")  # landscape 96x64 frames, shown turned by 90 degrees
    stored, _ = read_clip(clip)

    assert restore_cli(clip, "-o", tmp_path / "out") == 0, caplog.text
    out = tmp_path / "out" / "restored_videos" / "phone.mp4"
    frames, info = read_clip(out)
    assert len(frames) == len(stored) == 4
    assert info["size"] == (64, 96)  # width x height as the input is displayed: portrait
    assert_written_upright(out)
    shown = np.rot90(stored[0])  # how a player shows the input: 90 degrees counter-clockwise
    assert ring_error(frames[0], shown) < 8
    assert ring_error(frames[0], np.rot90(stored[0], -1)) > 40  # the wrong way round is far off
    assert set(detector_sizes) == {(96, 64)}  # faces were looked for upright


@pytest.mark.parametrize("rotation, mirror, upscale", [(0, False, 1), (90, False, 2), (-90, False, 1),
                                                       (180, False, 1), (270, False, 1), (90, True, 1)])
def test_each_turn_is_restored_upright_with_its_frames_and_sound(rotation, mirror, upscale, tmp_path, restore_cli,
                                                                 detector_sizes, caplog):
    upright = upright_picture()
    stored = stored_for(upright, rotation, mirror)
    clip = write_clip(tmp_path / "turned.mp4", [stored] * 5, fps=10, rotation=rotation, mirror=mirror)
    _, before = read_clip(clip)

    assert restore_cli(clip, "-o", tmp_path / "out", "--upscale", upscale) == 0, caplog.text
    out = tmp_path / "out" / "restored_videos" / "turned.mp4"
    frames, info = read_clip(out)
    assert len(frames) == 5
    assert info["size"] == (64 * upscale, 96 * upscale)
    assert_written_upright(out)
    assert info["audio_codec"] == "aac" and len(info["audio"]) == len(before["audio"])  # copied as it was
    shown = frames[0][::upscale, ::upscale]
    error = ring_error(shown, upright)
    assert error < 8, f"{rotation} degrees{' mirrored' if mirror else ''}: off by {error:.1f}"
    for wrong in same_shape_turns(upright):
        assert ring_error(shown, wrong) > 3 * error + 20
    assert detector_sizes and all(h > w for h, w in detector_sizes)  # faces were looked for upright


def test_a_turn_other_than_a_right_angle_is_restored_as_stored_with_a_warning(tmp_path, restore_cli, caplog):
    clip = write_clip(tmp_path / "tilted.mp4", [scene(64, 96)] * 3, fps=10, audio_rate=None, rotation=45)

    assert restore_cli(clip, "-o", tmp_path / "out") == 0, caplog.text
    frames, info = read_clip(tmp_path / "out" / "restored_videos" / "tilted.mp4")
    assert len(frames) == 3 and info["size"] == (96, 64)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("tilted.mp4: its display matrix turns the frames by 45 degrees" in w for w in warnings), warnings
