"""Training throughput on this machine: images/s of one `hifacegan train` step, and the machine's peak.

Usage::

    .venv/bin/python benchmarks/train_speed.py                                  # the default model's config
    .venv/bin/python benchmarks/train_speed.py --config configs/tiny_cpu.yaml --modes gan --steps 5
    .venv/bin/python benchmarks/train_speed.py --set model.ngf=16 --set train.batch_size=8 --threads 2

Each mode builds the real :class:`hifacegan.training.Trainer` from the config (model, losses, perceptual
network, optimisers, EMA) and times ``Trainer.train_step`` on random batches already in memory, so the
figure is the compute of a step without data loading (the trainer's log reports data waits apart).
Modes: ``warmup`` (generator only: pixel L1 and perceptual, as the default model is trained) and ``gan``
(G step with LSGAN and feature matching, then the D step, the paper's recipe).

The last rows are the machine's fp32 peak on the two operations that make up the step (a large matmul
and a 3x3 convolution of trunk-like shape): a step's images/s is bounded by roughly
``conv GFLOP/s / (3 x forward GFLOPs per image)``. That explains why one 2-core machine of this kind
trains at half the speed of another: compare the conv row, not the code. Each precision (``train.amp`` off =
fp32, bf16 = CPU autocast) gets its own Trainer; their steps are interleaved and the fastest counts, and each
row gives its GFLOP/s as a fraction of the same run's fp32 and bf16 matrix-product rates.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from _timing import count_gflops, cpu_name, matmul_rates, median_seconds  # benchmarks/_timing.py

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default_utkface128.yaml"


class RandomPairs(torch.utils.data.Dataset):
    """Stand-in training set: the trainer needs one only for its length (the steps get tensors)."""

    def __init__(self, size: int, length: int = 64) -> None:
        self.size, self.length = size, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image = torch.rand(3, self.size, self.size)
        return {"degraded": image, "target": image}


def machine_peak(repeats: int) -> list[tuple[str, float]]:
    """fp32 GFLOP/s of a 2048^2 matmul and of a 3x3 conv (batch 4, 128 -> 128 channels, 64x64)."""
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    matmul = 2 * 2048**3 / median_seconds(lambda: a @ b, repeats) / 1e9
    conv = torch.nn.Conv2d(128, 128, 3, padding=1)
    x = torch.rand(4, 128, 64, 64)
    with torch.no_grad():
        conv_gflops = 2 * 4 * 128 * 128 * 9 * 64 * 64 / median_seconds(lambda: conv(x), repeats) / 1e9
    return [("matmul 2048^2", matmul), ("conv3x3 128ch 64^2 b4", conv_gflops)]


def build_trainer(config_path: Path, overrides: list[str], mode: str, amp: str, run_dir: str):
    from hifacegan.training import Trainer
    from hifacegan.training.config import load_config

    warmup_steps = "1000000" if mode == "warmup" else "0"
    config = load_config(config_path, [*overrides, f"run_dir={run_dir}", f"train.warmup_steps={warmup_steps}",
                                       "data.val_root=", "train.device=cpu", f"train.amp={amp}"])
    return config, Trainer(config, train_dataset=RandomPairs(config.data.size), val_dataset=False)


def measure(config_path: Path, overrides: list[str], mode: str, precisions: list[str], steps: int) -> list[dict]:
    """Seconds per step for each precision (``off`` = fp32, ``bf16``), timed in interleaved steps, fastest kept."""
    import time

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        trainers = {}
        try:
            for amp in precisions:
                config, trainer = build_trainer(config_path, overrides, mode, amp, f"{folder}/{amp}")
                trainers[amp] = trainer
            size, batch = config.data.size, config.train.batch_size
            degraded, target = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)
            times: dict[str, list[float]] = {amp: [] for amp in precisions}
            for trainer in trainers.values():
                trainer.train_step(degraded, target, stop=False)  # warm-up
            for _ in range(steps):
                for amp, trainer in trainers.items():
                    start = time.perf_counter()
                    trainer.train_step(degraded, target, stop=False)
                    times[amp].append(time.perf_counter() - start)
            probe = torch.rand(1, 3, size, size)
            with torch.no_grad():
                gflops = count_gflops(lambda: trainers[precisions[0]].generator(probe))
            perceptual = trainers[precisions[0]].perceptual_name
        finally:
            for trainer in trainers.values():
                trainer.close()
    m = config.model
    for amp in precisions:
        seconds = min(times[amp])
        rows.append({"model": f"{m.variant}-{m.ngf}", "size": size, "batch": batch, "mode": mode,
                     "precision": "fp32" if amp == "off" else amp, "perceptual": perceptual, "seconds": seconds,
                     "median": statistics.median(times[amp]), "images_per_s": batch / seconds,
                     "g_forward_gflops": gflops})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="training config (default: %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, as for hifacegan train (repeatable)")
    parser.add_argument("--modes", default="warmup,gan", help="comma-separated: warmup, gan (default: %(default)s)")
    parser.add_argument("--precisions", default="off,bf16",
                        help="comma-separated train.amp values: off (fp32), bf16 (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per mode, after one untimed (default: 8)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    precisions = [p.strip() for p in args.precisions.split(",")]

    print(f"# CPU: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads; fastest of "
          f"{args.steps} interleaved steps (median in brackets); train GFLOP/s = 3 x G forward GFLOPs x batch / s")
    header = (f"{'model':<14} {'size':>5} {'batch':>5} {'mode':<7} {'prec':<5} {'perceptual':<13} {'s/step':>15} "
              f"{'img/s':>6} {'GFLOP/s':>8} {'/fp32 mm':>8} {'/bf16 mm':>8} {'speed-up':>8}")
    print(header)
    print("-" * len(header))
    for mode in args.modes.split(","):
        rows = measure(args.config, args.overrides, mode.strip(), precisions, args.steps)
        rates = matmul_rates(repeats=3)
        for r in rows:
            rate = 3 * r["g_forward_gflops"] * r["batch"] / r["seconds"]
            timing = f"{r['seconds']:.2f} ({r['median']:.2f})"
            print(f"{r['model']:<14} {r['size']:>5} {r['batch']:>5} {r['mode']:<7} {r['precision']:<5} "
                  f"{r['perceptual']:<13} {timing:>15} {r['images_per_s']:>6.2f} {rate:>8.1f} "
                  f"{rate / rates['fp32']:>8.2f} {rate / rates['bf16']:>8.2f} "
                  f"{rows[0]['seconds'] / r['seconds']:>7.2f}x", flush=True)
        print(f"# matmul 2048^2 after this mode: fp32 {rates['fp32']:.0f} GFLOP/s, bf16 {rates['bf16']:.0f} GFLOP/s")
    for name, gflops in machine_peak(max(3, args.steps)):
        print(f"machine peak, {name}: {gflops:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
