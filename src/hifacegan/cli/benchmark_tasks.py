"""``hifacegan benchmark-tasks``: the paper's task table for a model, on a folder of ground-truth faces.

``hifacegan benchmark-tasks --model M --data DIR --tasks sr4x,denoise --seed 0 [--limit K] [--markdown FILE]``
degrades every face per task (``rng_for(seed, stem)``, as ``hifacegan degrade`` does), restores the
degraded faces with the model, and evaluates three rows per task: the degraded ``input``, a
``bicubic`` baseline (4x shrink + bicubic enlarge for sr4x/sr16x; the input itself otherwise) and
the ``model``. Prints the table; ``--markdown`` writes it for a README, ``--json`` every number.
``--metrics`` takes every metric of ``hifacegan evaluate`` (e.g. ``psnr,niqe,sharpness,fd_mobilenet,fed``);
each row is measured against the clean faces (the set-level ``fd_mobilenet``/``fid``: the row's set of
images against the set of clean faces).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hifacegan.cli.evaluate import add_metric_options, options_from_args
from hifacegan.io import ImageReadError, atomic_write_bytes, list_images, read_image, write_image

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


def _parse_tasks(text: str) -> list[str]:
    from hifacegan.degradations import PAPER_TASKS, TASKS

    if text.strip().lower() in ("all", "paper"):
        return list(PAPER_TASKS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown task(s) {', '.join(unknown) or '(none)'}; choose from "
                                         f"{', '.join(TASKS)} or 'paper'")
    return list(dict.fromkeys(names))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark-tasks",
        help="the paper's task table: degrade, restore and evaluate a folder of faces per task",
        description="For each task, degrade every face of --data (seeded per file stem), restore it with --model, "
        "and measure the degraded input, a bicubic baseline and the model's output against the original. "
        "Bicubic: for sr4x/sr16x the degraded image is shrunk 4x (area) and enlarged back (bicubic); for the "
        "other tasks it is the degraded input itself.",
        epilog="example:\n  hifacegan benchmark-tasks --model weights.safetensors --data faces/ --tasks paper "
        "--seed 0 --limit 100 --markdown table.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, required=True, help="generator checkpoint (any format load_model reads)")
    parser.add_argument("--data", type=Path, required=True, metavar="DIR", help="folder of ground-truth faces")
    parser.add_argument("--tasks", type=_parse_tasks, default="paper",
                        help="comma-separated tasks, or 'paper' for sr4x,sr16x,denoise,deblur,jpeg,renovation "
                        "(default paper)")
    parser.add_argument("--seed", type=int, default=0, help="degradation seed (default 0)")
    parser.add_argument("--limit", type=int, metavar="K", help="use only the first K faces (sorted by name)")
    parser.add_argument("--batch-size", type=int, default=8, help="faces per forward pass (default 8)")
    parser.add_argument("--size", type=int, metavar="PX",
                        help="resize every ground-truth face to PX x PX first (area), as training does; "
                        "use the model's training size, e.g. 128 for the default model")
    parser.add_argument("--face-size", type=int, metavar="PX",
                        help="scale the official degradation ranges (made for 512 px faces) to PX px faces, as "
                        "training with data.degradation_scale does (default: official ranges unscaled)")
    parser.add_argument("--color-fix", action=argparse.BooleanOptionalAction, default=None,
                        help="keep the input's colours and shading under the model's details, as restore does "
                        "(default: as the model card says)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="fp32",
                        help="arithmetic of the model (default fp32, so tables reproduce exactly; auto is what "
                        "restore uses)")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the table as Markdown here")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every summary here")
    parser.add_argument("--save-images", type=Path, metavar="DIR",
                        help="also write DIR/<task>/{input,bicubic,model}/<stem>.png")
    add_metric_options(parser)
    parser.set_defaults(func=run)


def _model_restorer(model_path: Path | torch.nn.Module, device: str, batch_size: int, color_fix: bool | None,
                    precision: str = "fp32"):
    """The model (a checkpoint path or a loaded module) as a function on uint8 images, and whether it applies
    the colour fix. fp32 by default, so the tables (and the model cards quoting them) reproduce exactly."""
    import torch

    from hifacegan import load_model, restore_faces
    from hifacegan.inference import card_color_fix

    model = model_path if isinstance(model_path, torch.nn.Module) else load_model(model_path, device=device)
    color_fix = card_color_fix(model) if color_fix is None else color_fix

    def restore(images: list[np.ndarray]) -> list[np.ndarray]:
        return restore_faces(model, images, batch_size=batch_size, color_fix=color_fix, precision=precision)

    return restore, color_fix


def run(args: argparse.Namespace) -> int:
    from hifacegan.cli._exit import EXIT_USAGE
    from hifacegan.data.transforms import resize_to
    from hifacegan.degradations import DegradationConfig
    from hifacegan.metrics.evaluation import Evaluator
    from hifacegan.metrics.tasks import format_task_table, run_task_benchmark
    from hifacegan.models import CheckpointError

    if not args.data.is_dir():
        logger.error("--data %s is not a folder", args.data)
        return 2
    paths = list_images(args.data)[: args.limit]
    faces = []
    for path in paths:
        try:
            face = read_image(path).to_uint8()
            faces.append((path.stem, resize_to(face, args.size, args.size) if args.size else face))
        except ImageReadError as exc:
            logger.warning("skipping %s", exc)  # counted below: the table states how many faces it covers
    if not faces:
        logger.error("no readable image in %s", args.data)
        return 1
    if len(faces) < len(paths):
        logger.warning("%d of %d files could not be read", len(paths) - len(faces), len(paths))
    try:
        restore, color_fix = _model_restorer(args.model, args.device, args.batch_size, args.color_fix,
                                              args.precision)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:  # ValueError: fp16 on a CPU
        logger.error("cannot load --model: %s", exc)
        return EXIT_USAGE
    evaluator = Evaluator(args.metrics, options_from_args(args), with_reference=True)
    if not evaluator.active:
        logger.error("none of the requested metrics can run here (see the messages above)")
        return 1

    def save(task: str, stem: str, images: dict[str, np.ndarray]) -> None:
        for row, image in images.items():
            write_image(args.save_images / task / row / f"{stem}.png", image)

    config = DegradationConfig().scaled_for_size(args.face_size) if args.face_size else None
    from tqdm import tqdm

    # One tick per face restored, over every task: the model is the slow part (disable=None: terminals only).
    with tqdm(total=len(faces) * len(args.tasks), desc="benchmark-tasks", unit="face", disable=None) as bar:

        def restore_and_count(images: list[np.ndarray]) -> list[np.ndarray]:
            restored = restore(images)
            bar.update(len(images))
            return restored

        results = run_task_benchmark(faces, args.tasks, args.seed, restore_and_count, evaluator, args.batch_size,
                                     sink=save if args.save_images else None, config=config)
    title = (f"{len(faces)} faces from {args.data}"
             + (f" at {args.size} px" if args.size else "")
             + (f", degradations scaled to {args.face_size} px faces" if args.face_size else "")
             + f", seed {args.seed}, model {args.model.name}" + (" with the colour fix" if color_fix else "") + "; "
             f"metrics on {'Y' if args.y_channel else 'RGB'}")
    print(title)
    print(format_task_table(results, evaluator.metrics))
    notes = [f"n/a {metric}: {reason}" for metric, reason in evaluator.unavailable.items()]
    # Which NIQE model and what fd_mobilenet is: the numbers mean nothing without it.
    notes += [f"{key}: {value}" for key, value in evaluator.details.items()]
    for line in notes:
        print(line)
    for task, seconds in results.restore_seconds.items():
        print(f"{task}: model {seconds / len(faces):.3f} s/face")
    if args.markdown:
        text = f"{title}\n\n{format_task_table(results, evaluator.metrics, markdown=True)}\n"
        if notes:
            text += "\n" + "".join(f"- {line}\n" for line in notes)
        atomic_write_bytes(args.markdown, text.encode())
        logger.info("wrote %s", args.markdown)
    if args.json:
        summary = {**results.to_json(), "settings": {"data": str(args.data), "model": str(args.model),
                                                     "seed": args.seed, "tasks": args.tasks, "color_fix": color_fix,
                                                     "unreadable_files": len(paths) - len(faces)}}
        atomic_write_bytes(args.json, (json.dumps(summary, indent=1) + "\n").encode())
        logger.info("wrote %s", args.json)
    return 0
