"""Timing and FLOP counting shared by the benchmark scripts (imported from their own folder)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int, warmup: bool = True,
                   sync: Callable[[], None] | None = None) -> float:
    """Median wall time of ``repeats`` calls of ``fn``.

    Args:
        warmup: make one untimed call first (kernel selection, allocation).
        sync: called before starting and after stopping the clock (``torch.cuda.synchronize`` on a
            GPU, whose kernels run asynchronously).
    """
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        if sync is not None:
            sync()
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_gflops(fn: Callable[[], object]) -> float:
    """GFLOPs of one call of ``fn`` by ``torch.utils.flop_counter`` (multiply-add = 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for the header of every table: figures are per machine."""
    import platform
    from pathlib import Path

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_features() -> str:
    """The CPU flags the speed of each path hangs on, e.g. ``avx512_bf16 yes, amx_bf16 no, avx512_vnni yes``.

    Native bf16 (AVX512-BF16, AMX) decides whether the compiled bf16 path pays; VNNI whether int8 can.
    """
    from hifacegan.inference import cpu_flags

    flags = cpu_flags()
    return ", ".join(f"{name} {'yes' if name in flags else 'no'}"
                     for name in ("avx512_bf16", "amx_bf16", "avx512_vnni", "amx_int8"))


def matmul_rates(repeats: int = 5, n: int = 2048) -> dict[str, float]:
    """GFLOP/s of an ``n x n`` matrix product in fp32 and in bf16 on this CPU, now.

    The yardstick of the speed tables: a network's GFLOP/s as a fraction of these, measured in the same
    run, compares across machines and across a busy or a quiet moment, where seconds do not.
    """
    import torch

    rates = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.rand(n, n).to(dtype), torch.rand(n, n).to(dtype)
        rates[name] = 2 * n**3 / median_seconds(lambda a=a, b=b: a @ b, repeats) / 1e9
    return rates
