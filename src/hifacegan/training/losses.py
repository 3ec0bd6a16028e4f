"""HiFaceGAN's training losses (paper Sec. 3.3; the SPADE/pix2pixHD objective of the official code).

* :class:`LSGANLoss`: least-squares GAN on the last output (patch logits) of each discriminator
  scale, averaged over scales (official ``gan_mode='ls'``).
* :class:`FeatureMatchingLoss`: L1 between the discriminator's intermediate features of fake and
  real images, ``weight / num_D`` per scale (official ``lambda_feat=10``).
* :class:`PerceptualLoss`: L1 between perceptual-network features with per-level weights
  1/32, 1/16, 1/8, 1/4, 1 (official ``VGGLoss``, ``lambda_vgg=10``).
* :class:`GeneratorObjective` combines them (plus an optional pixel L1, a low-frequency L1, a pixel L1 on
  mildly degraded items, :func:`mild_input_l1`, and a band-spectrum loss, :func:`band_spectrum_loss`; none in the
  paper) with explicit weights and returns every term for logging.

All losses are computed in float32, also under bf16 autocast. Images are compared in ``[0, 1]``:
the generator's ``tanh`` output is used as it is (the official code treats it as ``[0, 1]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hifacegan.training.perceptual import PERCEPTUAL_LAYER_WEIGHTS, PerceptualNetwork, feature_l1

__all__ = ["FeatureMatchingLoss", "GeneratorObjective", "LSGANLoss", "PerceptualLoss", "band_spectrum",
           "band_spectrum_loss", "discriminator_loss", "lowfreq_l1", "mild_input_l1", "mildness", "split_fake_real"]

DiscriminatorOutput = list[list[torch.Tensor]]


def split_fake_real(outputs: list[list[torch.Tensor]], n: int) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """Discriminator outputs of a ``[fakes; reals]`` batch -> (fake outputs, real outputs).

    Fakes and reals go through D in one batch, as the official ``discriminate`` does (one pass, so one
    spectral-norm power iteration per D call, as in the official code).
    """
    return [[f[:n] for f in scale] for scale in outputs], [[f[n:] for f in scale] for scale in outputs]


class LSGANLoss(nn.Module):
    """Least-squares GAN loss over a multi-scale discriminator output.

    ``mean((D(x) - target)^2)`` of each scale's last map, target 1 for "real", 0 for "fake",
    averaged over scales. The generator uses ``target_is_real=True`` on its fakes.
    """

    def forward(self, outputs: DiscriminatorOutput, target_is_real: bool) -> torch.Tensor:
        """Args: ``outputs`` per scale, the list of layer outputs (last = logits); returns a scalar."""
        target = 1.0 if target_is_real else 0.0
        losses = [F.mse_loss(scale[-1].float(), torch.full_like(scale[-1], target, dtype=torch.float32))
                  for scale in outputs]
        return torch.stack(losses).mean()


class FeatureMatchingLoss(nn.Module):
    """Discriminator feature matching (pix2pixHD): L1 of every intermediate layer, real features constant.

    Args:
        weight: total weight (official ``lambda_feat=10``); each scale contributes ``weight / num_D``.
    """

    def __init__(self, weight: float = 10.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, fake: DiscriminatorOutput, real: DiscriminatorOutput) -> torch.Tensor:
        if len(fake) != len(real):
            raise ValueError(f"fake and real outputs have {len(fake)} and {len(real)} scales")
        num_d = len(fake)
        total = fake[0][0].new_zeros((), dtype=torch.float32)
        for fake_scale, real_scale in zip(fake, real):
            for f, r in zip(fake_scale[:-1], real_scale[:-1]):  # the last output is the logit map
                total = total + F.l1_loss(f.float(), r.detach().float()) * (self.weight / num_d)
        return total


class PerceptualLoss(nn.Module):
    """Weighted L1 between perceptual features of output and target.

    Args:
        network: frozen feature extractor returning five levels.
        weight: overall weight (official ``lambda_vgg=10``).
        layer_weights: per-level weights (official 1/32, 1/16, 1/8, 1/4, 1).
    """

    def __init__(self, network: PerceptualNetwork, weight: float = 10.0,
                 layer_weights: tuple[float, ...] = PERCEPTUAL_LAYER_WEIGHTS) -> None:
        super().__init__()
        self.network = network
        self.weight = weight
        self.layer_weights = layer_weights

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``output``, ``target``: ``(N, 3, H, W)`` in ``[0, 1]``; returns ``weight * sum_l w_l * L1_l``."""
        with torch.no_grad():
            target_features = self.network(target)
        return self.weight * feature_l1(self.network(output), target_features, self.layer_weights)


def discriminator_loss(gan: LSGANLoss, fake: DiscriminatorOutput, real: DiscriminatorOutput
                       ) -> dict[str, torch.Tensor]:
    """The discriminator's objective: LSGAN fake -> 0 plus real -> 1 (official ``D_Fake + D_real``)."""
    d_fake = gan(fake, target_is_real=False)
    d_real = gan(real, target_is_real=True)
    return {"d_fake": d_fake, "d_real": d_real, "d_total": d_fake + d_real}


