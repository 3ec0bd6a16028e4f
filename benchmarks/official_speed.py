"""Seconds per 512-px face against the official code, every row timed in the same run (issue 32's targets).

Usage::

    git clone https://github.com/Lotayou/Face-Renovation /tmp/face-renovation      # never copied into this project
    .venv/bin/python benchmarks/official_speed.py --official-src /tmp/face-renovation
    .venv/bin/python benchmarks/official_speed.py --official-src /tmp/face-renovation --skip-width-48 --rounds 5

The reference is the official generator built from its own source (``benchmarks/_official.py``): lipspade at
width 48, the width of its released checkpoints, in its ``test.py`` mode (``netG.train()``, batch 1, fp32), one
forward per face: the network alone, nothing of its data loading, which favours it. Against it:

* the shipped model through :meth:`Restorer.restore_faces` (padding, clipping, the finite check included):
  ``--runtime torch --precision fp32`` (exact PyTorch), ``--runtime onnx`` (ONNX Runtime fp32, the CPU default
  before the compiled package), and **the default** (``Restorer(model)``: on a CPU with native bf16 the
  compiled package) for one face -- the single-photo path -- and for a batch of ``--batch`` faces, per face;
* our lipspade at width 48 with random weights, so the same network as the reference: PyTorch fp32 and the
  compiled bf16 package, one face.

Rows are timed in interleaved rounds (every row once per round); the fastest round counts, the median is
given beside it, and each row's ratio is the reference's fastest over its own. First-run costs are printed
apart: the ONNX export, compiling each package, and loading it afterwards. Caches (ours and Inductor's kernel
cache) go to a temporary folder, so every run measures a first run (``--cache-dir`` keeps ours).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import cpu_features, cpu_name, matmul_rates  # benchmarks/_timing.py

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "realworld" / "cropped_faces"


def load_faces(count: int, size: int = 512) -> list[np.ndarray]:
    """``count`` aligned faces (the shared real-world crops, repeated), or seeded noise where they are absent."""
    from hifacegan.data.transforms import resize_to
    from hifacegan.io import list_images, read_image

    paths = list_images(FACES) if FACES.is_dir() else []
    if not paths:
        rng = np.random.default_rng(0)
        return [rng.random((size, size, 3), dtype=np.float32) for _ in range(count)]
    faces = [resize_to(read_image(p).rgb, size, size) for p in paths]
    return [faces[i % len(faces)] for i in range(count)]


def timed(label: str, make):
    """``make()`` timed, printed as a first-run cost, and returned."""
    start = time.perf_counter()
    value = make()
    print(f"# {label}: {time.perf_counter() - start:.1f} s", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official-src", type=Path, required=True, help="a Face-Renovation checkout")
    parser.add_argument("--model", help="shipped name or checkpoint (default: the shipped default model)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="faces in the batch row (default 8)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-width-48", action="store_true", help="leave out our lipspade-48 rows (saves minutes)")
    parser.add_argument("--cache-dir", type=Path, help="cache folder (default: a new empty one: first runs measured)")
    args = parser.parse_args()

    import torch
    from _official import official_generator  # benchmarks/_official.py

    import hifacegan
    from hifacegan.aoti import FACE, build_package
    from hifacegan.models.pretrained import resolve_model
    from hifacegan.restorer import Restorer

    torch.set_num_threads(args.threads)
    faces = load_faces(args.batch)
    one = torch.from_numpy(np.ascontiguousarray(faces[0].transpose(2, 0, 1)[None]))
    rows: dict[str, tuple[int, object]] = {}  # label -> (faces per call, call)
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        os.environ["HIFACEGAN_CACHE_DIR"] = str(args.cache_dir or Path(folder) / "cache")
        if args.cache_dir is None:  # Inductor's own kernel cache too, or a first run would reuse earlier kernels
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(folder) / "inductor")
        official = official_generator(args.official_src, "lipspade", 48)
        rows["official lipspade-48 fp32 (test.py mode)"] = (1, lambda: official(one))
        model = resolve_model(args.model)
        exact = Restorer(model, "cpu", runtime="torch", precision="fp32", detector=lambda image: [])
        rows["shipped, --runtime torch --precision fp32"] = (1, lambda: exact.restore_faces(faces[:1]))
        onnx = timed("ONNX export of the shipped model, first run",
                     lambda: Restorer(model, "cpu", runtime="onnx", detector=lambda image: []))
        rows["shipped, --runtime onnx (fp32)"] = (1, lambda: onnx.restore_faces(faces[:1]))
        default = timed("Restorer() default, first run (compiles or exports into the cache)",
                        lambda: Restorer(model, "cpu", detector=lambda image: []))
        default = timed("Restorer() default, a later run (loads the cache)",
                        lambda: Restorer(model, "cpu", detector=lambda image: []))
        rows[f"shipped, default ({default.runtime}), 1 face"] = (1, lambda: default.restore_faces(faces[:1]))
        rows[f"shipped, default ({default.runtime}), {args.batch} faces"] = (
            args.batch, lambda: default.restore_faces(faces))
        if not args.skip_width_48:
            ours = hifacegan.prepare_for_inference(hifacegan.create_model("lipspade", ngf=48))
            rows["our lipspade-48 fp32 (same network)"] = (1, lambda: ours(one))
            package = timed("compiling our lipspade-48 (bf16, one 512-px face), first run",
                            lambda: build_package(ours, Path(folder) / "l48.pt2", FACE, 512))
            compiled = timed("loading it, a later run", lambda: torch._inductor.aoti_load_package(str(package)))
            rows["our lipspade-48 aoti bf16 (same network)"] = (1, lambda: compiled(one))
        for _, call in rows.values():  # warm-up: first calls allocate and pick kernels
            call()
        times: dict[str, list[float]] = {label: [] for label in rows}
        for _ in range(args.rounds):
            for label, (count, call) in rows.items():
                start = time.perf_counter()
                call()
                times[label].append((time.perf_counter() - start) / count)
    rates = matmul_rates(repeats=3)
    print(f"# CPU: {cpu_name()} ({cpu_features()}); torch {torch.__version__}; {args.threads} threads; 512-px faces; "
          f"fastest of {args.rounds} interleaved rounds (median); matmul 2048^2 fp32 {rates['fp32']:.0f}, bf16 "
          f"{rates['bf16']:.0f} GFLOP/s; load average {os.getloadavg()[0]:.1f}")
    header = f"{'path':<52}{'s / face':>18}{'vs official':>13}"
    print(header)
    print("-" * len(header))
    reference = min(next(iter(times.values())))
    for label, values in times.items():
        print(f"{label:<52}{f'{min(values):.3f} ({statistics.median(values):.3f})':>18}"
              f"{reference / min(values):>12.2f}x")


if __name__ == "__main__":
    main()
