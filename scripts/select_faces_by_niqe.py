"""Keep the training faces whose own standard NIQE is at most a threshold (issue 28's data lever).

A generator learns the texture statistics of its targets. The aligned training faces
(``scripts/align_faces.py``) score standard NIQE 4.78 on average (MEBeauty 4.81, webmorph portraits
4.47; 10th-90th percentile 3.6-6.1): studio shots with smoothed skin and flat backgrounds score high.
A model can hardly end up more natural, by this measure, than what it is taught to reproduce, so this
script builds a training folder of the faces at or under ``--max-niqe``: hard links to the originals
(a copy where links are impossible), plus ``niqe.csv`` with every face's score and whether it was kept.

Usage::

    python scripts/select_faces_by_niqe.py ~/hifacegan-runs/data/hq512/train \\
        -o ~/hifacegan-runs/data/hq512_niqe45/train --max-niqe 4.5
    # another threshold, reusing those scores instead of measuring every face again:
    python scripts/select_faces_by_niqe.py ~/hifacegan-runs/data/hq512/train \\
        -o ~/hifacegan-runs/data/hq512_niqe425/train --max-niqe 4.25 \\
        --scores ~/hifacegan-runs/data/hq512_niqe45/train_niqe.csv

The source folder is only read. An existing output folder must be empty (nothing is overwritten).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
from pathlib import Path

from hifacegan.io import ImageReadError, list_images, read_image
from hifacegan.metrics.niqe import load_niqe_params, niqe


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target`` (same file system), else copy it."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def read_scores(table: Path) -> dict[str, float]:
    """The scores of an earlier run's table (file name -> NIQE); faces it could not read are left out."""
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"file", "niqe"} <= set(rows[0]):
        raise ValueError(f"{table} has no 'file' and 'niqe' columns; pass a table this script wrote")
    return {row["file"]: float(row["niqe"]) for row in rows if row["niqe"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("source", type=Path, help="folder of aligned faces")
    parser.add_argument("-o", "--output", type=Path, required=True, help="new folder for the kept faces")
    parser.add_argument("--max-niqe", type=float, required=True, help="keep faces with standard NIQE <= this")
    parser.add_argument("--scores", type=Path, default=None,
                        help="reuse the scores of an earlier run's *_niqe.csv; faces it lacks are measured")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"{args.source} is not a folder")
    if args.output.resolve() == args.source.resolve():
        parser.error("the output folder must differ from the source folder")
    if args.output.exists() and any(args.output.iterdir()):
        parser.error(f"{args.output} is not empty; choose a new folder")
    try:
        known = read_scores(args.scores) if args.scores else {}
    except (OSError, ValueError) as exc:
        parser.error(f"cannot use --scores: {exc}")
    args.output.mkdir(parents=True, exist_ok=True)

    params = load_niqe_params("standard")
    paths = list_images([args.source])
    kept = 0
    rows: list[tuple[str, str, str]] = []
    for number, path in enumerate(paths, 1):
        try:
            score = known[path.name] if path.name in known else niqe(read_image(path).to_uint8(), params=params)
        except (ImageReadError, ValueError, OSError) as exc:
            print(f"skipped {path.name}: {exc}", file=sys.stderr)
            rows.append((path.name, "", "error"))
            continue
        keep = score <= args.max_niqe
        if keep:
            link_or_copy(path, args.output / path.name)
            kept += 1
        rows.append((path.name, f"{score:.4f}", "kept" if keep else "dropped"))
        if number % 500 == 0:
            print(f"{number}/{len(paths)} scored, {kept} kept", file=sys.stderr)
    # The table goes beside the faces' folder, so the dataset never lists it as an image.
    table = args.output.parent / f"{args.output.name}_niqe.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "niqe", "decision"])
        writer.writerows(rows)
    reused = sum(path.name in known for path in paths)
    print(f"kept {kept} of {len(paths)} faces (standard NIQE <= {args.max_niqe}; {reused} scores reused, "
          f"{len(paths) - reused} measured); scores in {table}")
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main())
