"""What bf16 autocast and ONNX Runtime cost in output quality, against torch fp32 on the same inputs.

Usage::

    .venv/bin/python benchmarks/precision_quality.py                 # official fixtures + 100 validation faces
    .venv/bin/python benchmarks/precision_quality.py --limit 500 --tasks renovation deblur --onnx

Every output is compared as the user gets it: clipped to [0, 1], rounded to 8 bits. Columns: the largest
grey-level difference of any pixel, the share of pixels that differ at all, and the PSNR of the candidate
against the fp32 output (inf when identical). Rows: the official fixtures (``../shared/reference/official``,
tiny ngf-8 networks, official weights) and the shipped default model on validation faces degraded per task
as ``hifacegan benchmark-tasks`` degrades them, with the mean PSNR against the ground truth under both
arithmetics (the figure the validation table quotes).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from _timing import cpu_name  # benchmarks/_timing.py
from _val_faces import DEFAULT_VAL, degrade_faces, load_faces  # benchmarks/_val_faces.py

OFFICIAL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "official"


def compare(candidate: list[np.ndarray], fp32: list[np.ndarray]) -> dict[str, float]:
    """Max grey-level difference, share of differing values and PSNR of ``candidate`` vs ``fp32`` (uint8 lists)."""
    a = np.stack(candidate).astype(np.float64)
    b = np.stack(fp32).astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    return {"max": float(np.abs(a - b).max()), "differ": float(np.mean(a != b)),
            "psnr": math.inf if mse == 0 else 10 * math.log10(255**2 / mse)}


def psnr_to(outputs: list[np.ndarray], truths: list[np.ndarray]) -> float:
    values = []
    for out, truth in zip(outputs, truths, strict=True):
        mse = float(np.mean((out.astype(np.float64) - truth.astype(np.float64)) ** 2))
        values.append(100.0 if mse == 0 else 10 * math.log10(255**2 / mse))
    return float(np.mean(values))


def candidates(model, faces: list[np.ndarray], onnx: bool, folder: str) -> dict[str, list[np.ndarray]]:
    """Outputs of fp32, bf16 (and ONNX Runtime) for ``faces`` through the package's one restore path."""
    from hifacegan import restore_faces

    results = {precision: restore_faces(model, faces, color_fix=False, precision=precision)
               for precision in ("fp32", "bf16")}
    if onnx:
        from hifacegan.onnx_runtime import export_onnx, load_onnx

        path = Path(folder) / f"{id(model)}.onnx"
        if not path.exists():  # one export per model
            export_onnx(model, path)
        results["onnx"] = restore_faces(load_onnx(path), faces, color_fix=False, precision="fp32")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="checkpoint for the face rows (default: the shipped model)")
    parser.add_argument("--data", type=Path, default=DEFAULT_VAL)
    parser.add_argument("--limit", type=int, default=100, help="first K validation faces (default 100)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=["renovation", "sr4x", "sr16x", "denoise", "deblur", "jpeg"])
    parser.add_argument("--onnx", action="store_true", help="also ONNX Runtime (exports each model; needs [onnx])")
    args = parser.parse_args()

    import hifacegan
    from hifacegan.models.pretrained import default_model_path

    print(f"# CPU: {cpu_name()}; torch {torch.__version__}; outputs clipped to [0, 1] and rounded to uint8")
    header = f"{'inputs':<34}{'candidate':<10}{'max grey':>9}{'% differ':>9}{'PSNR vs fp32':>13}{'PSNR to truth':>22}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as folder:
        for fixture in sorted(OFFICIAL.glob("*_ngf8_io.npz")):
            variant = fixture.name.split("_")[0]
            weights = OFFICIAL / f"{variant}_ngf8_official.pth"
            if not weights.exists():
                continue
            model = hifacegan.load_model(weights, arch=variant)
            io = np.load(fixture)
            for name in ("face128", "face96x160"):
                face = np.rint(io[f"{name}_input"][0].transpose(1, 2, 0) * 255).astype(np.uint8)
                outputs = candidates(model, [face], args.onnx, folder)
                for candidate in [c for c in outputs if c != "fp32"]:
                    row = compare(outputs[candidate], outputs["fp32"])
                    print(f"{f'official {variant}-8 {name}':<34}{candidate:<10}{row['max']:>9.0f}"
                          f"{100 * row['differ']:>8.2f}%{row['psnr']:>13.2f}", flush=True)
        if not args.data.is_dir():
            print(f"(no validation faces at {args.data}: face rows skipped)")
            return
        model = hifacegan.load_model(args.model or default_model_path())
        stems, truths = load_faces(args.data, args.limit, args.size)
        for task in args.tasks:
            degraded = degrade_faces(stems, truths, task, args.seed, args.size)
            outputs = candidates(model, degraded, args.onnx, folder)
            truth_fp32 = psnr_to(outputs["fp32"], truths)
            for candidate in [c for c in outputs if c != "fp32"]:
                row = compare(outputs[candidate], outputs["fp32"])
                truth = f"{psnr_to(outputs[candidate], truths):.3f} / {truth_fp32:.3f} dB"
                print(f"{f'{len(stems)} val faces, {task}':<34}{candidate:<10}{row['max']:>9.0f}"
                      f"{100 * row['differ']:>8.2f}%{row['psnr']:>13.2f}{truth:>22}", flush=True)


if __name__ == "__main__":
    main()
