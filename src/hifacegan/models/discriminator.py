"""The multi-scale conditional PatchGAN discriminator of HiFaceGAN (pix2pixHD / SPADE design).

Layout and checkpoint keys follow the official code (``MultiscaleDiscriminator`` with
``NLayerDiscriminator``, ``norm_D='spectralinstance'``); re-written here, no code copied.
Input: ``concat(degraded, image)`` (6 channels) in ``[0, 1]``; output: for each scale, the list of
every layer's feature map (the last is the patch logit map), used by the LSGAN and
feature-matching losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hifacegan.layers import spectral_conv

_KERNEL = 4
_PADDING = 2  # ceil((4 - 1) / 2), as in pix2pixHD


class PatchDiscriminator(nn.Module):
    """N-layer PatchGAN: conv(s2)+LReLU, (n-1) x [spectral conv (no bias) + InstanceNorm + LReLU], conv to 1.

    The convs have stride 2 except the last two. Widths ``ndf * {1, 2, 4, 8}`` capped at 512.
    Submodules are ``model0 .. model{n}`` so official checkpoints load as they are.
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 4, spectral: bool = True) -> None:
        super().__init__()
        self.n_layers = n_layers
        width = ndf
        blocks: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(in_channels, width, _KERNEL, stride=2, padding=_PADDING), nn.LeakyReLU(0.2))
        ]
        for n in range(1, n_layers):
            prev, width = width, min(width * 2, 512)
            stride = 1 if n == n_layers - 1 else 2
            conv = spectral_conv(nn.Conv2d(prev, width, _KERNEL, stride=stride, padding=_PADDING, bias=False), spectral)
            # Official key layout: modelN.0.0 is the (spectral) conv, modelN.0.1 the InstanceNorm.
            blocks.append(nn.Sequential(nn.Sequential(conv, nn.InstanceNorm2d(width)), nn.LeakyReLU(0.2)))
        blocks.append(nn.Sequential(nn.Conv2d(width, 1, _KERNEL, stride=1, padding=_PADDING)))
        for i, block in enumerate(blocks):
            self.add_module(f"model{i}", block)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for i in range(self.n_layers + 1):
            x = getattr(self, f"model{i}")(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """``num_d`` PatchGANs on successively 2x average-pooled inputs.

    Args:
        in_channels: input channels (6: degraded and real/fake image concatenated).
        ndf: base width (official 64).
        n_layers: layers per PatchGAN (official 4).
        num_d: number of scales (official 2).
        spectral: spectral-normalise the middle convs (official: yes).
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 4, num_d: int = 2,
                 spectral: bool = True) -> None:
        super().__init__()
        self.num_d = num_d
        for i in range(num_d):
            self.add_module(f"discriminator_{i}", PatchDiscriminator(in_channels, ndf, n_layers, spectral))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """``x (N, C, H, W)`` -> per scale, the list of every layer's output."""
        results = []
        for i in range(self.num_d):
            results.append(getattr(self, f"discriminator_{i}")(x))
            if i + 1 < self.num_d:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
        return results
