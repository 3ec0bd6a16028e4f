"""Restore jobs: the one per-file job that the command line, batches, Ray actors and the web page share.

``JobOptions`` says what to do with each input and where its outputs go, ``ModelSettings`` how to build the
:class:`~hifacegan.restorer.Restorer`, and :func:`restore_file` restores one photo, aligned crop or video
into the output layout (:mod:`hifacegan.jobs.layout`) and returns a :class:`JobOutcome`::

    from hifacegan.jobs import JobOptions, ModelSettings, restore_file

    restorer = ModelSettings(model="renovation").build()
    outcome = restore_file("photo.jpg", JobOptions(output="results", upscale=2), restorer)
    print(outcome.status, outcome.summary, outcome.restored)

Many files (shards, resuming, Ray, videos): :func:`hifacegan.batch.runner.restore_inputs`.
"""

from hifacegan.jobs.file_job import MAX_OUTPUT_PIXELS, FileRefusedError, JobOutcome, restore_file
from hifacegan.jobs.layout import outputs_complete, unique_stems
from hifacegan.jobs.options import ALIGNED_MAX_PIXELS, JobOptions, ModelSettings, choose_compile

__all__ = [
    "ALIGNED_MAX_PIXELS",
    "MAX_OUTPUT_PIXELS",
    "FileRefusedError",
    "JobOptions",
    "JobOutcome",
    "ModelSettings",
    "choose_compile",
    "outputs_complete",
    "restore_file",
    "unique_stems",
]
