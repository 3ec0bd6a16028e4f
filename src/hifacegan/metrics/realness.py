"""Realness of restored real faces, without ground truth: the measures of issue 28's table.

Real low-quality faces (LFW, WebPhoto, WIDER, CelebChild test sets) have no truth to compare with, so
papers since GFPGAN judge a restorer on them by

* **NIQE** (standard MATLAB pristine model, lower is more natural) of the output, beside the input's;
* **identity**: the dlib embedding distance (FED's network) between input and output, detected in the
  input; under 0.6 (dlib's same-person threshold) the restorer kept the person;
* **sharpness**: the output's luma gradient energy over the input's (> 1: detail was added);
* **colour shift**: the largest per-channel difference of mean colour, in grey levels (a restorer
  should not tint the face).

:func:`measure_face` measures one input/output pair; :func:`realness_table` groups the records (by the
file-name prefix, e.g. ``LFW-Test``) and averages them; :func:`most_degraded` picks the inputs with the
highest NIQE for a contact sheet. Pure functions: folders and files are the CLI's business
(``hifacegan realness``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from hifacegan.metrics._faces import FaceModels
from hifacegan.metrics.fed import fed_with_boxes
from hifacegan.metrics.niqe import NiqeParams, niqe
from hifacegan.metrics.sharpness import sharpness
from hifacegan.pixels import to_float255

__all__ = ["IDENTITY_THRESHOLD", "FaceRealness", "GroupRealness", "format_realness_table", "group_of",
           "measure_face", "most_degraded", "realness_table"]

#: dlib's usual same-person distance: below it, input and output show the same person.
IDENTITY_THRESHOLD = 0.6


@dataclass(frozen=True)
class FaceRealness:
    """The measures of one face; ``identity`` is NaN when no face is detected in the input."""

    name: str
    group: str
    niqe_input: float
    niqe_output: float
    identity: float
    sharpness_ratio: float
    color_shift: float

    def as_row(self) -> dict[str, float | str]:
        return asdict(self)


@dataclass(frozen=True)
class GroupRealness:
    """Means over one group of faces (or all of them).

    Attributes:
        identity_faces: faces whose input had a detectable face (the identity figures' count).
        identity_kept: share of those with identity distance under :data:`IDENTITY_THRESHOLD`.
    """

    group: str
    faces: int
    niqe_input: float
    niqe_output: float
    identity: float
    identity_max: float
    identity_faces: int
    identity_kept: float
    sharpness_ratio: float
    color_shift: float


def group_of(name: str) -> str:
    """A face's group: its file stem up to the first ``_`` (``LFW-Test_0042`` -> ``LFW-Test``)."""
    return name.split("_", 1)[0] if "_" in name else "all"


def measure_face(name: str, low_quality: np.ndarray, restored: np.ndarray, *, niqe_params: NiqeParams,
                 face_models: FaceModels | None, group: str | None = None) -> FaceRealness:
    """Measure one restored face against its low-quality input.

    Args:
        name: the face's name (file stem).
        low_quality: ``(H, W, 3)`` RGB input, ``uint8`` or float in ``[0, 1]``.
        restored: the restorer's output for it; resized to the input's size for the identity and colour
            measures when the sizes differ (an upscaling restorer).
        niqe_params: the NIQE pristine model.
        face_models: dlib's models for the identity distance; ``None`` leaves identity NaN.
        group: the face's group (default :func:`group_of` the name).

    Raises:
        ValueError: malformed images, or images too small for NIQE.
    """
    low = np.clip(np.round(to_float255(low_quality)), 0, 255).astype(np.uint8)
    out = np.clip(np.round(to_float255(restored, "restored")), 0, 255).astype(np.uint8)
    if out.shape != low.shape:
        import cv2

        out = np.asarray(cv2.resize(out, (low.shape[1], low.shape[0]), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    identity = math.nan
    if face_models is not None:
        box = face_models.detect(low)
        if box is not None:
            identity = fed_with_boxes(face_models, out, low, (box, box))
    low_sharpness = sharpness(low)
    color_shift = float(np.abs(out.reshape(-1, 3).mean(0) - low.reshape(-1, 3).mean(0)).max())
    return FaceRealness(
        name=name, group=group or group_of(name),
        niqe_input=niqe(low, params=niqe_params), niqe_output=niqe(out, params=niqe_params),
        identity=identity, sharpness_ratio=sharpness(out) / low_sharpness if low_sharpness > 0 else math.inf,
        color_shift=color_shift)


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _summarise(group: str, records: Sequence[FaceRealness]) -> GroupRealness:
    identities = [r.identity for r in records if math.isfinite(r.identity)]
    return GroupRealness(
        group=group, faces=len(records),
        niqe_input=_mean([r.niqe_input for r in records]), niqe_output=_mean([r.niqe_output for r in records]),
        identity=_mean(identities), identity_max=max(identities, default=math.nan),
        identity_faces=len(identities),
        identity_kept=(sum(d < IDENTITY_THRESHOLD for d in identities) / len(identities)) if identities else math.nan,
        sharpness_ratio=_mean([r.sharpness_ratio for r in records]), color_shift=_mean([r.color_shift for r in records]))


def realness_table(records: Sequence[FaceRealness]) -> list[GroupRealness]:
    """One row per group (sorted by name), then ``all`` (every face) when there are several groups."""
    if not records:
        raise ValueError("no faces were measured")
    groups = sorted({r.group for r in records})
    rows = [_summarise(g, [r for r in records if r.group == g]) for g in groups]
    if len(groups) > 1:
        rows.append(_summarise("all", records))
    return rows


def most_degraded(records: Sequence[FaceRealness], count: int) -> list[FaceRealness]:
    """The ``count`` faces whose inputs score the highest (worst) NIQE, worst first."""
    return sorted(records, key=lambda r: (-r.niqe_input, r.name))[:count]


def format_realness_table(rows: Sequence[GroupRealness]) -> str:
    """A Markdown table of :func:`realness_table`'s rows."""
    header = ("| group | faces | NIQE input | NIQE output | identity mean / max | identity < 0.6 | "
              "sharpness ratio | colour shift |")
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        kept = f"{row.identity_kept:.0%} of {row.identity_faces}" if row.identity_faces else "–"
        identity = f"{row.identity:.3f} / {row.identity_max:.3f}" if row.identity_faces else "–"
        lines.append(f"| {row.group} | {row.faces} | {row.niqe_input:.2f} | {row.niqe_output:.2f} | {identity} | "
                     f"{kept} | {row.sharpness_ratio:.2f} | {row.color_shift:.2f} |")
    return "\n".join(lines)
