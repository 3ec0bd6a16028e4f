"""Does the restorer harm a good photo? Issue 28's mild-degradation table on held-out faces.

Each face is mildly degraded (Gaussian blur with sigma drawn in 1-3 px, or 4x bicubic down then up),
restored as ``hifacegan restore --aligned`` does (the default runtime and precision), and compared with
its truth:

* PSNR (dB) of input and output against the truth, and the output's loss to the input (target: at most
  1.5 dB);
* mean colour error: the largest per-channel difference of mean colour from the truth, grey levels
  (target: at most 1);
* sharpness ratio: output luma gradient energy over the truth's (target 0.9-1.15);
* fine texture: the output's power at 0.25-0.5 cycles/px over the truth's, a geometric mean over the
  frequency bands of ``training.losses.band_spectrum`` (1 = as much fine texture as the truth; the
  diagonal hatching and the wrinkles of issue 28 raise it, blur lowers it).

Usage (the issue's set: 30 held-out UTKFace faces at their 200 px)::

    .venv/bin/python benchmarks/mild_degradations.py [--model M] [--color-fix] [--limit 30] [--size 200]
    .venv/bin/python benchmarks/mild_degradations.py --data ~/hifacegan-runs/data/hq512/val --size 512

Prints one Markdown row per task with the mean over faces.
"""

from __future__ import annotations

import argparse
import platform

import cv2
import numpy as np
from _val_faces import add_face_arguments, load_faces

MILD_TASKS = ("blur1-3", "down4x")


def mild_degrade(face: np.ndarray, task: str, rng: np.random.Generator) -> np.ndarray:
    """``blur1-3``: Gaussian blur, sigma uniform in [1, 3]; ``down4x``: bicubic to 1/4 and back."""
    height, width = face.shape[:2]
    if task == "blur1-3":
        return cv2.GaussianBlur(face, (0, 0), float(rng.uniform(1.0, 3.0)))
    small = cv2.resize(face, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def colour_error(image: np.ndarray, truth: np.ndarray) -> float:
    """Largest per-channel difference of mean colour, grey levels."""
    diff = image.reshape(-1, 3).astype(np.float64).mean(0) - truth.reshape(-1, 3).astype(np.float64).mean(0)
    return float(np.abs(diff).max())


def fine_texture_ratio(image: np.ndarray, truth: np.ndarray) -> float:
    """Geometric-mean power ratio, image over truth, of the bands from 0.25 cycles/px up (uint8 RGB)."""
    import torch

    from hifacegan.training.losses import SPECTRUM_ANGLES, SPECTRUM_RING, band_spectrum

    pair = torch.from_numpy(np.stack([image, truth])).permute(0, 3, 1, 2).float() / 255.0
    log_power = band_spectrum(pair)
    fine = slice((round(0.25 / SPECTRUM_RING) - 1) * SPECTRUM_ANGLES, None)
    return float(torch.exp((log_power[0, fine] - log_power[1, fine]).mean()))


def main(argv: list[str] | None = None) -> int:
    from hifacegan.inference import card_coarse_pass, takes_coarse_pass
    from hifacegan.metrics import psnr
    from hifacegan.metrics.sharpness import sharpness_ratio
    from hifacegan.pixels import float_to_uint8
    from hifacegan.restorer import Restorer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_face_arguments(parser, limit=30)
    parser.set_defaults(size=200)
    parser.add_argument("--color-fix", action=argparse.BooleanOptionalAction, default=None,
                        help="as restore's --color-fix (default: the model card's choice)")
    parser.add_argument("--weight", type=float, default=0.0, help="as restore's --weight")
    parser.add_argument("--coarse-pass", action=argparse.BooleanOptionalAction, default=None,
                        help="as restore's --coarse-pass (default: the model card's choice)")
    args = parser.parse_args(argv)

    restorer = Restorer(str(args.model) if args.model else None, color_fix=args.color_fix,
                        fidelity_weight=args.weight, coarse_pass=args.coarse_pass)
    threshold = card_coarse_pass(restorer.model)
    _, truths = load_faces(args.data, args.limit, args.size)
    print(f"{len(truths)} faces from {args.data} at {args.size} px, model {args.model or 'default'}, "
          f"color_fix {restorer.color_fix}, coarse_pass {args.coarse_pass} (card: from NIQE {threshold}), "
          f"weight {args.weight}; CPU {platform.processor() or platform.machine()}")
    print("\n| task | PSNR input | PSNR output | output - input | colour error input / output | sharpness input / "
          "output | fine texture input / output | two passes |\n|---|---|---|---|---|---|---|---|")
    for task in MILD_TASKS:
        rng = np.random.default_rng(args.seed)
        degraded = [mild_degrade(t, task, rng) for t in truths]
        restored = [float_to_uint8(restorer.enhance(d, aligned=True).image) for d in degraded]
        p_in = np.mean([psnr(d, t) for d, t in zip(degraded, truths)])
        p_out = np.mean([psnr(r, t) for r, t in zip(restored, truths)])
        c_in = np.mean([colour_error(d, t) for d, t in zip(degraded, truths)])
        c_out = np.mean([colour_error(r, t) for r, t in zip(restored, truths)])
        s_in = np.mean([sharpness_ratio(d, t) for d, t in zip(degraded, truths)])
        s_out = np.mean([sharpness_ratio(r, t) for r, t in zip(restored, truths)])
        f_in = np.exp(np.mean([np.log(fine_texture_ratio(d, t)) for d, t in zip(degraded, truths)]))
        f_out = np.exp(np.mean([np.log(fine_texture_ratio(r, t)) for r, t in zip(restored, truths)]))
        two = sum(takes_coarse_pass(restorer.model, d, args.coarse_pass) for d in degraded)
        print(f"| {task} | {p_in:.2f} | {p_out:.2f} | {p_out - p_in:+.2f} | {c_in:.2f} / {c_out:.2f} | "
              f"{s_in:.2f} / {s_out:.2f} | {f_in:.2f} / {f_out:.2f} | {two} of {len(degraded)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
