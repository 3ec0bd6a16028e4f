"""``--engine ray``: the same per-photo function on Ray Data actors that each load the model once.

The driver lists, shards and skips the inputs as the local engine does, then streams the remaining paths
through ``Dataset.map_batches`` over a pool of actors (``ActorPoolStrategy``): each actor builds one
:class:`~hifacegan.restorer.Restorer` (one GPU per actor where the cluster has GPUs, one CPU otherwise),
runs :func:`~hifacegan.jobs.restore_file` on each path, writes the outputs itself and appends
the manifest (an ``O_APPEND`` line per photo, safe across actors on one machine). So the outputs, the
manifest and the per-file messages are those of the local engine; a killed batch resumes with
``--skip-existing``. Every node must have hifacegan installed and see the input and output folders at the
same paths (a shared file system).

Without ``--address``, the batch runs on a private cluster of this machine, whose Ray driver is a child
process of its own (:func:`_run_on_private_cluster`):

* It listens on loopback only. On Linux Ray gives the node this machine's external address and binds the
  GCS, the raylet (node and object managers), every worker's gRPC server and the runtime-env agent to it
  or to all interfaces, whatever ``ray.init`` is told (it turns ``_node_ip_address="127.0.0.1"`` back
  into the external address). With ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` Ray treats the machine as it
  treats a Mac: a one-node cluster at 127.0.0.1 with every server bound there. Ray reads the variable when
  it is imported, hence a fresh process. No dashboard, usage statistics or metrics either.
* It leaves nothing behind. Ray stops its processes on ``ray.shutdown()``, not when its driver is killed:
  after a ``kill -9`` its dashboard and runtime-env agents live on (the latter listening). So the driver
  leads a new session, which every Ray process it starts inherits, and reads its stdin, a pipe whose only
  writer is this process: when this process ends, however it ends, the pipe reads EOF and the driver kills
  every process of its session, then removes Ray's folder (a private one under ``$TMPDIR``). The simplest
  thing that holds: the kernel closes the pipe even on SIGKILL; ``PR_SET_PDEATHSIG`` cannot be set on
  Ray's own processes from outside, and a PID namespace needs user namespaces, which containers often
  forbid. (Killing the driver process itself with SIGKILL leaves this process to clean up the same way.)
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from hifacegan.batch.manifest import MANIFEST_NAME, Manifest
from hifacegan.batch.session import BatchOptions, append_outcome
from hifacegan.jobs import JobOptions, JobOutcome, ModelSettings, restore_file

__all__ = ["LOCAL_CLUSTER_ENV", "RayDriverError", "RayUnavailableError", "run_with_ray"]

logger = logging.getLogger(__name__)

#: The environment of the private local cluster's driver (Ray reads it on import; its processes inherit it).
LOCAL_CLUSTER_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node address 127.0.0.1, every server bound to it (see above)
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_enable_metrics_collection": "0",
}
#: How long the private cluster's driver may take to stop its cluster after its last result.
_SHUTDOWN_SECONDS = 60


class RayUnavailableError(RuntimeError):
    """Ray (with Ray Data) is not installed."""


class RayDriverError(RuntimeError):
    """The private local cluster's driver process ended before the end of the batch."""


def _import_ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before import: Ray reads it when it starts
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise RayUnavailableError(f"--engine ray needs Ray Data: pip install 'hifacegan[ray]' ({exc})") from None
    return ray


@dataclass(frozen=True)
class _Work:
    """One batch for Ray: :func:`run_with_ray`'s arguments (pickled to the private cluster's driver)."""

    todo: list[Path]
    stems: dict[Path, str]
    keys: dict[Path, str]
    job: JobOptions
    settings: ModelSettings
    batch: BatchOptions
    protected: set[Path]


class _PhotoActor:
    """One model per actor; ``__call__`` restores a batch of paths and returns one outcome row per path."""

    def __init__(self, settings: ModelSettings, job: JobOptions, protected: set[Path], threads: int) -> None:
        import torch

        if threads > 0:
            torch.set_num_threads(threads)  # the CPUs Ray granted this actor, not the whole node's
        self.restorer = settings.build()
        self.job = job
        self.protected = protected
        self.manifest = Manifest(job.output / MANIFEST_NAME)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: dict[str, list] = {"path": [], "status": [], "faces": [], "seconds": [], "error": [], "fatal": []}
        for raw_path, raw_stem, raw_key in zip(batch["path"], batch["stem"], batch["key"], strict=True):
            path, stem, key = Path(os.fsdecode(raw_path)), os.fsdecode(raw_stem), os.fsdecode(raw_key)
            outcome = restore_file(path, self.job, self.restorer, stem=stem, protected=self.protected)
            append_outcome(self.manifest, path, key, outcome)
            rows["path"].append(raw_path)
            rows["status"].append(outcome.status)
            rows["faces"].append(outcome.faces)
            rows["seconds"].append(outcome.seconds)
            rows["error"].append(outcome.error or "")
            rows["fatal"].append(outcome.fatal)
        return {name: np.array(values, dtype=object if name in ("path", "error") else None)
                for name, values in rows.items()}


