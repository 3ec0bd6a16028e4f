"""Running a generator on images: test-time preparation, padding to multiples of 32, clipping.

Official test-time semantics (Face-Renovation ``test.py``): generator in train mode with batch 1
(per-sample normalisation, which our networks always use), spectral norm after one power
iteration (folded once by :func:`prepare_for_inference`), output ``tanh`` clipped to ``[0, 1]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hifacegan.models.generator import SIZE_MULTIPLE
from hifacegan.models.prepare import prepare_for_inference

# Five 2x down-samplings and per-sample normalisation: at 32 px the deepest map is 1x1 and cannot be
# normalised (zero variance), so smaller inputs are padded up to 64 px and cropped back.
MIN_INPUT_SIZE = 2 * SIZE_MULTIPLE

# Colour fix: Gaussian sigma as a fraction of the image's shorter side (it scales with the face size).
# 3 px at 128 px was the best of 1.5 / 3 / 6 px across the six tasks for our first default model, a
# hifacegan-24 that tinted faces (jpeg 26.7 -> 33.4 dB). The shipped lipspade model keeps colours by
# itself and runs without the fix (its model card says why).
COLOR_FIX_SIGMA_FRACTION = 3 / 128

__all__ = ["COLOR_FIX_SIGMA_FRACTION", "card_color_fix", "keep_input_colors", "pad_to_multiple",
           "prepare_for_inference", "restore_tensor"]


def pad_to_multiple(images: torch.Tensor, multiple: int = SIZE_MULTIPLE,
                    min_size: int = MIN_INPUT_SIZE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``(N, C, H, W)`` on the bottom/right up to multiples of ``multiple`` and at least ``min_size``.

    Reflection padding (mirrors content, so the per-sample normalisation statistics barely move);
    for sides too small to reflect, replication. Returns the padded batch and the original ``(H, W)``.
    """
    h, w = images.shape[-2:]
    target_h = max(h + (-h % multiple), min_size)
    target_w = max(w + (-w % multiple), min_size)
    pad_h, pad_w = target_h - h, target_w - w
    if pad_h == 0 and pad_w == 0:
        return images, (h, w)
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode), (h, w)


def _gaussian_lowpass(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)``, truncated at 3 sigma, mirrored borders."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).repeat(images.shape[1], 1, 1, 1)  # (C, 1, 1, K): depthwise
    h, w = images.shape[-2:]
    mode = "reflect" if radius < min(h, w) else "replicate"
    x = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode=mode), kernel, groups=images.shape[1])
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode=mode), kernel.transpose(-1, -2), groups=images.shape[1])


def keep_input_colors(restored: torch.Tensor, reference: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """The colour fix: the restored image's details on the reference's low frequencies (colour, shading).

    In the ``hifacegan`` variant every SPADE layer is conditioned on instance-normalised suppression
    features, so absolute colour reaches the output only through the 4x4 latent and a briefly trained
    model tints faces; blur, noise, JPEG and down-sampling all keep an image's low frequencies, so the
    degraded input is the better source for them. This is the colour fix of StableSR (its wavelet
    split, here one Gaussian split).

    Args:
        restored: ``(N, 3, H, W)`` model output in ``[0, 1]``.
        reference: the degraded input, same shape.
        sigma: Gaussian sigma in pixels separating low from high frequencies; ``None`` =
            :data:`COLOR_FIX_SIGMA_FRACTION` of the shorter side.

    Returns:
        ``restored - lowpass(restored) + lowpass(reference)``, clipped to ``[0, 1]``.
    """
    if restored.shape != reference.shape:
        raise ValueError(f"keep_input_colors needs equal shapes, got {tuple(restored.shape)} "
                         f"and {tuple(reference.shape)}")
    sigma = sigma if sigma is not None else COLOR_FIX_SIGMA_FRACTION * min(restored.shape[-2:])
    reference = reference.to(restored)
    return (restored - _gaussian_lowpass(restored, sigma) + _gaussian_lowpass(reference, sigma)).clamp_(0.0, 1.0)


def card_color_fix(model: nn.Module) -> bool:
    """Whether ``model``'s model card asks for the colour fix (its validation table was measured with it)."""
    return bool((getattr(model, "model_card", None) or {}).get("color_fix", False))


@torch.no_grad()
def restore_tensor(model: nn.Module, images: torch.Tensor, batch_size: int = 8, *,
                   color_fix: bool = False) -> torch.Tensor:
    """Restore a batch of images of any size.

    Args:
        model: a generator prepared by :func:`prepare_for_inference` (or :func:`hifacegan.load_model`).
        images: ``(N, 3, H, W)`` float in ``[0, 1]``, any ``H, W``; padded to multiples of 32 and
            cropped back (sides under 64 px are padded to 64).
        batch_size: images per forward pass.
        color_fix: keep the input's colours (:func:`keep_input_colors` with the input as reference).

    Returns:
        ``(N, 3, H, W)`` float32 in ``[0, 1]`` on the input's device.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected an (N, 3, H, W) batch, got shape {tuple(images.shape)}")
    device = next(model.parameters()).device
    outputs = []
    for start in range(0, images.shape[0], batch_size):
        chunk = images[start:start + batch_size].to(device=device, dtype=torch.float32)
        padded, (h, w) = pad_to_multiple(chunk)
        out = model(padded)[..., :h, :w].float().clamp_(0.0, 1.0)
        if color_fix:
            out = keep_input_colors(out, chunk)
        outputs.append(out.to(images.device))
    return torch.cat(outputs)
