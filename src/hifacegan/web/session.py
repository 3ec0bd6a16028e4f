"""What the web page does with an upload, without Gradio: check limits, restore, write the results.

Kept free of Gradio so the limits and the per-file messages can be tested (and reused) without a
browser or the ``[web]`` extra. Everything is written under one run folder inside the server's own
temporary folder; nothing else on disk is touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hifacegan.cli.restore import ALIGNED_MAX_PIXELS, MAX_OUTPUT_PIXELS, _unique_stems
from hifacegan.data.transforms import resize_to
from hifacegan.io import ImageReadError, atomic_write_bytes, atomic_write_files, encode_image, read_image

if TYPE_CHECKING:
    from hifacegan.faces.detect import FaceDetector
    from hifacegan.restorer import Restorer

__all__ = ["DEFAULT_MODEL_LABEL", "PhotoResult", "RestoreOptions", "RestorerPool", "ServeLimits", "UploadReport",
           "prune_runs", "restore_uploads"]

logger = logging.getLogger(__name__)

#: What the model menu shows for "no --model": the package's shipped default model.
DEFAULT_MODEL_LABEL = "default"
# A public page should refuse big photos earlier than the command line (80 MP): a 25 MP phone photo opens,
# and one request then holds at most ~0.3 GB of float32 pixels per copy.
DEFAULT_SERVE_MEGAPIXELS = 25.0
DEFAULT_UPLOAD_MB = 20.0


@dataclass(frozen=True)
class ServeLimits:
    """Per-file limits of the page.

    Attributes:
        max_upload_mb: largest accepted file, in MB (10^6 bytes).
        max_megapixels: largest accepted image, judged from its header; ``None``: 25 MP for photos and
            the command line's 4 MP for aligned crops (the model runs on the whole crop).
    """

    max_upload_mb: float = DEFAULT_UPLOAD_MB
    max_megapixels: float | None = None

    def max_pixels(self, aligned: bool) -> int:
        if self.max_megapixels is not None:
            return max(1, round(self.max_megapixels * 1e6))
        return ALIGNED_MAX_PIXELS if aligned else round(DEFAULT_SERVE_MEGAPIXELS * 1e6)

    @property
    def max_bytes(self) -> int:
        return max(1, round(self.max_upload_mb * 1e6))


@dataclass(frozen=True)
class RestoreOptions:
    """What the page's controls ask for (the same meaning as ``hifacegan restore``'s options).

    Attributes:
        model: a shipped model's name, the path given to ``hifacegan serve --model``, or
            :data:`DEFAULT_MODEL_LABEL` for the shipped default.
        aligned: the uploads are aligned face crops.
        only_center_face: restore only the face nearest the centre.
        upscale: resize the whole photo by this factor.
        weight: share of the fidelity model mixed in (0: the model alone).
    """

    model: str = DEFAULT_MODEL_LABEL
    aligned: bool = False
    only_center_face: bool = False
    upscale: float = 1.0
    weight: float = 0.0


@dataclass
class PhotoResult:
    """One restored upload: paths of PNG files inside the run folder.

    Attributes:
        name: the uploaded file's name.
        before: the input, resized to the output's size so a slider can compare them.
        after: the restored photo.
        faces: ``(aligned crop, restored crop)`` per face.
    """

    name: str
    before: Path
    after: Path
    faces: list[tuple[Path, Path]] = field(default_factory=list)


@dataclass
class UploadReport:
    """The outcome of one click on "Restore".

    Attributes:
        messages: one line per uploaded file (and one for a model that could not be loaded).
        photos: the uploads that were restored.
        downloads: files offered for download: each restored photo, and a zip of every output.
    """

    messages: list[str] = field(default_factory=list)
    photos: list[PhotoResult] = field(default_factory=list)
    downloads: list[Path] = field(default_factory=list)


class RestorerPool:
    """One :class:`Restorer` per model, loaded on first use and kept; one restore at a time.

    Args:
        default_model: what :data:`DEFAULT_MODEL_LABEL` means (``serve --model``; ``None``: the shipped default).
        device: passed to :class:`Restorer`.
        detector: face detector for every restorer (``None``: the default RetinaFace).
    """

    def __init__(self, default_model: str | None = None, device: str | None = None,
                 detector: FaceDetector | None = None) -> None:
        self.default_model = default_model
        self.device = device
        self.detector = detector
        self._restorers: dict[tuple[str | None, bool], Restorer] = {}
        # The model and its memory are shared: two requests at once would double the peak memory.
        self.lock = threading.Lock()

    def get(self, model: str, weight: float) -> Restorer:
        """The restorer of ``model`` (a name, a path or :data:`DEFAULT_MODEL_LABEL`) with fidelity share ``weight``.

        The mixed (``weight > 0``) restorer is kept apart from the plain one, and its share is set per call,
        so moving the knob never reloads a model. Call with :attr:`lock` held.

        Raises:
            hifacegan.CheckpointError: the model is not shipped, missing or unreadable (the message says which).
            ValueError: an unusable device.
        """
        from hifacegan.models.blend import FidelityBlend
        from hifacegan.restorer import Restorer

        spec = self.default_model if model == DEFAULT_MODEL_LABEL else model
        key = (spec, weight > 0)
        restorer = self._restorers.get(key)
        if restorer is None:
            logger.info("loading model %s%s", spec or "(shipped default)", " mixed with fidelity" if weight else "")
            restorer = Restorer(spec, device=self.device, detector=self.detector, fidelity_weight=weight)
            self._restorers[key] = restorer
        if isinstance(restorer.model, FidelityBlend):
            restorer.model.weight = float(weight)
        return restorer


def restore_uploads(paths: list[str | os.PathLike], options: RestoreOptions, pool: RestorerPool, run_dir: Path,
                    limits: ServeLimits, names: list[str] | None = None) -> UploadReport:
    """Restore every uploaded file; a bad one gets a message and the others go on.

    Args:
        paths: the uploaded files.
        options: the page's settings.
        pool: where the model comes from.
        run_dir: an empty folder of this request (inside the server's temporary folder) for the results.
        limits: per-file size and pixel bounds.
        names: what to call each file in messages and outputs (default: its file name).

    Returns:
        An :class:`UploadReport`; it never raises for a bad file or an unloadable model.
    """
    report = UploadReport()
    uploads = [Path(p) for p in paths]
    names = names or [p.name for p in uploads]
    if not uploads:
        report.messages.append("No file uploaded: choose one or more photos first.")
        return report
    if not 0.0 <= options.weight <= 1.0 or not 0 < options.upscale <= 8:
        report.messages.append(f"Options out of range: weight {options.weight} must be in [0, 1] and upscale "
                               f"{options.upscale} in (0, 8].")
        return report
    from hifacegan.faces.detect import DetectorUnavailableError
    from hifacegan.models.checkpoint import CheckpointError

    with pool.lock:
        try:
            restorer = pool.get(options.model, options.weight)
        except (CheckpointError, ValueError, OSError) as exc:
            report.messages.append(f"Model {options.model!r} cannot be used: {exc}")
            return report
        stems = _unique_stems(uploads)
        outputs: dict[Path, bytes] = {}
        for path, name in zip(uploads, names, strict=True):
            started = time.perf_counter()
            if stems[path] != path.stem:  # two uploads of one name: tell them apart in the page too
                name = f"{stems[path]}{path.suffix}"
            try:
                photo, files, summary = _restore_one(path, name, stems[path], options, restorer, run_dir, limits)
            except DetectorUnavailableError as exc:
                report.messages.append(f"Faces cannot be found on this server: {exc}")  # true for every file
                break
            except (ImageReadError, _RefusedError) as exc:
                report.messages.append(_public(str(exc), path, name))
            except (ValueError, TypeError) as exc:
                report.messages.append(f"{name}: cannot restore this image: {_public(str(exc), path, name)}")
            except (OSError, RuntimeError, MemoryError) as exc:
                # Out of memory, a full disk...: this file is lost, the others go on.
                report.messages.append(f"{name}: failed: {type(exc).__name__}: {_public(str(exc), path, name)}")
            else:
                outputs.update(files)
                report.photos.append(photo)
                report.messages.append(f"{name}: {summary} ({time.perf_counter() - started:.1f} s)")
    if report.photos:
        report.downloads = [photo.after for photo in report.photos]
        report.downloads.append(_write_zip(run_dir / "hifacegan_results.zip", outputs, run_dir))
    return report


class _RefusedError(Exception):
    """A file refused by a limit of the page; the message is for the user."""


def _restore_one(path: Path, name: str, stem: str, options: RestoreOptions, restorer: Restorer, run_dir: Path,
                 limits: ServeLimits) -> tuple[PhotoResult, dict[Path, bytes], str]:
    """Restore one upload and write its PNGs; returns the result, the files written and a summary."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise _RefusedError(f"{name}: {size / 1e6:.1f} MB is over this page's upload limit of "
                            f"{limits.max_upload_mb:g} MB; recompress or downscale it (the server's "
                            "--max-upload-mb sets the limit)")
    loaded = read_image(path, max_pixels=limits.max_pixels(options.aligned))
    image = loaded.rgb if loaded.alpha is None else np.dstack([loaded.rgb, loaded.alpha])
    height, width = loaded.size
    if options.aligned:
        result = restorer.enhance(image, aligned=True)
        before = loaded.rgb
        summary = f"restored as one aligned {width}x{height} face"
    else:
        out_pixels = round(height * options.upscale) * round(width * options.upscale)
        if out_pixels > MAX_OUTPUT_PIXELS:
            raise _RefusedError(f"{name}: {width}x{height} upscaled by {options.upscale:g} would be "
                                f"{out_pixels / 1e6:.0f} MP, more than {MAX_OUTPUT_PIXELS / 1e6:.0f} MP; "
                                "choose a smaller upscale")
        result = restorer.enhance(image, only_center_face=options.only_center_face, upscale=options.upscale)
        before = loaded.rgb
        if result.image.shape[:2] != before.shape[:2]:  # the slider compares images of one size
            before = np.clip(resize_to(before, *result.image.shape[:2]), 0.0, 1.0)
        summary = _face_summary(result.faces_detected, len(result.restored_faces), options)
    folders = {k: run_dir / k for k in ("inputs", "restored_imgs", "cropped_faces", "restored_faces", "cmp")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    # PNG always: lossless for the comparison, keeps transparency and 16 bits.
    bit_depth = 16 if loaded.bit_depth == 16 else 8
    files = {folders["inputs"] / f"{stem}.png": encode_image(before, ".png"),
             folders["restored_imgs"] / f"{stem}.png": encode_image(result.image, ".png", alpha=result.alpha,
                                                                    bit_depth=bit_depth)}
    faces = []
    for k, (crop, face) in enumerate(zip(result.cropped_faces, result.restored_faces, strict=True)):
        crop_path = folders["cropped_faces"] / f"{stem}_{k}.png"
        face_path = folders["restored_faces"] / f"{stem}_{k}.png"
        files[crop_path] = encode_image(crop, ".png")
        files[face_path] = encode_image(face, ".png")
        files[folders["cmp"] / f"{stem}_{k}.png"] = encode_image(np.hstack([crop, face]), ".png")
        faces.append((crop_path, face_path))
    atomic_write_files(files)
    photo = PhotoResult(name=name, before=folders["inputs"] / f"{stem}.png",
                        after=folders["restored_imgs"] / f"{stem}.png", faces=faces)
    # The slider's "before" copy is for the page only, not a result to download.
    results = {p: data for p, data in files.items() if p.parent != folders["inputs"]}
    return photo, results, summary


def _face_summary(detected: int, restored: int, options: RestoreOptions) -> str:
    if detected == 0:
        return "no face found; photo copied through" + (f" (resized x{options.upscale:g})"
                                                        if options.upscale != 1 else "")
    if restored < detected:
        return f"{detected} faces found, restored {restored} (only the center face)"
    return f"{restored} face{'s' if restored != 1 else ''} restored"


def _public(message: str, path: Path, name: str) -> str:
    """The message with the server's temporary path of the upload replaced by the file's own name."""
    return message.replace(str(path), name)


def _write_zip(target: Path, files: dict[Path, bytes], root: Path) -> Path:
    """Every output in ``hifacegan restore``'s folder layout, as one zip (written atomically)."""
    import io

    buffer = io.BytesIO()
    # PNGs are compressed already: storing them is as small and much faster.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path, data in sorted(files.items()):
            archive.writestr(str(path.relative_to(root)), data)
    return atomic_write_bytes(target, buffer.getvalue())


def prune_runs(runs_dir: Path, max_age_s: float) -> None:
    """Delete run folders older than ``max_age_s`` so a long-running server does not fill its disk."""
    if not runs_dir.is_dir():
        return
    cutoff = time.time() - max_age_s
    for run in runs_dir.iterdir():
        try:
            if run.is_dir() and run.stat().st_mtime < cutoff:
                shutil.rmtree(run, ignore_errors=True)
        except OSError:  # removed meanwhile
            continue
