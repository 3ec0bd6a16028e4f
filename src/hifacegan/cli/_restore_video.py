"""The video branch of ``hifacegan restore``: each video file -> ``OUTDIR/restored_videos/<stem>.mp4``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from hifacegan.video.pipeline import split_video_inputs

if TYPE_CHECKING:
    from hifacegan.restorer import Restorer

__all__ = ["add_arguments", "configure_background", "name_tag", "restore_videos", "split_video_inputs"]

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """restore's GFPGAN-style naming and background options, and the video options."""
    parser.add_argument("--suffix", metavar="TEXT",
                        help="append _TEXT to the names of restored photos, faces and videos, as GFPGAN's --suffix "
                        "(restored_imgs/<stem>_TEXT.<ext>, restored_faces/<stem>_<k>_TEXT.png)")
    parser.add_argument("--bg", choices=("lanczos", "model"), default="lanczos",
                        help="background: lanczos (enlarged by --upscale, under 0.05 s per photo) or model "
                        "(enlarged, then restored by the model in overlapping 512-px tiles, as GFPGAN's bg_upsampler: "
                        "11-19 s per output megapixel on a 2-core CPU with the shipped model); default lanczos")
    parser.add_argument("--bg-tile", type=_tile_size, default=512, metavar="PX",
                        help="with --bg model: tile side in pixels (tiles overlap by 48 px and are cross-faded); "
                        "0: the whole image at once (memory ~0.5 GB per megapixel); default 512")
    parser.add_argument("--video-crf", type=int, default=18, metavar="Q",
                        help="H.264 quality of restored videos, 0-51, lower is better (default 18: near lossless)")


def _tile_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value != 0 and value < 32:
        raise argparse.ArgumentTypeError(f"expected 0 (no tiles) or a tile side of at least 32 pixels, got {text!r}")
    return value


def name_tag(args: argparse.Namespace) -> str:
    """``_<suffix>`` to insert before the extension of restored files, or ``""``."""
    return f"_{args.suffix}" if getattr(args, "suffix", None) else ""


def configure_background(restorer: Restorer, args: argparse.Namespace) -> None:
    from hifacegan.background import ModelBackground, lanczos_upscale

    if args.bg == "model":
        # tile 0 = one tile as large as any image (tiled_restore clips the tile to the image's sides).
        restorer.background_upsampler = ModelBackground(restorer.restore_faces, tile=args.bg_tile or 1 << 30)
    else:
        restorer.background_upsampler = lanczos_upscale


def restore_videos(videos: list[Path], args: argparse.Namespace, restorer: Restorer, max_pixels: int,
                   protected: set[Path]) -> tuple[list[str], list[str], int]:
    """Restore each video; returns ``(done, failed, faces)``. One bad video never stops the others."""
    from hifacegan.cli.restore import MAX_OUTPUT_PIXELS, _unique_stems
    from hifacegan.faces.detect import DetectorUnavailableError
    from hifacegan.video.pipeline import VideoError, VideoOptions, restore_video, video_output_path

    if not 0 <= args.video_crf <= 51:
        logger.error("--video-crf must be in 0-51, got %d", args.video_crf)
        return [], [str(v) for v in videos], 0
    options = VideoOptions(max_pixels=max_pixels, max_output_pixels=MAX_OUTPUT_PIXELS, upscale=args.upscale,
                           only_center_face=args.only_center_face, max_faces=args.max_faces, crf=args.video_crf)
    done: list[str] = []
    failed: list[str] = []
    faces = 0
    for video, stem in _unique_stems(videos).items():
        target = video_output_path(args.output, stem, name_tag(args))
        if target.expanduser().resolve() in protected:
            logger.error("%s: skipped: its output %s is an input file and would be overwritten; choose another "
                         "-o OUTDIR", video, target)
            failed.append(str(video))
            continue
        if not video.is_file():
            logger.error("%s: no such file", video)
            failed.append(str(video))
            continue
        try:
            report = restore_video(video, target, restorer, options)
        except DetectorUnavailableError as exc:
            logger.error("%s", exc)  # concerns every video, not this one
            return done, failed + [str(v) for v in videos if str(v) not in done], faces
        except VideoError as exc:
            logger.error("%s", exc)
            failed.append(str(video))
            continue
        except (OSError, ValueError, RuntimeError, MemoryError) as exc:
            logger.error("%s: failed: %s: %s", video, type(exc).__name__, exc)
            failed.append(str(video))
            continue
        damaged = report.truncated or report.undecodable_frames or report.unrestored_frames
        logger.log(logging.WARNING if damaged else logging.INFO, "%s: %s (%.1f s, %.2f frames/s) -> %s", video.name,
                   report.summary(), report.seconds, report.frames / max(report.seconds, 1e-9), target)
        done.append(str(video))
        faces += report.faces
    return done, failed, faces
