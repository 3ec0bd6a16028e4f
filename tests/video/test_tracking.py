"""Landmark smoothing over time and face tracking across frames (pure functions, no video needed)."""

from __future__ import annotations

import numpy as np
import pytest

from hifacegan.faces.align import FFHQ_TEMPLATE
from hifacegan.faces.detect import DetectedFace
from hifacegan.video.tracking import FaceTracker, SmoothingConfig, box_iou, smooth_landmark_track

FPS = 25.0


def _face_points(center_x: float, center_y: float, size: float = 100.0) -> np.ndarray:
    return (FFHQ_TEMPLATE - 0.5) * size + np.array([center_x, center_y])


def _path(frames: int, speed_px_per_frame: float) -> np.ndarray:
    """A face drifting right at a steady speed: the true, smooth landmark track ``(T, 5, 2)``."""
    return np.stack([_face_points(200 + speed_px_per_frame * t, 150) for t in range(frames)])


def _jitter(track: np.ndarray, pixels: float, seed: int = 0) -> np.ndarray:
    return track + np.random.default_rng(seed).normal(0, pixels, track.shape)


def test_a_still_track_comes_out_unchanged():
    still = np.repeat(_face_points(320, 240)[None], 40, axis=0)
    np.testing.assert_array_equal(smooth_landmark_track(still, FPS), still)


def test_a_jittered_track_comes_out_smoother_and_closer_to_the_true_path():
    truth = _path(100, speed_px_per_frame=0.5)
    noisy = _jitter(truth, pixels=1.5)
    smoothed = smooth_landmark_track(noisy, FPS)

    def frame_to_frame(track):  # what the eye sees as shimmer: the second difference over time
        return np.abs(np.diff(track, n=2, axis=0)).mean()

    assert frame_to_frame(smoothed) < 0.4 * frame_to_frame(noisy)
    settled = slice(10, None)  # the filter starts from the first (noisy) sample
    assert np.abs(smoothed[settled] - truth[settled]).mean() < 0.8 * np.abs(noisy[settled] - truth[settled]).mean()


def test_a_fast_move_is_followed_without_lasting_lag():
    # 20 px per frame: a face crossing the frame in a second; the filter must open up and keep pace.
    truth = _path(60, speed_px_per_frame=20.0)
    smoothed = smooth_landmark_track(truth, FPS)
    lag = np.abs(smoothed[-20:] - truth[-20:]).max()
    assert lag < 10.0  # less than half a frame's motion behind; a fixed 1.5 Hz low-pass would trail by ~50 px


def test_smoothing_rejects_a_malformed_track():
    with pytest.raises(ValueError, match=r"\(T, K, 2\)"):
        smooth_landmark_track(np.zeros((10, 5)), FPS)


def test_box_iou():
    assert box_iou(np.array([0, 0, 10, 10]), np.array([0, 0, 10, 10])) == pytest.approx(1.0)
    assert box_iou(np.array([0, 0, 10, 10]), np.array([5, 0, 15, 10])) == pytest.approx(50 / 150)
    assert box_iou(np.array([0, 0, 10, 10]), np.array([20, 20, 30, 30])) == 0.0


class _ScriptedDetector:
    """Returns the faces scripted for each successive frame."""

    def __init__(self, frames: list[list[DetectedFace]]) -> None:
        self.frames = iter(frames)

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        return next(self.frames)


def _detected(points: np.ndarray) -> DetectedFace:
    return DetectedFace(np.array([*points.min(0) - 20, *points.max(0) + 20]), points, 0.99)


def test_tracker_keeps_each_face_on_its_own_track_whatever_the_detection_order():
    frames = 30
    left, right = _jitter(_path(frames, 0.3), 1.5, seed=1), _jitter(_path(frames, 0.3) + [300, 0], 1.5, seed=2)
    # The detector lists the two faces in a different order on every other frame.
    script = [[_detected(left[t]), _detected(right[t])][:: 1 if t % 2 else -1] for t in range(frames)]
    tracker = FaceTracker(_ScriptedDetector(script), FPS)
    outputs = [tracker(np.zeros((8, 8, 3))) for _ in range(frames)]

    assert tracker.track_count == 2
    smoothed_left = np.stack([min(out, key=lambda f: f.landmarks[:, 0].mean()).landmarks for out in outputs])
    # Had the tracks been mixed up, the left face would have been pulled 150 px towards the right one.
    assert np.abs(smoothed_left - _path(frames, 0.3)).max() < 6.0
    assert np.abs(np.diff(smoothed_left, n=2, axis=0)).mean() < 0.5 * np.abs(np.diff(left, n=2, axis=0)).mean()
    # Boxes and scores are the detector's own.
    assert {tuple(f.box) for f in outputs[-1]} == {tuple(f.box) for f in script[-1]}


def test_tracker_starts_a_fresh_track_for_a_face_that_jumps_or_returns_after_a_long_absence():
    face = _face_points(200, 150)
    far = _face_points(900, 600)
    config = SmoothingConfig(max_missed_frames=2)
    script = [[_detected(face)], [_detected(far)], [], [], [], [_detected(face)]]
    tracker = FaceTracker(_ScriptedDetector(script), FPS, config)
    outputs = [tracker(np.zeros((8, 8, 3))) for _ in script]
    # A jump across the frame is a new face: its landmarks are taken as they are, not blended with the old ones.
    np.testing.assert_array_equal(outputs[1][0].landmarks, far)
    np.testing.assert_array_equal(outputs[5][0].landmarks, face)
    assert tracker.track_count == 3
