"""Putting a restored face back into its photo: inverse warp and a soft, eroded blending mask."""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["face_mask", "paste", "paste_region"]


def face_mask(size: int, erode: float = 1 / 16, feather: float = 1 / 8) -> np.ndarray:
    """Blending weights for a square face crop: 1 in the middle, falling smoothly to exactly 0 at the edges.

    The crop's outer band is eroded away (the generator's borders are the least reliable part, and
    alignment puts hair and background there), then the weight rises along a smoothstep ramp so no
    seam shows. Defined in crop pixels, so it is the same for every face whatever its size in the photo.

    Args:
        size: crop side in pixels.
        erode: width of the band of weight 0 along the border, as a fraction of ``size``.
        feather: width of the ramp from 0 to 1 inside that band, as a fraction of ``size``.

    Returns:
        ``(size, size)`` float32 in ``[0, 1]``.
    """
    if not (0 <= erode and feather >= 0 and erode + feather < 0.5):
        raise ValueError(f"need erode, feather >= 0 and erode + feather < 0.5, got erode={erode}, feather={feather}")
    coords = np.arange(size, dtype=np.float32)
    edge = np.minimum(coords, size - 1 - coords)  # distance to the nearest border, per axis
    distance = np.minimum(edge[:, None], edge[None, :])
    ramp = max(size * feather, 1e-6)
    # A smoothstep rather than a Gaussian blur: exactly 0 within the band (a blur leaves a faint
    # non-zero rim at the crop's edge, which shows as a seam), and no kink where it reaches 1.
    t = np.clip((distance - size * erode) / ramp, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def paste_region(shape: tuple[int, int], affine: np.ndarray, size: int) -> tuple[int, int, int, int] | None:
    """The part of a ``shape = (H, W)`` photo that a ``size`` crop covers, as ``(x0, y0, x1, y1)``.

    ``None`` when the crop falls completely outside the photo.
    """
    inverse = cv2.invertAffineTransform(np.asarray(affine, dtype=np.float64))
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    height, width = shape
    x0 = max(0, math.floor(mapped[:, 0].min()))
    y0 = max(0, math.floor(mapped[:, 1].min()))
    x1 = min(width, math.ceil(mapped[:, 0].max()) + 1)
    y1 = min(height, math.ceil(mapped[:, 1].max()) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def paste(background: np.ndarray, face: np.ndarray, affine: np.ndarray, mask: np.ndarray | None = None,
          out: np.ndarray | None = None) -> np.ndarray:
    """Warp a (restored) face crop back into the photo and blend it in.

    Only the photo region the crop covers is touched, so pasting is cheap on large photos and
    pixels where the mask is 0 keep their exact values.

    Args:
        background: ``(H, W, 3)`` float32 photo in ``[0, 1]``; not modified unless it is ``out``.
        face: ``(S, S, 3)`` float32 face crop in ``[0, 1]``.
        affine: ``(2, 3)`` mapping ``background`` pixels to crop pixels (as returned by
            :func:`hifacegan.faces.align.align`, rescaled with ``scale_affine`` if the photo was resized).
        mask: ``(S, S)`` blending weights; ``None`` for :func:`face_mask` of the crop's size.
        out: float32 array of ``background``'s shape to write the result into (may be ``background``
            itself, which saves copying a large photo once per face); ``None`` for a new array.

    Returns:
        The ``(H, W, 3)`` float32 photo with the face pasted (``out`` when given).
    """
    size = face.shape[0]
    if face.ndim != 3 or face.shape[1] != size:
        raise ValueError(f"expected a square (S, S, C) face crop, got shape {face.shape}")
    if mask is None:
        mask = face_mask(size)
    if mask.shape != face.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match the face crop {face.shape[:2]}")
    if out is None:
        result = np.array(background, dtype=np.float32, copy=True)
    else:
        if out.shape != background.shape or out.dtype != np.float32:
            raise ValueError(f"out must be float32 of shape {background.shape}, got {out.dtype} {out.shape}")
        if out is not background:
            out[...] = background
        result = out
    region = paste_region(result.shape[:2], affine, size)
    if region is None:
        return result
    x0, y0, x1, y1 = region
    # Sample the crop for every photo pixel of the region: the affine maps photo -> crop, so it is
    # exactly the "inverse map" warpAffine wants once shifted to the region's origin.
    shifted = np.asarray(affine, dtype=np.float64).copy()
    shifted[:, 2] += shifted[:, :2] @ np.array([x0, y0], dtype=np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    dsize = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(np.ascontiguousarray(face, dtype=np.float32), shifted, dsize, flags=flags,
                            borderMode=cv2.BORDER_REPLICATE)
    weight = cv2.warpAffine(np.ascontiguousarray(mask, dtype=np.float32), shifted, dsize, flags=flags,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    if warped.ndim == 2:
        warped = warped[..., None]
    weight = weight[..., None]
    area = result[y0:y1, x0:x1]
    result[y0:y1, x0:x1] = np.where(weight > 0, weight * warped + (1.0 - weight) * area, area)
    return result
