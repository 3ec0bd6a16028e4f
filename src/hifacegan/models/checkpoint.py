"""Reading and writing generator weights: foreign ``.pth`` files (safely) and our safetensors format.

Our format: one ``.safetensors`` file whose metadata holds ``format``/``format_version`` and a JSON
model card (variant, ngf, task, training data, provenance), plus the same card as a sidecar
``<stem>.json`` for people. Pickled files are read only with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hifacegan.io import atomic_write_bytes
from hifacegan.models._factory import create_model
from hifacegan.models.adapters import adapt_state_dict, clean_state_dict, infer_architecture

logger = logging.getLogger(__name__)

FORMAT_NAME = "hifacegan"
FORMAT_VERSION = "1"


class CheckpointError(ValueError):
    """A weights file cannot be used; the message says which file, why, and what to do."""


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a weights file without building a model.

    Args:
        path: ``.safetensors`` (ours or plain) or a PyTorch pickle (``.pth``/``.pt``/``.ckpt``).

    Returns:
        ``(state_dict, card)``; ``card`` is the model card for our files, ``{}`` otherwise.

    Raises:
        CheckpointError: missing file, not a weights file, or a pickle holding non-tensor objects.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from exc
        card = json.loads(metadata["model_card"]) if "model_card" in metadata else {}
        return state, card
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc):  # garbage bytes, not a pickle of forbidden objects
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (corrupt or not a pickle)") from exc
        raise CheckpointError(
            f"{path}: refused: the file contains pickled Python objects that are not tensors, and "
            f"loading them could run arbitrary code. Only plain state dicts are accepted; if you trust the "
            f"file, re-save its state_dict (torch.save(model.state_dict(), ...)) or convert it to safetensors."
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: expected a state dict, found a {type(checkpoint).__name__}")
    return clean_state_dict(checkpoint), {}


def load_generator_state(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strictly load ``state_dict`` (our layout) into ``model``, with errors that name the key.

    Raises:
        CheckpointError: a shape mismatch (naming the first mismatching key), or missing/unexpected keys.
    """
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key in state_dict and tuple(state_dict[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source}: wrong shape for key {key!r}: checkpoint has {tuple(state_dict[key].shape)}, the model "
                f"expects {tuple(tensor.shape)}. Check --arch/--ngf, or let them be inferred from the file."
            )
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: keys do not match the model: {len(missing)} missing (first: {missing[:3]}), "
            f"{len(unexpected)} unexpected (first: {unexpected[:3]})"
        )
    converted = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state_dict.items()}
    model.load_state_dict(converted, strict=True)


def build_from_state_dict(state_dict: dict[str, torch.Tensor], arch: str | None = None, ngf: int | None = None,
                          source: str = "checkpoint") -> tuple[nn.Module, str, int]:
    """Adapt a state dict of any known layout, infer what is not given, build and load the generator.

    Returns:
        ``(model, variant, ngf)``; the model is in training form (spectral norm active).
    """
    adapted, layout = adapt_state_dict(state_dict)
    try:
        inferred_arch, inferred_ngf = infer_architecture(adapted)
    except ValueError as exc:
        if arch is None or ngf is None:
            raise CheckpointError(f"{source}: {exc}") from exc
        inferred_arch, inferred_ngf = arch, ngf
    variant, width = arch or inferred_arch, ngf or inferred_ngf
    logger.debug("%s: %s layout, variant %s, ngf %d", source, layout, variant, width)
    model = create_model(variant, ngf=width)
    load_generator_state(model, adapted, source)
    return model, variant, width


def model_card_for(model: nn.Module, variant: str, ngf: int, **fields: Any) -> dict[str, Any]:
    """A model card dict: architecture, parameter count, plus free-form fields (task, data, provenance...)."""
    params = sum(p.numel() for p in model.parameters())
    return {"variant": variant, "ngf": ngf, "parameters": params, **fields}


def save_model(path: str | os.PathLike, model: nn.Module, card: dict[str, Any], dtype: torch.dtype | None = None) -> Path:
    """Write ``model``'s weights in our format (safetensors + embedded card + sidecar ``.json``), atomically.

    Args:
        path: destination ``.safetensors`` file.
        model: generator in training form (spectral norm kept, so the file can be fine-tuned).
        card: model card; must contain ``variant`` and ``ngf``.
        dtype: store floating tensors in this dtype (e.g. ``torch.float16`` to halve shipped size).
    """
    from safetensors.torch import save as safetensors_save

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"our format is .safetensors, got {path.name!r}")
    if "variant" not in card or "ngf" not in card:
        raise ValueError("the model card needs 'variant' and 'ngf'")
    state = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        state[key] = tensor.contiguous()
    card = {**card, "dtype": str(dtype or "float32").replace("torch.", "")}
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "model_card": json.dumps(card, sort_keys=True)}
    atomic_write_bytes(path, safetensors_save(state, metadata=metadata))
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
    return path


def load_model(path: str | os.PathLike, arch: str | None = None, ngf: int | None = None,
               device: str | torch.device = "cpu", for_inference: bool = True) -> nn.Module:
    """Load a generator from any supported file: ours, official raw state dict, or BasicSR ``{'params': ...}``.

    Args:
        path: weights file.
        arch: variant (``hifacegan``/``lipspade``/``spade``); inferred from the keys when ``None``.
        ngf: base width; inferred when ``None``.
        device: where to put the model.
        for_inference: fold spectral norm (official test-time semantics) and switch to eval mode.

    Returns:
        The generator, with the model card as ``model.model_card``.

    Raises:
        CheckpointError: unreadable, unsafe or mismatching file.
    """
    from hifacegan.inference import prepare_for_inference

    state, card = read_weights(path)
    model, variant, width = build_from_state_dict(state, arch or card.get("variant"), ngf or card.get("ngf"), str(path))
    model.model_card = {**card, "variant": variant, "ngf": width, "source": str(path)}
    model.to(device)
    if for_inference:
        prepare_for_inference(model)
    return model
