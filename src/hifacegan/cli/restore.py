"""``hifacegan restore INPUT... -o OUTDIR``: restore the faces of whole photos, or of aligned face crops.

Outputs, like GFPGAN's ``inference_gfpgan.py``::

    OUTDIR/restored_imgs/<stem>.<ext>     the whole photo with its faces restored (pasted back)
    OUTDIR/cropped_faces/<stem>_<k>.png   face k as aligned for the model
    OUTDIR/restored_faces/<stem>_<k>.png  face k restored
    OUTDIR/cmp/<stem>_<k>.png             face k before | after

With ``--aligned`` each input is one aligned face crop, restored at its own size into
``OUTDIR/restored_faces/<stem>.png`` (8-bit RGB) and ``OUTDIR/cmp/<stem>.png``.

One bad file never stops the others: each gets a message saying what is wrong, and the exit status
is non-zero only when no file could be processed. Files larger than ``--max-megapixels`` are refused
from their header, before anything is decoded. Inputs are never overwritten; the outputs of one photo
are written as one unit (all or none), and face files left by an earlier run with more faces are removed.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hifacegan.batch.session import BatchSession, add_batch_arguments, restore_photo, restorer_settings
from hifacegan.cli import _restore_video
from hifacegan.cli._types import positive_float, positive_int, unit_float
from hifacegan.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    MAX_MEGAPIXELS_ENV,
    OutputPathError,
    atomic_write_files,
    check_output_dir,
    default_max_pixels,
    encode_image,
    list_images,
    read_image,
)

if TYPE_CHECKING:
    from hifacegan.restorer import Restorer

logger = logging.getLogger(__name__)

# A restored photo is held as float32 RGB in memory: 250 MP is 3 GB, about what this machine class can spare.
MAX_OUTPUT_PIXELS = 250_000_000
# With --aligned the generator runs on the whole image: about 0.5 GB per megapixel for the shipped model
# (an 8000x6000 crop took 24 GB), so the default bound is 4 MP, a 2048x2048 crop.
ALIGNED_MAX_PIXELS = 4_000_000
_FOLDERS = ("restored_imgs", "cropped_faces", "restored_faces", "cmp")
# --compile's default turns on from this many photos: compiling costs about a minute on two cores (5-9 s with
# Inductor's cache warm) and saves about 1 s per 512-px face against ONNX Runtime (README "Speed").
COMPILE_MIN_PHOTOS = 16
COMPILE_ENV = "HIFACEGAN_COMPILE"  # 1/0: --compile's default where neither --compile nor --no-compile is given
_ALPHA_EXTENSIONS = (".png", ".webp", ".tif", ".tiff")
_SIXTEEN_BIT_EXTENSIONS = (".png", ".tif", ".tiff")


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
    parser.add_argument("--arch", choices=("hifacegan", "lipspade", "spade"),
                        help="generator variant of --model (default: inferred from its keys)")
    parser.add_argument("--aligned", action="store_true",
                        help="inputs are aligned face crops: restore each whole, at its own size")
    parser.add_argument("--only-center-face", "--only_center_face", action="store_true",
                        help="restore only the face nearest the centre")
    parser.add_argument("-s", "--upscale", type=positive_float, default=1.0, metavar="N",
                        help="resize the whole photo by N (background as --bg says, faces pasted at full size; "
                        "default 1; ignored with --aligned)")
    parser.add_argument("--ext", choices=("auto", "png", "jpg"), default="auto",
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
                        "(default: as the model card says; off for the shipped model)")
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
    add_batch_arguments(parser)  # --skip-existing, --shard, --engine ray (hifacegan.batch)
    _restore_video.add_arguments(parser)
    parser.set_defaults(func=run)


def _choose_compile(args: argparse.Namespace, photos: int, videos: int) -> bool:
    """``--compile`` as given, else on where it pays: enough faces to repay about a minute of compiling (a
    folder of :data:`COMPILE_MIN_PHOTOS` photos, a video), bf16 on a CPU that computes it natively, and a
    C++ compiler for Inductor. GPUs are left uncompiled by default (not measured)."""
    if args.compile is not None:
        return bool(args.compile)
    if os.environ.get(COMPILE_ENV, "").strip():  # "1"/"0": a machine-wide default, e.g. for servers or CI
        return os.environ[COMPILE_ENV].strip().lower() not in ("0", "false", "no", "off")
    if photos < COMPILE_MIN_PHOTOS and not videos:
        return False
    if args.runtime == "onnx" or str(args.model).lower().endswith(".onnx") or args.weight:
        return False
    import torch

    from hifacegan.compiled import cpu_compiler_available
    from hifacegan.inference import autocast_dtype
    from hifacegan.restorer import resolve_device

    device = resolve_device(args.device)
    if device.type != "cpu" or autocast_dtype(args.precision, device) is not torch.bfloat16:
        return False
    if not cpu_compiler_available():
        logger.info("not compiling the model: no C++ compiler (apt install g++ makes large batches ~3x faster)")
        return False
    logger.info("compiling the model for these %d photo(s)%s: about a minute the first time, seconds once "
                "cached, then about 3x faster per face (--no-compile to skip)", photos, " and videos" if videos else "")
    return True


@dataclass
class _Tally:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    faces: int = 0


def run(args: argparse.Namespace) -> int:
    from hifacegan.models.checkpoint import CheckpointError
    from hifacegan.restorer import Restorer

    image_inputs, videos = _restore_video.split_video_inputs(args.inputs)  # videos: OUTDIR/restored_videos/
    inputs = list_images(image_inputs) if image_inputs else []
    if not inputs and not videos:
        logger.error("no images or videos found in %s", " ".join(args.inputs))
        return 1
    try:  # a bad -o or pixel bound is found now, not after every input was restored
        _check_output_folders(args.output, ("restored_faces", "cmp") if args.aligned else _FOLDERS)
        max_pixels = _max_pixels(args)
    except (OutputPathError, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    from hifacegan.models import pretrained

    try:
        model = pretrained.resolve_model(args.model)
        args.compile = _choose_compile(args, len(inputs), len(videos))  # resolved once: Ray actors get the same
        restorer = Restorer(**restorer_settings(args, model))
    except pretrained.NoDefaultModelError as exc:
        logger.error("%s", exc)
        return 2
    except CheckpointError as exc:
        logger.error("cannot load the model: %s", exc)
        return 1
    except (ValueError, ImportError) as exc:  # ImportError: ONNX export without onnx/onnxscript
        logger.error("%s", exc)
        return 2
    _restore_video.configure_background(restorer, args)
    logger.info("model %s on %s; %d input file(s)%s", model, restorer.device, len(inputs) + len(videos),
                "" if args.aligned else f"; faces aligned to {restorer.face_size}x{restorer.face_size}")

    protected = {_resolved(path) for path in inputs + videos}
    stems = _unique_stems(inputs)
    try:  # this process's shard, less the photos already complete (--skip-existing); appends OUT/manifest.jsonl
        batch = BatchSession.start(inputs, stems, args)
    except ValueError as exc:
        logger.error("%s", exc)
        return 2
    tally = _Tally()
    started = time.perf_counter()
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    if args.engine == "ray":
        from hifacegan.batch.ray_engine import RayUnavailableError, run_with_ray

        try:
            outcomes = run_with_ray(batch.todo, stems, batch.keys, args, restorer_settings(args, model), protected,
                                    max_pixels)
        except RayUnavailableError as exc:
            logger.error("%s", exc)
            return 2
    else:
        outcomes = {}
    with logging_redirect_tqdm():
        for path in tqdm(batch.todo, desc="restoring", unit="img", disable=None if args.engine == "local" else True):
            if args.engine == "local":
                outcomes[path] = restore_photo(path, stems[path], args, restorer, protected, max_pixels)
                batch.record(path, outcomes[path])  # Ray actors append their own records
            elif path not in outcomes:
                continue  # the Ray run stopped early on a fatal error
            elif outcomes[path].error:
                logger.error("%s", outcomes[path].error)  # logged in the actor; reported here as locally
            if outcomes[path].fatal:
                return 2  # concerns every file, not this one (no face detector): stop here
            if outcomes[path].status == "failed":
                tally.failed.append(str(path))
            else:
                tally.done.append(str(path))
                tally.faces += outcomes[path].faces
    if videos:  # after the photos, in this process (--shard and --skip-existing apply to photos)
        done, failed, faces = _restore_video.restore_videos(videos, args, restorer, max_pixels, protected)
        tally.done, tally.failed, tally.faces = tally.done + done, tally.failed + failed, tally.faces + faces
    elapsed = time.perf_counter() - started
    total = len(batch.todo) + len(videos)
    logger.info("processed %d of %d file(s), restored %d face(s), in %.1f s (%.2f s per file); results in %s",
                len(tally.done), total, tally.faces, elapsed, elapsed / max(total, 1), args.output)
    if tally.failed:
        logger.warning("%d file(s) could not be processed: %s", len(tally.failed), ", ".join(tally.failed))
    return 0 if tally.done or batch.skipped or not total else 1


class _RefusedError(Exception):
    """A file is skipped on purpose (its output would overwrite an input, or it would be too large)."""


def _process(path: Path, stem: str, args: argparse.Namespace, restorer: Restorer, protected: set[Path],
             started: float, max_pixels: int) -> int:
    """Restore one file and write its outputs; returns the number of faces restored."""
    out = args.output
    tag = _restore_video.name_tag(args)  # GFPGAN's --suffix
    loaded = read_image(path, max_pixels=max_pixels)
    image = loaded.rgb if loaded.alpha is None else np.dstack([loaded.rgb, loaded.alpha])
    if args.aligned:
        targets = [out / "restored_faces" / f"{stem}{tag}.png", out / "cmp" / f"{stem}.png"]
        _check_targets(path, targets, protected)
        result = restorer.enhance(image, aligned=True)
        atomic_write_files({targets[0]: encode_image(result.restored_faces[0], ".png"),
                            targets[1]: encode_image(np.hstack([result.cropped_faces[0], result.restored_faces[0]]),
                                                     ".png")})
        logger.info("%s: restored as one aligned %dx%d face (%.2f s)", path.name, loaded.size[1], loaded.size[0],
                    time.perf_counter() - started)
        return 1

    height, width = loaded.size
    out_pixels = round(height * args.upscale) * round(width * args.upscale)
    if out_pixels > MAX_OUTPUT_PIXELS:
        raise _RefusedError(f"{path}: {width}x{height} upscaled by {args.upscale:g} would be "
                            f"{out_pixels / 1e6:.0f} MP, more than the {MAX_OUTPUT_PIXELS / 1e6:.0f} MP this tool "
                            "writes; use a smaller --upscale")
    suffix, notes = _output_suffix(path, args.ext, loaded.alpha is not None, loaded.bit_depth)
    photo_target = out / "restored_imgs" / f"{stem}{tag}{suffix}"
    _check_targets(path, [photo_target], protected)
    result = restorer.enhance(image, only_center_face=args.only_center_face, upscale=args.upscale,
                              max_faces=args.max_faces)
    count = len(result.restored_faces)
    face_targets = [(out / "cropped_faces" / f"{stem}_{k}.png", out / "restored_faces" / f"{stem}_{k}{tag}.png",
                     out / "cmp" / f"{stem}_{k}.png") for k in range(count)]
    _check_targets(path, [t for group in face_targets for t in group], protected)
    # Every output of the photo is encoded first and written as one unit: a failure leaves none of them.
    bit_depth = 16 if loaded.bit_depth == 16 and suffix in _SIXTEEN_BIT_EXTENSIONS else 8
    files = {}
    for (crop_path, face_path, cmp_path), crop, face in zip(face_targets, result.cropped_faces, result.restored_faces,
                                                            strict=True):
        files[crop_path] = encode_image(crop, ".png")
        files[face_path] = encode_image(face, ".png")
        files[cmp_path] = encode_image(np.hstack([crop, face]), ".png")
    # Renamed last, so a present photo means a complete unit (what --skip-existing checks).
    files[photo_target] = encode_image(result.image, suffix, alpha=result.alpha, bit_depth=bit_depth)
    atomic_write_files(files)
    _remove_stale_faces(out, stem, count, protected | {_resolved(t) for t in files})

    if loaded.bit_depth == 16 and bit_depth == 8:
        notes.append(f"16-bit input written as 8-bit {suffix}")
    if loaded.was_gray:
        notes.append("grayscale kept")
    if loaded.alpha is not None:
        notes.append("transparency kept")
    if result.faces_detected == 0:
        summary = "no face found; copied through" + (f" (resized x{args.upscale:g})" if args.upscale != 1 else "")
    elif count < result.faces_detected:
        reason = "--only-center-face" if args.only_center_face and count == 1 else f"--max-faces {args.max_faces}"
        summary = f"{result.faces_detected} faces found, restored {count} ({reason})"
    else:
        summary = f"{count} face{'s' if count != 1 else ''} restored"
    logger.info("%s: %s (%.2f s)%s", path.name, summary, time.perf_counter() - started,
                f" [{'; '.join(notes)}]" if notes else "")
    return count


def _output_suffix(path: Path, ext: str, has_alpha: bool, bit_depth: int) -> tuple[str, list[str]]:
    """The suffix of the restored photo, and notes on why it differs from what was asked."""
    notes: list[str] = []
    if ext == "auto":
        suffix = path.suffix.lower()
        if suffix not in IMAGE_EXTENSIONS:
            suffix = ".png"
    else:
        suffix = "." + ext
    if has_alpha and suffix not in _ALPHA_EXTENSIONS:
        notes.append(f"written as PNG to keep transparency ({suffix} has none)")
        suffix = ".png"
    return suffix, notes


def _max_pixels(args: argparse.Namespace) -> int:
    """The pixel bound of this run's inputs (see ``--max-megapixels``)."""
    if args.max_megapixels is not None:
        return max(1, round(args.max_megapixels * 1e6))
    return ALIGNED_MAX_PIXELS if args.aligned else default_max_pixels()


