"""Checkpoint adapters: foreign state-dict layouts -> this package's layout. Pure functions, no I/O.

Our layout differs from the official one only in names (the modules compute the same thing):

=====================================  ==========================================
official / BasicSR                     ours
=====================================  ==========================================
``G_middle_{i}.`` (BasicSR ``g_middle_``)  ``g_middle_{i}.``
``encoder.encoder_{i}.`` (hifacegan)   ``encoder.stages.{i}.``
``lip_encoder.model.{0}.`` (lipspade)  ``encoder.head.0.``
``lip_encoder.model.{3+4i}/{4+4i}.``   ``encoder.stages.{i}.0./1.``
``*.param_free_norm.running_*``        dropped: the official test-time semantics never use them
=====================================  ==========================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["adapt_basicsr", "adapt_official", "adapt_state_dict", "clean_state_dict", "detect_layout",
           "infer_architecture"]

# Averaged weights first, as GFPGAN and BasicSR test with them: ``params_ema`` (BasicSR), ``ema`` (our training
# checkpoints, beside the raw ``generator``), then the raw ones.
_WRAPPER_KEYS = ("params_ema", "ema", "params", "state_dict", "model", "generator", "netG")
_PREFIXES = ("module.", "_orig_mod.")
# Buffers of the official SPADE BatchNorm: never used at official test time (train-mode, batch 1).
_DROPPED = re.compile(r"\.param_free_norm\.(running_mean|running_var|num_batches_tracked)$")


def clean_state_dict(checkpoint: Mapping) -> dict[str, torch.Tensor]:
    """Unwrap ``{'params_ema'|'ema'|'params'|'state_dict'|...: sd}`` and strip ``module.``/``_orig_mod.`` prefixes.

    ``params_ema`` wins over ``params`` (as GFPGAN and BasicSR do at test time), and ``ema`` over
    ``generator`` in our training checkpoints (an ``ema`` of ``None``, EMA off, falls through).
    """
    state = checkpoint
    while isinstance(state, Mapping) and not _looks_like_state_dict(state):
        inner = next((state[k] for k in _WRAPPER_KEYS if k in state and isinstance(state[k], Mapping)), None)
        if inner is None:
            break
        state = inner
    cleaned = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix):]
        cleaned[key] = value
    return cleaned


def _looks_like_state_dict(mapping: Mapping) -> bool:
    return bool(mapping) and all(isinstance(v, torch.Tensor) for v in mapping.values())


def detect_layout(state_dict: Mapping[str, torch.Tensor]) -> str:
    """``"official"`` (``G_middle_`` / ``lip_encoder.model`` / ``encoder.encoder_``), ``"basicsr"``
    (``g_middle_`` with ``lip_encoder.model``) or ``"native"``."""
    keys = list(state_dict)
    if any(k.startswith("G_middle_") for k in keys) or any(k.startswith("encoder.encoder_") for k in keys):
        return "official"
    if any(k.startswith("lip_encoder.model.") for k in keys) or any(_DROPPED.search(k) for k in keys):
        return "basicsr"
    return "native"


def _rename(key: str) -> str | None:
    if _DROPPED.search(key):
        return None
    key = re.sub(r"^G_middle_", "g_middle_", key)
    key = re.sub(r"^encoder\.encoder_(\d+)\.", r"encoder.stages.\1.", key)
    match = re.match(r"^lip_encoder\.model\.(\d+)\.(.*)$", key)
    if match:
        index, rest = int(match.group(1)), match.group(2)
        if index < 3:
            return f"encoder.head.{index}.{rest}"
        stage, offset = divmod(index - 3, 4)
        return f"encoder.stages.{stage}.{offset}.{rest}"
    return key


def adapt_official(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official Face-Renovation generator state dict -> ours (see the module table)."""
    adapted = {}
    for key, value in state_dict.items():
        new = _rename(key)
        if new is not None:
            adapted[new] = value
    return adapted


def adapt_basicsr(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BasicSR ``HiFaceGAN`` params (``g_middle_``, ``lip_encoder.model``) -> ours.

    BasicSR only lowercased ``G_middle_``; every other name is the official one, so the same renaming applies.
    """
    return adapt_official(state_dict)


def adapt_state_dict(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Detect the layout and adapt to ours. Returns ``(state_dict, layout)``."""
    layout = detect_layout(state_dict)
    if layout == "official":
        return adapt_official(state_dict), layout
    if layout == "basicsr":
        return adapt_basicsr(state_dict), layout
    return dict(state_dict), layout


def infer_architecture(state_dict: Mapping[str, torch.Tensor]) -> tuple[str, int]:
    """Variant and ``ngf`` of a generator state dict in our layout.

    ``ngf`` is the width of the last RGB head's input; the variant follows from whether there is an
    encoder and whether SPADE is conditioned on the 3-channel image (``lipspade``) or on encoder
    features (``hifacegan``).

    Raises:
        ValueError: the keys do not describe a HiFaceGAN generator.
    """
    try:
        ngf = int(state_dict["to_rgbs.3.weight"].shape[1])
        label_channels = int(state_dict["head_0.norm_0.mlp_shared.0.weight"].shape[1])
    except KeyError as exc:
        raise ValueError(
            f"not a HiFaceGAN generator checkpoint: key {exc.args[0]!r} is missing "
            f"(first keys: {', '.join(list(state_dict)[:5])})"
        ) from None
    has_encoder = any(k.startswith("encoder.") for k in state_dict)
    if not has_encoder:
        return "spade", ngf
    return ("lipspade" if label_channels == 3 else "hifacegan"), ngf