def run_with_ray(todo: list[Path], stems: dict[Path, str], keys: dict[Path, str], job: JobOptions,
                 settings: ModelSettings, batch: BatchOptions, protected: set[Path]) -> dict[Path, JobOutcome]:
    """Restore ``todo`` on Ray actors; returns each path's outcome (as reported by the actors).

    Joins ``batch.address`` (else ``$RAY_ADDRESS``, as ``ray.init`` would: ``auto``, ``ray://host:10001``,
    ``host:6379``) from this process, or starts a private local cluster (loopback only, gone with this
    process: see the module's docstring) when there is none or it is ``local``; an already initialised Ray
    (a test's, a notebook's) is used as it is.

    Raises:
        RayUnavailableError: Ray Data is not installed.
        RayDriverError: the private cluster's driver died.
    """
    work = _Work(todo, stems, keys, job, settings, batch, protected)
    ray = sys.modules.get("ray")
    initialised = ray is not None and getattr(ray, "is_initialized", lambda: False)()
    address = batch.address or os.environ.get("RAY_ADDRESS") or None  # as ray.init would read it
    if address in (None, "local") and not initialised:
        return _run_on_private_cluster(work)
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                 configure_logging=False, log_to_driver=False)  # the driver reports each outcome itself
    try:
        return {outcome.source: outcome for outcome in _restore(ray, work)}
    finally:
        if started_here:
            ray.shutdown()


def _restore(ray: Any, work: _Work) -> Iterator[JobOutcome]:
    """Run ``work`` on the cluster Ray is connected to; yields each photo's outcome, stopping after a fatal one."""
    # Ray Data's progress reports every few seconds would drown the per-file messages.
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(max(logging.WARNING, logging.getLogger("ray.data").level))
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    actors = work.batch.ray_actors or (gpus if gpus else cpus)
    per_actor = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    threads = 0 if gpus else 1
    logger.info("ray: %d actor(s) with %s each on a cluster of %d CPU(s), %d GPU(s)", actors,
                "1 GPU" if gpus else "1 CPU", cpus, gpus)
    # "auto" would be judged on each node; the pool was sized for GPUs or for CPUs, so say which.
    settings = work.settings
    actor_settings = replace(settings, device="cuda" if gpus else "cpu") if settings.device == "auto" else settings
    rows = [{"path": os.fsencode(path), "stem": os.fsencode(work.stems[path]), "key": os.fsencode(work.keys[path])}
            for path in work.todo]
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), actors * 4)))
    results = dataset.map_batches(
        _PhotoActor, batch_size=1, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        fn_constructor_kwargs={"settings": actor_settings, "job": work.job, "protected": work.protected,
                               "threads": threads},
        **per_actor,
    )
    for row in results.iter_rows():
        outcome = JobOutcome(Path(os.fsdecode(row["path"])), str(row["status"]), int(row["faces"]),
                             float(row["seconds"]), error=str(row["error"]) or None, fatal=bool(row["fatal"]))
        yield outcome
        if outcome.fatal:
            return  # e.g. no face detector: every other photo would fail the same way


# The private local cluster: this process's side...


