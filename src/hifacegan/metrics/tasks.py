"""The paper's task table: degrade a folder per task, restore it, measure input, bicubic and model.

For each task of :data:`hifacegan.degradations.PAPER_TASKS` and each ground-truth face, the degraded
input is ``degrade(face, task, rng_for(seed, stem))``: exactly what ``hifacegan degrade --task TASK
--seed SEED`` writes, so the table can be reproduced from files. Three rows are measured per task:

* ``input``: the degraded image itself;
* ``bicubic``: the classic interpolation baseline. For the super-resolution tasks (``sr4x``,
  ``sr16x``) the degraded image is shrunk 4x (area averaging) and enlarged back with bicubic
  interpolation, i.e. what bicubic upsampling of a 4x low-resolution input gives; for the other
  tasks there is nothing to interpolate and the row equals ``input`` (it is copied, not recomputed);
* ``model``: the generator's output on the degraded image.

Every metric of :mod:`hifacegan.metrics.evaluation` works here, each row against the clean faces:
the set-level ones (``fid``, ``fd_mobilenet``) compare the row's whole set of images with the set of
clean faces, ``sharpness`` is each image's sharpness over its clean face's (ideal 1), ``niqe`` looks
at the row's images alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from hifacegan.metrics.evaluation import EvaluationReport, Evaluator
from hifacegan.metrics.registry import direction_mark, metric_info

__all__ = ["ROWS", "SR_TASKS", "TaskResults", "bicubic_baseline", "format_task_table", "run_task_benchmark"]

logger = logging.getLogger(__name__)

#: Rows of each task, in table order.
ROWS: tuple[str, ...] = ("input", "bicubic", "model")
#: Tasks whose bicubic row is a real 4x interpolation (the others copy the input row).
SR_TASKS: tuple[str, ...] = ("sr4x", "sr16x")

#: ``restore(list of uint8 (H, W, 3)) -> list of uint8 (H, W, 3)``, same sizes and order.
RestoreFn = Callable[[list[np.ndarray]], list[np.ndarray]]
#: Called per image with ``(task, stem, {"input": ..., "bicubic": ..., "model": ...})`` (e.g. to save them).
ImageSink = Callable[[str, str, dict[str, np.ndarray]], None]


def bicubic_baseline(degraded: np.ndarray, task: str, factor: int = 4) -> np.ndarray:
    """The ``bicubic`` row's image for ``task`` (see the module docstring).

    Args:
        degraded: uint8 ``(H, W, 3)`` degraded input.
        task: degradation task name.
        factor: shrink factor for the super-resolution tasks.

    Returns:
        uint8 ``(H, W, 3)``: shrunk by ``factor`` (area) and enlarged back (bicubic) for
        :data:`SR_TASKS`, else ``degraded`` itself.
    """
    if task not in SR_TASKS:
        return degraded
    h, w = degraded.shape[:2]
    small = cv2.resize(degraded, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@dataclass
class TaskResults:
    """Reports per ``(task, row)``, plus the seconds the model spent restoring per task.

    Attributes:
        reports: ``{task: {row: EvaluationReport}}``.
        restore_seconds: ``{task: seconds}`` spent in the restore function.
        images: number of faces per task.
    """

    reports: dict[str, dict[str, EvaluationReport]] = field(default_factory=dict)
    restore_seconds: dict[str, float] = field(default_factory=dict)
    images: int = 0

    def to_json(self) -> dict:
        """``{task: {row: report JSON}}`` plus restore timings."""
        return {
            "tasks": {task: {row: report.to_json() for row, report in rows.items()}
                      for task, rows in self.reports.items()},
            "restore_seconds_per_image": {t: s / max(1, self.images) for t, s in self.restore_seconds.items()},
            "images": self.images,
        }


def run_task_benchmark(faces: Iterable[tuple[str, np.ndarray]], tasks: Sequence[str], seed: int,
                       restore: RestoreFn, evaluator: Evaluator, batch_size: int = 8,
                       sink: ImageSink | None = None, config=None) -> TaskResults:
    """Degrade, restore and evaluate every face for every task.

    Args:
        faces: ``(stem, uint8 (H, W, 3) ground truth)`` pairs (held in memory: every task reuses them).
        tasks: task names of ``hifacegan.degradations``.
        seed: degradation seed; each face's randomness is ``rng_for(seed, stem)``.
        restore: the model as a function on uint8 images (see :data:`RestoreFn`).
        evaluator: the metrics to compute (with references).
        batch_size: faces restored per call of ``restore``.
        sink: optional callback receiving every image produced.
        config: degradation parameter ranges (``DegradationConfig``); ``None``: the official ones.

    Returns:
        The reports of every ``(task, row)``.

    Raises:
        ValueError: an unknown task.
    """
    from hifacegan.degradations import TASKS, degrade, rng_for

    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    faces = list(faces)
    results = TaskResults(images=len(faces))
    for task in tasks:
        runs = {row: evaluator.new_run() for row in ROWS}
        results.restore_seconds[task] = 0.0
        for start in range(0, len(faces), batch_size):
            chunk = faces[start:start + batch_size]
            degraded = [degrade(image, task, rng_for(seed, stem), config)[0] for stem, image in chunk]
            began = time.perf_counter()
            restored = restore(degraded)
            results.restore_seconds[task] += time.perf_counter() - began
            if len(restored) != len(chunk):
                raise AssertionError(f"restore returned {len(restored)} images for {len(chunk)}")
            for (stem, truth), low, out in zip(chunk, degraded, restored):
                images = {"input": low, "bicubic": bicubic_baseline(low, task), "model": out}
                for row in ("input", "model") if task not in SR_TASKS else ROWS:
                    runs[row].add(stem, images[row], truth)
                if sink is not None:
                    sink(task, stem, images)
        input_report = runs["input"].finish()
        results.reports[task] = {
            "input": input_report,
            # Outside the SR tasks the bicubic image *is* the input, so its scores are the input's.
            "bicubic": runs["bicubic"].finish() if task in SR_TASKS else input_report,
            "model": runs["model"].finish(),
        }
        logger.info("%s: %d faces, restored in %.1f s", task, len(faces), results.restore_seconds[task])
    return results


def _cell(report: EvaluationReport, metric: str) -> str:
    if metric in report.unavailable:
        return "n/a"
    value = report.summary.get(metric)
    if value is None:
        return "-"
    if not np.isfinite(value):
        return "inf"
    text = f"{value:.{metric_info(metric).decimals}f}"
    # Faces not found are part of the result: show how many of the images a face metric covers.
    missing = sum(1 for s in report.skipped if s["metric"] == metric)
    return f"{text} ({report.counts.get(metric, 0)}/{report.counts.get(metric, 0) + missing})" if missing else text


def format_task_table(results: TaskResults, metrics: Sequence[str], markdown: bool = False) -> str:
    """The paper-style table: one row per ``(task, input|bicubic|model)``, one column per metric.

    A face metric that could not be measured on every image shows ``value (measured/total)``.
    """
    headers = ["task", "method"] + [f"{metric_info(m).title} {direction_mark(m, arrows=True)}" for m in metrics]
    body = [[task, row] + [_cell(report, m) for m in metrics]
            for task, rows in results.reports.items() for row, report in rows.items()]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * len(metrics)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [headers] + body) for i in range(len(headers))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(r) for r in body])
