"""``hifacegan degrade``: make degraded copies of a folder of faces, or a contact sheet of every task.

``hifacegan degrade --task TASK --seed N INPUT_DIR OUTPUT_DIR [--workers K] [--pairs]`` writes
``OUTPUT_DIR/<stem>.png`` per input (with ``--pairs`` the official stacked ``[degraded; original]``
layout) and ``OUTPUT_DIR/degradations.json`` with every sampled parameter. Each file's randomness
comes from ``(seed, stem)`` only, so the output bytes do not depend on ``--workers`` or file order.

``hifacegan degrade --sheet OUT.png IMAGES...`` shows every task on a few faces.

Files larger than ``--max-megapixels`` are refused from their header, before anything is decoded; an
input whose output would replace it (a symlink into OUTPUT_DIR) is skipped; any file name the file
system allows works, including names that are not UTF-8.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from hifacegan.cli._types import positive_float
from hifacegan.degradations import TASKS, DegradationConfig, contact_sheet, degrade, rng_for
from hifacegan.io import DEFAULT_MAX_PIXELS, MAX_MEGAPIXELS_ENV

logger = logging.getLogger(__name__)

PARAMS_FILE = "degradations.json"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "degrade",
        help="degrade a folder of faces with one of the paper's tasks, or draw a contact sheet",
        description="Degrade every image of INPUT_DIR with TASK and write OUTPUT_DIR/<stem>.png (inputs are never "
        "overwritten). The result depends only on the image, the task, the seed and the file stem. With --sheet, "
        "draw every task on the given faces into one picture instead.",
        epilog="tasks: " + ", ".join(TASKS) + "\n"
        "examples:\n"
        "  hifacegan degrade --task renovation --seed 0 faces/ faces_renovation/ --workers 4\n"
        "  hifacegan degrade --task sr16x --pairs faces/ pairs_16x/      # official [degraded; original] files\n"
        "  hifacegan degrade --sheet sheet.jpg faces/a.jpg faces/b.jpg faces/c.jpg",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="INPUT_DIR OUTPUT_DIR; with --sheet: the images to show")
    parser.add_argument("--task", choices=TASKS, help="degradation to apply (with --sheet: show only this one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random parameters (default 0)")
    parser.add_argument("--workers", type=int, default=None,
                        help="parallel processes (default: the number of CPUs, at most 8)")
    parser.add_argument("--pairs", action="store_true",
                        help="write the official stacked layout: degraded on top of the original, one PNG per face")
    parser.add_argument("--sheet", type=Path, metavar="OUT.png", help="write a contact sheet of every task instead")
    parser.add_argument("--cell", type=int, default=128, help="tile size of the contact sheet in pixels (default 128)")
    parser.add_argument("--config", type=Path, metavar="YAML",
                        help="degradation ranges to use instead of the official ones (DegradationConfig keys)")
    parser.add_argument("--face-size", type=int, metavar="PX",
                        help="scale blur and mosaic sizes for PX-pixel faces (the official ranges are for 512)")
    parser.add_argument("--max-megapixels", type=positive_float, metavar="MP",
                        help="refuse inputs of more than MP megapixels, judged from the file header before decoding "
                        f"(default: ${MAX_MEGAPIXELS_ENV}, else {DEFAULT_MAX_PIXELS / 1e6:g})")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class _Job:
    source: str
    target: str
    task: str
    seed: int
    pairs: bool
    config: DegradationConfig | None
    max_pixels: int | None = None


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # the pool already uses every core; nested OpenCV threads only contend


def _pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers never inherit thread state.

    A plain ``fork`` copies OpenCV's (and OpenMP's) thread pools mid-state, and workers can hang on
    their first parallel call. ``forkserver`` forks workers from a clean server process that has
    imported this module once (so each worker starts in milliseconds); ``spawn`` where it is missing.
    """
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker)


_Result = tuple[str, dict | None, str | None]  # (stem, sampled parameters, error)


def _process(job: _Job) -> _Result:
    """Degrade one file. Returns ``(stem, params, None)`` or ``(stem, None, error)``; never raises for bad input."""
    from hifacegan.data.transforms import stack_pair
    from hifacegan.io import ImageReadError, read_image, write_image

    source = Path(job.source)
    try:
        image = read_image(source, max_pixels=job.max_pixels).to_uint8()
        degraded, params = degrade(image, job.task, rng_for(job.seed, source.stem), job.config)
        write_image(job.target, stack_pair(degraded, image) if job.pairs else degraded)
    except ImageReadError as exc:
        return source.stem, None, str(exc)  # already names the file
    except (ValueError, OSError, MemoryError) as exc:
        return source.stem, None, f"{source}: {type(exc).__name__}: {exc}"
    return source.stem, params, None