LOWFREQ_POOL = 8  # a 512-px face becomes a 64x64 map of colour and shading; finer detail is left free


def lowfreq_l1(output: torch.Tensor, target: torch.Tensor, pool: int = LOWFREQ_POOL) -> torch.Tensor:
    """L1 between ``pool`` x ``pool`` average-pooled images: colour and shading, not texture."""
    return F.l1_loss(F.avg_pool2d(output.float(), pool, ceil_mode=True),
                     F.avg_pool2d(target.float(), pool, ceil_mode=True))


#: Width (dB) of the logistic step of :func:`mildness`: items 3 dB under the midpoint weigh 0.12, 3 dB over 0.88.
MILDNESS_WIDTH_DB = 1.5


def mildness(degraded: torch.Tensor, target: torch.Tensor, midpoint_db: float,
             width_db: float = MILDNESS_WIDTH_DB) -> torch.Tensor:
    """Per item, how mildly degraded it is: ``sigmoid((PSNR(degraded, target) - midpoint_db) / width_db)``, ``(N,)``.

    No gradient flows through it (it weighs a loss, it is not one). Identical images count as 1.
    """
    with torch.no_grad():
        mse = (degraded.float() - target.float()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
        psnr = -10.0 * torch.log10(mse)  # images in [0, 1]
        return torch.sigmoid((psnr - midpoint_db) / width_db)


def mild_input_l1(output: torch.Tensor, target: torch.Tensor, degraded: torch.Tensor, midpoint_db: float
                  ) -> torch.Tensor:
    """Pixel L1 per item, weighted by :func:`mildness` and averaged over the batch.

    Why (issue 28): a generator trained by GAN and perceptual terms redraws texture on every input, so a
    face that was only slightly blurred or JPEG-compressed comes back 1.5-4 dB below its own input. When the
    input still holds the detail (its PSNR to the truth is high), the truth is what the output should be; when
    it does not (heavy real-world degradation), the GAN terms stay in charge of what to draw.
    """
    per_item = (output.float() - target.float()).abs().flatten(1).mean(1)
    return (mildness(degraded, target, midpoint_db) * per_item).mean()


#: Bands of :func:`band_spectrum`: rings 0.05 cycles/px wide from 0.05 up (the last ring takes everything from 0.45
#: to the corners) by 15-degree orientations. The ring under 0.05 (colour, shading) is left to the pixel losses.
SPECTRUM_RING = 0.05
SPECTRUM_RINGS = 9
SPECTRUM_ANGLES = 12
#: Power under which bands are not told apart: about 8-bit quantisation noise, ``(1/255)^2 / 12``. It also keeps
#: the log's gradient bounded on a flat (blurred) output, whose high bands hold almost no power.
SPECTRUM_FLOOR = 1e-6


def _band_index(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For ``rfft2`` coefficients of an ``height x width`` image: the kept coefficients (mask) and their band."""
    fy = torch.fft.fftfreq(height, device=device)[:, None].expand(height, width // 2 + 1)
    fx = torch.fft.rfftfreq(width, device=device)[None, :].expand(height, width // 2 + 1)
    ring = torch.floor(torch.hypot(fx, fy) / SPECTRUM_RING).long()
    angle = torch.remainder(torch.atan2(fy, fx), torch.pi)  # an orientation: theta and theta + 180 are one
    sector = torch.clamp((angle / (torch.pi / SPECTRUM_ANGLES)).long(), max=SPECTRUM_ANGLES - 1)
    keep = ring >= 1
    band = (torch.clamp(ring, max=SPECTRUM_RINGS) - 1) * SPECTRUM_ANGLES + sector
    return keep.flatten(), band.flatten()[keep.flatten()]


def band_spectrum(images: torch.Tensor, floor: float = SPECTRUM_FLOOR) -> torch.Tensor:
    """Log mean power of the grey image in each frequency ring x orientation band, ``(N, rings * angles)``.

    ``images``: ``(N, 3, H, W)`` in ``[0, 1]``.
    The image is Hann-windowed (its borders are not periodic), its mean removed, and its ``rfft2``
    power averaged over the coefficients of each band: a smooth, phase-free summary of how much texture
    of each scale and direction it holds.
    """
    grey = images.float().mean(1)
    n, height, width = grey.shape
    window = torch.outer(torch.hann_window(height, periodic=False, device=grey.device),
                         torch.hann_window(width, periodic=False, device=grey.device))
    grey = (grey - grey.mean((1, 2), keepdim=True)) * window
    power = torch.fft.rfft2(grey, norm="ortho").abs().pow(2).flatten(1)
    keep, band = _band_index(height, width, grey.device)
    bands = SPECTRUM_RINGS * SPECTRUM_ANGLES
    sums = power.new_zeros(n, bands).index_add_(1, band, power[:, keep])
    counts = torch.bincount(band, minlength=bands).clamp_min(1).to(power.dtype)
    return torch.log(sums / counts + floor)


def band_spectrum_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the :func:`band_spectrum` of output and target (natural-log units).

    It asks for the right amount of texture per scale and direction. Squared, not absolute: two draws of
    the same noise texture differ by about 0.3 per band on average at 128 px (0.15 at 256 px), and that
    estimation noise should pull far less than a band many times too strong.

    Why (issue 28): the GAN-trained generator learns a periodic diagonal hatching on skin (period 2-3 px;
    stage 10's end holds 1.6-1.9x the default model's power in the 0.3-0.45 cycles/px, 105-135 degree band)
    that NIQE rewards. A pixel loss cannot forbid it without forbidding all invented texture; this loss
    compares only the power per band, not where the texture lies, so plausible skin detail stays free
    while extra (hatching, over-sharpening) or missing (blur) power in any band costs.

    Measured (stage 12, docs/models.md): ntire_val NIQE 4.49 -> 4.10, the hatching band only 1.3x the
    default's rather than gone, and more fine texture on mildly blurred faces (the loss also adds texture
    where the training output had less than the truth).
    """
    return (band_spectrum(output) - band_spectrum(target)).pow(2).mean()


@dataclass(frozen=True)
class _Weights:
    gan: float
    feat: float
    perceptual: float
    l1: float
    lowfreq: float
    mild_l1: float = 0.0
    mild_psnr_db: float = 30.0
    spectrum: float = 0.0


class GeneratorObjective(nn.Module):
    """The generator's objective with explicit weights.

    Args:
        perceptual: perceptual network (None: no perceptual term).
        gan: LSGAN weight (official 1).
        feat: feature-matching weight (official 10).
        perceptual_weight: perceptual weight (official 10).
        l1: pixel L1 weight (not in the paper; 0).
        lowfreq: weight of :func:`lowfreq_l1` (not in the paper; 0).
        mild_l1: weight of :func:`mild_input_l1` (not in the paper; 0), with ``mild_psnr_db`` its midpoint.
        spectrum: weight of :func:`band_spectrum_loss` (not in the paper; 0).
    """

    def __init__(self, perceptual: PerceptualNetwork | None, gan: float = 1.0, feat: float = 10.0,
                 perceptual_weight: float = 10.0, l1: float = 0.0, lowfreq: float = 0.0, mild_l1: float = 0.0,
                 mild_psnr_db: float = 30.0, spectrum: float = 0.0) -> None:
        super().__init__()
        self.weights = _Weights(gan, feat, perceptual_weight, l1, lowfreq, mild_l1, mild_psnr_db, spectrum)
        self.gan_loss = LSGANLoss()
        self.feat_loss = FeatureMatchingLoss(feat)
        self.perceptual_loss = PerceptualLoss(perceptual, perceptual_weight) if perceptual is not None else None

    def reconstruction(self, output: torch.Tensor, target: torch.Tensor, l1: float | None = None,
                       degraded: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Terms that need no discriminator: perceptual and pixel L1s (``l1`` overrides the configured weight).

        The mild-input L1 needs the generator's input, ``degraded``; without it the term is left out.
        """
        terms: dict[str, torch.Tensor] = {}
        if self.perceptual_loss is not None and self.weights.perceptual > 0:
            terms["g_perceptual"] = self.perceptual_loss(output, target)
        l1_weight = self.weights.l1 if l1 is None else l1
        if l1_weight > 0:
            terms["g_l1"] = l1_weight * F.l1_loss(output.float(), target.float())
        if self.weights.lowfreq > 0:
            terms["g_lowfreq"] = self.weights.lowfreq * lowfreq_l1(output, target)
        if self.weights.mild_l1 > 0 and degraded is not None:
            terms["g_mild_l1"] = self.weights.mild_l1 * mild_input_l1(output, target, degraded, self.weights.mild_psnr_db)
        if self.weights.spectrum > 0:
            terms["g_spectrum"] = self.weights.spectrum * band_spectrum_loss(output, target)
        return terms

    def adversarial(self, fake: DiscriminatorOutput, real: DiscriminatorOutput) -> dict[str, torch.Tensor]:
        """Terms from the discriminator: LSGAN ("fake is real") and feature matching."""
        terms: dict[str, torch.Tensor] = {}
        if self.weights.gan > 0:
            terms["g_gan"] = self.weights.gan * self.gan_loss(fake, target_is_real=True)
        if self.weights.feat > 0:
            terms["g_feat"] = self.feat_loss(fake, real)
        return terms


def total(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of loss terms (a float32 scalar)."""
    if not terms:
        raise ValueError("no loss terms: every loss weight is 0")
    return torch.stack([t.float() for t in terms.values()]).sum()
