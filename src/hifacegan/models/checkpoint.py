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
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hifacegan.io import atomic_write_bytes
from hifacegan.models._factory import create_model
from hifacegan.models.adapters import adapt_state_dict, clean_state_dict, infer_architecture
from hifacegan.models.prepare import prepare_for_inference

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
        card = _read_card(path, metadata)
        _check_finite(state, path)
        return state, card
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not _is_pickle(path):  # garbage bytes, not a pickle of forbidden objects
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (corrupt or not a pickle)") from exc
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))  # torch names the first forbidden callable, if any
        what = f" (first refused: {found.group(1)})" if found else ""
        raise CheckpointError(
            f"{path}: refused for safety: the file holds pickled Python objects other than tensors{what}, and "
            f"loading objects that are not tensors could run arbitrary code; it was not loaded. Only plain state "
            f"dicts are accepted; if you trust the file, re-save its state_dict (torch.save(model.state_dict(), "
            f"...)) or convert it to safetensors."
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: expected a state dict, found a {type(checkpoint).__name__}")
    state = clean_state_dict(checkpoint)
    _check_finite(state, path)
    return state, {}


def _is_pickle(path: Path) -> bool:
    """Whether ``path`` is a well-formed pickle (or a PyTorch zip holding one), parsed without running it."""
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                if not names:
                    return False
                data = archive.read(names[0])
        else:
            data = path.read_bytes()
        for _ in pickletools.genops(data):  # parses opcodes only; nothing is imported or called
            pass
    except Exception:  # noqa: BLE001 - any parse failure means "not a pickle"
        return False
    return True


def _check_finite(state: dict[str, Any], path: Path) -> None:
    """Refuse weights holding NaN or infinity: such a model restores every face to a black square."""
    for key, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"{path}: tensor {key!r} holds {bad} non-finite value(s) (NaN or infinity): "
                                  "the weights are corrupt or come from a diverged training run; use another file")


def _read_card(path: Path, metadata: dict[str, str]) -> dict[str, Any]:
    """The model card of one of our files, with the fields used to build and run a model checked.

    Raises:
        CheckpointError: not a JSON object, or ``variant``/``ngf``/``size`` of the wrong kind, naming the field.
    """
    from hifacegan.models._registry import list_models

    if "model_card" not in metadata:
        return {}
    try:
        card = json.loads(metadata["model_card"])
    except ValueError as exc:
        raise CheckpointError(f"{path}: the model card (metadata field 'model_card') is not valid JSON "
                              f"({exc})") from exc
    if not isinstance(card, dict):
        raise CheckpointError(f"{path}: the model card (metadata field 'model_card') must be a JSON object, "
                              f"got {type(card).__name__}")
    variants = list_models(include_test=True)
    if "variant" in card and card["variant"] not in variants:
        raise CheckpointError(f"{path}: model card field 'variant' is {card['variant']!r}; "
                              f"expected one of {', '.join(variants)}")
    for name in ("ngf", "size"):
        value = card.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise CheckpointError(f"{path}: model card field {name!r} is {value!r}; expected a positive whole number")
    return card


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
    if ngf is not None and ngf != inferred_ngf:
        # Checked before building: a wrong width could ask for tens of GB (ngf 400 for a 45 MB file).
        raise CheckpointError(f"{source}: ngf {ngf} (from --ngf or the model card's 'ngf' field) does not match "
                              f"the tensors, which are ngf {inferred_ngf}; drop it to use the file's own width")
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
    state, card = read_weights(path)
    model, variant, width = build_from_state_dict(state, arch or card.get("variant"), ngf or card.get("ngf"), str(path))
    # A plain attribute beside the weights (nn.Module.__setattr__ types only tensors and modules).
    model.model_card = {**card, "variant": variant, "ngf": width, "source": str(path)}  # type: ignore[assignment]
    model.to(device)
    if for_inference:
        prepare_for_inference(model)
    return model
