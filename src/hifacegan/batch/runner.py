"""Restore many inputs: list them, build the model once, run the per-file job on each, and sum up.

What ``hifacegan restore`` does after parsing its flags, as a library call::

    from hifacegan.batch.runner import restore_inputs
    from hifacegan.jobs import JobOptions, ModelSettings

    report = restore_inputs(["photos/", "clip.mp4"], JobOptions(output="results"), ModelSettings())

Photos and videos go through this process's shard and the resume check
(:class:`~hifacegan.batch.session.BatchSession`), and each gets its manifest record; photos are restored
here or on Ray actors, then videos here. Every file is restored by
:func:`hifacegan.jobs.restore_file`, which logs one line per file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hifacegan.batch.session import BatchOptions, BatchSession
from hifacegan.io import list_images
from hifacegan.jobs import JobOptions, JobOutcome, ModelSettings, choose_compile, restore_file, unique_stems
from hifacegan.jobs.layout import check_output_folders, resolved

if TYPE_CHECKING:
    from hifacegan.restorer import Restorer

__all__ = ["NoInputsError", "RestoreRun", "RunReport", "restore_inputs"]

logger = logging.getLogger(__name__)


class NoInputsError(ValueError):
    """No image or video was found in the inputs given."""


@dataclass
class RunReport:
    """What a run did.

    Attributes:
        done: inputs restored (or copied through without a face).
        failed: inputs that could not be restored (each has logged its message).
        faces: faces restored in all.
        skipped: inputs complete from an earlier run.
        total: inputs this process took on (its shard, less the skipped ones).
        stopped: the run stopped at an error that concerns every file (no face detector).
    """

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    faces: int = 0
    skipped: int = 0
    total: int = 0
    stopped: bool = False

    @property
    def exit_status(self) -> int:
        """0 when something was done (or nothing was left to do), 1 when nothing could be, 2 when stopped."""
        if self.stopped:
            return 2
        return 0 if self.done or self.skipped or not self.total else 1

    def add(self, outcome: JobOutcome) -> None:
        if outcome.status == "failed":
            self.failed.append(str(outcome.source))
        else:
            self.done.append(str(outcome.source))
            self.faces += outcome.faces


@dataclass
class RestoreRun:
    """A run ready to go: inputs listed, output folder checked, model loaded, this process's inputs chosen.

    Build it with :meth:`prepare` (which raises for what is wrong with the run as a whole), then :meth:`run`.
    """

    job: JobOptions
    model: ModelSettings
    batch: BatchOptions
    restorer: Restorer
    session: BatchSession
    stems: dict[Path, str]
    protected: set[Path]

    @classmethod
    def prepare(cls, inputs: list[str], job: JobOptions, model: ModelSettings | None = None,
                batch: BatchOptions | None = None) -> RestoreRun:
        """List the inputs, check the output folder, build the restorer and choose this process's inputs.

        Args:
            inputs: files, folders or glob patterns of photos and videos.
            job: what to do with each file and where its outputs go.
            model: how to build the restorer (default: the shipped default model); ``compile=None`` is
                decided here from the number of photos and videos (:func:`hifacegan.jobs.choose_compile`).
            batch: shard, resume and engine options (default: every input, in this process).

        Raises:
            NoInputsError: no image or video in ``inputs``.
            hifacegan.io.OutputPathError: the output folder cannot be written.
            ValueError: a bad pixel bound in the environment, an unusable device or shard settings.
            hifacegan.models.pretrained.NoDefaultModelError: no such shipped model.
            hifacegan.CheckpointError: the model cannot be loaded.
            ImportError: ONNX export without the onnx packages, or the Ray engine without Ray.
        """
        from hifacegan.models import pretrained
        from hifacegan.video.pipeline import split_video_inputs

        model = model or ModelSettings()
        batch = batch or BatchOptions()
        image_inputs, videos = split_video_inputs(inputs)  # videos: OUTDIR/restored_videos/
        photos = list_images(image_inputs) if image_inputs else []
        if not photos and not videos:
            raise NoInputsError(f"no images or videos found in {' '.join(inputs)}")
        check_output_folders(job)  # a bad output folder or pixel bound is found now, not after every input
        job = replace(job, max_pixels=job.pixel_bound())  # resolved once: Ray actors get the same
        resolved_model = pretrained.resolve_model(model.model)
        # Resolved once as well, so every Ray actor builds the same restorer.
        model = replace(model, model=resolved_model, compile=choose_compile(model, len(photos), len(videos)))
        restorer = model.build()
        logger.info("model %s on %s; %d input file(s)%s", resolved_model, restorer.device, len(photos) + len(videos),
                    "" if job.aligned else f"; faces aligned to {restorer.face_size}x{restorer.face_size}")
        protected = {resolved(path) for path in photos + videos}
        # Photos and videos are written to different folders, so each kind has its own stems.
        stems = unique_stems(photos) | unique_stems(videos)
        # This process's shard, less the inputs already complete (skip_existing); appends OUTDIR/manifest.jsonl.
        session = BatchSession.start(photos + videos, inputs, stems, job, batch)
        return cls(job, model, batch, restorer, session, stems, protected)

    def run(self) -> RunReport:
        """Restore this process's photos, then its videos; log the summary.

        Raises:
            hifacegan.batch.ray_engine.RayUnavailableError: the Ray engine without Ray Data installed.
        """
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        from hifacegan.video.pipeline import is_video_file

        report = RunReport(skipped=self.session.skipped, total=len(self.session.todo))
        started = time.perf_counter()
        local = self.batch.engine == "local"
        photos = [path for path in self.session.todo if not is_video_file(path)]
        videos = [path for path in self.session.todo if is_video_file(path)]
        outcomes: dict[Path, JobOutcome] = {}
        if not local:
            from hifacegan.batch.ray_engine import run_with_ray

            outcomes = run_with_ray(photos, self.stems, self.session.keys, self.job, self.model, self.batch,
                                    self.protected)
        with logging_redirect_tqdm():
            for path in tqdm(photos, desc="restoring", unit="img", disable=None if local else True):
                if local:
                    outcomes[path] = restore_file(path, self.job, self.restorer, stem=self.stems[path],
                                                  protected=self.protected)
                    self.session.record(path, outcomes[path])  # Ray actors append their own records
                elif path not in outcomes:
                    continue  # the Ray run stopped early on a fatal error
                elif outcomes[path].error:
                    logger.error("%s", outcomes[path].error)  # logged in the actor; reported here as locally
                if outcomes[path].fatal:
                    report.stopped = True  # concerns every file, not this one (no face detector): stop here
                    return report
                report.add(outcomes[path])
        # After the photos, in this process (a video is one long unit: Ray actors would gain nothing).
        for video in videos:
            outcome = restore_file(video, self.job, self.restorer, stem=self.stems[video], protected=self.protected)
            self.session.record(video, outcome)
            if outcome.fatal:  # concerns every video, not this one: the others are not tried
                report.failed += [str(v) for v in videos if str(v) not in report.done + report.failed]
                break
            report.add(outcome)
        elapsed = time.perf_counter() - started
        logger.info("processed %d of %d file(s), restored %d face(s), in %.1f s (%.2f s per file); results in %s",
                    len(report.done), report.total, report.faces, elapsed, elapsed / max(report.total, 1),
                    self.job.output)
        if report.failed:
            logger.warning("%d file(s) could not be processed: %s", len(report.failed), ", ".join(report.failed))
        return report


def restore_inputs(inputs: list[str], job: JobOptions, model: ModelSettings | None = None,
                   batch: BatchOptions | None = None) -> RunReport:
    """Restore every photo and video of ``inputs`` (see :meth:`RestoreRun.prepare` for the arguments and errors)."""
    return RestoreRun.prepare(inputs, job, model, batch).run()