def _run_on_private_cluster(work: _Work) -> dict[Path, JobOutcome]:
    """Run ``work`` on a local cluster whose driver is a child process (see the module's docstring)."""
    folder = tempfile.mkdtemp(prefix="hfg-ray-")  # 0700 (Ray makes its own folder inside world-writable)
    command = [sys.executable, "-c", "from hifacegan.batch.ray_engine import _driver_main; _driver_main()"]
    driver = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env=_driver_environment(), start_new_session=True)
    assert driver.stdin is not None and driver.stdout is not None
    finished = False
    try:
        pickle.dump((work, folder, logging.getLogger("hifacegan").getEffectiveLevel()), driver.stdin)
        driver.stdin.flush()  # and kept open: the driver's lifeline
        outcomes: dict[Path, JobOutcome] = {}
        while True:
            try:
                kind, payload = pickle.load(driver.stdout)
            except (EOFError, pickle.UnpicklingError):
                raise RayDriverError("the local Ray cluster's driver stopped before the end of the batch "
                                   f"({_how_it_ended(driver.pid)}); see its messages above") from None
            if kind == "log":
                target = logging.getLogger(payload.name)
                if target.isEnabledFor(payload.levelno):
                    target.handle(payload)
            elif kind == "outcome":
                outcomes[payload.source] = payload
            elif kind == "error":
                raise payload
            else:
                finished = True
                return outcomes
    finally:
        if not finished:
            driver.stdin.close()  # an error, an interrupt: the driver kills its cluster at once
        # After its last result it shuts its cluster down itself. Waited for unreaped, as its PID is the id of
        # its session: taken until reaped, so that no other session can have it when a killed driver's is
        # killed here.
        if not _exited(driver.pid, _SHUTDOWN_SECONDS):
            os.kill(driver.pid, signal.SIGKILL)
        _kill_session(driver.pid)
        driver.wait()
        for stream in (driver.stdin, driver.stdout):
            stream.close()
        shutil.rmtree(folder, ignore_errors=True)


def _exited(pid: int, timeout: float) -> bool:
    """Whether child ``pid`` exits within ``timeout`` seconds; it is left unreaped."""
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _how_it_ended(pid: int) -> str:
    """``exit status N`` or ``killed by SIGNAME`` of child ``pid`` (waited for a little, left unreaped)."""
    ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT) if _exited(pid, 5) else None
    if ended is None:
        return "still running"
    if ended.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
        return f"killed by {signal.Signals(ended.si_status).name}"
    return f"exit status {ended.si_status}"


def _driver_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name != "RAY_ADDRESS"}  # "local" may have won
    return env | LOCAL_CLUSTER_ENV


# ...and the driver's side.


def _driver_main() -> None:
    """The private cluster's driver: reads its work on stdin, writes messages on stdout (pickles)."""
    channel = os.fdopen(os.dup(1), "wb")  # not inheritable: no Ray process holds it open after this one ends
    os.dup2(2, 1)  # anything else printed goes to stderr
    work, folder, level = pickle.load(sys.stdin.buffer)
    lock = threading.Lock()

    def send(kind: str, payload: Any) -> None:
        data = pickle.dumps((kind, payload))
        with lock:
            channel.write(data)
            channel.flush()

    def end(status: int) -> None:
        _kill_session(os.getpid())
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(status)

    threading.Thread(target=_watch_lifeline, args=(sys.stdin.buffer, end), daemon=True).start()
    forward = logging.getLogger("hifacegan")
    forward.setLevel(level)
    forward.propagate = False
    forward.addHandler(_Forward(send))
    ray = None
    try:
        ray = _import_ray()
        ray.init(include_dashboard=False, logging_level=logging.WARNING, configure_logging=False,
                 log_to_driver=False, _temp_dir=os.path.join(folder, "ray"))
        for outcome in _restore(ray, work):
            send("outcome", outcome)
        send("done", None)
    except BaseException as exc:  # noqa: BLE001 - raised again in the parent
        send("error", _portable(exc))
    finally:
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        end(0)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (to be raised again in the parent), else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - whatever fails (a class made on the fly...), its text will do
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _watch_lifeline(stdin: BinaryIO, end: Callable[[int], None]) -> None:
    stdin.read()  # returns at EOF: the parent has ended (or given up on this run)
    end(1)


class _Forward(logging.Handler):
    """Sends each record, formatted, to the parent process, which logs it as its own."""

    def __init__(self, send: Callable[[str, Any], None]) -> None:
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = self.format(record), None  # with its traceback, if any
        record.exc_info = record.exc_text = None
        self.send("log", record)


def _kill_session(session: int) -> None:
    """SIGKILL every process of ``session`` but this one (the processes Ray started for a private cluster)."""
    killed: set[int] = {os.getpid()}
    while True:  # again, in case the raylet started a worker meanwhile
        victims = [pid for pid in _process_ids() if pid not in killed and _session_of(pid) == session]
        if not victims:
            return
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass  # gone already
        killed.update(victims)
        time.sleep(0.05)


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:  # gone, or not ours to ask
        return None


def _process_ids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except FileNotFoundError:  # no /proc (macOS): Ray's own copy of psutil, importable once Ray is
        try:
            return list(importlib.import_module("psutil").pids())
        except ImportError:
            return []
