"""What a run leaves to read while it trains: the JSON-lines metrics log and TensorBoard; and how it stops.

:class:`RunLog` writes every scalar record to ``<run_dir>/metrics.jsonl`` (always) and to TensorBoard
(when the package is installed and ``train.tensorboard`` is on), on rank 0 only.
:func:`install_stop_handlers` turns the first SIGINT/SIGTERM into a request to stop after the current
step with a checkpoint (the loop polls it), and lets a second signal act as usual.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hifacegan.training import checkpoint as ckpt

__all__ = ["RunLog", "install_stop_handlers"]

logger = logging.getLogger(__name__)


class RunLog:
    """The metrics log of one process: writes only on the main process.

    Args:
        run_dir: the run folder.
        is_main: this process writes (rank 0).
        tensorboard: also write TensorBoard events under ``<run_dir>/tensorboard``.
    """

    def __init__(self, run_dir: Path, is_main: bool, tensorboard: bool) -> None:
        self.run_dir = run_dir
        self.is_main = is_main
        self._writer: Any = None
        if is_main and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.info("TensorBoard logging off: the 'tensorboard' package is not installed "
                            "(pip install tensorboard)")
            else:
                self._writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def scalars(self, kind: str, step: int, values: dict[str, float]) -> None:
        """One record: a line of ``metrics.jsonl`` and a TensorBoard scalar per value (``kind/key``)."""
        if not self.is_main:
            return
        ckpt.append_jsonl(self.run_dir / "metrics.jsonl", {"kind": kind, "step": step, **values})
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(f"{kind}/{key}", value, step)

    def image(self, tag: str, image: torch.Tensor, step: int) -> None:
        """A ``(3, H, W)`` image in TensorBoard (nothing without it)."""
        if self._writer is not None:
            self._writer.add_image(tag, image, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def install_stop_handlers(request_stop: Callable[[], None]) -> Callable[[], None]:
    """Call ``request_stop`` on the first SIGINT/SIGTERM; returns a function restoring the previous handlers.

    Outside the main thread (where signals cannot be handled) nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, _frame: Any) -> None:
        logger.warning("received %s: finishing this step, then saving a checkpoint (again to abort)",
                       signal.Signals(signum).name)
        request_stop()
        signal.signal(signum, previous[signal.Signals(signum)])  # a second signal acts as usual

    for s in previous:
        signal.signal(s, handler)

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore
