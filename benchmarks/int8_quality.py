"""Whether int8 (ONNX Runtime static quantization) may run the shipped model: quality on held-out faces, and speed.

Usage::

    .venv/bin/python benchmarks/int8_quality.py                          # ../shared/data/realworld/ntire_val
    .venv/bin/python benchmarks/int8_quality.py --variants conv --calibration 20 --held-out 40

The model is exported to ONNX fp32 (as ``hifacegan export-onnx`` does), prepared with ONNX Runtime's
``quant_pre_process`` and quantized statically (QDQ, int8 weights per channel, uint8 activations) from the
activation ranges of ``--calibration`` real low-quality aligned faces. ``--held-out`` other faces of the same
folder (every face is in one set or the other, never both) are then restored in fp32 and in int8. A variant
would be kept only if, on the held-out faces, the mean PSNR of its 8-bit output against the fp32 output is at
least 40 dB and the mean NIQE moves by less than 0.1 (issue 32's bar; bf16 measures 53.7 dB, README "Quality
cost of bf16"). Variants: ``all`` (every operator ONNX Runtime can quantize), ``conv`` (convolutions only: the
normalisation and SPADE modulation stay fp32). Ranges are min-max: percentile and entropy calibration keep
every activation of every calibration face in memory (ten 512-px faces took more than 16 GB and were killed).

Speed: seconds per 512-px face, fp32 and each variant timed in interleaved rounds, fastest round, same run.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import cpu_features, cpu_name  # benchmarks/_timing.py

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_FACES = SHARED / "data" / "realworld" / "ntire_val"
STANDARD_NIQE = SHARED / "reference" / "niqe_pris_params.npz"
VARIANTS = ("all", "conv")


def split_faces(folder: Path, calibration: int, held_out: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two disjoint sets spread over the sorted folder (its sources are grouped by name): calibration, held out."""
    from hifacegan.io import list_images, read_image

    paths = list_images(folder)
    if calibration + held_out > len(paths):
        raise SystemExit(f"{folder} holds {len(paths)} faces; asked for {calibration} + {held_out}")
    spread = np.linspace(0, len(paths) - 1, calibration + held_out).round().astype(int)  # every source
    calibrating = set(np.linspace(0, len(spread) - 1, calibration).round().astype(int).tolist())
    calib = [read_image(paths[index]).rgb for k, index in enumerate(spread) if k in calibrating]
    held = [read_image(paths[index]).rgb for k, index in enumerate(spread) if k not in calibrating]
    return calib, held


def quantize(fp32_path: Path, out: Path, faces: list[np.ndarray], variant: str) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"image": np.ascontiguousarray(f.transpose(2, 0, 1)[None])} for f in faces])

        def get_next(self):
            return next(self.batches, None)

    prepared = out.with_suffix(".pre.onnx")
    if not prepared.exists():
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer warns once per 1-D weight that it cannot quantize per channel
    try:
        quantize_static(str(prepared), str(out), Faces(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        op_types_to_quantize=None if variant == "all" else ["Conv"])
    finally:
        root.setLevel(level)
    return out


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("faces", nargs="?", type=Path, default=DEFAULT_FACES, help="aligned 512-px faces")
    parser.add_argument("--model", help="shipped name or checkpoint (default: the shipped default model)")
    parser.add_argument("--calibration", type=int, default=10)
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (on --timing-faces faces)")
    parser.add_argument("--timing-faces", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from hifacegan import load_model, restore_faces
    from hifacegan.io import float_to_uint8
    from hifacegan.metrics.niqe import niqe
    from hifacegan.models.pretrained import resolve_model
    from hifacegan.onnx_runtime import export_onnx, load_onnx

    torch.set_num_threads(args.threads)
    calibration, held_out = split_faces(args.faces, args.calibration, args.held_out)
    niqe_params = STANDARD_NIQE if STANDARD_NIQE.is_file() else None
    print(f"# CPU: {cpu_name()} ({cpu_features()}); {args.threads} threads; {len(calibration)} calibration and "
          f"{len(held_out)} held-out faces from {args.faces}; NIQE model {'standard' if niqe_params else 'packaged'}")
    with tempfile.TemporaryDirectory() as folder:
        fp32_path = export_onnx(load_model(resolve_model(args.model), device="cpu"), Path(folder) / "fp32.onnx")
        runners = {"fp32": load_onnx(fp32_path, threads=args.threads)}
        for variant in args.variants:
            start = time.perf_counter()
            path = quantize(fp32_path, Path(folder) / f"int8-{variant}.onnx", calibration, variant)
            print(f"# int8 {variant}: quantized in {time.perf_counter() - start:.0f} s", flush=True)
            runners[variant] = load_onnx(path, threads=args.threads)
        outputs = {name: [float_to_uint8(face) for face in restore_faces(runner, held_out, batch_size=1)]
                   for name, runner in runners.items()}
        scores = {name: [niqe(face, params=niqe_params) for face in faces] for name, faces in outputs.items()}
        times: dict[str, list[float]] = {name: [] for name in runners}
        timing_faces = held_out[:args.timing_faces]
        for _ in range(args.rounds):
            for name, runner in runners.items():
                start = time.perf_counter()
                restore_faces(runner, timing_faces, batch_size=1)
                times[name].append((time.perf_counter() - start) / len(timing_faces))
    header = (f"{'variant':<18}{'PSNR vs fp32 mean (min)':>25}{'NIQE mean':>11}{'NIQE moved':>12}"
              f"{'s / face':>10}{'speed-up':>10}  verdict")
    print(header)
    print("-" * len(header))
    reference_niqe, reference_time = statistics.mean(scores["fp32"]), min(times["fp32"])
    for name in runners:
        values = [psnr8(a, b) for a, b in zip(outputs[name], outputs["fp32"], strict=True)]
        finite = [v for v in values if math.isfinite(v)] or [math.inf]
        moved = statistics.mean(scores[name]) - reference_niqe
        keep = statistics.mean(finite) >= 40 and abs(moved) < 0.1
        verdict = "reference" if name == "fp32" else ("kept" if keep else "left off (PSNR < 40 dB or NIQE moved >= 0.1)")
        psnr_text = "identical" if name == "fp32" else f"{statistics.mean(finite):.1f} ({min(finite):.1f}) dB"
        print(f"{name:<18}{psnr_text:>25}{statistics.mean(scores[name]):>11.3f}{moved:>+12.3f}"
              f"{min(times[name]):>10.2f}{reference_time / min(times[name]):>9.2f}x  {verdict}")


if __name__ == "__main__":
    main()
