"""Faces in whole photos: detect (five landmarks), align onto a template, paste restored faces back.

Pure functions on in-memory arrays; see :class:`hifacegan.restorer.Restorer` for the whole pipeline.
"""

from hifacegan.faces.align import FFHQ_TEMPLATE, FFHQ_TEMPLATE_512, align, scale_affine, similarity_transform
from hifacegan.faces.detect import (
    DetectedFace,
    DetectorUnavailableError,
    FaceDetector,
    RetinaFaceDetector,
    default_detector,
    detect,
)
from hifacegan.faces.paste import face_mask, paste

__all__ = [
    "FFHQ_TEMPLATE",
    "FFHQ_TEMPLATE_512",
    "DetectedFace",
    "DetectorUnavailableError",
    "FaceDetector",
    "RetinaFaceDetector",
    "align",
    "default_detector",
    "detect",
    "face_mask",
    "paste",
    "scale_affine",
    "similarity_transform",
]
