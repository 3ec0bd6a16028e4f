"""``hifacegan train CONFIG.yaml [--set key=value ...] [--resume PATH|auto]``: train HiFaceGAN.

One process: CPU or one GPU. Several GPUs or nodes: start it with ``torchrun``, e.g.
``torchrun --nproc_per_node=8 -m hifacegan train configs/ffhq512_paper.yaml``; each process takes
its GPU from ``LOCAL_RANK``, rank 0 logs and writes the run folder.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hifacegan.cli._exit import EXIT_NONFINITE, EXIT_USAGE

logger = logging.getLogger(__name__)

EXIT_CONFIG = EXIT_USAGE  # a config, checkpoint or model the run cannot start with


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train or fine-tune HiFaceGAN from a YAML config",
        description="Train HiFaceGAN with the paper's losses (LSGAN, feature matching, perceptual) from a YAML "
        "config (see configs/). Checkpoints, logs, samples and the exported generator (final.safetensors) "
        "go to the config's run_dir. Multi-GPU/multi-node: launch with torchrun.",
        epilog="examples:\n"
        "  hifacegan train configs/tiny_cpu.yaml\n"
        "  hifacegan train configs/default_utkface128.yaml --set train.max_minutes=60 --set run_dir=runs/a\n"
        "  hifacegan train configs/default_utkface128.yaml --set run_dir=runs/a --resume auto\n"
        "  torchrun --nproc_per_node=4 -m hifacegan train configs/ffhq512_paper.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", type=Path, help="YAML config file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. train.lr_g=2e-4 or data.tasks=[sr4x,jpeg] (repeatable)")
    parser.add_argument("--resume", metavar="PATH|auto",
                        help="continue from a training checkpoint, or 'auto' for <run_dir>/checkpoints/last.pt "
                        "when it exists")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hifacegan.training.config import ConfigError, dump_config, load_config

    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as exc:
        logger.error("%s", exc)
        return EXIT_CONFIG
    if args.print_config:
        print(dump_config(config), end="")
        return 0

    from hifacegan.models import CheckpointError
    from hifacegan.training.checkpoint import TrainingCheckpointError
    from hifacegan.training.perceptual import PerceptualWeightsError
    from hifacegan.training.trainer import NonFiniteLossError, Trainer

    trainer = None
    try:
        trainer = Trainer(config, resume=args.resume)
        if not trainer.info.is_main:
            logging.getLogger().setLevel(logging.WARNING)  # rank 0 speaks for everyone
        result = trainer.fit()
    except (ConfigError, PerceptualWeightsError, TrainingCheckpointError, CheckpointError, FileNotFoundError) as exc:
        logger.error("%s", exc)
        return EXIT_CONFIG
    except NonFiniteLossError as exc:
        logger.error("training stopped: %s", exc)
        return EXIT_NONFINITE
    finally:
        if trainer is not None:
            trainer.close()
    if result.exported is not None:
        logger.info("done: %d steps, %d images; generator: %s", result.step, result.images_seen, result.exported)
    return 0
