"""Local importance pooling (LIP), the "suppression" operator of HiFaceGAN.

LIP (Gao et al., ICCV 2019) is a learned, content-adaptive average pool: each pixel is weighted by
``exp(logit)`` before pooling, so salient detail survives down-sampling and degradation is
suppressed (HiFaceGAN paper, Sec. 3.2). The "simplified" form of the official code predicts the logit
with Conv3x3 -> InstanceNorm(affine) -> 12*sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The official SoftGate scales the sigmoid by 12, so logits lie in [0, 12].
LIP_LOGIT_SCALE = 12.0


class SoftGate(nn.Module):
    """``12 * sigmoid(x)``: bounded importance logits (official ``SoftGate``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x) * LIP_LOGIT_SCALE


def lip_pool(x: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
    """``avgpool(x * e^logit) / avgpool(e^logit)`` with a 3x3 window, stride 2, padding 1.

    ``e^12`` overflows fp16 and loses precision in bf16, so we weight by ``e^(logit - 12)`` in
    ``[e^-12, 1]``: the ratio is unchanged, and the pooling runs in fp32 under autocast.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        weight = torch.exp(logit.float() - LIP_LOGIT_SCALE)
        num = F.avg_pool2d(x.float() * weight, kernel_size=3, stride=2, padding=1)
        den = F.avg_pool2d(weight, kernel_size=3, stride=2, padding=1)
        return num / den


class SimplifiedLIP(nn.Module):
    """LIP with the official logit branch; halves the spatial size.

    Args:
        channels: number of input (= output) channels.

    Shapes: ``(N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        # Sequential indices 0/1/2 give the official checkpoint keys ``logit.0.weight``, ``logit.1.*``.
        self.logit = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            SoftGate(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lip_pool(x, self.logit(x))
