"""Is a model's gain over its degraded input real? Per-face paired differences with bootstrap intervals.

Usage::

    .venv/bin/python benchmarks/paired_gain.py                                  # shipped model, 500 val faces
    .venv/bin/python benchmarks/paired_gain.py --model run/final.safetensors --tasks deblur,jpeg --limit 200

``hifacegan benchmark-tasks`` reports the mean PSNR/SSIM of the input and of the model; this script takes
the same faces, degradations, seed and restore path and reports, per task, the mean of the per-face
differences (model - input), a 95% paired-bootstrap interval for that mean, and the share of faces the
model improves. An interval that straddles 0 means the table's margin is within sampling noise.
"""

from __future__ import annotations

import argparse

import numpy as np
from _val_faces import add_face_arguments, degrade_faces, load_faces, model_restorer  # benchmarks/_val_faces.py


def bootstrap_interval(diffs: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """2.5th and 97.5th percentiles of the mean of ``diffs`` resampled with replacement."""
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), (resamples, len(diffs)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    from hifacegan.metrics.psnr import psnr
    from hifacegan.metrics.ssim import ssim

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_face_arguments(parser, limit=500)
    parser.add_argument("--tasks", default="sr4x,sr16x,denoise,deblur,jpeg,renovation")
    parser.add_argument("--resamples", type=int, default=10000)
    args = parser.parse_args()

    restore = model_restorer(args.model)
    stems, truths = load_faces(args.data, args.limit, args.size)
    print(f"{len(stems)} faces of {args.data} at {args.size} px, seed {args.seed}; model - input, "
          f"mean [95% paired-bootstrap interval] and share of faces improved")
    print(f"{'task':<11} {'PSNR dB':>27} {'better':>7} {'SSIM':>32} {'better':>7}")
    print("-" * 88)
    for task in args.tasks.split(","):
        inputs = degrade_faces(stems, truths, task, args.seed, args.size)
        outputs = restore(inputs)
        cells = []
        for metric in (psnr, ssim):
            diffs = np.array([metric(o, t) - metric(i, t) for o, i, t in zip(outputs, inputs, truths)])
            low, high = bootstrap_interval(diffs, args.resamples, args.seed)
            digits = 2 if metric is psnr else 4
            cells.append(f"{diffs.mean():+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]")
            cells.append(f"{np.mean(diffs > 0):.0%}")
        print(f"{task:<11} {cells[0]:>27} {cells[1]:>7} {cells[2]:>32} {cells[3]:>7}")


if __name__ == "__main__":
    main()
