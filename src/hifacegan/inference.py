"""Running a generator on images: test-time preparation, padding to multiples of 32, clipping.

Official test-time semantics (Face-Renovation ``test.py``): generator in train mode with batch 1
(per-sample normalisation, which our networks always use), spectral norm after one power
iteration (folded once by :func:`prepare_for_inference`), output ``tanh`` clipped to ``[0, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
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
#: The colour fix also smooths the result's chroma at this fraction of the shorter side (4 px at 512):
#: faces hold no sharper colour detail than that, but GAN outputs do, as coloured glints in the eyes
#: and on teeth (issue 28); the luma, where the eye sees detail, is left exactly as it was.
CHROMA_SIGMA_FRACTION = 1 / 128
#: BT.601 luma weights (R, G, B).
_LUMA = (0.299, 0.587, 0.114)

#: The coarse pass (issue 28, opt-in): a face is first restored at this fraction of its size, where the generator's
#: receptive field spans the whole face, then enlarged and restored again at full size. The generator was trained on
#: 160-px patches of 512-px faces: from a face blurred to 30 px, a patch does not say where the eyes are. Half size
#: measured best (ntire_val NIQE 4.51 against 5.18 at 160 px for the stage-9 generator, every face two-pass).
COARSE_PASS_SCALE = 0.5

#: ``precision`` values: ``auto`` picks bf16 autocast where the hardware runs it fast, else fp32.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# CPU flags of native bf16 arithmetic: AVX-512 BF16 (Cooper Lake, Zen 4 and later) and AMX (Sapphire Rapids
# and later). Without them oneDNN emulates bf16 and autocast is slower than fp32, so auto stays fp32.
_FAST_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

__all__ = ["CHROMA_SIGMA_FRACTION", "COARSE_PASS_SCALE", "COLOR_FIX_SIGMA_FRACTION", "PRECISIONS", "autocast_dtype",
           "card_coarse_pass", "card_color_fix", "coarse_to_fine", "cpu_flags", "cpu_has_fast_bf16", "heavily_degraded",
           "keep_input_colors", "pad_to_multiple", "prepare_for_inference", "restore_faces", "restore_tensor",
           "takes_coarse_pass"]


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags of this CPU (the first ``flags`` line of ``/proc/cpuinfo``).

    Off Linux (no ``/proc/cpuinfo``) the set is empty: callers then take the choice that is never slow.
    """
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[-1].split())
    return frozenset()


def cpu_has_fast_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX flags in ``/proc/cpuinfo``).

    Off Linux (no ``/proc/cpuinfo``) the answer is ``False``: fp32 is never the slow choice.
    """
    return bool(_FAST_BF16_CPU_FLAGS & cpu_flags(cpuinfo))


def autocast_dtype(precision: str, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; ``None`` means plain fp32.

    ``auto``: on CUDA bf16 (fp16 where the GPU lacks bf16); on a CPU bf16 when
    :func:`cpu_has_fast_bf16`, else fp32; on other devices fp32.

    Raises:
        ValueError: an unknown precision, or fp16 on a CPU (PyTorch's CPU fp16 kernels are slow and
            the range of fp16 overflows in this network's normalisation statistics).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type == "cpu":
            raise ValueError("precision fp16 is for GPUs; on a CPU use bf16 or fp32")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def _model_device(model: Any) -> torch.device:
    """Where ``model`` runs: its parameters' device, or its ``device`` attribute (ONNX Runtime sessions: CPU)."""
    parameter = next(iter(model.parameters()), None) if isinstance(model, nn.Module) else None
    return parameter.device if parameter is not None else torch.device(getattr(model, "device", "cpu"))


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


