"""A before/after sheet of real photos: each face region of the photo, input beside restored, at the
resolution the face has in the photo (no enlargement beyond the photo's pixels, so softness shows).

    .venv/bin/python scripts/make_before_after_sheet.py ../shared/data/realworld/whole_imgs \\
        ../shared/data/realworld/old_photos -o docs/renovation_before_after.jpg --model renovation

Each row: one face (box enlarged 1.4x around its centre): input | restored (| second model with --compare).
Rows are scaled to a common height of ``--row`` pixels only when the face is larger; smaller faces are
padded, not enlarged.

With ``--whole``, each row is a whole photo, input beside restored, without labels: README's picture::

    .venv/bin/python scripts/make_before_after_sheet.py ../shared/data/realworld/whole_imgs/Blake_Lively.jpg \\
        --whole --row 464 -o docs/restore_before_after.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from hifacegan.io import list_images, read_image
from hifacegan.restorer import Restorer


def face_regions(image: np.ndarray, boxes: np.ndarray, grow: float = 1.4) -> list[tuple[int, int, int, int]]:
    h, w = image.shape[:2]
    regions = []
    for x0, y0, x1, y1 in boxes:
        cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * grow
        regions.append((max(0, int(cx - side / 2)), max(0, int(cy - side / 2)),
                        min(w, int(cx + side / 2)), min(h, int(cy + side / 2))))
    return regions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--model", default="renovation")
    parser.add_argument("--compare", default=None, help="a second model for a third column (e.g. fidelity)")
    parser.add_argument("--row", type=int, default=256, help="row height cap in pixels (default 256)")
    parser.add_argument("--max-faces", type=int, default=3, help="faces per photo (largest first)")
    parser.add_argument("--whole", action="store_true", help="whole photos side by side, no labels")
    args = parser.parse_args(argv)
    restorers = [Restorer(args.model, device="cpu")]
    labels = ["input", args.model]
    if args.compare:
        restorers.append(Restorer(args.compare, device="cpu"))
        labels.append(args.compare)
    rows = []
    for path in list_images(args.inputs):
        rgb = read_image(path).to_uint8()
        results = [r.enhance(rgb, max_faces=args.max_faces) for r in restorers]
        images = [rgb] + [np.round(res.image * 255).astype(np.uint8) for res in results]
        h, w = rgb.shape[:2]
        regions = [(0, 0, w, h)] if args.whole else face_regions(rgb, results[0].boxes)
        for x0, y0, x1, y1 in regions:
            tiles = [Image.fromarray(np.ascontiguousarray(im[y0:y1, x0:x1])) for im in images]
            if tiles[0].height > args.row:
                tiles = [t.resize((round(t.width * args.row / t.height), args.row), Image.LANCZOS) for t in tiles]
            rows.append((path.name, tiles))
    label_height = 0 if args.whole else 18
    width = max(sum(t.width for t in tiles) + 4 * (len(tiles) - 1) for _, tiles in rows)
    height = sum(max(t.height for t in tiles) + label_height for _, tiles in rows) + label_height
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    if label_height:
        draw.text((4, 2), " | ".join(labels) + "   (face regions at the photo's own resolution)", fill="black")
    y = label_height
    for name, tiles in rows:
        x = 0
        for tile in tiles:
            sheet.paste(tile, (x, y))
            x += tile.width + 4
        if label_height:
            draw.text((4, y + max(t.height for t in tiles) + 2), name, fill="black")
        y += max(t.height for t in tiles) + label_height
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=90)
    print(f"{len(rows)} faces -> {args.output} ({width}x{height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
