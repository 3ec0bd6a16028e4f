"""``hifacegan export-onnx MODEL OUT.onnx``: a generator as an ONNX file for ONNX Runtime (and other runtimes).

``--format facefusion`` writes the face-enhancer contract of FaceFusion, ReActor and Deep-Live-Cam instead
(:mod:`hifacegan.onnx_facefusion`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hifacegan.cli._types import unit_float

logger = logging.getLogger(__name__)

FORMATS = ("hifacegan", "facefusion")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-onnx",
        help="export a generator to ONNX (ours, or the face-enhancer file FaceFusion/ReActor load)",
        description="Load MODEL (a shipped model's name, or an official/BasicSR/our checkpoint) and write it as "
        "an ONNX graph. --format hifacegan (default): input 'image' (N, 3, H, W) float32 in [0, 1] with H and W "
        "multiples of 32 (64 to 8192), output 'restored' (tanh output; clip to [0, 1]); use it with: hifacegan "
        "restore --model OUT.onnx. --format facefusion: the face enhancer of FaceFusion, ReActor and Deep-Live-Cam: "
        "input 'input' (1, 3, 512, 512) float32 RGB in [-1, 1] (a face warped onto FFHQ's five-point template), "
        "output the restored face in [-1, 1]; name it with 512 (e.g. hifacegan_512.onnx), ReActor reads the face "
        "size from the name. The model card goes into the file's metadata either way. Needs onnx and onnxscript "
        "(core dependencies).",
    )
    parser.add_argument("model", metavar="MODEL", help="shipped model name (renovation, fidelity) or checkpoint path")
    parser.add_argument("output", type=Path, metavar="OUT.onnx", help="destination file (written atomically)")
    parser.add_argument("--format", choices=FORMATS, default="hifacegan",
                        help="hifacegan: our restore path's file (default); facefusion: the face-enhancer contract")
    parser.add_argument("-w", "--weight", type=unit_float, default=0.0, metavar="W",
                        help="facefusion: mix this share of the shipped fidelity model into every face, as restore "
                        "--weight does (default 0: the model alone)")
    parser.add_argument("--weight-input", action="store_true",
                        help="facefusion: add the contract's optional input 'weight' (float64, shape (1,)): the "
                        "fidelity share per call, FaceFusion's face enhancer weight. Not for ReActor, which always "
                        "feeds 1 there (the soft fidelity model alone)")
    parser.add_argument("--arch", choices=("hifacegan", "lipspade", "spade"), help="variant (default: inferred)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.set_defaults(func=run)


def _check_output(args: argparse.Namespace) -> str | None:
    """Why OUT cannot be written, or ``None``."""
    if args.output.suffix.lower() != ".onnx":
        return f"OUT must end in .onnx, got {args.output}"
    if args.output.is_dir():
        return f"OUT {args.output} is a folder; give a file name ending in .onnx"
    if args.output.exists() and Path(args.model).exists() and args.output.resolve() == Path(args.model).resolve():
        return f"refusing to overwrite the input {args.model}"
    if args.format != "facefusion" and (args.weight or args.weight_input):
        return "--weight and --weight-input belong to --format facefusion (our own file mixes at restore time)"
    if args.weight and args.weight_input:
        return "give either a fixed --weight or --weight-input, not both"
    if args.format == "facefusion":
        from hifacegan.onnx_facefusion import check_facefusion_file_name

        try:
            check_facefusion_file_name(args.output)
        except ValueError as exc:
            return str(exc)
    return None


def run(args: argparse.Namespace) -> int:
    problem = _check_output(args)
    if problem:
        logger.error("%s", problem)
        return 2
    from hifacegan.models import pretrained
    from hifacegan.models.checkpoint import CheckpointError, load_model

    try:
        model = load_model(pretrained.resolve_model(args.model), arch=args.arch, device="cpu")
    except pretrained.NoDefaultModelError as exc:
        logger.error("%s", exc)
        return 2
    except CheckpointError as exc:
        logger.error("cannot load the model: %s", exc)
        return 2  # as every command does for a model it cannot load (cli/_exit.py)
    try:
        if args.format == "facefusion":
            from hifacegan.onnx_facefusion import export_facefusion_onnx

            export_facefusion_onnx(model, args.output, weight=args.weight, weight_input=args.weight_input,
                                   opset=args.opset)
        else:
            from hifacegan.onnx_runtime import export_onnx

            export_onnx(model, args.output, opset=args.opset)
    except (ImportError, ValueError) as exc:  # missing exporter packages; a model framed otherwise than the contract
        logger.error("%s", exc)
        return 2
    logger.info("wrote %s (%.1f MB)", args.output, args.output.stat().st_size / 1e6)
    return 0
