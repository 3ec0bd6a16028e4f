"""A contact sheet: a few faces (rows) through every degradation task (columns), labelled."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from hifacegan.degradations.config import DegradationConfig
from hifacegan.degradations.presets import TASKS, degrade
from hifacegan.degradations.seeding import rng_for

__all__ = ["contact_sheet"]

_LABEL_HEIGHT = 22
_GAP = 2


def _square(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def contact_sheet(images: Sequence[np.ndarray], keys: Sequence[str] | None = None, tasks: Sequence[str] = TASKS,
                  seed: int = 0, cell: int = 128, config: DegradationConfig | None = None) -> np.ndarray:
    """Grid of ``original`` plus one column per task, one row per image, with a label row on top.

    Each face is centre-cropped to a square and resized to ``cell`` pixels before it is degraded,
    so the sheet shows the degradations at that size.

    Args:
        images: uint8 RGB faces.
        keys: per-image keys for :func:`~hifacegan.degradations.rng_for` (default ``"0"``, ``"1"``, ...).
        tasks: columns after the original.
        seed: degradation seed.
        cell: side of each tile in pixels.
        config: degradation ranges (``None`` = official).

    Returns:
        uint8 RGB sheet of height ``22 + rows * (cell + 2)`` and width ``(1 + len(tasks)) * (cell + 2)``.
    """
    if not images:
        raise ValueError("the contact sheet needs at least one image")
    if cell < 16:
        raise ValueError(f"cell must be at least 16 pixels, got {cell}")
    keys = [str(i) for i in range(len(images))] if keys is None else list(keys)
    if len(keys) != len(images):
        raise ValueError(f"got {len(keys)} keys for {len(images)} images")
    columns = ["original", *tasks]
    pitch = cell + _GAP
    sheet = np.full((_LABEL_HEIGHT + len(images) * pitch, len(columns) * pitch, 3), 255, dtype=np.uint8)
    scale = 0.45 * cell / 128
    for c, label in enumerate(columns):
        (text_w, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        x = c * pitch + max(0, (cell - text_w) // 2)
        cv2.putText(sheet, label, (x, _LABEL_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    for r, (image, key) in enumerate(zip(images, keys)):
        face = _square(image, cell)
        top = _LABEL_HEIGHT + r * pitch
        sheet[top:top + cell, 0:cell] = face
        for c, task in enumerate(tasks, start=1):
            degraded, _ = degrade(face, task, rng_for(seed, f"{key}/{task}"), config)
            sheet[top:top + cell, c * pitch:c * pitch + cell] = degraded
    return sheet