def smooth_chroma(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur the colour of ``(N, 3, H, W)`` images, not their BT.601 luma: ``Y + lowpass(RGB - Y)``.

    The luma is unchanged exactly (the luma of ``RGB - Y`` is 0, and blurring keeps it 0).
    """
    weights = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    luma = (images * weights).sum(1, keepdim=True)
    return luma + _gaussian_lowpass(images - luma, sigma)


def keep_input_colors(restored: torch.Tensor, reference: torch.Tensor, sigma: float | None = None,
                      chroma_sigma: float | None = None) -> torch.Tensor:
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
        chroma_sigma: then the result's chroma is blurred at this sigma (:func:`smooth_chroma`), which
            removes the model's coloured glints; ``None`` = :data:`CHROMA_SIGMA_FRACTION` of the
            shorter side; below 1 px (faces under 128 px), or 0, nothing is blurred.

    Returns:
        ``restored - lowpass(restored) + lowpass(reference)`` with smoothed chroma, clipped to ``[0, 1]``.
    """
    if restored.shape != reference.shape:
        raise ValueError(f"keep_input_colors needs equal shapes, got {tuple(restored.shape)} "
                         f"and {tuple(reference.shape)}")
    sigma = sigma if sigma is not None else COLOR_FIX_SIGMA_FRACTION * min(restored.shape[-2:])
    chroma_sigma = chroma_sigma if chroma_sigma is not None else CHROMA_SIGMA_FRACTION * min(restored.shape[-2:])
    reference = reference.to(restored)
    fixed = restored - _gaussian_lowpass(restored, sigma) + _gaussian_lowpass(reference, sigma)
    if chroma_sigma >= 1.0:
        fixed = smooth_chroma(fixed, chroma_sigma)
    return fixed.clamp_(0.0, 1.0)


def card_color_fix(model: nn.Module) -> bool:
    """Whether ``model``'s model card asks for the colour fix (its validation table was measured with it)."""
    return bool((getattr(model, "model_card", None) or {}).get("color_fix", False))


def card_coarse_pass(model: Any) -> float | None:
    """The input NIQE from which ``model``'s card asks for the coarse pass (:func:`coarse_to_fine`), or ``None``."""
    rule = (getattr(model, "model_card", None) or {}).get("coarse_pass") or {}
    return float(rule["niqe_at_least"]) if "niqe_at_least" in rule else None


def takes_coarse_pass(model: Any, crop: np.ndarray, coarse_pass: bool | None = None) -> bool:
    """Whether :func:`restore_faces` restores ``crop`` in two passes (:func:`coarse_to_fine`).

    ``coarse_pass`` ``True``/``False`` decides; ``None``: the model card's rule, for crops of the card's ``size``
    whose NIQE is at least ``coarse_pass.niqe_at_least`` (never when the card has no rule).
    """
    if coarse_pass is not None:
        return coarse_pass
    threshold = card_coarse_pass(model)
    if threshold is None:
        return False
    # NIQE depends on scale (its 96-px blocks see more of a small face), and the card's threshold was measured on
    # crops of the card's size: a 200-px face blurred by 2 px scores far above a 512-px one. Crops of other sizes
    # (aligned input at its own size) get one pass unless asked.
    size = (getattr(model, "model_card", None) or {}).get("size")
    if size is not None and tuple(np.shape(crop)[:2]) != (int(size), int(size)):
        return False
    return heavily_degraded(np.asarray(crop), threshold)


def heavily_degraded(crop: np.ndarray, niqe_at_least: float) -> bool:
    """Whether a face crop's standard NIQE (:func:`hifacegan.metrics.niqe.niqe`) is at least ``niqe_at_least``.

    About 0.1 s for a 512-px crop on two cores, a tenth of the model's time. A crop NIQE cannot measure (under
    192x96 px, or flat) counts as not heavily degraded: it gets the one full-size pass.
    """
    from hifacegan.metrics.niqe import niqe

    try:
        return niqe(crop) >= niqe_at_least
    except ValueError:
        return False


@torch.no_grad()
def coarse_to_fine(model: nn.Module, images: torch.Tensor, batch_size: int = 8, *, color_fix: bool = False,
                   precision: str = "fp32", scale: float = COARSE_PASS_SCALE) -> torch.Tensor:
    """Restore faces in two passes: at ``scale`` of their size for the layout, then at full size.

    The coarse result (area-reduced input, restored, bicubic-enlarged) is the input of the full-size pass; the
    colour fix of both passes keeps the colours of the original input. Measured on the 100 real faces of
    ntire_val with the previous default model (``docs/models.md``): standard NIQE 5.17 -> 5.03 when only faces of
    input NIQE >= 10 take it (WebPhoto 4.93 -> 4.62, Wider 5.45 -> 5.02, the other groups within 0.03; on all
    faces the mild ones get worse, CelebA 5.40 -> 5.97). Seen at full size, though, the gain is mostly texture:
    the misplaced, glinting eye lines of broken faces go, but the first pass draws skin texture at twice its
    scale, which the second sharpens into wrinkles and grain. Hence opt-in, not the default.

    Args and returns as :func:`restore_tensor`; ``scale`` in ``(0, 1)``.
    """
    if not 0.0 < scale < 1.0:
        raise ValueError(f"the coarse pass's scale must be between 0 and 1, got {scale}")
    size = images.shape[-2:]
    small = F.interpolate(images.float(), size=(max(1, round(size[0] * scale)), max(1, round(size[1] * scale))),
                          mode="area")
    coarse = restore_tensor(model, small, batch_size, color_fix=color_fix, precision=precision)
    enlarged = F.interpolate(coarse, size=size, mode="bicubic", align_corners=False).clamp_(0.0, 1.0)
    restored = restore_tensor(model, enlarged, batch_size, precision=precision)
    return keep_input_colors(restored, images.to(restored)) if color_fix else restored


@torch.no_grad()
def restore_tensor(model: nn.Module, images: torch.Tensor, batch_size: int = 8, *,
                   color_fix: bool = False, precision: str = "fp32") -> torch.Tensor:
    """Restore a batch of images of any size.

    Args:
        model: a generator prepared by :func:`prepare_for_inference` (or :func:`hifacegan.load_model`).
        images: ``(N, 3, H, W)`` float in ``[0, 1]``, any ``H, W``; padded to multiples of 32 and
            cropped back (sides under 64 px are padded to 64).
        batch_size: images per forward pass.
        color_fix: keep the input's colours (:func:`keep_input_colors` with the input as reference).
        precision: ``fp32`` (default here: the official outputs to 1e-6), ``bf16``, ``fp16`` (GPU) or
            ``auto`` (:func:`autocast_dtype`); anything but fp32 runs the model under ``torch.autocast``.
            An ONNX Runtime model (:class:`hifacegan.onnx_runtime.OnnxGenerator`) always runs fp32.

    Returns:
        ``(N, 3, H, W)`` float32 in ``[0, 1]`` on the input's device.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected an (N, 3, H, W) batch, got shape {tuple(images.shape)}")
    device = _model_device(model)
    dtype = autocast_dtype(precision, device) if isinstance(model, nn.Module) else None
    outputs = []
    for start in range(0, images.shape[0], batch_size):
        chunk = images[start:start + batch_size].to(device=device, dtype=torch.float32)
        padded, (h, w) = pad_to_multiple(chunk)
        with torch.autocast(device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(padded)
        out = out[..., :h, :w].float().clamp_(0.0, 1.0)
        if color_fix:
            out = keep_input_colors(out, chunk)
        outputs.append(out.to(images.device))
    return torch.cat(outputs)


def restore_faces(model: Any, crops: Sequence[np.ndarray], *, batch_size: int = 8, color_fix: bool | None = None,
                  precision: str = "auto", coarse_pass: bool | None = None) -> list[np.ndarray]:
    """Restore a list of ``(H, W, 3)`` RGB crops: the one batch-restore function of the package.

    The :class:`~hifacegan.restorer.Restorer`, ``hifacegan benchmark-tasks`` and the benchmark scripts
    restore faces through here (the trainer's validation, already holding tensors, through
    :func:`restore_tensor`). Crops of equal size go through the model together, ``batch_size`` at a
    time; crops of other sizes, and crops restored in two passes, in their own groups; the output order is
    the input order.

    Args:
        model: a generator ready for inference (:func:`hifacegan.load_model`) or an ONNX Runtime model
            (:func:`hifacegan.onnx_runtime.load_onnx`).
        crops: ``uint8`` or float ``[0, 1]`` arrays; any size (see :func:`restore_tensor`).
        batch_size: crops per forward pass.
        color_fix: keep each crop's low frequencies (:func:`keep_input_colors`); ``None``: the model card's choice.
        precision: ``auto`` (bf16 autocast on CPUs with AVX512-BF16/AMX and on GPUs, else fp32), ``fp32``,
            ``bf16`` or ``fp16`` (GPU); see :func:`autocast_dtype`.
        coarse_pass: restore in two passes (:func:`coarse_to_fine`): ``True`` every crop, ``False`` none;
            ``None``: as the model card says (:func:`takes_coarse_pass`).

    Returns:
        The restored crops, ``uint8`` for ``uint8`` input, else float32 in ``[0, 1]``.

    Raises:
        ValueError: a crop is not ``(H, W, 3)``, or the model produced NaN or infinity (nothing is
            returned then, so nothing gets pasted).
    """
    from hifacegan.io import float_to_uint8
    from hifacegan.tensor import image_to_tensor, tensor_to_image

    color_fix = card_color_fix(model) if color_fix is None else color_fix
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, crop in enumerate(crops):
        groups.setdefault((*np.shape(crop), takes_coarse_pass(model, crop, coarse_pass)), []).append(index)
    results: list[np.ndarray | None] = [None] * len(crops)
    with torch.inference_mode():
        for key, indices in groups.items():
            batch = image_to_tensor([crops[i] for i in indices])  # (H, W, 3) checked here
            restore = coarse_to_fine if key[-1] else restore_tensor
            restored = restore(model, batch, batch_size, color_fix=color_fix, precision=precision)
            finite = torch.isfinite(restored).flatten(1).all(dim=1)
            if not bool(finite.all()):
                # Never hand back NaN/inf: pasted, it would show as black squares under a "restored" message.
                bad = sorted(indices[k] for k, ok in enumerate(finite.tolist()) if not ok)
                raise ValueError(f"the model produced non-finite values (NaN or infinity) for face(s) {bad}; its "
                                 "weights are probably corrupt, try another model")
            for index, image in zip(indices, tensor_to_image(restored), strict=True):
                results[index] = float_to_uint8(image) if np.asarray(crops[index]).dtype == np.uint8 else image
    return [r for r in results if r is not None]
