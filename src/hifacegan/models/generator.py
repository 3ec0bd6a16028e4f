"""HiFaceGAN generators: the paper's network and the two variants of the official code.

Paper: Yang et al., "HiFaceGAN: Face Renovation via Collaborative Suppression and Replenishment",
ACM MM 2020 (arXiv 2005.05005). Structure and checkpoint layout follow the official implementation
(Lotayou/Face-Renovation, ``models/networks/generator.py``), re-written here; no code is copied.

Three generators share one SPADE trunk (``fc`` -> ``head_0`` -> ``g_middle_0/1`` -> 4 ``ups`` ->
``to_rgbs``, five nearest x2 up-samplings) and differ only in what feeds it:

* :class:`HiFaceGANGenerator` (``hifacegan``, the paper): a :class:`SuppressionEncoder` produces a
  feature pyramid and each SPADE block is conditioned on the level of matching resolution.
* :class:`LIPSPADEGenerator` (``lipspade``, the released checkpoints, BasicSR's ``HiFaceGAN``): the
  encoder's deepest feature is the trunk's input and every SPADE is conditioned on the input image.
* :class:`SPADEGenerator` (``spade``, the paper's ablation): the trunk starts from ``fc`` applied to the
  down-sized image and every SPADE is conditioned on the image.

All take ``(N, 3, H, W)`` images in ``[0, 1]`` with ``H`` and ``W`` multiples of 32 and return the
``tanh`` output in ``[-1, 1]``, which the official scripts clip to ``[0, 1]`` (no ``*0.5+0.5``):
see :func:`hifacegan.inference.restore_tensor`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hifacegan.layers import SimplifiedLIP, SPADEResBlock

# Five 2x up-samplings between the latent and the output: inputs must be multiples of 2**5.
NUM_UPSAMPLINGS = 5
SIZE_MULTIPLE = 2**NUM_UPSAMPLINGS
# Channel multipliers of the trunk, deepest first: 16, 16 (head/middle), then 8, 4, 2, 1 (ups).
_MAX_MULT = 16


class SuppressionEncoder(nn.Module):
    """The content-adaptive suppression module (official ``ContentAdaptiveSuppresor``/``LIPEncoder``).

    ``head``: Conv3x3 (no bias) -> InstanceNorm -> ReLU, then ``num_stages`` stages of
    LIP (x1/2) -> Conv3x3 -> InstanceNorm -> ReLU (no ReLU after the last stage). Widths
    ``ngf * {1, 2, 4, 8, 16, 16}``.

    Args:
        in_channels: image channels.
        ngf: base width.
        num_stages: number of LIP stages (each halves the resolution).

    Returns (forward): features smallest first, ``[stage4 (16ngf, H/32), stage3 (16ngf, H/16),
    stage2 (8ngf, H/8), stage1 (4ngf, H/4), stage0 (2ngf, H/2), head (ngf, H)]``.
    """

    def __init__(self, in_channels: int = 3, ngf: int = 64, num_stages: int = NUM_UPSAMPLINGS) -> None:
        super().__init__()
        self.head = nn.Sequential(
            nn.Conv2d(in_channels, ngf, 3, padding=1, bias=False), nn.InstanceNorm2d(ngf), nn.ReLU()
        )
        stages = []
        mult = 1
        for i in range(num_stages):
            next_mult = min(mult * 2, _MAX_MULT)
            layers: list[nn.Module] = [
                SimplifiedLIP(ngf * mult),
                nn.Conv2d(ngf * mult, ngf * next_mult, 3, padding=1),
                nn.InstanceNorm2d(ngf * next_mult),
            ]
            if i < num_stages - 1:
                layers.append(nn.ReLU())
            stages.append(nn.Sequential(*layers))
            mult = next_mult
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [self.head(x)]
        for stage in self.stages:
            features.append(stage(features[-1]))
        return features[::-1]


class SPADEGenerator(nn.Module):
    """The SPADE trunk, conditioned on the input image everywhere (variant ``spade``).

    Args:
        ngf: base width (official default 64).
        in_channels: image channels.
        condition_channels: per trunk level (6 levels, deepest first), channels of the SPADE condition.
        spectral: spectral-normalise the residual blocks' convs (official: yes).
    """

    def __init__(self, ngf: int = 64, in_channels: int = 3, condition_channels: list[int] | None = None,
                 spectral: bool = True) -> None:
        super().__init__()
        self.ngf = ngf
        cond = condition_channels or [in_channels] * 6
        self.fc = nn.Conv2d(in_channels, 16 * ngf, 3, padding=1)
        self.head_0 = SPADEResBlock(16 * ngf, 16 * ngf, cond[0], spectral)
        self.g_middle_0 = SPADEResBlock(16 * ngf, 16 * ngf, cond[1], spectral)
        self.g_middle_1 = SPADEResBlock(16 * ngf, 16 * ngf, cond[1], spectral)
        widths = [16 * ngf, 8 * ngf, 4 * ngf, 2 * ngf, ngf]
        self.ups = nn.ModuleList(
            SPADEResBlock(widths[i], widths[i + 1], cond[i + 2], spectral) for i in range(4)
        )
        # One RGB head per progressive phase (official progressive training); inference uses the last.
        self.to_rgbs = nn.ModuleList(nn.Conv2d(widths[i + 1], 3, 3, padding=1) for i in range(4))

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Trunk input (``16ngf`` at ``H/32``) and the 6 SPADE conditions, deepest first."""
        latent = self.fc(F.interpolate(image, size=_latent_size(image), mode="nearest"))
        return latent, image_pyramid(image)

    def forward(self, image: torch.Tensor, phase: int = 4) -> torch.Tensor:
        """Restore ``image``.

        Args:
            image: ``(N, 3, H, W)`` in ``[0, 1]``, ``H`` and ``W`` multiples of 32.
            phase: progressive-training phase 1..4; 4 (default) gives the full-resolution output, phase
                ``p`` stops after ``p`` up blocks (output at ``H / 2**(4-p)``).

        Returns:
            ``(N, 3, H', W')`` tanh output in ``[-1, 1]``.
        """
        check_input_size(image)
        if not 1 <= phase <= 4:
            raise ValueError(f"phase must be 1..4, got {phase}")
        x, conditions = self.encode(image)
        x = self.head_0(x, conditions[0])
        x = _upsample(x)
        x = self.g_middle_0(x, conditions[1])
        x = self.g_middle_1(x, conditions[1])
        for i in range(phase):
            x = _upsample(x)
            x = self.ups[i](x, conditions[i + 2])
        return torch.tanh(self.to_rgbs[phase - 1](F.leaky_relu(x, 0.2)))


