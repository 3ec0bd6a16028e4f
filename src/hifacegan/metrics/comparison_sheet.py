"""``evaluate --sheet``: a labelled contact sheet, one row per image: input | restored | reference.

Every picture is fitted into a square cell (aspect kept, white margins), so whole photos and face crops
of any size line up. Rows follow the evaluation's order (sorted by stem) and are capped
(:data:`MAX_SHEET_ROWS`), so the sheet stays a few megapixels however large the folder: at the default
128-px cells, 64 rows of three columns are 390x9366 pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hifacegan.io import ImageReadError, list_images, read_image

__all__ = ["MAX_SHEET_ROWS", "SheetRow", "build_sheet", "rows_from_report"]

#: The most rows a sheet holds (the first ones, in the evaluation's order).
MAX_SHEET_ROWS = 64
_HEADER = 22
_CAPTION = 16
_GAP = 2
_MISSING = 200  # light grey: no such image for this row


@dataclass(frozen=True)
class SheetRow:
    """One row: a caption and the files of its columns (``None`` where this row has no such image)."""

    caption: str
    files: tuple[Path | None, ...]


def _fit(image: np.ndarray, cell: int) -> np.ndarray:
    """``image`` scaled to fit a ``cell`` square, centred on white."""
    height, width = image.shape[:2]
    scale = cell / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    canvas = np.full((cell, cell, 3), 255, dtype=np.uint8)
    top, left = (cell - size[1]) // 2, (cell - size[0]) // 2
    canvas[top:top + size[1], left:left + size[0]] = resized
    return canvas


def _text(sheet: np.ndarray, text: str, x: int, baseline: int, width: int, scale: float) -> None:
    # Shorten until it fits: a long stem must not run into the next column.
    while text and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width:
        text = text[:-2] + "~" if len(text) > 2 else ""
    text_width = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0]
    cv2.putText(sheet, text, (x + max(0, (width - text_width) // 2), baseline), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0), 1, cv2.LINE_AA)


def build_sheet(columns: Sequence[str], rows: Sequence[SheetRow], cell: int = 128,
                max_pixels: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Draw the sheet.

    Args:
        columns: column titles, one per entry of each row's ``files``.
        rows: at most :data:`MAX_SHEET_ROWS` rows.
        cell: side of each picture in pixels.
        max_pixels: bound on each image read (see :func:`hifacegan.io.read_image`).

    Returns:
        ``(uint8 RGB sheet, problems)``: a missing or unreadable image is a grey cell and one message.
    """
    if not rows:
        raise ValueError("the sheet needs at least one row")
    if len(rows) > MAX_SHEET_ROWS:
        raise ValueError(f"at most {MAX_SHEET_ROWS} rows, got {len(rows)}")
    pitch_x, pitch_y = cell + _GAP, cell + _CAPTION + _GAP
    sheet = np.full((_HEADER + len(rows) * pitch_y, len(columns) * pitch_x, 3), 255, dtype=np.uint8)
    scale = 0.45 * max(cell, 96) / 128
    for c, title in enumerate(columns):
        _text(sheet, title, c * pitch_x, _HEADER - 7, cell, scale)
    problems: list[str] = []
    for r, row in enumerate(rows):
        top = _HEADER + r * pitch_y
        _text(sheet, row.caption, 0, top + cell + _CAPTION - 4, len(columns) * pitch_x - _GAP, scale * 0.85)
        for c, path in enumerate(row.files):
            tile = np.full((cell, cell, 3), _MISSING, dtype=np.uint8)
            if path is not None:
                try:
                    tile = _fit(read_image(path, max_pixels=max_pixels).to_uint8(), cell)
                except ImageReadError as exc:
                    problems.append(str(exc))
            sheet[top:top + cell, c * pitch_x:c * pitch_x + cell] = tile
    return sheet, problems


def rows_from_report(report_rows: Sequence[dict], input_dir: Path | None, metrics: Sequence[str],
                     limit: int = MAX_SHEET_ROWS) -> tuple[list[str], list[SheetRow]]:
    """Columns and rows of the sheet for an evaluation's per-image rows (the first ``limit``).

    The input of a row is the file of ``input_dir`` with the same stem; the caption is the stem and the
    row's values of up to two ``metrics``.
    """
    inputs = {p.stem: p for p in list_images(input_dir)} if input_dir is not None else {}
    has_reference = any(row.get("reference_file") for row in report_rows)
    columns = (["input"] if input_dir is not None else []) + ["restored"] + (["reference"] if has_reference else [])
    rows = []
    for row in list(report_rows)[:limit]:
        files: list[Path | None] = [inputs.get(row["name"])] if input_dir is not None else []
        files.append(Path(row["restored_file"]) if row.get("restored_file") else None)
        if has_reference:
            files.append(Path(row["reference_file"]) if row.get("reference_file") else None)
        values = [f"{m} {row[m]:.3g}" for m in metrics if isinstance(row.get(m), (int, float))][:2]
        rows.append(SheetRow("  ".join([row["name"], *values]), tuple(files)))
    return columns, rows
