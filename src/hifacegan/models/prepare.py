"""Turning a trained generator into an inference one (official test-time semantics, Face-Renovation ``test.py``)."""

from __future__ import annotations

from torch import nn

from hifacegan.layers.norms import fold_spectral_norm, has_spectral_norm

__all__ = ["prepare_for_inference"]


def prepare_for_inference(model: nn.Module) -> nn.Module:
    """Fold spectral norm into plain weights, switch to eval mode and freeze, in place."""
    # One power iteration, as the official test run does before its first (and only) forward pass.
    if has_spectral_norm(model):
        fold_spectral_norm(model, power_iterations=1)
    model.eval()
    model.requires_grad_(False)
    return model
