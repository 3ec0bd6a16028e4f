"""The realness/fidelity knob: a weighted mix of the renovation model and the fidelity model.

CodeFormer's ``w`` trades realness for fidelity inside one network. Here the two shipped models
already sit at the two ends: ``renovation`` (GAN, 512 px: sharp, realistic detail) and ``fidelity``
(L1 + perceptual, 128 px: closest to the input, softer). Mixing their outputs pixel-wise is the cheap
version of that knob: the fidelity model costs about 1/16 of the renovation model (a quarter of the
side), so ``--weight`` adds some 6% to a face's time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FidelityBlend"]


class FidelityBlend(nn.Module):
    """``(1 - weight) * renovation(x) + weight * fidelity(x at its training size)``.

    The fidelity model restores faces framed at its own training size (its card's ``size``, e.g. 128),
    so each aligned crop, whatever its side, is resized to that size (area averaging when reducing),
    restored there and brought back to the crop's size (bicubic) before mixing.

    Args:
        renovation: generator restoring at the face size of the crops (its card is this module's card).
        fidelity: generator trained at ``fidelity_size``.
        weight: fidelity share in ``[0, 1]`` (0: renovation only, 1: fidelity only).
        fidelity_size: the fidelity model's training face size (pixels).
    """

    def __init__(self, renovation: nn.Module, fidelity: nn.Module, weight: float, fidelity_size: int) -> None:
        super().__init__()
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"the fidelity weight must be in [0, 1], got {weight}")
        if fidelity_size <= 0:
            raise ValueError(f"the fidelity model's face size must be positive, got {fidelity_size}")
        self.renovation = renovation
        self.fidelity = fidelity
        self.weight = float(weight)
        self.fidelity_size = int(fidelity_size)
        card = dict(getattr(renovation, "model_card", None) or {})
        card["fidelity_weight"] = self.weight
        self.model_card = card

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from hifacegan.inference import restore_tensor

        if self.weight == 0.0:
            return self.renovation(images)
        h, w = images.shape[-2:]
        scale = self.fidelity_size / min(h, w)  # aligned crops are square; padding may add a few pixels
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        small = images if size == (h, w) else F.interpolate(images, size=size, mode="area" if scale < 1 else "bicubic")
        faithful = restore_tensor(self.fidelity, small.float().clamp(0, 1), batch_size=images.shape[0])
        if faithful.shape[-2:] != (h, w):
            faithful = F.interpolate(faithful, size=(h, w), mode="bicubic", align_corners=False)
        if self.weight == 1.0:
            return faithful.to(images.dtype)
        realistic = self.renovation(images).float().clamp(0, 1)
        return torch.lerp(realistic, faithful, self.weight).to(images.dtype)
