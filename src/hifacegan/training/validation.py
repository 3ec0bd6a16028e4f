"""Validation while training: PSNR/SSIM of the generator on held-out faces, and a sample grid.

The scores come from :mod:`hifacegan.metrics` (the implementation ``hifacegan evaluate`` uses), on
each image as ``(H, W, 3)`` float in ``[0, 1]``; there is no second copy of the formulas here. The
previous in-trainer torch versions agreed with them to within 1e-6 dB and 2e-6 SSIM (float32 round-off).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from hifacegan.metrics import psnr, ssim
from hifacegan.pixels import tensor_to_image
from hifacegan.training.loader import leave_stop_signals_to_main

__all__ = ["ValidationScores", "image_grid", "score_generator"]

#: Validation batches hold at most this many images (memory), whatever the training batch size.
MAX_VAL_BATCH = 16
#: Faces shown in the sample grid.
GRID_FACES = 4


@dataclass
class ValidationScores:
    """Summed scores over a validation set (divide by ``count`` for means) and the first batch's grid rows."""

    count: int = 0
    sums: dict[str, float] = field(default_factory=lambda: {"psnr": 0.0, "ssim": 0.0, "input_psnr": 0.0,
                                                            "input_ssim": 0.0})
    grid_rows: list[torch.Tensor] | None = None

    def means(self) -> dict[str, float]:
        return {key: value / self.count for key, value in self.sums.items()} if self.count else {}


def _add_pair_scores(sums: dict[str, float], prefix: str, outputs: torch.Tensor, targets: torch.Tensor) -> None:
    for output, target in zip(tensor_to_image(outputs), tensor_to_image(targets)):
        sums[f"{prefix}psnr"] += psnr(output, target)
        sums[f"{prefix}ssim"] += ssim(output, target)


@torch.no_grad()
def score_generator(model: nn.Module, dataset: Dataset, *, batch_size: int, num_workers: int,
                    to_device: Callable[[dict[str, Any]], tuple[torch.Tensor, torch.Tensor]],
                    precision: str, with_input: bool) -> ValidationScores:
    """PSNR/SSIM sums of ``model`` on ``dataset`` (and of the degraded input itself when ``with_input``).

    The model runs in eval mode (spectral norm uses its stored vectors and does not update them) and is
    put back in its previous mode afterwards. It restores through the package's one restore path
    (:func:`hifacegan.inference.restore_tensor`: pads to x32, clips to [0, 1]) in ``precision``, the
    trainer's own arithmetic.
    """
    from hifacegan.inference import restore_tensor

    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=min(batch_size, MAX_VAL_BATCH), shuffle=False, num_workers=num_workers,
                        worker_init_fn=leave_stop_signals_to_main)
    scores = ValidationScores()
    try:
        for batch in loader:
            degraded, target = to_device(batch)
            output = restore_tensor(model, degraded, batch_size=len(degraded), precision=precision).float()
            _add_pair_scores(scores.sums, "", output, target)
            if with_input:
                _add_pair_scores(scores.sums, "input_", degraded, target)
            if scores.grid_rows is None:
                n = min(GRID_FACES, len(degraded))
                scores.grid_rows = [degraded[:n], output[:n], target[:n]]
            scores.count += len(degraded)
    finally:
        model.train(was_training)
    return scores


def image_grid(rows: list[torch.Tensor]) -> torch.Tensor:
    """``rows`` of ``(N, 3, H, W)`` tensors (e.g. degraded, output, target) -> one ``(3, N*H, len*W)`` grid."""
    columns = [r.float().clamp(0, 1).cpu() for r in rows]
    lines = [torch.cat([c[i] for c in columns], dim=2) for i in range(columns[0].shape[0])]
    return torch.cat(lines, dim=1)
