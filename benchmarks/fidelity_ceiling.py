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

import numpy as np
from _val_faces import add_face_arguments, degrade_faces, load_faces, model_restorer  # benchmarks/_val_faces.py


def main() -> None:
    from hifacegan.metrics.psnr import psnr

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_face_arguments(parser, limit=80)
    parser.add_argument("--task", default="deblur")
    parser.add_argument("--sharp-db", type=float, default=37.0, help="inputs at or above this count as sharp")
    args = parser.parse_args()

    restore = model_restorer(args.model)
    stems, truths = load_faces(args.data, args.limit, args.size)
    inputs = degrade_faces(stems, truths, args.task, args.seed, args.size)

    def score(images: list[np.ndarray]) -> np.ndarray:
        return np.array([psnr(a, t) for a, t in zip(images, truths)])

    p_input, p_model, p_ceiling = score(inputs), score(restore(inputs)), score(restore(truths))

    print(f"{len(stems)} faces of {args.data} at {args.size} px, task {args.task}, seed {args.seed}; PSNR dB (RGB)")
    print(f"{'faces':<44} {'n':>4} {'input':>7} {'model':>7} {'gain':>7} {'ceiling':>8}")
    print("-" * 82)
    groups = [("all", np.ones(len(stems), bool)),
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
