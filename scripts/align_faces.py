"""Cut aligned training faces out of photos: detect, align onto the FFHQ template, save, split.

The renovation model trains on whole aligned faces at 512 px (patches are cut from them on the fly,
``data.face_size``). Photos of heads and shoulders (``../shared/data/hq/*``) are not aligned; this
script runs the package's own detector and alignment, i.e. exactly what ``hifacegan restore`` does
to a photo, so training faces are framed the way restored faces will be.

Usage::

    python scripts/align_faces.py ../shared/data/hq/mebeauty ../shared/data/hq/portraits \\
        -o ~/hifacegan-runs/data/hq512 --size 512

Per photo, the largest face is kept; its *native scale* (photo pixels per crop pixel, > 1 means the
crop was reduced from a larger face) is recorded in ``OUT/faces.jsonl``. Faces enlarged by more than
``--max-enlarge`` are left out: an enlarged face is soft, and a soft "ground truth" teaches softness.
Faces of one person go to the same split (``--person-key``: the webmorph portraits name the same
person ``neutral_front_N`` and ``smiling_front_N``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
from pathlib import Path

import cv2
import numpy as np

from hifacegan.faces.align import align
from hifacegan.faces.detect import RetinaFaceDetector
from hifacegan.io import ImageReadError, list_images, read_image


def person_of(path: Path) -> str:
    """A person key: the file stem without the webmorph expression prefix (same person, same split)."""
    return f"{path.parent.name}/" + re.sub(r"^(neutral|smiling)_front_", "", path.stem)


def split_of(person: str, val_fraction: float) -> str:
    """A stable split by hashing the person key (adding photos never moves a face between splits)."""
    digest = int(hashlib.sha256(person.encode("utf-8")).hexdigest()[:8], 16)
    return "val" if digest / 0xFFFFFFFF < val_fraction else "train"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("inputs", nargs="+", type=Path, help="folders of photos")
    parser.add_argument("-o", "--output", type=Path, required=True, help="writes OUT/train, OUT/val, OUT/faces.jsonl")
    parser.add_argument("--size", type=int, default=512, help="crop side (default 512)")
    parser.add_argument("--val-fraction", type=float, default=0.04, help="share of people held out (default 0.04)")
    parser.add_argument("--max-enlarge", type=float, default=1.6,
                        help="skip faces the crop enlarges more than this (default 1.6)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality of the crops (default 95)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.val_fraction < 1.0:  # a share: 100 would send every face to val and leave train empty
        parser.error(f"--val-fraction must be in [0, 1), got {args.val_fraction}")

    detector = RetinaFaceDetector()
    for split in ("train", "val"):
        (args.output / split).mkdir(parents=True, exist_ok=True)
    records, counts = [], {"train": 0, "val": 0, "no_face": 0, "too_small": 0, "unreadable": 0}
    paths = [p for folder in args.inputs for p in list_images(folder)]
    for i, path in enumerate(paths):
        try:
            rgb = read_image(path).to_uint8()
        except ImageReadError as exc:
            print(f"skip {path}: {exc}", file=sys.stderr)
            counts["unreadable"] += 1
            continue
        faces = detector(rgb.astype(np.float32) / 255.0)
        if not faces:
            counts["no_face"] += 1
            continue
        face = max(faces, key=lambda f: f.area)
        crop, affine = align(rgb, face.landmarks, args.size)
        native = 1.0 / math.sqrt(abs(np.linalg.det(affine[:, :2])))  # photo pixels per crop pixel
        record = {"source": str(path), "native_scale": round(native, 4), "score": round(float(face.score), 4)}
        if native < 1.0 / args.max_enlarge:
            counts["too_small"] += 1
            record["split"] = "skipped"
        else:
            person = person_of(path)
            split = split_of(person, args.val_fraction)
            name = f"{path.parent.name}__{path.stem}.jpg"
            target = args.output / split / name
            ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, args.quality])
            if not ok:
                raise RuntimeError(f"could not encode {path}")
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(encoded.tobytes())
            tmp.replace(target)
            record.update(split=split, person=person, file=f"{split}/{name}")
            counts[split] += 1
        records.append(record)
        if (i + 1) % 200 == 0:
            print(f"{i + 1}/{len(paths)} {counts}", flush=True)
    with open(args.output / "faces.jsonl", "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    scales = np.array([r["native_scale"] for r in records])
    print(f"done: {counts}; native scale median {np.median(scales):.2f}, "
          f"10th pct {np.percentile(scales, 10):.2f}, 90th pct {np.percentile(scales, 90):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
