"""A generator run through ``torch.compile``: the fastest PyTorch path on CPUs with native bf16.

Measured on the project's 2-core Xeon (AMX), the shipped model at 512 px, bf16 autocast, one face per
call (``benchmarks/forward_speed.py --modes torch-bf16 torch-bf16+compile onnx-fp32``): 0.30 s per face
compiled against 1.03 s eager and 1.02 s for ONNX Runtime fp32. Inductor fuses the normalisation and
element-wise work around each convolution, which dominates the eager bf16 time. In fp32 compiling
gained nothing (1.03 s either way), so :class:`~hifacegan.restorer.Restorer` compiles only under bf16.

The cost is the first call: about a minute to compile a face size on two cores, about 5 s in later
processes, which reuse Inductor's on-disk cache (``$TORCHINDUCTOR_CACHE_DIR``, by default under the
temporary folder). Faces go through one at a time, so a photo with a new number of faces never
recompiles. Where compiling fails (no C++ compiler, an unsupported platform), the eager model runs
instead, after one warning: slower, never wrong.

On the CPU the default is now the same compilation done once and kept: :mod:`hifacegan.aoti` compiles a model
file ahead of time into the cache and later processes load it in about a second. This class remains for
``runtime="torch"`` with ``compile=True``: GPUs, modules built in Python, experiments.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

import torch
from torch import nn

__all__ = ["CompiledGenerator", "cpu_compiler_available"]

logger = logging.getLogger(__name__)


def cpu_compiler_available() -> bool:
    """Whether Inductor finds a C++ compiler for CPU kernels (``$CXX``, else ``g++``, ``c++`` or ``clang++``)."""
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "c++", "clang++"]
    return any(shutil.which(name) for name in names)


class CompiledGenerator(nn.Module):
    """``generator`` compiled with ``torch.compile(dynamic=False)``, called one image at a time.

    Called like the generator (``(N, 3, H, W)`` in, ``(N, 3, H, W)`` out) and carrying its ``model_card``;
    ``eager`` is the original module, which takes over if compilation fails.
    """

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.eager = generator
        self.model_card: dict[str, Any] | None = getattr(generator, "model_card", None)
        self.compiled: Any = torch.compile(generator, dynamic=False)
        self.failed = False

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.failed:
            return self.eager(images)
        try:
            return torch.cat([self.compiled(images[i:i + 1]) for i in range(images.shape[0])])
        except Exception as error:  # noqa: BLE001  Dynamo/Inductor raise many types; eager is still correct
            # A genuine error of the model is raised again by the eager call below.
            self.failed = True
            logger.warning("torch.compile failed, running the model uncompiled (slower): %s: %s",
                           type(error).__name__, str(error).strip().splitlines()[0][:300] if str(error).strip() else "")
            return self.eager(images)
