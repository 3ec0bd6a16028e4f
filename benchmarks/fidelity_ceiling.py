"""How close a model can get to a sharp input: its PSNR on the clean faces themselves, against a task.

Usage::

    .venv/bin/python benchmarks/fidelity_ceiling.py                         # shipped model, deblur, 80 val faces
    .venv/bin/python benchmarks/fidelity_ceiling.py --model run/final.safetensors --task jpeg --limit 200

For each face: PSNR of the degraded input, of the model on it, and of the model on the clean face
(its "ceiling": no restoration can be judged above what the network returns for the truth itself).
The faces, sizes, degradations and seed are those of ``hifacegan benchmark-tasks --size 128
--face-size 128 --seed 0`` and the restore path is the same (uint8 in and out), so the mean rows
match its table on the same faces. The summary splits the faces by how sharp the input already is:
this is where the README's account of the deblur shortfall comes from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    # The exact restore path of hifacegan benchmark-tasks (uint8 in and out, the card's colour fix).
    from hifacegan.cli.benchmark_tasks import _model_restorer
    from hifacegan.data.transforms import resize_to
    from hifacegan.degradations import DegradationConfig, degrade, rng_for
    from hifacegan.io import list_images, read_image
    from hifacegan.metrics.psnr import psnr
    from hifacegan.models._pretrained import default_model_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="checkpoint (default: the shipped model)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "utkface" / "val")
    parser.add_argument("--task", default="deblur")
    parser.add_argument("--limit", type=int, default=80, help="first K faces of --data (default: 80)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sharp-db", type=float, default=37.0, help="inputs at or above this count as sharp")
    args = parser.parse_args()

    restore, _color_fix = _model_restorer(args.model or default_model_path(), "cpu", batch_size=8, color_fix=None)
    config = DegradationConfig().scaled_for_size(args.size)
    paths = list_images(args.data)[: args.limit]
    truths = [resize_to(read_image(p).to_uint8(), args.size, args.size) for p in paths]
    inputs = [degrade(t, args.task, rng_for(args.seed, p.stem), config)[0] for t, p in zip(truths, paths)]

    def score(images: list[np.ndarray]) -> np.ndarray:
        return np.array([psnr(a, t) for a, t in zip(images, truths)])

    p_input, p_model, p_ceiling = score(inputs), score(restore(inputs)), score(restore(truths))

    print(f"{len(paths)} faces of {args.data} at {args.size} px, task {args.task}, seed {args.seed}; PSNR dB (RGB)")
    print(f"{'faces':<44} {'n':>4} {'input':>7} {'model':>7} {'gain':>7} {'ceiling':>8}")
    print("-" * 82)
    groups = [("all", np.ones(len(paths), bool)),
              (f"input >= {args.sharp_db:g} dB", p_input >= args.sharp_db),
              (f"input < {args.sharp_db:g} dB", p_input < args.sharp_db),
              ("input above the model's ceiling for its face", p_input > p_ceiling),
              ("input at or below that ceiling", p_input <= p_ceiling)]
    for name, mask in groups:
        if mask.any():
            print(f"{name:<44} {mask.sum():>4} {p_input[mask].mean():>7.2f} {p_model[mask].mean():>7.2f} "
                  f"{(p_model - p_input)[mask].mean():>+7.2f} {p_ceiling[mask].mean():>8.2f}")


if __name__ == "__main__":
    main()
