"""Aligning a face onto a model's training crop: five landmarks -> similarity transform -> square crop.

A model restores faces framed the way its training crops were. That framing is a *template*: where
the five landmarks (eyes, nose, mouth corners) sit in the crop, as fractions of its side. The
official checkpoints were trained on FFHQ, whose template is the well-known 5-point one at 512 px;
the default model's card carries the template measured on its own training crops
(``scripts/derive_face_template.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "COMPONENT_BOXES",
    "FFHQ_TEMPLATE",
    "FFHQ_TEMPLATE_512",
    "ComponentBox",
    "align",
    "invert_affine",
    "scale_affine",
    "similarity_transform",
    "template_points",
]

#: The FFHQ 5-point template in pixels of a 512x512 crop: left eye, right eye, nose, left and right
#: mouth corner (the alignment GFPGAN/CodeFormer crops and FFHQ-trained checkpoints use).
FFHQ_TEMPLATE_512 = np.array(
    [[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935], [201.26117, 371.41043],
     [313.08905, 371.15118]],
    dtype=np.float64,
)
#: The same template normalised to ``[0, 1]`` of the crop side.
FFHQ_TEMPLATE = FFHQ_TEMPLATE_512 / 512.0


@dataclass(frozen=True)
class ComponentBox:
    """A square on the aligned face: ``centre`` and ``side`` as fractions of the face's side.

    Where the eye/mouth discriminators look (:mod:`hifacegan.training.components`) and where
    component-centred training patches are placed (``data.component_patch_prob``).
    """

    kind: str
    centre: tuple[float, float]
    side: float


# Eye boxes a little wider than the eye (0.16 of the face: 82 px at 512, brow to lower lid); the mouth box
# 0.26 (133 px), centred between the mouth corners, which are 112 px apart in the template.
COMPONENT_BOXES = (
    ComponentBox("eye", (float(FFHQ_TEMPLATE[0, 0]), float(FFHQ_TEMPLATE[0, 1])), 0.16),
    ComponentBox("eye", (float(FFHQ_TEMPLATE[1, 0]), float(FFHQ_TEMPLATE[1, 1])), 0.16),
    ComponentBox("mouth", (float(FFHQ_TEMPLATE[3:5, 0].mean()), float(FFHQ_TEMPLATE[3:5, 1].mean())), 0.26),
)


def template_points(size: int, template: np.ndarray | list | None = None) -> np.ndarray:
    """The template's five points in pixels of a ``size x size`` crop.

    Args:
        size: crop side in pixels.
        template: ``(5, 2)`` points normalised to ``[0, 1]``; ``None`` for :data:`FFHQ_TEMPLATE`.

    Returns:
        ``(5, 2)`` float64 pixel coordinates.

    Raises:
        ValueError: the template is not five points inside the unit square.
    """
    points = FFHQ_TEMPLATE if template is None else np.asarray(template, dtype=np.float64)
    if points.shape != (5, 2) or not np.all(np.isfinite(points)) or points.min() < 0 or points.max() > 1:
        raise ValueError(f"a face template is 5x2 (x, y) points normalised to [0, 1], got {points.tolist()}")
    # Plain proportional scaling, as GFPGAN/facexlib scale the FFHQ template to other crop sizes;
    # scripts/derive_face_template.py normalises measured landmarks the same way (pixels / side).
    return points * size


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation, no reflection) from points to points.

    Closed form of Umeyama (1991): centre both point sets, take the SVD of their cross-covariance;
    the rotation is ``U diag(1, d) V^T`` with ``d`` fixing the sign so no mirror image can come out.

    Args:
        source: ``(N, 2)`` points, ``N >= 2``.
        target: ``(N, 2)`` points.

    Returns:
        ``(2, 3)`` float64 affine ``A`` with ``target ~= A @ [x, y, 1]``.

    Raises:
        ValueError: mismatched shapes, fewer than two points, or all source points coincide.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 2 or source.shape[0] < 2:
        raise ValueError(f"need two (N, 2) point sets with N >= 2, got {source.shape} and {target.shape}")
    mean_s, mean_t = source.mean(axis=0), target.mean(axis=0)
    centred_s, centred_t = source - mean_s, target - mean_t
    variance = (centred_s**2).sum() / len(source)
    if variance < 1e-12:
        raise ValueError("the source points all coincide; no transform is defined")
    covariance = centred_t.T @ centred_s / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.array([1.0, 1.0 if np.linalg.det(u) * np.linalg.det(vt) >= 0 else -1.0])
    rotation = u @ np.diag(sign) @ vt
    scale = float((singular * sign).sum() / variance)
    translation = mean_t - scale * rotation @ mean_s
    return np.hstack([scale * rotation, translation[:, None]])


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """Inverse of a ``(2, 3)`` affine."""
    return cv2.invertAffineTransform(np.asarray(affine, dtype=np.float64))


def scale_affine(affine: np.ndarray, factor: float | tuple[float, float]) -> np.ndarray:
    """Re-express an image->crop affine for the image resized by ``factor`` (one, or ``(fx, fy)``).

    Uses ``cv2.resize``'s pixel-centre convention (source ``x = (x' + 0.5) / factor - 0.5``), so a face
    pasted onto an upscaled photo lands exactly where it was.
    """
    affine = np.asarray(affine, dtype=np.float64)
    factors = np.broadcast_to(np.asarray(factor, dtype=np.float64), (2,))
    linear = affine[:, :2] / factors
    offset = affine[:, :2] @ (0.5 / factors - 0.5) + affine[:, 2]
    return np.hstack([linear, offset[:, None]])


def align(image: np.ndarray, landmarks: np.ndarray, size: int,
          template: np.ndarray | list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut out a face, rotated and scaled so its landmarks fall on the template.

    Pixels the crop needs from outside the photo are mirrored from inside it (a flat fill would
    skew the generator's per-sample normalisation). Faces much larger than the crop are reduced
    with area averaging first, so fine texture does not alias.

    Args:
        image: ``(H, W, 3)`` float32 RGB in ``[0, 1]`` (or ``uint8``).
        landmarks: ``(5, 2)`` landmark pixels in ``image``, ordered as the template.
        size: crop side in pixels.
        template: ``(5, 2)`` normalised template; ``None`` for FFHQ's.

    Returns:
        ``(crop, affine)``: the ``(size, size, 3)`` crop (``image``'s dtype) and the ``(2, 3)`` affine
        mapping ``image`` pixel coordinates to crop pixel coordinates.
    """
    if size < 8:
        raise ValueError(f"crop size must be at least 8 pixels, got {size}")
    affine = similarity_transform(np.asarray(landmarks, dtype=np.float64).reshape(5, 2),
                                  template_points(size, template))
    scale = math.sqrt(abs(np.linalg.det(affine[:, :2])))
    source, warp = image, affine
    if scale < 0.5:
        source, warp = _reduce_region(image, affine, size, scale)
    crop = cv2.warpAffine(np.ascontiguousarray(source), warp, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)
    return crop, affine