def _check_output_folders(out: Path, folders: tuple[str, ...]) -> None:
    check_output_dir(out, "-o OUTDIR")
    for name in folders:
        if (out / name).exists() and not (out / name).is_dir():
            raise OutputPathError(f"-o OUTDIR {out}: {out / name} is a file where the {name}/ folder goes; "
                                  "move it or choose another -o OUTDIR")


def _remove_stale_faces(out: Path, stem: str, count: int, keep: set[Path]) -> None:
    """Delete ``<stem>_<k>.png`` for ``k >= count``: face files of an earlier run that found more faces."""
    pattern = re.compile(re.escape(stem) + r"_(\d+)\.png")
    for name in ("cropped_faces", "restored_faces", "cmp"):
        for stale in glob.glob(glob.escape(str(out / name / stem)) + "_*.png"):
            match = pattern.fullmatch(Path(stale).name)
            if match and int(match.group(1)) >= count and _resolved(Path(stale)) not in keep:
                Path(stale).unlink(missing_ok=True)
                logger.debug("removed %s, left by an earlier run with more faces", stale)


def _check_targets(source: Path, targets: list[Path], protected: set[Path]) -> None:
    for target in targets:
        if _resolved(target) in protected:
            raise _RefusedError(f"{source}: skipped: its output {target} is an input file and would be overwritten; "
                           "choose another -o OUTDIR")


def _resolved(path: Path) -> Path:
    return path.expanduser().resolve()


def _unique_stems(paths: list[Path]) -> dict[Path, str]:
    """Output stem per input: the file stem, with ``-2``, ``-3``... for later files sharing it."""
    stems: dict[Path, str] = {}
    used: set[str] = set()
    for path in paths:
        stem, n = path.stem, 1
        while stem in used:
            n += 1
            stem = f"{path.stem}-{n}"
        if n > 1:
            logger.warning("%s: another input is also named %r; its outputs use the stem %r", path, path.stem, stem)
        used.add(stem)
        stems[path] = stem
    return stems
