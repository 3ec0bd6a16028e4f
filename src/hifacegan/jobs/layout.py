"""Where a restore job writes, as GFPGAN's ``inference_gfpgan.py`` does::

    OUTDIR/restored_imgs/<stem><tag>.<ext>   the whole photo with its faces restored (pasted back)
    OUTDIR/cropped_faces/<stem>_<k>.png      face k as aligned for the model
    OUTDIR/restored_faces/<stem>_<k><tag>.png  face k restored
    OUTDIR/cmp/<stem>_<k>.png                face k before | after

An aligned crop goes to ``OUTDIR/restored_faces/<stem><tag>.png`` (8-bit RGB) and ``OUTDIR/cmp/<stem>.png``;
a video to ``OUTDIR/restored_videos/<stem><tag>.mp4``. ``<tag>`` is ``_<suffix>`` with a suffix, else empty.
"""

from __future__ import annotations

import glob
import logging
import re
from pathlib import Path

from hifacegan.io import IMAGE_EXTENSIONS, OutputPathError, check_output_dir
from hifacegan.jobs.options import JobOptions

__all__ = ["ALIGNED_FOLDERS", "PHOTO_FOLDERS", "aligned_targets", "check_output_folders", "face_targets",
           "outputs_complete", "photo_suffix", "photo_target", "remove_stale_faces", "resolved", "unique_stems"]

logger = logging.getLogger(__name__)

PHOTO_FOLDERS = ("restored_imgs", "cropped_faces", "restored_faces", "cmp")
ALIGNED_FOLDERS = ("restored_faces", "cmp")
_ALPHA_EXTENSIONS = (".png", ".webp", ".tif", ".tiff")
#: Formats that hold 16-bit samples; a 16-bit input written as another format becomes 8-bit.
SIXTEEN_BIT_EXTENSIONS = (".png", ".tif", ".tiff")


def photo_suffix(path: Path, ext: str, has_alpha: bool) -> tuple[str, list[str]]:
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


def photo_target(options: JobOptions, stem: str, suffix: str) -> Path:
    """The restored photo: written last of its unit, so its presence means the unit is complete."""
    return options.output / "restored_imgs" / f"{stem}{options.name_tag}{suffix}"


def face_targets(options: JobOptions, stem: str, count: int) -> list[tuple[Path, Path, Path]]:
    """``(cropped, restored, comparison)`` paths of each of ``count`` faces."""
    out, tag = options.output, options.name_tag
    return [(out / "cropped_faces" / f"{stem}_{k}.png", out / "restored_faces" / f"{stem}_{k}{tag}.png",
             out / "cmp" / f"{stem}_{k}.png") for k in range(count)]


def aligned_targets(options: JobOptions, stem: str) -> tuple[Path, Path]:
    """``(restored crop, comparison)``; the comparison is written last."""
    out = options.output
    return out / "restored_faces" / f"{stem}{options.name_tag}.png", out / "cmp" / f"{stem}.png"


def outputs_complete(path: Path, stem: str, options: JobOptions) -> bool:
    """Whether an earlier run left the outputs of input ``path`` complete.

    A photo's outputs are written as one unit with the whole photo (with ``aligned``, the comparison)
    renamed last, so its presence means the unit is complete. Its suffix follows ``options.ext``; a
    photo with transparency is written as PNG, so PNG also counts. A video is renamed into place only
    when complete (a stopped one is ``<stem>.partial.mp4``, which does not count).
    """
    from hifacegan.video.pipeline import is_video_file, video_output_path

    if is_video_file(path):
        return video_output_path(options.output, stem, options.name_tag).is_file()
    if options.aligned:
        return all(target.is_file() for target in aligned_targets(options, stem))
    suffix, _ = photo_suffix(path, options.ext, has_alpha=False)  # the job's choice, less the alpha case
    return any(photo_target(options, stem, candidate).is_file() for candidate in {suffix, ".png"})


def check_output_folders(options: JobOptions) -> None:
    """Create the output folder and check that it can be written, before any work is done.

    Raises:
        OutputPathError: it cannot be written, or a file stands where one of its folders goes.
    """
    out = options.output
    check_output_dir(out, "-o OUTDIR")
    for name in ALIGNED_FOLDERS if options.aligned else PHOTO_FOLDERS:
        if (out / name).exists() and not (out / name).is_dir():
            raise OutputPathError(f"-o OUTDIR {out}: {out / name} is a file where the {name}/ folder goes; "
                                  "move it or choose another -o OUTDIR")


def remove_stale_faces(out: Path, stem: str, count: int, keep: set[Path]) -> None:
    """Delete ``<stem>_<k>.png`` for ``k >= count``: face files of an earlier run that found more faces."""
    pattern = re.compile(re.escape(stem) + r"_(\d+)\.png")
    for name in ("cropped_faces", "restored_faces", "cmp"):
        for stale in glob.glob(glob.escape(str(out / name / stem)) + "_*.png"):
            match = pattern.fullmatch(Path(stale).name)
            if match and int(match.group(1)) >= count and resolved(Path(stale)) not in keep:
                Path(stale).unlink(missing_ok=True)
                logger.debug("removed %s, left by an earlier run with more faces", stale)


def resolved(path: Path) -> Path:
    """The absolute, symlink-free form of ``path``, to compare outputs with inputs."""
    return path.expanduser().resolve()


def unique_stems(paths: list[Path]) -> dict[Path, str]:
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
