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

from hifacegan.data.transforms import resize_to
from hifacegan.io import ImageReadError, atomic_write_bytes, encode_image, read_image
from hifacegan.jobs import ALIGNED_MAX_PIXELS, JobOptions, restore_file, unique_stems
from hifacegan.jobs.layout import resolved
from hifacegan.video.pipeline import VIDEO_EXTENSIONS

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

    Each upload is restored by :func:`hifacegan.jobs.restore_file` into ``run_dir`` in ``hifacegan restore``'s
    layout (as PNG); a copy of the input the size of the result is kept for the page's slider.

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
    from hifacegan.models.checkpoint import CheckpointError

    # PNG always: lossless for the comparison, keeps transparency and 16 bits.
    # The result is bounded like the upload (not by the command line's 250 MP): one visitor's 24 MP photo
    # upscaled 3x would otherwise hold ~10 GB of float32 pixels in the server (issue 31).
    job = JobOptions(output=run_dir, aligned=options.aligned, only_center_face=options.only_center_face,
                     upscale=options.upscale, ext="png", max_pixels=limits.max_pixels(options.aligned),
                     max_output_pixels=limits.max_pixels(False))
    with pool.lock:
        try:
            restorer = pool.get(options.model, options.weight)
        except (CheckpointError, ValueError, OSError) as exc:
            report.messages.append(f"Model {options.model!r} cannot be used: {exc}")
            return report
        stems = unique_stems(uploads)
        protected = {resolved(path) for path in uploads}
        outputs: list[Path] = []
        for path, name in zip(uploads, names, strict=True):
            started = time.perf_counter()
            if stems[path] != path.stem:  # two uploads of one name: tell them apart in the page too
                name = f"{stems[path]}{path.suffix}"
            refusal = _refusal(path, name, limits)
            if refusal:
                report.messages.append(refusal)
                continue
            outcome = restore_file(path, job, restorer, stem=stems[path], protected=protected)
            if outcome.fatal:
                report.messages.append(f"Faces cannot be found on this server: {outcome.error}")  # true for every file
                break
            if outcome.restored is None:  # failed: its message says why
                report.messages.append(_public(str(outcome.error), path, name))
                continue
            try:
                before = _write_before(path, outcome.size, job, run_dir / "inputs" / f"{stems[path]}.png")
            except (ImageReadError, OSError, ValueError) as exc:  # the upload changed or the disk filled meanwhile
                report.messages.append(f"{name}: failed: {type(exc).__name__}: {_public(str(exc), path, name)}")
                continue
            outputs.extend(outcome.files)
            # An aligned crop is its one face: the face slider compares it as the photo slider does.
            faces = [(before, outcome.restored)] if options.aligned else list(outcome.faces_written)
            report.photos.append(PhotoResult(name=name, before=before, after=outcome.restored, faces=faces))
            notes = f" [{'; '.join(outcome.notes)}]" if outcome.notes else ""
            report.messages.append(f"{name}: {outcome.summary} ({time.perf_counter() - started:.1f} s){notes}")
    if report.photos:
        report.downloads = [photo.after for photo in report.photos]
        report.downloads.append(_write_zip(run_dir / "hifacegan_results.zip", outputs, run_dir))
    return report


def _refusal(path: Path, name: str, limits: ServeLimits) -> str | None:
    """Why the page does not take this upload (too many bytes, a video), or ``None``."""
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return f"{name}: a video; this page restores photos (hifacegan restore takes videos)"
    size = path.stat().st_size if path.is_file() else 0
    if size > limits.max_bytes:
        return (f"{name}: {size / 1e6:.1f} MB is over this page's upload limit of {limits.max_upload_mb:g} MB; "
                "recompress or downscale it (the server's --max-upload-mb sets the limit)")
    return None


def _write_before(path: Path, size: tuple[int, int], job: JobOptions, target: Path) -> Path:
    """The slider's "before": the upload resized to ``size``, the result's (a page-only copy, not a result)."""
    before = read_image(path, max_pixels=job.pixel_bound()).rgb
    if size != before.shape[:2]:  # the slider compares images of one size
        before = np.clip(resize_to(before, *size), 0.0, 1.0)
    return atomic_write_bytes(target, encode_image(before, ".png"))


def _public(message: str, path: Path, name: str) -> str:
    """The message with the server's temporary path of the upload replaced by the file's own name."""
    return message.replace(str(path), name)


def _write_zip(target: Path, files: list[Path], root: Path) -> Path:
    """Every output in ``hifacegan restore``'s folder layout, as one zip (written atomically)."""
    import io

    buffer = io.BytesIO()
    # PNGs are compressed already: storing them is as small and much faster.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(files):
            archive.write(path, str(path.relative_to(root)))
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
