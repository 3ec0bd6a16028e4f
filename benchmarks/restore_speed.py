"""End-to-end seconds per photo of ``Restorer.enhance`` (detect, align, restore, paste) per precision and runtime.

Usage::

    .venv/bin/python benchmarks/restore_speed.py                        # ../shared/data/realworld/whole_imgs
    .venv/bin/python benchmarks/restore_speed.py photos/ --model lipspade_48.pth --modes torch-fp32 torch-auto
    .venv/bin/python benchmarks/restore_speed.py --modes torch-fp32 onnx-fp32 auto      # the default against both

Modes: ``torch-fp32`` (the path before automatic precision; ``restore --runtime torch --precision fp32``),
``torch-auto`` (what ``hifacegan restore`` does with ``--runtime torch``), ``torch-bf16``, ``onnx-fp32`` (the model
exported once, outside the clock: ``--runtime onnx``), ``aoti-bf16`` (``--runtime aoti``) and ``auto``: what
``hifacegan restore`` and ``Restorer()`` run by default on this machine (the compiled package where bf16 is
native, else ONNX Runtime fp32). ``auto`` and ``aoti-bf16`` start from an empty cache folder (``--cache-dir``
to keep one): the Restorer is built twice, and both times are reported -- the first run's (export or
compile) and a later run's (loading the cached file). ``+compile`` after a torch mode (``torch-bf16+compile``:
``restore --runtime torch --compile``) compiles on one blank face while the Restorer is built, and its seconds
are reported with the load. One Restorer per mode is built first (model and detector loaded once; load seconds reported apart); then every photo goes through
every mode in interleaved rounds, and the fastest round counts, so a busy moment on a shared machine hits
all modes alike. Reading and writing files are left out (the CLI's part, the same for every mode).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import cpu_features, cpu_name  # benchmarks/_timing.py

DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "realworld" / "whole_imgs"


def build(mode: str, model: Path | None, folder: str, detector, onnx_file: Path | None):
    from hifacegan.restorer import Restorer

    if mode == "auto":  # the defaults of restore and Restorer(): runtime and precision chosen for this machine
        return _first_and_later(lambda: Restorer(model, "cpu", detector=detector, runtime="auto"))
    mode, _, option = mode.partition("+")
    runtime, precision = mode.split("-")
    if runtime == "aoti":
        return _first_and_later(lambda: Restorer(model, "cpu", detector=detector, precision=precision,
                                                 runtime="aoti"))
    if runtime == "onnx":
        from hifacegan import load_model
        from hifacegan.models.pretrained import resolve_model
        from hifacegan.onnx_runtime import export_onnx

        path = onnx_file or export_onnx(load_model(resolve_model(model), device="cpu"), Path(folder) / "model.onnx")
        start = time.perf_counter()
        return Restorer(path, "cpu", detector=detector, precision=precision), time.perf_counter() - start
    start = time.perf_counter()
    restorer = Restorer(model, "cpu", detector=detector, precision=precision, runtime=runtime,
                        compile=option == "compile")
    if restorer.compiled:  # compile now, on one blank face, rather than inside the first timed photo
        restorer.restore_faces([np.zeros((restorer.face_size, restorer.face_size, 3), np.float32)])
    return restorer, time.perf_counter() - start


def _first_and_later(make):
    """Build a Restorer on the cache as it is (a first run if it is empty), then again (a later run, loading the
    cache); print both times and return the second Restorer with its build seconds."""
    start = time.perf_counter()
    first = make()
    first_seconds = time.perf_counter() - start
    start = time.perf_counter()
    restorer = make()
    later_seconds = time.perf_counter() - start
    print(f"# runtime {first.runtime}: Restorer built in {first_seconds:.1f} s on the first run (cache "
          f"{os.environ.get('HIFACEGAN_CACHE_DIR', '~/.cache/hifacegan')}), {later_seconds:.2f} s on a later run")
    return restorer, later_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="?", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--model", help="shipped name or checkpoint (default: the shipped default model)")
    parser.add_argument("--modes", nargs="+", default=["torch-fp32", "torch-auto", "onnx-fp32"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--onnx", type=Path, help="the model as exported by hifacegan export-onnx (else exported here)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path,
                        help="cache folder for modes auto and aoti-bf16 (default: a new empty one, so the first run's "
                        "export or compile is measured)")
    args = parser.parse_args()

    import torch

    from hifacegan.faces.detect import default_detector
    from hifacegan.inference import autocast_dtype
    from hifacegan.io import list_images, read_image

    torch.set_num_threads(args.threads)
    photos = [(p.name, read_image(p).rgb) for p in list_images(args.photos)]
    detector = default_detector()  # one detector for every mode: its load is not part of the comparison
    auto = autocast_dtype("auto", "cpu")
    print(f"# CPU: {cpu_name()} ({cpu_features()}); {args.threads} threads; auto = {auto or 'fp32'}; fastest of {args.rounds} "
          "interleaved rounds (median in brackets); speed-up over the first mode")
    times: dict[tuple[str, str], list[float]] = {}
    faces: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        os.environ["HIFACEGAN_CACHE_DIR"] = str(args.cache_dir or Path(folder) / "cache")
        if args.cache_dir is None:  # Inductor's own kernel cache too, or a first run would reuse earlier kernels
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(folder) / "inductor")
        restorers = {}
        for mode in args.modes:
            restorers[mode], load_seconds = build(mode, args.model, folder, detector, args.onnx)
            print(f"# {mode}: Restorer built in {load_seconds:.2f} s (model {restorers[mode].face_size} px faces)")
        header = f"{'photo':<22}{'size':>11}{'faces':>6}  {'mode':<12}{'s/photo':>16}{'speed-up':>9}"
        print(header)
        print("-" * len(header), flush=True)
        totals = dict.fromkeys(args.modes, 0.0)
        for name, rgb in photos:  # photo by photo, so a long run shows its rows as it goes
            for restorer in restorers.values():  # warm-up: first calls allocate and pick kernels
                faces[name] = len(restorer.enhance(rgb).restored_faces)
            for _ in range(args.rounds):
                for mode, restorer in restorers.items():
                    start = time.perf_counter()
                    restorer.enhance(rgb)
                    times.setdefault((name, mode), []).append(time.perf_counter() - start)
            reference = min(times[(name, args.modes[0])])
            for mode in args.modes:
                best = min(times[(name, mode)])
                totals[mode] += best
                timing = f"{best:.3f} ({statistics.median(times[(name, mode)]):.3f})"
                size = f"{rgb.shape[1]}x{rgb.shape[0]}"
                print(f"{name[:21]:<22}{size:>11}{faces[name]:>6}  {mode:<12}{timing:>16}{reference / best:>8.2f}x",
                      flush=True)
    for mode in args.modes:
        print(f"{'all photos':<22}{'':>11}{sum(faces.values()):>6}  {mode:<12}{totals[mode]:>16.3f}"
              f"{totals[args.modes[0]] / totals[mode]:>8.2f}x")
    print(f"# load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
