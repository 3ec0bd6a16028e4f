"""What the trainer does to weights outside the optimiser step: initialisation, freezing, EMA, finiteness."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from hifacegan.training.config import ModelConfig

__all__ = ["ModelEMA", "all_finite", "freeze_all_but", "freeze_unused_heads", "initialize_official", "load_starting_point"]


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


def freeze_all_but(generator: nn.Module, prefixes: Sequence[str]) -> int:
    """Freeze every parameter of ``generator`` whose name starts with none of ``prefixes`` (``model.trainable``).

    A prefix matches whole name parts: ``ups.2`` matches ``ups.2.conv_0.weight``, not ``ups.20...``.
    Parameters already frozen (e.g. by :func:`freeze_unused_heads`) stay frozen.

    Returns:
        How many parameters (elements) still learn.

    Raises:
        ConfigError: a prefix names no parameter (a typo would otherwise freeze the whole generator).
    """
    from hifacegan.training.config import ConfigError

    names = [name for name, _ in generator.named_parameters()]
    for prefix in prefixes:
        if not any(_has_prefix(name, prefix) for name in names):
            parts = sorted({".".join(name.split(".")[:2]) for name in names})
            raise ConfigError(f"model.trainable: {prefix!r} names no generator parameter; "
                              f"blocks are: {', '.join(parts)}")
    learning = 0
    for name, parameter in generator.named_parameters():
        if not any(_has_prefix(name, prefix) for prefix in prefixes):
            parameter.requires_grad_(False)
        elif parameter.requires_grad:
            learning += parameter.numel()
    return learning


def _has_prefix(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix.rstrip(".") + ".")


def all_finite(module: nn.Module) -> bool:
    """Whether every parameter of ``module`` is free of NaN/inf."""
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


def load_starting_point(generator: nn.Module, discriminator: nn.Module,
                        model: ModelConfig) -> tuple[str, dict[str, Any] | None]:
    """Load ``model.pretrained`` (a generator file) or ``model.init_from`` (another run's checkpoint: its EMA
    generator, else its generator, and its discriminator) into the fresh networks.

    Returns:
        What was loaded (or ""), and the checkpoint's eye/mouth discriminator state when it has one (the
        caller loads it once those exist; the checkpoint is read only here).

    Raises:
        ConfigError: the checkpoint's networks do not fit the model settings.
    """
    from hifacegan.models.checkpoint import build_from_state_dict, read_weights
    from hifacegan.training.checkpoint import load_checkpoint
    from hifacegan.training.config import ConfigError

    if model.pretrained:
        # Fine-tuning: same architecture, weights from the file (spectral-norm u/v included).
        state, _card = read_weights(model.pretrained)
        pretrained, _, _ = build_from_state_dict(state, model.variant, model.ngf, model.pretrained)
        generator.load_state_dict(pretrained.state_dict())
        return f"the generator of {model.pretrained}", None
    if not model.init_from:
        return "", None
    checkpoint = load_checkpoint(Path(model.init_from))
    try:
        generator.load_state_dict(checkpoint["ema"] or checkpoint["generator"])
        discriminator.load_state_dict(checkpoint["discriminator"])
    except RuntimeError as exc:
        raise ConfigError(f"model.init_from {model.init_from}: its networks do not fit the model settings "
                          f"({str(exc).splitlines()[0]})") from None
    which = "EMA generator" if checkpoint["ema"] else "generator"
    return (f"the {which} and discriminator of {model.init_from} (step {int(checkpoint['step'])} of its run)",
            checkpoint.get("components"))

