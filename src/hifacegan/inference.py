"""Running a generator on images: test-time preparation, padding to multiples of 32, clipping.

Official test-time semantics (Face-Renovation ``test.py``): generator in train mode with batch 1
(per-sample normalisation, which our networks always use), spectral norm after one power
iteration (folded once by :func:`prepare_for_inference`), output ``tanh`` clipped to ``[0, 1]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hifacegan.layers.norms import fold_spectral_norm, has_spectral_norm
from hifacegan.models.generator import SIZE_MULTIPLE

# Five 2x down-samplings and per-sample normalisation: at 32 px the deepest map is 1x1 and cannot be
# normalised (zero variance), so smaller inputs are padded up to 64 px and cropped back.
MIN_INPUT_SIZE = 2 * SIZE_MULTIPLE

__all__ = ["pad_to_multiple", "prepare_for_inference", "restore_tensor"]


def prepare_for_inference(model: nn.Module) -> nn.Module:
    """Fold spectral norm into plain weights, switch to eval mode and freeze, in place."""
    if has_spectral_norm(model):
        fold_spectral_norm(model, power_iterations=1)
    model.eval()
    model.requires_grad_(False)
    return model


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


@torch.no_grad()
def restore_tensor(model: nn.Module, images: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """Restore a batch of images of any size.

    Args:
        model: a generator prepared by :func:`prepare_for_inference` (or :func:`hifacegan.load_model`).
        images: ``(N, 3, H, W)`` float in ``[0, 1]``, any ``H, W``; padded to multiples of 32 and
            cropped back (sides under 64 px are padded to 64).
        batch_size: images per forward pass.

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
        out = model(padded)[..., :h, :w]
        outputs.append(out.float().clamp_(0.0, 1.0).to(images.device))
    return torch.cat(outputs)