def _degrade_jobs(jobs: list[_Job], workers: int) -> Iterator[_Result]:
    """Run :func:`_process` on every job and yield one result per job, in completion order.

    A worker that dies (a segfault in an image decoder, the OOM killer) breaks the whole process pool,
    and with it every job in flight. Those jobs are then retried one at a time in a one-worker pool:
    only a job that kills its worker again is reported as failed, and the rest of the folder goes on in
    a new pool. With one worker everything runs in this process (no pool to break).
    """
    if workers == 1:
        yield from map(_process, jobs)
        return
    # Chunks of up to 16 jobs keep the per-task overhead small next to ~3 ms per image.
    size = max(1, min(16, len(jobs) // (4 * workers)))
    queue = deque(jobs[i:i + size] for i in range(0, len(jobs), size))
    while queue:
        suspects = yield from _run_pool(queue, workers)
        yield from _run_one_at_a_time(suspects)


def _process_chunk(process: Callable[[_Job], _Result], chunk: list[_Job]) -> list[_Result]:
    return [process(job) for job in chunk]


def _run_pool(queue: deque[list[_Job]], workers: int) -> Iterator[_Result]:
    """Feed the chunks of ``queue`` to a fresh pool; returns the jobs in flight if it broke (else ``[]``).

    At most ``2 * workers`` chunks are submitted at once, so a broken pool leaves few suspects to
    retry. ``_process`` is looked up at call time: the tests substitute one that crashes.
    """
    executor = _pool(workers)
    in_flight: dict[Future, list[_Job]] = {}
    try:
        while queue or in_flight:
            while queue and len(in_flight) < 2 * workers:
                chunk = queue.popleft()
                in_flight[executor.submit(_process_chunk, _process, chunk)] = chunk
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    results = future.result()
                except BrokenProcessPool:
                    suspects = [job for chunk in in_flight.values() for job in chunk]
                    logger.warning("a degrade worker died; retrying its %d job(s) one at a time", len(suspects))
                    return suspects
                del in_flight[future]
                yield from results
    finally:
        executor.shutdown(cancel_futures=True)
    return []


def _run_one_at_a_time(jobs: list[_Job]) -> Iterator[_Result]:
    """Run ``jobs`` in a one-worker pool, one job in flight at a time: a crash now is that job's own."""
    executor = None
    try:
        for job in jobs:
            executor = executor or _pool(1)
            try:
                result = executor.submit(_process, job).result()
            except BrokenProcessPool:
                executor.shutdown()
                executor = None  # the next job gets a fresh worker
                result = Path(job.source).stem, None, (f"{job.source}: the worker process died while degrading "
                                                       "it (a crash in the image decoder, or out of memory)")
            yield result
    finally:
        if executor is not None:
            executor.shutdown()


def _load_config(args: argparse.Namespace) -> DegradationConfig | None:
    config = None
    if args.config is not None:
        import yaml

        with open(args.config, encoding="utf-8") as handle:
            values = yaml.safe_load(handle) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{args.config}: expected a mapping of DegradationConfig settings")
        config = DegradationConfig.from_dict(values)
    if args.face_size is not None:
        config = (config or DegradationConfig()).scaled_for_size(args.face_size)
    return config


def run(args: argparse.Namespace) -> int:
    try:
        config = _load_config(args)
    except (OSError, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    if args.sheet is not None:
        return _run_sheet(args, config)
    if len(args.paths) != 2 or args.task is None:
        logger.error("usage: hifacegan degrade --task TASK [--seed N] INPUT_DIR OUTPUT_DIR, or --sheet OUT.png "
                     "IMAGES...; tasks: %s", ", ".join(TASKS))
        return 2
    return _run_folder(args, config)


def _run_folder(args: argparse.Namespace, config: DegradationConfig | None) -> int:
    from tqdm import tqdm

    from hifacegan.io import OutputPathError, atomic_write_bytes, check_output_dir, default_max_pixels, list_images

    input_dir, output_dir = args.paths
    if not input_dir.is_dir():
        logger.error("INPUT_DIR %s is not a folder", input_dir)
        return 2
    if output_dir.resolve() == input_dir.resolve():
        logger.error("OUTPUT_DIR must differ from INPUT_DIR (%s): inputs are never overwritten", input_dir)
        return 2
    try:
        max_pixels = default_max_pixels() if args.max_megapixels is None else max(1, round(args.max_megapixels * 1e6))
        if (output_dir / PARAMS_FILE).is_dir():
            raise OutputPathError(f"OUTPUT_DIR {output_dir}: {output_dir / PARAMS_FILE} is a folder; move it")
        check_output_dir(output_dir, "OUTPUT_DIR")
    except (OutputPathError, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    sources = list_images(input_dir)
    if not sources:
        logger.error("no images in %s", input_dir)
        return 1
    protected = {path.resolve() for path in sources}
    failures: dict[str, str] = {}
    jobs, seen = [], {}
    for path in sources:
        target = output_dir / f"{path.stem}.png"
        if path.stem in seen:  # a.jpg and a.png would both become a.png
            failures[path.name] = f"same name as {seen[path.stem]}: its output would overwrite the other's"
            logger.warning("skipped %s: %s", path, failures[path.name])
            continue
        if target.resolve() in protected:  # e.g. a symlink in INPUT_DIR pointing into OUTPUT_DIR
            failures[path.name] = f"its output {target} is an input file (through a link) and would be overwritten"
            logger.warning("skipped %s: %s", path, failures[path.name])
            continue
        seen[path.stem] = path.name
        jobs.append(_Job(str(path), str(target), args.task, args.seed, args.pairs, config, max_pixels))
    workers = max(1, min(args.workers or min(os.cpu_count() or 1, 8), len(jobs)))
    logger.info("degrading %d image(s) from %s with %s (seed %d, %d worker(s))", len(jobs), input_dir, args.task,
                args.seed, workers)
    params: dict[str, dict] = {}
    start = time.perf_counter()
    progress = tqdm(total=len(jobs), desc=f"degrade {args.task}", unit="img", disable=None)
    results = _degrade_jobs(jobs, workers)
    try:
        for stem, item_params, error in results:
            if error is None:
                params[stem] = item_params
            else:
                failures[stem] = error
                logger.warning("skipped %s", error)
            progress.update(1)
    finally:
        progress.close()
        results.close()  # shuts the pool down if we leave early (Ctrl-C)
    elapsed = time.perf_counter() - start
    record = {"task": args.task, "seed": args.seed, "pairs": args.pairs,
              "config": (config or DegradationConfig()).to_dict(), "items": params, "failed": failures}
    atomic_write_bytes(output_dir / PARAMS_FILE, json.dumps(record, indent=1, sort_keys=True).encode())
    logger.info("wrote %d image(s) to %s in %.1f s (%.1f images/s)%s", len(params), output_dir, elapsed,
                len(params) / max(elapsed, 1e-9), f"; {len(failures)} failed" if failures else "")
    return 0 if params else 1


def _run_sheet(args: argparse.Namespace, config: DegradationConfig | None) -> int:
    from hifacegan.io import ImageReadError, list_images, read_image, write_image

    if not args.paths:
        logger.error("--sheet needs images to show: hifacegan degrade --sheet OUT.png IMAGES...")
        return 2
    if args.cell < 16:
        logger.error("--cell must be at least 16 pixels")
        return 2
    sources = list_images(args.paths)
    if any(p.resolve() == args.sheet.resolve() for p in sources if p.exists()):
        logger.error("the sheet %s is also an input: inputs are never overwritten", args.sheet)
        return 2
    images, keys = [], []
    for path in sources:
        try:
            images.append(read_image(path).to_uint8())
            keys.append(path.stem)
        except ImageReadError as exc:
            logger.warning("skipped %s", exc)
    if not images:
        logger.error("none of the images could be read")
        return 1
    tasks = (args.task,) if args.task else TASKS
    sheet = contact_sheet(images, keys, tasks=tasks, seed=args.seed, cell=args.cell, config=config)
    try:
        write_image(args.sheet, sheet, jpeg_quality=90)
    except (ValueError, OSError) as exc:
        logger.error("could not write %s: %s", args.sheet, exc)
        return 1
    logger.info("wrote %s (%d face(s) x %d task(s), %dx%d pixels)", args.sheet, len(images), len(tasks),
                sheet.shape[1], sheet.shape[0])
    return 0
