"""``hifacegan export-onnx MODEL OUT.onnx``: a generator as an ONNX file for ONNX Runtime (and other runtimes)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-onnx",
        help="export a generator to ONNX (dynamic batch, height and width)",
        description="Load MODEL (a shipped model's name, or an official/BasicSR/our checkpoint) and write it as "
        "an ONNX graph: input 'image' (N, 3, H, W) float32 in [0, 1] with H and W multiples of 32 (64 to 8192), "
        "output 'restored' (tanh output; clip to [0, 1]). The model card goes into the file's metadata. "
        "Use it with: hifacegan restore --model OUT.onnx. Needs onnx and onnxscript (core dependencies).",
    )
    parser.add_argument("model", metavar="MODEL", help="shipped model name (renovation, fidelity) or checkpoint path")
    parser.add_argument("output", type=Path, metavar="OUT.onnx", help="destination file (written atomically)")
    parser.add_argument("--arch", choices=("hifacegan", "lipspade", "spade"), help="variant (default: inferred)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() != ".onnx":
        logger.error("OUT must end in .onnx, got %s", args.output)
        return 2
    if args.output.is_dir():
        logger.error("OUT %s is a folder; give a file name ending in .onnx", args.output)
        return 2
    if args.output.exists() and Path(args.model).exists() and args.output.resolve() == Path(args.model).resolve():
        logger.error("refusing to overwrite the input %s", args.model)
        return 2
    from hifacegan.models import pretrained
    from hifacegan.models.checkpoint import CheckpointError, load_model
    from hifacegan.onnx_runtime import export_onnx

    try:
        model = load_model(pretrained.resolve_model(args.model), arch=args.arch, device="cpu")
    except pretrained.NoDefaultModelError as exc:
        logger.error("%s", exc)
        return 2
    except CheckpointError as exc:
        logger.error("cannot load the model: %s", exc)
        return 2  # as every command does for a model it cannot load (cli/_exit.py)
    try:
        export_onnx(model, args.output, opset=args.opset)
    except ImportError as exc:
        logger.error("%s", exc)
        return 2
    logger.info("wrote %s (%.1f MB)", args.output, args.output.stat().st_size / 1e6)
    return 0
