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
