"""Generator forward speed per precision and runtime, as fractions of the same run's matrix-product rates.

Usage::

    .venv/bin/python benchmarks/forward_speed.py                                   # lipspade-48, 128 and 512 px
    .venv/bin/python benchmarks/forward_speed.py --models lipspade:24 --sizes 128 --modes torch-fp32 torch-bf16
    .venv/bin/python benchmarks/forward_speed.py --modes torch-fp32 torch-bf16+cl onnx-fp32 torch-bf16+compile
    .venv/bin/python benchmarks/forward_speed.py --device cuda --modes torch-fp32 torch-bf16 torch-fp16
    .venv/bin/python benchmarks/forward_speed.py --sizes 512 --official-src /tmp/face-renovation \
        --modes official-fp32 torch-fp32 onnx-fp32 torch-bf16 aoti-bf16

A mode is ``RUNTIME-PRECISION`` (``torch-fp32``, ``torch-bf16``, ``torch-fp16``, ``onnx-fp32``) with optional
``+cl`` (channels_last) and ``+compile`` (``torch.compile``); ``aoti-bf16`` is the compiled package of
``hifacegan.aoti`` (the CPU default where bf16 is native), built outside the clock for one face of the timed
size (its build seconds are printed); ``official-fp32`` is the official generator of the same variant and
width built from its own source (``--official-src``, a Face-Renovation checkout; see ``benchmarks/_official.py``)
in its test-time mode. Each (model, size) runs in a fresh subprocess
that times its modes in interleaved rounds and reports the fastest (the median beside it), then measures
the CPU's fp32 and bf16 rates on a 2048^2 matrix product; every row gives its GFLOP/s as a fraction of
both, and its speed-up over the first mode -- ratios from one run, which compare across machines where
seconds do not. FLOPs are counted with ``torch.utils.flop_counter`` on one fp32 forward (multiply-add = 2).
Weights are random (speed does not depend on them), prepared as ``hifacegan.load_model`` prepares them.
Time one configuration per ``quiet.sh`` call on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _timing import count_gflops, cpu_features, cpu_name, matmul_rates  # benchmarks/_timing.py


def build_runner(model, mode: str, device: str, threads: int, folder: str, size: int = 512,
                 official_src: str | None = None):
    """``(forward(x), x_transform)`` for ``mode`` on a prepared fp32 generator; one face of ``size`` px for aoti."""
    import torch

    runtime, rest = mode.split("-", 1)
    precision, *levers = rest.split("+")
    if runtime == "onnx":
        from hifacegan.onnx_runtime import export_onnx, load_onnx

        generator = load_onnx(export_onnx(model, f"{folder}/model.onnx"), threads=threads)
        return generator, lambda x: x
    if runtime == "aoti":
        from hifacegan.aoti import FACE, build_package

        path = build_package(model, f"{folder}/model.pt2", FACE, size)
        return torch._inductor.aoti_load_package(str(path)), lambda x: x
    if runtime == "official":
        from _official import official_generator  # benchmarks/_official.py

        if official_src is None:
            raise ValueError("mode official-fp32 needs --official-src (a Face-Renovation checkout)")
        variant, ngf = model.model_card["variant"], model.model_card["ngf"]
        return official_generator(official_src, variant, ngf).to(device), lambda x: x
    if runtime != "torch":
        raise ValueError(f"unknown runtime in mode {mode!r}")
    convert = (lambda x: x.contiguous(memory_format=torch.channels_last)) if "cl" in levers else (lambda x: x)
    if "cl" in levers:
        model = model.to(memory_format=torch.channels_last)
    network = torch.compile(model) if "compile" in levers else model
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]

    def forward(x):
        with torch.autocast(device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None):
            return network(x)

    return forward, convert


def measure(variant: str, ngf: int, size: int, modes: list[str], repeats: int, threads: int, device: str,
            official_src: str | None = None) -> dict:
    """Seconds per forward of every mode, timed in interleaved rounds (mode A, B, C, A, B, C, ...).

    Interleaving and reporting the fastest round are what make ratios hold on a machine shared with other
    work: a busy moment slows whichever mode it hits, and the minimum is the least disturbed forward.
    """
    import torch

    import hifacegan

    torch.set_num_threads(threads)
    model = hifacegan.prepare_for_inference(hifacegan.create_model(variant, ngf=ngf)).to(device)
    model.model_card = {"variant": variant, "ngf": ngf, "size": size}
    x = torch.rand(1, 3, size, size, device=device)
    with torch.no_grad():
        gflops = count_gflops(lambda: model(x))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        runners, setup = {}, {}
        for mode in modes:
            start = time.perf_counter()
            forward, convert = build_runner(model, mode, device, threads, folder + f"/{len(runners)}", size,
                                            official_src)
            setup[mode] = time.perf_counter() - start  # the first-run cost: export, compile, load
            runners[mode] = (forward, convert(x))
            forward(runners[mode][1])  # warm-up (and compilation) outside the clock
        for _ in range(repeats):
            for mode, (forward, xm) in runners.items():
                sync()
                start = time.perf_counter()
                forward(xm)
                sync()
                times[mode].append(time.perf_counter() - start)
    rates = matmul_rates(repeats=3) if device == "cpu" else {"fp32": float("nan"), "bf16": float("nan")}
    return {"model": f"{variant}-{ngf}", "size": size, "gflops": gflops, "matmul": rates,
            "rows": [{"mode": m, "seconds": min(t), "median": statistics.median(t), "setup": setup[m]}
                     for m, t in times.items()]}


def _subprocess_json(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["lipspade:48"], help="VARIANT:NGF ...")
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--modes", nargs="+", default=["torch-fp32", "torch-bf16", "onnx-fp32"],
                        help="RUNTIME-PRECISION[+cl][+compile] ...; the first is the speed-up reference")
    parser.add_argument("--repeats", type=int, default=3, help="timed forwards after one warm-up (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--official-src", help="a Face-Renovation checkout, for mode official-fp32")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one model and size, print JSON
    args = parser.parse_args()
    if args.one:
        variant, ngf, size = args.one.split(":")
        print(json.dumps(measure(variant, int(ngf), int(size), args.modes, args.repeats, args.threads, args.device,
                                 args.official_src)))
        return
    print(f"# CPU: {cpu_name()} ({cpu_features()}); device={args.device}; {args.threads} threads; fastest of "
          f"{args.repeats} interleaved rounds (median in brackets); matmul = same-process 2048^2 rate; speed-up over "
          "the first mode; setup = export/compile/load seconds, once (a first run)")
    header = (f"{'model':<14}{'size':>6}  {'mode':<20}{'s/forward':>18}{'GFLOPs':>8}{'GFLOP/s':>9}"
              f"{'/fp32 mm':>9}{'/bf16 mm':>9}{'speed-up':>9}{'setup s':>9}")
    print(header)
    print("-" * len(header))
    for spec in args.models:
        variant, ngf = spec.split(":")
        for size in args.sizes:
            official = ["--official-src", args.official_src] if args.official_src else []
            result = _subprocess_json(["--one", f"{variant}:{ngf}:{size}", "--modes", *args.modes, "--repeats",
                                       str(args.repeats), "--threads", str(args.threads), "--device", args.device,
                                       *official])
            mm = result["matmul"]
            reference = result["rows"][0]["seconds"]
            for row in result["rows"]:
                rate = result["gflops"] / row["seconds"]
                timing = f"{row['seconds']:.3f} ({row['median']:.3f})"
                print(f"{result['model']:<14}{size:>6}  {row['mode']:<20}{timing:>18}{result['gflops']:>8.1f}"
                      f"{rate:>9.1f}{rate / mm['fp32']:>9.2f}{rate / mm['bf16']:>9.2f}"
                      f"{reference / row['seconds']:>8.2f}x{row['setup']:>9.1f}", flush=True)
            print(f"{'':<14}{'':>6}  matmul 2048^2: fp32 {mm['fp32']:.0f} GFLOP/s, bf16 {mm['bf16']:.0f} GFLOP/s "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
