"""Generator forward speed on this machine: seconds per forward, peak RSS, GFLOPs, GFLOP/s.

Usage::

    .venv/bin/python benchmarks/forward_speed.py                      # lipspade-48 and hifacegan-64, 128/256/512
    .venv/bin/python benchmarks/forward_speed.py --models lipspade:48 --sizes 512 --repeats 5 --threads 2
    .venv/bin/python benchmarks/forward_speed.py --device cuda --dtype bfloat16

Each (model, size) runs in a fresh subprocess so that peak RSS belongs to that configuration alone.
FLOPs are counted with ``torch.utils.flop_counter`` (multiply-add = 2 FLOPs) on one forward.
Weights are random (speed does not depend on their values); the model is prepared exactly as
``hifacegan.load_model`` prepares it (spectral norm folded, eval mode).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

from _timing import count_gflops, median_seconds  # benchmarks/_timing.py


def measure(variant: str, ngf: int, size: int, repeats: int, threads: int, device: str, dtype: str,
            channels_last: bool) -> dict:
    import torch

    import hifacegan

    torch.set_num_threads(threads)
    model = hifacegan.prepare_for_inference(hifacegan.create_model(variant, ngf=ngf)).to(device)
    x = torch.rand(1, 3, size, size, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast(device_type=device, dtype=getattr(torch, dtype), enabled=dtype != "float32")
    with torch.no_grad(), autocast:
        gflops = count_gflops(lambda: model(x))  # also the warm-up forward
        seconds = median_seconds(lambda: model(x), repeats, warmup=False,
                                 sync=torch.cuda.synchronize if device == "cuda" else None)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    return {"model": f"{variant}-{ngf}", "size": size, "seconds": seconds, "peak_mb": peak_mb,
            "gflops": gflops, "gflops_per_s": gflops / seconds, "channels_last": channels_last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["lipspade:48", "hifacegan:64"], help="VARIANT:NGF ...")
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256, 512])
    parser.add_argument("--repeats", type=int, default=5, help="timed forwards after one warm-up (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration, print JSON
    args = parser.parse_args()
    if args.one:
        variant, ngf, size = args.one.split(":")
        print(json.dumps(measure(variant, int(ngf), int(size), args.repeats, args.threads, args.device, args.dtype,
                                 args.channels_last)))
        return
    header = f"{'model':<14}{'size':>6}{'s/forward':>11}{'peak MB':>10}{'GFLOPs':>9}{'GFLOP/s':>9}"
    print(f"# device={args.device} dtype={args.dtype} threads={args.threads} channels_last={args.channels_last}")
    print(header)
    print("-" * len(header))
    for spec in args.models:
        variant, ngf = spec.split(":")
        for size in args.sizes:
            cmd = [sys.executable, __file__, "--one", f"{variant}:{ngf}:{size}", "--repeats", str(args.repeats),
                   "--threads", str(args.threads), "--device", args.device, "--dtype", args.dtype]
            if args.channels_last:
                cmd.append("--channels-last")
            row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            print(f"{row['model']:<14}{size:>6}{row['seconds']:>11.3f}{row['peak_mb']:>10.0f}{row['gflops']:>9.1f}"
                  f"{row['gflops_per_s']:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
