"""Faces followed across video frames, with their landmarks smoothed over time to stop flicker.

A detector finds each frame's faces independently, and its five landmarks jitter by a pixel or two
from frame to frame. The aligned crop follows the landmarks, so the restored face pasted back shimmers.
:class:`FaceTracker` matches each frame's faces to the previous frame's (by box overlap, then by centre
distance) and passes every track's landmarks through a one-euro filter (Casiez et al., CHI 2012):
a low-pass filter whose cut-off rises with speed, so a still face is held steady and a moving one is
followed without visible lag. It is causal (no look-ahead), so frames are restored as they are decoded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hifacegan.faces.detect import DetectedFace, FaceDetector

__all__ = ["FaceTracker", "OneEuroFilter", "SmoothingConfig", "box_iou", "smooth_landmark_track"]


@dataclass(frozen=True)
class SmoothingConfig:
    """Settings of the landmark filter and of the matching of faces between frames.

    Attributes:
        min_cutoff_hz: cut-off frequency of a still face. Lower is steadier; 1.5 Hz removes the
            detector's frame-to-frame jitter at 24-30 fps.
        beta: how fast the cut-off rises with speed, in Hz per face width per second of landmark motion
            (the face width is the spread of the five landmarks, so one setting suits small and large faces).
            1.0 cuts the jitter of a still face about 3-fold and trails a face crossing the frame in a second
            by about a sixth of its per-frame motion.
        derivative_cutoff_hz: cut-off of the speed estimate itself.
        iou_threshold: boxes overlapping at least this much (intersection over union) are the same face.
        max_centre_shift: failing that, a box whose centre moved less than this many box widths is.
        max_missed_frames: a track not seen for more frames than this is forgotten (its filter restarts).
    """

    min_cutoff_hz: float = 1.5
    beta: float = 1.0
    derivative_cutoff_hz: float = 1.0
    iou_threshold: float = 0.3
    max_centre_shift: float = 0.5
    max_missed_frames: int = 5


def _smoothing_factor(cutoff_hz: float, dt: float) -> float:
    # The exponential smoothing factor of a first-order low-pass filter at this cut-off and sample period.
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """A one-euro filter on an array of coordinates (all share one adaptive cut-off).

    Args:
        fps: frames per second of the samples.
        config: filter settings.
    """

    def __init__(self, fps: float, config: SmoothingConfig | None = None) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.dt = 1.0 / fps
        self.config = config or SmoothingConfig()
        self._value: np.ndarray | None = None
        self._speed = 0.0

    def __call__(self, sample: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Filter one sample; ``scale`` is the face width in the samples' units (speed is measured in it)."""
        sample = np.asarray(sample, dtype=np.float64)
        if self._value is None:
            self._value = sample.copy()
            return self._value.copy()
        config = self.config
        # Speed of the landmarks' centroid in face widths per second, itself low-passed: averaging the points
        # first keeps the detector's independent per-point jitter from reading as motion.
        shift = (sample - self._value).reshape(-1, 2).mean(axis=0) if sample.shape[-1] == 2 else sample - self._value
        raw_speed = float(np.linalg.norm(shift)) / max(scale, 1e-9) / self.dt
        self._speed += _smoothing_factor(config.derivative_cutoff_hz, self.dt) * (raw_speed - self._speed)
        alpha = _smoothing_factor(config.min_cutoff_hz + config.beta * self._speed, self.dt)
        # previous + alpha * (new - previous): exactly the previous value when nothing moved.
        self._value = self._value + alpha * (sample - self._value)
        return self._value.copy()


def smooth_landmark_track(landmarks: np.ndarray, fps: float, config: SmoothingConfig | None = None) -> np.ndarray:
    """Smooth one face's landmarks over time, as :class:`FaceTracker` does frame by frame.

    Args:
        landmarks: ``(T, K, 2)`` landmarks of T consecutive frames.
        fps: frame rate.
        config: filter settings.

    Returns:
        ``(T, K, 2)`` smoothed landmarks (the first frame unchanged).
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[2] != 2:
        raise ValueError(f"expected landmarks of shape (T, K, 2), got {landmarks.shape}")
    smoother = OneEuroFilter(fps, config)
    return np.stack([smoother(points, _face_width(points)) for points in landmarks]) if len(landmarks) else landmarks


def _face_width(landmarks: np.ndarray) -> float:
    # The spread of the landmarks: about the eye-to-mouth-corner size of the face, never zero.
    return float(max(np.ptp(landmarks[:, 0]), np.ptp(landmarks[:, 1]), 1.0))


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class _Track:
    box: np.ndarray
    smoother: OneEuroFilter
    missed: int = 0
    ident: int = 0


@dataclass
class FaceTracker:
    """A detector for video frames: wraps ``detector`` and returns its faces with smoothed landmarks.

    Call it once per frame, in order. Faces are matched to the tracks of earlier frames greedily, best
    overlap first; a face matching no track starts one. Boxes and scores are the detector's own; only
    the landmarks (which decide the alignment) are smoothed.

    Args:
        detector: the per-frame face detector.
        fps: frame rate of the video.
        config: filter and matching settings.
    """

    detector: FaceDetector
    fps: float
    config: SmoothingConfig = field(default_factory=SmoothingConfig)
    _tracks: list[_Track] = field(default_factory=list, init=False, repr=False)
    _next_ident: int = field(default=0, init=False, repr=False)

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        faces = list(self.detector(image))
        assignment = self._match([np.asarray(face.box, dtype=np.float64) for face in faces])
        matched: set[int] = set()
        smoothed = []
        for index, face in enumerate(faces):
            track = assignment.get(index)
            if track is None:
                track = _Track(np.asarray(face.box, dtype=np.float64), OneEuroFilter(self.fps, self.config),
                               ident=self._next_ident)
                self._next_ident += 1
                self._tracks.append(track)
            track.box = np.asarray(face.box, dtype=np.float64)
            track.missed = 0
            matched.add(id(track))
            landmarks = track.smoother(face.landmarks, _face_width(np.asarray(face.landmarks)))
            smoothed.append(DetectedFace(face.box, landmarks, face.score))
        for track in self._tracks:
            if id(track) not in matched:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.config.max_missed_frames]
        return smoothed

    @property
    def track_count(self) -> int:
        """How many faces have been tracked so far (each new track counts once)."""
        return self._next_ident

    def _match(self, boxes: list[np.ndarray]) -> dict[int, _Track]:
        """Face index -> track, greedily by overlap, then by centre distance for the rest."""
        candidates = []
        for i, box in enumerate(boxes):
            for track in self._tracks:
                iou = box_iou(box, track.box)
                if iou >= self.config.iou_threshold:
                    candidates.append((1.0 + iou, i, track))  # any overlap match ranks before a distance match
                    continue
                width = max(track.box[2] - track.box[0], 1.0)
                shift = np.hypot(*((box[:2] + box[2:]) / 2 - (track.box[:2] + track.box[2:]) / 2)) / width
                if shift <= self.config.max_centre_shift:
                    candidates.append((1.0 - shift, i, track))
        assignment: dict[int, _Track] = {}
        taken: set[int] = set()
        for _score, i, track in sorted(candidates, key=lambda c: -c[0]):
            if i not in assignment and id(track) not in taken:
                assignment[i] = track
                taken.add(id(track))
        return assignment
