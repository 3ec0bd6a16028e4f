"""The background of a restored photo: enlarged by Lanczos, or enlarged and then run through the model.

GFPGAN restores the background with a second network (Real-ESRGAN) and warns that it is too slow on
a CPU. Here the face model itself can do it (the HiFaceGAN paper shows it renovating whole scenes):
``restore --bg model`` enlarges the photo by Lanczos and passes it through the generator in
overlapping tiles, blended with linear ramps so no seam shows. It costs 11-19 s per output megapixel
with the shipped model on the project's 2-core CPU (``benchmarks/background_speed.py``): 35-120 times
the whole photo restored with a Lanczos background. Hence the default ``--bg lanczos``.

Either is a :data:`BackgroundUpsampler` for :class:`hifacegan.restorer.Restorer`
(``Restorer(..., background_upsampler=...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["BACKGROUND_CHOICES", "BackgroundUpsampler", "ModelBackground", "lanczos_upscale", "tile_starts",
           "tiled_restore"]

#: ``(float32 RGB image in [0, 1], factor) -> the enlarged image`` (sides ``max(1, round(side * factor))``).
BackgroundUpsampler = Callable[[np.ndarray, float], np.ndarray]
#: A model on a list of equal-size float32 RGB images, e.g. :meth:`Restorer.restore_faces`.
ImageBatchFn = Callable[[list[np.ndarray]], list[np.ndarray]]
BACKGROUND_CHOICES = ("lanczos", "model")


def lanczos_upscale(image: np.ndarray, factor: float) -> np.ndarray:
    """Resize by ``factor`` with Lanczos (area averaging when shrinking), clipped to ``[0, 1]``."""
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if size == (width, height):
        return np.array(image, dtype=np.float32, copy=True)
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LANCZOS4
    # Lanczos rings past the range at sharp edges; clip so the background stays a valid image.
    return np.clip(cv2.resize(np.asarray(image, dtype=np.float32), size, interpolation=interpolation), 0, 1)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` with at least ``overlap`` in common."""
    if length <= tile:
        return [0]
    step = max(tile - overlap, 1)
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]  # the last tile sits flush with the edge, so every tile has the same size


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    # Weight 1 inside, rising linearly across the overlap at edges shared with another tile.
    ramp = np.ones(length, dtype=np.float32)
    if overlap > 0:
        rise = (np.arange(min(overlap, length), dtype=np.float32) + 0.5) / overlap
        if not at_start:
            ramp[: len(rise)] = np.minimum(ramp[: len(rise)], rise)
        if not at_end:
            ramp[length - len(rise):] = np.minimum(ramp[length - len(rise):], rise[::-1])
    return ramp


def tiled_restore(image: np.ndarray, restore: ImageBatchFn, tile: int = 512, overlap: int = 48,
                  tiles_per_batch: int = 2) -> np.ndarray:
    """Run ``restore`` over ``image`` in overlapping square tiles and blend them back.

    Args:
        image: float32 RGB ``(H, W, 3)`` in ``[0, 1]``.
        restore: the model on a list of equal-size tiles.
        tile: tile side (smaller images are one tile of their own size).
        overlap: pixels shared by neighbouring tiles, cross-faded to hide seams.
        tiles_per_batch: tiles per call of ``restore`` (bounds memory: ~0.8 GB per 512-px tile).

    Returns:
        The restored image, same shape.
    """
    height, width = image.shape[:2]
    tile_h, tile_w = min(tile, height), min(tile, width)
    rows, cols = tile_starts(height, tile_h, overlap), tile_starts(width, tile_w, overlap)
    boxes = [(y, x) for y in rows for x in cols]
    total = np.zeros((height, width, 3), dtype=np.float32)
    weight = np.zeros((height, width, 1), dtype=np.float32)
    for first in range(0, len(boxes), tiles_per_batch):
        group = boxes[first:first + tiles_per_batch]
        outputs = restore([np.ascontiguousarray(image[y:y + tile_h, x:x + tile_w]) for y, x in group])
        for (y, x), out in zip(group, outputs, strict=True):
            w = np.outer(_ramp(tile_h, overlap, y == 0, y + tile_h >= height),
                         _ramp(tile_w, overlap, x == 0, x + tile_w >= width))[..., None]
            total[y:y + tile_h, x:x + tile_w] += w * out
            weight[y:y + tile_h, x:x + tile_w] += w
    return np.clip(total / np.maximum(weight, 1e-8), 0, 1)


@dataclass
class ModelBackground:
    """A :data:`BackgroundUpsampler` that enlarges by Lanczos, then restores the result with a model in tiles.

    Args:
        restore: the model on a list of equal-size images (e.g. ``restorer.restore_faces``).
        tile: tile side in pixels.
        overlap: pixels shared by neighbouring tiles.
    """

    restore: ImageBatchFn
    tile: int = 512
    overlap: int = 48

    def __call__(self, image: np.ndarray, factor: float) -> np.ndarray:
        return tiled_restore(lanczos_upscale(image, factor), self.restore, self.tile, self.overlap)
