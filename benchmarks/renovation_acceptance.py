"""Does the renovation model renovate? Issue 17's acceptance table on held-out 512-px faces.

Per paper task (and the mixed ``renovation`` and ``realworld`` degradations), for the degraded input,
the fidelity model (128 px, run at its own scale and enlarged back, as in a photo) and the renovation
model (512 px), optionally a realness/fidelity blend:

* PSNR (dB) against the truth;
* NIQE (lower = more natural; ``--niqe-params``, default the standard model; the table in docs/models.md
  was measured with ``--niqe-params faces``, the project's ``hifacegan-faces-v1``);
* sharpness ratio (mean luma gradient of output / truth; 1 = as sharp as the truth, < 1 soft);
* fd_mobilenet: Fréchet distance of MobileNetV2 features to the clean set (FID-style, not FID);
* FED: dlib identity-embedding distance to the truth (lower = same person).

Usage::

    .venv/bin/python benchmarks/renovation_acceptance.py --model runs/renovation512/final.safetensors \\
        --data ~/hifacegan-runs/data/hq512/val --limit 40 --blend 0.5 --json out.json

Prints a Markdown table per task. Faces are degraded with the official 512-px ranges, seeded per face.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

TASKS = ("sr4x", "sr16x", "denoise", "deblur", "jpeg", "renovation", "realworld")


def main(argv: list[str] | None = None) -> int:
    import hifacegan
    from hifacegan.data.transforms import fit_square
    from hifacegan.degradations import DegradationConfig, degrade, rng_for
    from hifacegan.io import list_images, read_image
    from hifacegan.metrics import psnr
    from hifacegan.metrics.fd_mobilenet import fd_mobilenet_from_features, load_fd_mobilenet, mobilenet_features
    from hifacegan.metrics.fed import fed
    from hifacegan.metrics.niqe import load_niqe_params, niqe
    from hifacegan.metrics.sharpness import sharpness_ratio
    from hifacegan.models import pretrained
    from hifacegan.models.blend import FidelityBlend

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the renovation model")
    parser.add_argument("--fidelity", type=Path, default=None, help="the fidelity model (default: the shipped one)")
    parser.add_argument("--data", type=Path, required=True, help="held-out aligned faces")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--blend", type=float, default=None, help="also a --weight W column")
    parser.add_argument("--no-fed", action="store_true", help="skip FED (dlib)")
    parser.add_argument("--niqe-params", default=None,
                        help="NIQE pristine model: standard (default), faces, or a file")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    renovation = hifacegan.load_model(args.model, device="cpu")
    fidelity = hifacegan.load_model(args.fidelity or pretrained.pretrained_path("fidelity"), device="cpu")
    fid_size = int(fidelity.model_card.get("size", 128))

    def restorer(model: torch.nn.Module):  # one face at a time, no colour fix: the models' own output, fp32
        return lambda faces: hifacegan.restore_faces(model, faces, batch_size=1, color_fix=False, precision="fp32")

    columns = {
        "fidelity": restorer(FidelityBlend(renovation, fidelity, 1.0, fid_size)),
        "renovation": restorer(renovation),
    }
    if args.blend is not None:
        columns[f"blend w={args.blend:g}"] = restorer(FidelityBlend(renovation, fidelity, args.blend, fid_size))
    paths = list_images(args.data)[:args.limit]
    stems = [p.stem for p in paths]
    truths = [fit_square(read_image(p).to_uint8(), args.size) for p in paths]
    config = DegradationConfig().scaled_for_size(args.size)
    net = load_fd_mobilenet()
    clean_features = mobilenet_features(truths, model=net)
    niqe_params = load_niqe_params(args.niqe_params)
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{len(truths)} faces from {args.data} at {args.size} px; CPU {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; NIQE params {niqe_params.name}")
    print(f"clean faces: NIQE {np.mean([niqe(t, params=niqe_params) for t in truths]):.3f}")
    for task in args.tasks.split(","):
        degraded = [degrade(t, task, rng_for(args.seed, s), config)[0] for t, s in zip(truths, stems)]
        outputs = {"input": degraded}
        seconds = {}
        for name, restore in columns.items():
            start = time.perf_counter()
            outputs[name] = restore(degraded)
            seconds[name] = (time.perf_counter() - start) / len(degraded)
        results[task] = {}
        for name, images in outputs.items():
            row = {
                "psnr": float(np.mean([psnr(o, t) for o, t in zip(images, truths)])),
                "niqe": float(np.mean([niqe(o, params=niqe_params) for o in images])),
                "sharpness": float(np.mean([sharpness_ratio(o, t) for o, t in zip(images, truths)])),
                "fd_mobilenet": fd_mobilenet_from_features(mobilenet_features(images, model=net), clean_features),
            }
            if not args.no_fed:
                distances = []
                for o, t in zip(images, truths):
                    try:
                        distances.append(fed(o, t))
                    except Exception:  # noqa: BLE001, S110 - a face dlib cannot find in the truth is left out
                        pass
                row["fed"] = float(np.mean(distances)) if distances else float("nan")
            if name in seconds:
                row["s_per_face"] = seconds[name]
            results[task][name] = row
        keys = list(next(iter(results[task].values())).keys())
        print(f"\n### {task}\n\n| | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
        for name, row in results[task].items():
            print(f"| {name} | " + " | ".join(f"{row[k]:.4g}" if k in row else "" for k in keys) + " |")
    if args.json:
        args.json.write_text(json.dumps({"faces": len(truths), "data": str(args.data), "size": args.size,
                                         "seed": args.seed, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
