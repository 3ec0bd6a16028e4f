"""SPADE, the "replenishment" operator of HiFaceGAN, and the SPADE residual block.

SPADE (Park et al., CVPR 2019) modulates normalised activations with per-pixel scale and shift
predicted from a condition map. HiFaceGAN's official variant differs from NVIDIA's:
``out = norm(x) * gamma + beta`` (not ``1 + gamma``), ``mlp_gamma``/``mlp_beta`` have no bias, and
the hidden width is ``128 if norm_channels > 128 else norm_channels``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hifacegan.layers.norms import instance_norm, spectral_conv


def spade_hidden_channels(norm_channels: int) -> int:
    """Hidden width of SPADE's shared MLP in the official code."""
    return min(norm_channels, 128)


def resize_condition(condition: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of a condition map to ``size``; a no-op when it already fits."""
    if tuple(condition.shape[-2:]) == tuple(size):
        return condition
    return F.interpolate(condition, size=size, mode="nearest")


class SPADE(nn.Module):
    """Spatially-adaptive normalisation.

    Args:
        norm_channels: channels of the normalised activation ``x``.
        label_channels: channels of the condition map.

    Shapes: ``x (N, C, H, W)``, ``condition (N, L, h, w)`` (resized to ``H, W``) -> ``(N, C, H, W)``.
    """

    def __init__(self, norm_channels: int, label_channels: int) -> None:
        super().__init__()
        hidden = spade_hidden_channels(norm_channels)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_channels, 3, padding=1, bias=False)
        self.mlp_beta = nn.Conv2d(hidden, norm_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        actv = self.mlp_shared(resize_condition(condition, (x.shape[-2], x.shape[-1])))
        return instance_norm(x) * self.mlp_gamma(actv) + self.mlp_beta(actv)


class SPADEResBlock(nn.Module):
    """Residual block with SPADE before each (spectral-normalised) conv, LeakyReLU(0.2) activations.

    ``out = shortcut(x) + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x))))))``; the shortcut is learned
    (SPADE + 1x1 conv without bias) when the width changes.

    Args:
        in_channels: input width.
        out_channels: output width.
        label_channels: channels of the condition map.
        spectral: spectral-normalise the convs (official: yes).
    """

    def __init__(self, in_channels: int, out_channels: int, label_channels: int, spectral: bool = True) -> None:
        super().__init__()
        self.learned_shortcut = in_channels != out_channels
        middle = min(in_channels, out_channels)
        self.conv_0 = spectral_conv(nn.Conv2d(in_channels, middle, 3, padding=1), spectral)
        self.conv_1 = spectral_conv(nn.Conv2d(middle, out_channels, 3, padding=1), spectral)
        self.norm_0 = SPADE(in_channels, label_channels)
        self.norm_1 = SPADE(middle, label_channels)
        if self.learned_shortcut:
            self.conv_s = spectral_conv(nn.Conv2d(in_channels, out_channels, 1, bias=False), spectral)
            self.norm_s = SPADE(in_channels, label_channels)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, condition)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, condition), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, condition), 0.2))
        return shortcut + dx
