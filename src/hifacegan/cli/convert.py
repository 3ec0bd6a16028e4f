"""``hifacegan convert IN OUT``: official or BasicSR checkpoint -> our safetensors format + model card."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert an official/BasicSR checkpoint to hifacegan's safetensors format",
        description="Read an official Face-Renovation or BasicSR generator checkpoint (loaded with "
        "weights_only=True) and write OUT.safetensors plus the model card OUT.json.",
    )
    parser.add_argument("input", type=Path, help="checkpoint to convert (.pth/.pt/.safetensors)")
    parser.add_argument("output", type=Path, help="destination .safetensors file")
    parser.add_argument("--arch", choices=("hifacegan", "lipspade", "spade"), help="variant (default: inferred)")
    parser.add_argument("--ngf", type=int, help="base width (default: inferred)")
    parser.add_argument("--task", default="unknown", help="what the weights restore, for the model card")
    parser.add_argument("--size", type=int, default=512, help="training crop size, for the model card")
    parser.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hifacegan.cli._exit import EXIT_USAGE

    if args.output.suffix != ".safetensors":
        logger.error("OUTPUT must end in .safetensors, got %s", args.output)
        return 2
    if args.output.resolve() == args.input.resolve():
        logger.error("refusing to overwrite the input %s", args.input)
        return 2
    import torch

    from hifacegan.models.checkpoint import (
        CheckpointError,
        build_from_state_dict,
        model_card_for,
        read_weights,
        save_model,
    )

    try:
        state, card = read_weights(args.input)
        model, variant, ngf = build_from_state_dict(state, args.arch or card.get("variant"),
                                                    args.ngf or card.get("ngf"), str(args.input))
    except CheckpointError as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    provenance = card.get("provenance", f"converted by hifacegan convert from {args.input.name}")
    card = model_card_for(model, variant, ngf, task=card.get("task", args.task), size=card.get("size", args.size),
                          provenance=provenance)
    save_model(args.output, model, card, dtype=torch.float16 if args.half else None)
    logger.info("wrote %s (%s, ngf %d, %.1f M parameters) and %s", args.output, variant, ngf,
                card["parameters"] / 1e6, args.output.with_suffix(".json"))
    return 0
