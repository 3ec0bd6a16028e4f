"""The ``sr16x`` (face hallucination) degradation: every block replaced by its mean colour.

As BasicSR ``prepare_hifacegan_dataset.py`` ``Mosaic_16x``: blocks start at the top-left corner,
the blocks on the right and bottom edges may be smaller, each block becomes its per-channel mean.
We round the mean (that script truncates it, which darkens every block by half a level on average).
"""

from __future__ import annotations

import numpy as np

from hifacegan.degradations._checks import check_image
from hifacegan.pixels import levels_to_uint8

__all__ = ["mosaic"]


def mosaic(image: np.ndarray, block: int = 16) -> np.ndarray:
    """Replace each ``block x block`` tile of ``image`` by its mean colour.

    Args:
        image: uint8 RGB ``(H, W, 3)``.
        block: tile side in pixels (16 in the paper, at 512x512).

    Returns:
        uint8 ``(H, W, 3)``, constant on every tile.
    """
    image = check_image(image)
    if block < 1:
        raise ValueError(f"block must be at least 1, got {block}")
    h, w = image.shape[:2]
    rows = np.arange(0, h, block)
    cols = np.arange(0, w, block)
    # Sums over all tiles at once (edge tiles included), then divide by each tile's pixel count.
    sums = np.add.reduceat(np.add.reduceat(image.astype(np.float64), rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))[..., None]
    means = levels_to_uint8(sums / counts)
    return np.repeat(np.repeat(means, block, axis=0), block, axis=1)[:h, :w].copy()
