"""``hifacegan restore INPUT... -o OUTDIR``: restore the faces of whole photos, of aligned face crops, or of videos.

This module turns the flags into :class:`~hifacegan.jobs.JobOptions`, :class:`~hifacegan.jobs.ModelSettings`
and :class:`~hifacegan.batch.session.BatchOptions`, and hands them to
:func:`hifacegan.batch.runner.restore_inputs`; each file is restored by :func:`hifacegan.jobs.restore_file`.
The output layout is GFPGAN's (see :mod:`hifacegan.jobs.layout`).

One bad file never stops the others: each gets a message saying what is wrong, and the exit status
is non-zero only when no file could be processed. Files larger than ``--max-megapixels`` are refused
from their header, before anything is decoded. Inputs are never overwritten; the outputs of one photo
are written as one unit (all or none), and face files left by an earlier run with more faces are removed.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hifacegan.background import BACKGROUND_CHOICES
from hifacegan.batch.session import ENGINES, BatchOptions
from hifacegan.cli._types import int_between, parse_shard, positive_float, positive_int, unit_float
from hifacegan.io import DEFAULT_MAX_PIXELS, MAX_MEGAPIXELS_ENV
from hifacegan.jobs.options import (
    ALIGNED_MAX_PIXELS,
    ARCH_CHOICES,
    COMPILE_ENV,
    COMPILE_MIN_PHOTOS,
    CRF_RANGE,
    EXT_CHOICES,
    MIN_BACKGROUND_TILE,
    JobOptions,
    ModelSettings,
)

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="restore the faces in photos (detect, align, restore, paste back) or in aligned crops",
        description="Find every face in each photo, align it onto the model's training template, restore all faces "
        "of the photo in one batch and paste them back with a soft mask. Inputs are files, folders or globs; "
        "inputs are never overwritten.",
        epilog="outputs: OUTDIR/restored_imgs/<stem>.<ext>, cropped_faces/<stem>_<k>.png, "
        "restored_faces/<stem>_<k>.png, cmp/<stem>_<k>.png; with --aligned: restored_faces/<stem>.png and "
        "cmp/<stem>.png; videos: restored_videos/<stem>.mp4\n"
        "examples:\n"
        "  hifacegan restore photos/ -o results/ --upscale 2\n"
        "  hifacegan restore 'scans/*.jpg' -o results/ --model lipspade_48.pth --max-faces 10\n"
        "  hifacegan restore crops/ -o results/ --aligned --model lipspade_48.pth",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR", help="output folder")
    parser.add_argument("--model", metavar="NAME|PATH",
                        help="a shipped model, renovation (the paper's GAN at 512 px: sharp, realistic) or fidelity "
                        "(128-px regressor: closest to the input, softer), or a checkpoint: official .pth, BasicSR .pth "
                        "or hifacegan .safetensors (default: the package's default model)")
    parser.add_argument("-w", "--weight", type=unit_float, default=0.0, metavar="W",
                        help="realness/fidelity knob in [0, 1], as CodeFormer's w: mix this share of the fidelity "
                        "model's output into the model's (default 0: the model alone)")
    parser.add_argument("--arch", choices=ARCH_CHOICES,
                        help="generator variant of --model (default: inferred from its keys)")
    parser.add_argument("--aligned", action="store_true",
                        help="inputs are aligned face crops: restore each whole, at its own size")
    parser.add_argument("--only-center-face", "--only_center_face", action="store_true",
                        help="restore only the face nearest the centre")
    parser.add_argument("-s", "--upscale", type=positive_float, default=1.0, metavar="N",
                        help="resize the whole photo by N (background as --bg says, faces pasted at full size; "
                        "default 1; ignored with --aligned)")
    parser.add_argument("--ext", choices=EXT_CHOICES, default="auto",
                        help="format of restored_imgs/ (auto: as the input; default auto)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                        help="where to run the model (default auto: CUDA, else MPS, else CPU)")
    parser.add_argument("--max-faces", type=positive_int, metavar="N",
                        help="restore at most the N largest faces of each photo (default: all)")
    parser.add_argument("--max-megapixels", type=positive_float, metavar="MP",
                        help="refuse inputs of more than MP megapixels, judged from the file header before decoding "
                        f"(default: ${MAX_MEGAPIXELS_ENV}, else {DEFAULT_MAX_PIXELS / 1e6:g} for photos; "
                        f"{ALIGNED_MAX_PIXELS / 1e6:g} with --aligned, where the model runs on the whole image)")
    parser.add_argument("--color-fix", action=argparse.BooleanOptionalAction, default=None,
                        help="keep each face's colours and shading from the input, the model's details on top "
                        "(default: as the model card says: on for renovation, off for fidelity; smooths chroma too)")
    parser.add_argument("--coarse-pass", action=argparse.BooleanOptionalAction, default=None,
                        help="restore each face in two passes, at half size for its layout, then at full size: "
                        "fewer misplaced eye lines on badly degraded faces, but wrinkle-like grain (docs/models.md); "
                        "default: as the model card says (the shipped models: off)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                        help="arithmetic of the model (default auto: bf16 on CPUs with AVX512-BF16 or AMX and on "
                        "GPUs, fp32 elsewhere and always with ONNX Runtime; fp16 is for GPUs). For exact PyTorch "
                        "fp32 give --runtime torch --precision fp32")
    parser.add_argument("--runtime", choices=("auto", "torch", "onnx", "aoti"), default=None,
                        help="run the model with PyTorch, ONNX Runtime (CPU, fp32; exports the model when it is "
                        "not an .onnx file from hifacegan export-onnx) or aoti: compiled ahead of time under bf16 "
                        "(CPU; once per model file, one to two minutes, into ~/.cache/hifacegan/aoti, then loaded "
                        "in about a second). Default: $HIFACEGAN_RUNTIME, else auto: on the CPU aoti where bf16 is "
                        "native (AVX512-BF16 or AMX) and a C++ compiler is found, else ONNX Runtime fp32 (exported "
                        "once into ~/.cache/hifacegan/onnx); PyTorch on GPUs, with --weight, --precision fp16 or "
                        "when neither can be had")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="compile the model: with the default runtime on the CPU the cached aoti package (the "
                        "default there anyway where bf16 is native); with --runtime torch torch.compile under bf16, "
                        "compiled afresh in every process (about a minute, seconds once cached). "
                        f"Default: ${COMPILE_ENV} (1/0), else on for {COMPILE_MIN_PHOTOS} or more photos or a video, "
                        "on a CPU with AVX512-BF16 or AMX and a C++ compiler, unless --runtime onnx, --precision "
                        "fp32 or --weight")
    _add_batch_arguments(parser)  # --skip-existing, --shard, --engine ray (hifacegan.batch)
    parser.add_argument("--suffix", metavar="TEXT",
                        help="append _TEXT to the names of restored photos, faces and videos, as GFPGAN's --suffix "
                        "(restored_imgs/<stem>_TEXT.<ext>, restored_faces/<stem>_<k>_TEXT.png)")
    parser.add_argument("--bg", choices=BACKGROUND_CHOICES, default="lanczos",
                        help="background: lanczos (enlarged by --upscale, under 0.05 s per photo) or model "
                        "(enlarged, then restored by the model in overlapping 512-px tiles, as GFPGAN's bg_upsampler: "
                        "11-19 s per output megapixel on a 2-core CPU with the shipped model); default lanczos")
    parser.add_argument("--bg-tile", type=_tile_size, default=512, metavar="PX",
                        help="with --bg model: tile side in pixels (tiles overlap by 48 px and are cross-faded); "
                        "0: the whole image at once (memory ~0.5 GB per megapixel); default 512")
    parser.add_argument("--video-crf", type=int_between(*CRF_RANGE), default=18, metavar="Q",
                        help="H.264 quality of restored videos, 0-51, lower is better (default 18: near lossless)")
    parser.set_defaults(func=run)


def _add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of resumable, sharded and Ray batches (docs/scaling.md)."""
    group = parser.add_argument_group("large batches (docs/scaling.md)")
    group.add_argument("--skip-existing", action="store_true",
                       help="skip photos whose outputs are already complete (resume a stopped batch)")
    group.add_argument("--shard", type=parse_shard, metavar="K/N",
                       help="process only shard K of N (0 <= K < N), a stable 1/N of the inputs chosen by a hash of "
                       "each path relative to its input folder (default: from SLURM_ARRAY_TASK_ID/COUNT, or "
                       "JOB_COMPLETION_INDEX with --shard-count)")
    group.add_argument("--shard-count", type=positive_int, metavar="N",
                       help="number of shards when the environment gives only an index (Kubernetes Indexed Jobs)")
    group.add_argument("--engine", choices=ENGINES, default="local",
                       help="local: this process; ray: Ray Data actors, one model each (pip install "
                       "'hifacegan[ray]'; default local)")
    group.add_argument("--address", metavar="ADDR",
                       help="Ray cluster to join (e.g. ray://head:10001 or auto; default: start a local one)")
    group.add_argument("--ray-actors", type=positive_int, metavar="N",
                       help="model-holding Ray actors (default: one per GPU of the cluster, else one per CPU)")


