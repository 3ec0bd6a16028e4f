"""Fit a NIQE pristine model on a folder of high-quality images and write it as an ``.npz`` file.

This is the fit of Mittal, Soundararajan and Bovik (2013), ``estimatemodelparam.m``: every image's
BT.601 Y channel (rounded, as scoring does) is cut into 96x96 blocks; a block is kept when its
sharpness (mean local deviation, 7x7 Gaussian window of sigma 7/6) exceeds 0.75 times the largest
block sharpness of its image, so flat backgrounds and out-of-focus areas do not count as "pristine";
the kept blocks' 36 features (18 per scale, two scales) give the model's mean vector and covariance
(over the blocks whose features are all defined, as MATLAB's ``nancov``). The features are those of
:func:`hifacegan.metrics.niqe.niqe_block_features`, the same code that scores images.

The package's ``hifacegan-faces-v1`` model was made with::

    .venv/bin/python scripts/fit_niqe_params.py --images ../shared/data/hq/portraits \\
        --out src/hifacegan/metrics/data/niqe_pristine_faces.npz --name hifacegan-faces-v1

(the 244 studio portraits of webmorphR.stim, CC BY 4.0: see the shared data README). Scores with it
are not comparable with NIQE values published with MATLAB's model, which was fitted on 125 natural
scenes; within one table they rank images the same way in our tests.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from hifacegan.io import ImageReadError, list_images, read_image
from hifacegan.metrics._common import rgb_to_y
from hifacegan.metrics.niqe import gaussian_window, niqe_block_features
from hifacegan.pixels import to_float255

logger = logging.getLogger("fit_niqe_params")


def fit_pristine_model(lumas, window: np.ndarray, block_size: int = 96, threshold: float = 0.75,
                       ) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean ``(36,)``, covariance ``(36, 36)`` and number of blocks kept, over an iterable of luma images.

    Raises:
        ValueError: fewer than two blocks with defined features were kept.
    """
    kept = []
    for luma in lumas:
        features, sharpness = niqe_block_features(luma, window, block_size)
        kept.append(features[sharpness > threshold * sharpness.max()])
    features = np.concatenate(kept) if kept else np.zeros((0, 36))
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise ValueError(f"only {len(complete)} usable blocks: give more (or larger) images")
    return np.nanmean(features, axis=0), np.cov(complete, rowvar=False), len(features)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of pristine (high-quality) images")
    parser.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    parser.add_argument("--name", required=True, help="the model's name, reported next to every score")
    parser.add_argument("--block-size", type=int, default=96)
    parser.add_argument("--threshold", type=float, default=0.75, help="kept block sharpness / image maximum")
    parser.add_argument("--max-side", type=int, metavar="PX",
                        help="first shrink (area) images whose longer side exceeds PX, to fit at the scale the "
                        "model will score (default: native size, as MATLAB's fit)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    paths = list_images(args.images)
    if not paths:
        logger.error("no image in %s", args.images)
        return 1
    window = gaussian_window()
    used = []

    def lumas():
        for path in paths:
            try:
                image = read_image(path).to_uint8()
            except ImageReadError as exc:
                logger.warning("skipping %s", exc)
                continue
            if min(image.shape[:2]) < args.block_size:
                logger.warning("skipping %s: smaller than one block", path.name)
                continue
            if args.max_side and max(image.shape[:2]) > args.max_side:
                scale = args.max_side / max(image.shape[:2])
                size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            used.append(path.name)
            yield np.round(rgb_to_y(to_float255(image)))

    start = time.perf_counter()
    mu, cov, blocks = fit_pristine_model(lumas(), window, args.block_size, args.threshold)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, mu_pris_param=mu, cov_pris_param=cov, gaussian_window=window, name=np.array(args.name),
             images=np.array(len(used)), blocks=np.array(blocks), threshold=np.array(args.threshold),
             block_size=np.array(args.block_size), max_side=np.array(args.max_side or 0),
             source=np.array(str(args.images.name)))
    logger.info("%s: %d images, %d blocks kept, %.0f s -> %s", args.name, len(used), blocks,
                time.perf_counter() - start, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