class LIPSPADEGenerator(SPADEGenerator):
    """LIP encoder feeding the SPADE trunk, SPADE conditioned on the image (variant ``lipspade``).

    This is the architecture of the released official checkpoints (ngf=48) and of BasicSR's
    ``HiFaceGAN``. The inherited ``fc`` conv is unused (the encoder replaces it), exactly as in the
    official ``LIPSPADEGenerator``; it is kept, frozen, so official checkpoints load strictly and the
    parameter count matches theirs (lipspade-48: 72,223,660).
    """

    def __init__(self, ngf: int = 48, in_channels: int = 3, spectral: bool = True) -> None:
        super().__init__(ngf, in_channels, spectral=spectral)
        self.encoder = SuppressionEncoder(in_channels, ngf)
        self.fc.requires_grad_(False)  # unused; frozen so DistributedDataParallel sees no unused gradients

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.encoder(image)[0], image_pyramid(image)


class HiFaceGANGenerator(SPADEGenerator):
    """The paper's network: collaborative suppression (LIP encoder) and replenishment (SPADE trunk).

    Each SPADE block is conditioned on the suppression feature of its resolution (official
    ``HiFaceGANGenerator``; variant ``hifacegan``). The trunk starts from ``fc`` applied to the
    nearest-down-sized image.
    """

    def __init__(self, ngf: int = 64, in_channels: int = 3, spectral: bool = True) -> None:
        widths = [16 * ngf, 16 * ngf, 8 * ngf, 4 * ngf, 2 * ngf, ngf]
        super().__init__(ngf, in_channels, condition_channels=widths, spectral=spectral)
        self.encoder = SuppressionEncoder(in_channels, ngf)

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        latent = self.fc(F.interpolate(image, size=_latent_size(image), mode="nearest"))
        return latent, self.encoder(image)


def image_pyramid(image: torch.Tensor) -> list[torch.Tensor]:
    """The image nearest-resized to each trunk level (H/32, H/16, H/8, H/4, H/2, H).

    The official SPADE resizes the full image inside every normalisation layer; resizing once per
    level from the full image gives identical tensors at a fraction of the cost.
    """
    h, w = image.shape[-2:]
    sizes = [(h // 2**k, w // 2**k) for k in (5, 4, 3, 2, 1)]
    return [F.interpolate(image, size=s, mode="nearest") for s in sizes] + [image]


def check_input_size(image: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``image`` is ``(N, C, H, W)`` with ``H, W`` multiples of 32."""
    if image.ndim != 4:
        raise ValueError(f"expected an (N, C, H, W) tensor, got shape {tuple(image.shape)}")
    h, w = image.shape[-2:]
    if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
        raise ValueError(
            f"HiFaceGAN needs height and width that are multiples of {SIZE_MULTIPLE}, got {h}x{w}; "
            "use hifacegan.inference.restore_tensor, which pads and crops back"
        )


def _latent_size(image: torch.Tensor) -> tuple[int, int]:
    h, w = image.shape[-2:]
    return h // SIZE_MULTIPLE, w // SIZE_MULTIPLE


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


# --- registered variants -----------------------------------------------------------------------
from hifacegan.models._registry import register_model


@register_model
def hifacegan(ngf: int = 64, **kwargs) -> HiFaceGANGenerator:
    """The paper's HiFaceGAN (official config default ngf=64: 130,568,012 parameters)."""
    return HiFaceGANGenerator(ngf=ngf, **kwargs)


@register_model
def lipspade(ngf: int = 48, **kwargs) -> LIPSPADEGenerator:
    """LIP encoder + image-conditioned SPADE: the released official checkpoints (ngf=48, 72,223,660 parameters)."""
    return LIPSPADEGenerator(ngf=ngf, **kwargs)


@register_model
def spade(ngf: int = 64, **kwargs) -> SPADEGenerator:
    """Plain SPADE generator, the paper's ablation baseline."""
    return SPADEGenerator(ngf=ngf, **kwargs)


@register_model
def test_hifacegan(ngf: int = 8, **kwargs) -> HiFaceGANGenerator:
    """A tiny HiFaceGAN for tests (ngf=8)."""
    return HiFaceGANGenerator(ngf=ngf, **kwargs)