def _tile_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value != 0 and value < MIN_BACKGROUND_TILE:
        raise argparse.ArgumentTypeError(f"expected 0 (no tiles) or a tile side of at least {MIN_BACKGROUND_TILE} "
                                         f"pixels, got {text!r}")
    return value


def _settings(args: argparse.Namespace) -> tuple[JobOptions, ModelSettings, BatchOptions]:
    """The flags as the job's, the model's and the batch's settings (each checks itself)."""
    max_pixels = None if args.max_megapixels is None else max(1, round(args.max_megapixels * 1e6))
    job = JobOptions(output=args.output, aligned=args.aligned, only_center_face=args.only_center_face,
                     upscale=args.upscale, max_faces=args.max_faces, ext=args.ext, suffix=args.suffix,
                     max_pixels=max_pixels, video_crf=args.video_crf)
    model = ModelSettings(model=args.model, device=args.device, arch=args.arch, color_fix=args.color_fix,
                          coarse_pass=args.coarse_pass, fidelity_weight=args.weight, precision=args.precision,
                          runtime=args.runtime, compile=args.compile, background=args.bg, background_tile=args.bg_tile)
    batch = BatchOptions(skip_existing=args.skip_existing, shard=args.shard, shard_count=args.shard_count,
                         engine=args.engine, address=args.address, ray_actors=args.ray_actors)
    return job, model, batch


def run(args: argparse.Namespace) -> int:
    from hifacegan.batch.ray_engine import RayDriverError, RayUnavailableError
    from hifacegan.batch.runner import NoInputsError, RestoreRun
    from hifacegan.cli._exit import EXIT_USAGE
    from hifacegan.models.checkpoint import CheckpointError
    from hifacegan.models.pretrained import NoDefaultModelError

    try:
        restore_run = RestoreRun.prepare(args.inputs, *_settings(args))
        report = restore_run.run()
    except NoInputsError as exc:
        logger.error("%s", exc)
        return 1
    except NoDefaultModelError as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    except CheckpointError as exc:
        logger.error("cannot load the model: %s", exc)
        return EXIT_USAGE
    except RayDriverError as exc:
        logger.error("%s; the photos restored so far are kept, --skip-existing resumes", exc)
        return 1
    except (ValueError, ImportError, RayUnavailableError) as exc:  # ImportError: ONNX export without onnx/onnxscript
        logger.error("%s", exc)
        return 2
    return report.exit_status
