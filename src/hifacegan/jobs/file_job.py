"""The job every front end runs: restore one input file into the output layout, and say what happened.

:func:`restore_file` takes a photo, an aligned face crop (``JobOptions.aligned``) or a video (by its
extension), reads it within the pixel bound, refuses what it must (an output that would overwrite an
input, a result too large to hold), restores it, writes every output of the file as one unit (all or
none), removes face files an earlier run with more faces left, logs one line and returns a
:class:`JobOutcome`. A bad file never raises: its outcome carries the message, and ``fatal`` when the
cause concerns every file (no face detector), so a batch knows to stop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hifacegan.io import ImageReadError, atomic_write_files, encode_image, read_image
from hifacegan.jobs.layout import (
    SIXTEEN_BIT_EXTENSIONS,
    aligned_targets,
    face_targets,
    photo_suffix,
    photo_target,
    remove_stale_faces,
    resolved,
)
from hifacegan.jobs.options import JobOptions

if TYPE_CHECKING:
    from hifacegan.restorer import Restorer

__all__ = ["MAX_OUTPUT_PIXELS", "FileRefusedError", "JobOutcome", "restore_file"]

logger = logging.getLogger(__name__)

# A restored photo is held as float32 RGB in memory: 250 MP is 3 GB, about what this machine class can spare.
MAX_OUTPUT_PIXELS = 250_000_000


class FileRefusedError(Exception):
    """A file is skipped on purpose (its output would overwrite an input, or it would be too large)."""


@dataclass(frozen=True)
class JobOutcome:
    """What :func:`restore_file` did with one input.

    Attributes:
        source: the input file.
        status: ``ok`` (restored), ``no_face`` (no face found: the photo was copied through), ``failed``,
            or ``skipped`` (complete from an earlier run: a batch's verdict, never :func:`restore_file`'s).
        faces: faces restored.
        seconds: time spent on the file.
        summary: what was done, for people (``"2 faces restored"``, a video's report); ``""`` when failed.
        notes: how the outputs differ from what was asked (``"grayscale kept"``...).
        error: why the file failed (the message logged); ``None`` otherwise.
        fatal: the error concerns every file (no face detector): a batch should stop.
        restored: the main output: the restored photo, the restored crop (aligned) or the video.
        size: ``(height, width)`` of the restored photo, crop or video frames; ``(0, 0)`` when failed.
        faces_written: ``(aligned crop, restored crop)`` of each face of a photo.
        files: every file written, in the order they were renamed into place.
    """

    source: Path
    status: str
    faces: int = 0
    seconds: float = 0.0
    summary: str = ""
    notes: tuple[str, ...] = ()
    error: str | None = None
    fatal: bool = False
    restored: Path | None = None
    size: tuple[int, int] = (0, 0)
    faces_written: tuple[tuple[Path, Path], ...] = ()
    files: tuple[Path, ...] = ()


def restore_file(path: str | Path, options: JobOptions, restorer: Restorer, *, stem: str | None = None,
                 protected: Collection[Path] = ()) -> JobOutcome:
    """Restore one photo, aligned crop or video into ``options.output`` and write its outputs.

    Args:
        path: the input file; a video when its extension is one of
            :data:`hifacegan.video.pipeline.VIDEO_EXTENSIONS`.
        options: what to do and where (:class:`JobOptions`).
        restorer: the model, with its face detector and background upsampler.
        stem: the name its outputs start with (default: the file's stem; see
            :func:`hifacegan.jobs.layout.unique_stems` for a batch's).
        protected: resolved paths no output may replace (a batch's inputs); the input itself always is.

    Returns:
        A :class:`JobOutcome`; it never raises for a bad file (its message is logged and returned).
    """
    from hifacegan.faces.detect import DetectorUnavailableError
    from hifacegan.video.pipeline import VideoError, is_video_file

    path = Path(path)
    stem = path.stem if stem is None else stem
    keep = {resolved(path), *protected}
    video = is_video_file(path)
    started = time.perf_counter()
    try:
        if video:
            return _restore_video(path, stem, options, restorer, keep)
        if options.aligned:
            return _restore_aligned(path, stem, options, restorer, keep, started)
        return _restore_photo(path, stem, options, restorer, keep, started)
    except DetectorUnavailableError as exc:
        message, fatal = str(exc), True
    except (ImageReadError, FileRefusedError, VideoError) as exc:
        message, fatal = str(exc), False
    except (ValueError, TypeError) as exc:
        # A video's own problems are VideoErrors; anything else from one is a plain failure.
        detail = f"failed: {type(exc).__name__}: {exc}" if video else f"cannot restore this image: {exc}"
        message, fatal = f"{path}: {detail}", False
    except (OSError, RuntimeError, MemoryError) as exc:
        # Disk full, permissions, out of memory on the device...: this file is lost, a batch goes on.
        message, fatal = f"{path}: failed: {type(exc).__name__}: {exc}", False
    except Exception as exc:
        if not video:
            raise
        # PyAV on a hostile or exotic file can raise what no documented path does (an AttributeError from
        # a stream FFmpeg half-understands): that video is lost, the batch goes on.
        logger.debug("%s: unexpected error from the video pipeline", path, exc_info=True)
        message, fatal = f"{path}: failed: {type(exc).__name__}: {exc}", False
    logger.error("%s", message)
    return JobOutcome(path, "failed", seconds=time.perf_counter() - started, error=message, fatal=fatal)


def _restore_aligned(path: Path, stem: str, options: JobOptions, restorer: Restorer, keep: set[Path],
                     started: float) -> JobOutcome:
    loaded = read_image(path, max_pixels=options.pixel_bound())
    image = loaded.rgb if loaded.alpha is None else np.dstack([loaded.rgb, loaded.alpha])
    face_path, cmp_path = aligned_targets(options, stem)
    _check_targets(path, [face_path, cmp_path], keep)
    result = restorer.enhance(image, aligned=True)
    written = atomic_write_files({
        face_path: encode_image(result.restored_faces[0], ".png"),
        cmp_path: encode_image(np.hstack([result.cropped_faces[0], result.restored_faces[0]]), ".png")})
    summary = f"restored as one aligned {loaded.size[1]}x{loaded.size[0]} face"
    logger.info("%s: %s (%.2f s)", path.name, summary, time.perf_counter() - started)
    return JobOutcome(path, "ok", 1, time.perf_counter() - started, summary, restored=face_path,
                      size=result.restored_faces[0].shape[:2], files=tuple(written))


def _restore_photo(path: Path, stem: str, options: JobOptions, restorer: Restorer, keep: set[Path],
                   started: float) -> JobOutcome:
    loaded = read_image(path, max_pixels=options.pixel_bound())
    image = loaded.rgb if loaded.alpha is None else np.dstack([loaded.rgb, loaded.alpha])
    height, width = loaded.size
    out_pixels = round(height * options.upscale) * round(width * options.upscale)
    bound = _output_bound(options)
    if out_pixels > bound:
        raise FileRefusedError(f"{path}: {width}x{height} upscaled by {options.upscale:g} would be "
                               f"{out_pixels / 1e6:.0f} MP, more than the {bound / 1e6:g} MP this tool "
                               "writes; use a smaller --upscale")
    suffix, notes = photo_suffix(path, options.ext, loaded.alpha is not None)
    target = photo_target(options, stem, suffix)
    _check_targets(path, [target], keep)
    result = restorer.enhance(image, only_center_face=options.only_center_face, upscale=options.upscale,
                              max_faces=options.max_faces)
    count = len(result.restored_faces)
    faces = face_targets(options, stem, count)
    _check_targets(path, [t for group in faces for t in group], keep)
    # Every output of the photo is encoded first and written as one unit: a failure leaves none of them.
    bit_depth = 16 if loaded.bit_depth == 16 and suffix in SIXTEEN_BIT_EXTENSIONS else 8
    files = {}
    for (crop_path, face_path, cmp_path), crop, face in zip(faces, result.cropped_faces, result.restored_faces,
                                                            strict=True):
        files[crop_path] = encode_image(crop, ".png")
        files[face_path] = encode_image(face, ".png")
        files[cmp_path] = encode_image(np.hstack([crop, face]), ".png")
    # Renamed last, so a present photo means a complete unit (what a resumed batch checks).
    files[target] = encode_image(result.image, suffix, alpha=result.alpha, bit_depth=bit_depth)
    written = atomic_write_files(files)
    remove_stale_faces(options.output, stem, count, keep | {resolved(t) for t in files})

    if loaded.bit_depth == 16 and bit_depth == 8:
        notes.append(f"16-bit input written as 8-bit {suffix}")
    if loaded.was_gray:
        notes.append("grayscale kept")
    if loaded.alpha is not None:
        notes.append("transparency kept")
    summary = _face_summary(result.faces_detected, count, options)
    logger.info("%s: %s (%.2f s)%s", path.name, summary, time.perf_counter() - started,
                f" [{'; '.join(notes)}]" if notes else "")
    return JobOutcome(path, "ok" if count else "no_face", count, time.perf_counter() - started, summary, tuple(notes),
                      restored=target, size=result.image.shape[:2], faces_written=tuple((crop, face) for crop, face, _ in faces),
                      files=tuple(written))


def _face_summary(detected: int, restored: int, options: JobOptions) -> str:
    if detected == 0:
        return "no face found; copied through" + (f" (resized x{options.upscale:g})" if options.upscale != 1 else "")
    if restored < detected:
        reason = ("--only-center-face" if options.only_center_face and restored == 1
                  else f"--max-faces {options.max_faces}")
        return f"{detected} faces found, restored {restored} ({reason})"
    return f"{restored} face{'s' if restored != 1 else ''} restored"


def _restore_video(path: Path, stem: str, options: JobOptions, restorer: Restorer, keep: set[Path]) -> JobOutcome:
    from hifacegan.video.pipeline import VideoOptions, restore_video, video_output_path

    target = video_output_path(options.output, stem, options.name_tag)
    _check_targets(path, [target], keep)
    if not path.is_file():
        raise FileRefusedError(f"{path}: no such file")
    video_options = VideoOptions(max_pixels=options.pixel_bound(), max_output_pixels=_output_bound(options),
                                 upscale=options.upscale, only_center_face=options.only_center_face,
                                 max_faces=options.max_faces, crf=options.video_crf)
    report = restore_video(path, target, restorer, video_options)
    damaged = report.truncated or report.undecodable_frames or report.unrestored_frames
    logger.log(logging.WARNING if damaged else logging.INFO, "%s: %s (%.1f s, %.2f frames/s) -> %s", path.name,
               report.summary(), report.seconds, report.frames / max(report.seconds, 1e-9), target)
    return JobOutcome(path, "ok", report.faces, report.seconds, report.summary(), restored=target,
                      size=(report.size[1], report.size[0]), files=(target,))


def _output_bound(options: JobOptions) -> int:
    return MAX_OUTPUT_PIXELS if options.max_output_pixels is None else options.max_output_pixels


def _check_targets(source: Path, targets: list[Path], protected: set[Path]) -> None:
    for target in targets:
        if resolved(target) in protected:
            raise FileRefusedError(f"{source}: skipped: its output {target} is an input file and would be "
                                   "overwritten; choose another -o OUTDIR")
