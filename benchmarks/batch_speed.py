"""Batch throughput of ``hifacegan restore`` on this machine: 1 process, 2 shards, Ray with 2 actors.

Usage::

    ~/hifacegan-runs/quiet.sh .venv/bin/python benchmarks/batch_speed.py --count 9
    .venv/bin/python benchmarks/batch_speed.py --photos my_scans/ --count 30 --modes local shards

Each mode restores the same ``--count`` photos (the real photos of ``--photos`` repeated under new names)
with the shipped default model, from a fresh ``hifacegan restore`` process, into its own folder:

* ``local``: one process, torch's default threads (one per core);
* ``shards``: two processes at once, ``--shard 0/2`` and ``--shard 1/2``, one thread each;
* ``ray``: ``--engine ray --ray-actors 2`` on a local Ray cluster it starts (one CPU, one thread per actor).

Wall time includes start-up (imports, model load, and for Ray the cluster); ``worker s/photo`` is the mean
time a worker spent per photo (from the manifest), the figure to size a fleet with. Peak RSS is per worker
process (``wait4`` for our children; ``VmHWM`` of the Ray actors, whose pids the manifest names).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _timing import cpu_name  # benchmarks/_timing.py

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "realworld" / "whole_imgs"


def _records(out: Path) -> list[dict]:
    from hifacegan.batch.manifest import read_manifest

    return read_manifest(out / "manifest.jsonl")


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


class _ActorMemoryWatch(threading.Thread):
    """Polls the peak RSS of the processes that write the manifest (Ray actors are not our children)."""

    def __init__(self, out: Path) -> None:
        super().__init__(daemon=True)
        self.out = out
        self.peaks: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for pid in {r["pid"] for r in _records(self.out)}:
                peak = _vm_hwm_mb(pid)
                if peak is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), peak)


def _start(inputs: Path, out: Path, extra: list[str], threads: int | None) -> subprocess.Popen:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-m", "hifacegan", "restore", str(inputs), "-o", str(out), "--device", "cpu", *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen) -> float:
    """Wait for ``proc``; its peak RSS in MB."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"restore exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024


def run_mode(mode: str, inputs: Path, work: Path, count: int) -> dict:
    out = work / mode
    started = time.perf_counter()
    if mode == "local":
        rss = [_finish(_start(inputs, out, [], None))]
        workers, threads, driver = 1, os.cpu_count() or 1, None
    elif mode == "shards":
        procs = [_start(inputs, out, ["--shard", f"{k}/2"], 1) for k in range(2)]
        rss = [_finish(proc) for proc in procs]
        workers, threads, driver = 2, 1, None
    else:
        watch = _ActorMemoryWatch(out)
        watch.start()
        driver = _finish(_start(inputs, out, ["--engine", "ray", "--ray-actors", "2"], None))
        watch.stop.set()
        watch.join()
        rss = list(watch.peaks.values())
        workers, threads = 2, 1
    wall = time.perf_counter() - started
    records = [r for r in _records(out) if r["status"] == "ok"]
    if len(records) != count:
        raise RuntimeError(f"{mode}: {len(records)} of {count} photos restored")
    worker_seconds = sum(r["seconds"] for r in records) / count
    return {"mode": mode, "workers": workers, "threads": threads, "photos": count, "wall_s": wall,
            "photos_per_s": count / wall, "worker_s_per_photo": worker_seconds,
            "busy_photos_per_s": workers / worker_seconds, "peak_rss_mb": max(rss) if rss else float("nan"),
            "driver_rss_mb": driver, "faces": sum(r["faces"] for r in records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of real photos to repeat")
    parser.add_argument("--count", type=int, default=9, help="photos per mode (default 9)")
    parser.add_argument("--modes", nargs="+", choices=("local", "shards", "ray"), default=["local", "shards", "ray"])
    parser.add_argument("--repeats", type=int, default=2,
                        help="rounds over the modes, interleaved; the fastest round of each mode is shown (the "
                        "machine is shared: the slower rounds measure the neighbours)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    sources = sorted(p for p in args.photos.iterdir() if p.is_file())
    if not sources:
        sys.exit(f"no photos in {args.photos}")
    with tempfile.TemporaryDirectory(prefix="batch_speed_") as tmp:
        work = Path(tmp)
        inputs = work / "inputs"
        inputs.mkdir()
        for i in range(args.count):
            source = sources[i % len(sources)]
            shutil.copyfile(source, inputs / f"{i:03d}_{source.name}")
        rounds = [[run_mode(mode, inputs, work / f"round{r}", args.count) for mode in args.modes]
                  for r in range(args.repeats)]
        rows = [min((rnd[m] for rnd in rounds), key=lambda row: row["wall_s"]) for m in range(len(args.modes))]
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; {args.count} photos from {args.photos}; shipped default "
          f"model; fastest of {args.repeats} round(s); walls of every round: "
          + "; ".join(f"{m} " + "/".join(f"{rnd[i]['wall_s']:.1f}" for rnd in rounds) for i, m in enumerate(args.modes)))
    print("| mode | workers x threads | wall s | photos/s | worker s/photo | busy photos/s | peak RSS MB/worker |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        driver = f" (driver {row['driver_rss_mb']:.0f})" if row["driver_rss_mb"] else ""
        print(f"| {row['mode']} | {row['workers']} x {row['threads']} | {row['wall_s']:.1f} | {row['photos_per_s']:.3f} "
              f"| {row['worker_s_per_photo']:.2f} | {row['busy_photos_per_s']:.3f} | {row['peak_rss_mb']:.0f}{driver} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