def _reduce_region(image: np.ndarray, affine: np.ndarray, size: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Area-downscale just the region the crop comes from, to twice the crop's resolution.

    Returns the reduced region and the affine from it to the crop. Only the region is resized, so a
    huge photo costs no more than its face. The region keeps the photo's own edges where it reaches
    them, so mirroring at the border still mirrors the photo.
    """
    height, width = image.shape[:2]
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
    inverse = invert_affine(affine)
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    margin = 2.0 / scale
    x0 = int(np.clip(math.floor(mapped[:, 0].min() - margin), 0, width - 1))
    y0 = int(np.clip(math.floor(mapped[:, 1].min() - margin), 0, height - 1))
    x1 = int(np.clip(math.ceil(mapped[:, 0].max() + margin), x0 + 1, width))
    y1 = int(np.clip(math.ceil(mapped[:, 1].max() + margin), y0 + 1, height))
    factor = 2.0 * scale
    region = image[y0:y1, x0:x1]
    reduced_size = (max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor)))
    reduced = cv2.resize(region, reduced_size, interpolation=cv2.INTER_AREA)
    # Affine from reduced-region pixels to crop pixels: undo the resize, shift by the region origin.
    fx, fy = reduced_size[0] / (x1 - x0), reduced_size[1] / (y1 - y0)
    to_region = np.array([[1 / fx, 0, 0.5 / fx - 0.5 + x0], [0, 1 / fy, 0.5 / fy - 0.5 + y0], [0, 0, 1]])
    return reduced, (np.vstack([affine, [0, 0, 1]]) @ to_region)[:2]
