"""The one table of metrics: every name ``--metrics`` accepts and what the code needs to know about it.

:mod:`hifacegan.metrics.evaluation` (which ones need a reference, which are set-level, which need face
detection), the summary table (direction marks) and :mod:`hifacegan.metrics.tasks` (titles, decimals)
all read this table; adding a metric means adding one :class:`MetricInfo` here and its computation in
:class:`~hifacegan.metrics.evaluation.EvaluationRun`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["METRICS", "MetricInfo", "direction_mark", "metric_info"]


@dataclass(frozen=True)
class MetricInfo:
    """One metric.

    Attributes:
        name: what ``--metrics`` calls it.
        title: its name in tables.
        decimals: digits after the point in tables.
        better: ``"higher"``, ``"lower"``, or ``"target"`` (best at :attr:`target`).
        target: the ideal value of a ``"target"`` metric (the sharpness ratio is ideal at 1: below is
            blurrier than the truth, above has more edges, e.g. noise or oversharpening).
        needs_reference: compares against a reference image.
        set_level: a distance between two sets of images (no per-image value, no CSV column).
        needs_faces: needs a face found by dlib in each image.
    """

    name: str
    title: str
    decimals: int
    better: Literal["higher", "lower", "target"]
    target: float | None = None
    needs_reference: bool = True
    set_level: bool = False
    needs_faces: bool = False


#: Every metric, in table order.
METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("psnr", "PSNR", 2, "higher"),
    MetricInfo("ssim", "SSIM", 4, "higher"),
    MetricInfo("ms_ssim", "MS-SSIM", 4, "higher"),
    MetricInfo("lpips", "LPIPS", 4, "lower"),
    MetricInfo("fid", "FID", 2, "lower", set_level=True),
    MetricInfo("fd_mobilenet", "FD-MobileNet", 3, "lower", set_level=True),
    MetricInfo("niqe", "NIQE", 3, "lower", needs_reference=False),
    MetricInfo("sharpness", "Sharpness", 3, "target", target=1.0),
    MetricInfo("fed", "FED", 4, "lower", needs_faces=True),
    MetricInfo("lle", "LLE", 3, "lower", needs_faces=True),
)
_BY_NAME = {m.name: m for m in METRICS}


def metric_info(name: str) -> MetricInfo:
    """The entry of ``name``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(_BY_NAME)}") from None


def direction_mark(metric: str, arrows: bool = False) -> str:
    """Which values of ``metric`` are better, for table headers.

    Returns:
        ``"+"`` (higher), ``"-"`` (lower) or ``"=1"`` (closest to the target 1); with ``arrows``, ``"↑"``,
        ``"↓"`` or ``"→1"``.
    """
    info = metric_info(metric)
    if info.better == "target":
        return f"{'→' if arrows else '='}{info.target:g}"
    if info.better == "higher":
        return "↑" if arrows else "+"
    return "↓" if arrows else "-"
