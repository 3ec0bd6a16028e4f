"""What the trainer does to weights outside the optimiser step: initialisation, freezing, EMA, finiteness."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["ModelEMA", "all_finite", "freeze_unused_heads", "initialize_official"]


class ModelEMA:
    """Exponential moving average of a generator's weights (float32 copy, never trained directly).

    ``ema = d * ema + (1 - d) * weights`` after each step with ``d = min(decay, (1 + step) / (10 + step))``:
    the ramp keeps the early average from being dominated by the random initialisation (a common
    choice, e.g. in TensorFlow's ExponentialMovingAverage with ``num_updates``). Buffers (spectral-norm
    ``u``/``v``) are copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).float().eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        ema_params: list[torch.Tensor] = list(self.module.parameters())
        params = [p.detach().float() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for ema_buffer, buffer in zip(self.module.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)


def initialize_official(module: nn.Module, gain: float = 0.02) -> None:
    """The official ``init_type='xavier'``, ``init_variance=0.02``: xavier-normal conv/linear weights, zero
    biases (spectral-normalised convs: the underlying ``weight_orig``). Norm layers keep their defaults."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)):
                weight = m.weight_orig if hasattr(m, "weight_orig") else m.weight
                assert isinstance(weight, torch.Tensor)
                nn.init.xavier_normal_(weight, gain=gain)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def freeze_unused_heads(generator: nn.Module) -> None:
    """Freeze every RGB head but the last (progressive training is off, as in the official config)."""
    # Only the last RGB head is used (train_phase = max_train_phase). The others get no gradient; DDP
    # requires every trainable parameter to get one, so they are frozen and stay out of the optimiser
    # (they are still saved, for checkpoint compatibility).
    heads = getattr(generator, "to_rgbs", None)
    if isinstance(heads, nn.ModuleList):
        for head in heads[:-1]:
            head.requires_grad_(False)


def all_finite(module: nn.Module) -> bool:
    """Whether every parameter of ``module`` is free of NaN/inf."""
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())
