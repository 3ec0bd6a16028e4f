"""Pack a whole training checkpoint into a few small files, and unpack it into a resumable ``last.pt``.

A short run on a lent GPU must bring its state back through a narrow door (at most 8 files of at most
16 MiB), and a CPU run then resumes from it with ``--resume auto``. A lipspade-24 checkpoint is about
377 MB in fp32 (G, EMA, Adam's two moments for G, D and its moments), so the pack drops or narrows
what the next run can do without:

* Adam's first moment (``exp_avg``) is not stored when the optimiser's beta1 is 0, as in the official
  recipe (Adam(0, 0.9)): then ``exp_avg = g_t`` is overwritten by the very next step, so zeros are exact.
* The second moment is stored as ``log2(sqrt(v))`` quantised to 8 bits over its own range (a relative
  step error of a few percent per parameter, once, at the hand-over); zeros stay exact zeros.
* The generator is stored in float16 (relative rounding 2^-11, once), its EMA as 8-bit steps of its
  difference from that generator (per tensor); the discriminator (1.4 M parameters) stays float32.
* Scalars, the config, schedulers and RNG states (CPU ones; CUDA generators are not carried to a CPU)
  travel as JSON in the safetensors metadata.

The result is one safetensors blob split into ``state.partNN`` files plus ``state.json`` (the part
list with sizes and sha256), so a truncated or missing part is caught before anything is loaded.
The command line is ``python -m hifacegan.cli.state_pack pack|unpack`` (:mod:`hifacegan.cli.state_pack`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from hifacegan.io import atomic_write_bytes
from hifacegan.training import checkpoint as ckpt

__all__ = ["MIB", "PACK_FORMAT", "StatePackError", "pack_checkpoint", "unpack_checkpoint"]

PACK_FORMAT = "hifacegan-train-pack-v1"
MIB = 1 << 20


class StatePackError(ValueError):
    """A pack is incomplete, corrupt or of another format; the message names the file."""


def _quantise_log(v: torch.Tensor) -> dict[str, torch.Tensor]:
    v = v.float()
    positive = v > 0
    out = {"q": torch.zeros(v.shape, dtype=torch.uint8)}
    if positive.any():
        logs = 0.5 * torch.log2(v[positive])  # log2(sqrt(v)): the Adam denominator's scale
        lo, hi = float(logs.min()), float(logs.max())
        span = max(hi - lo, 1e-6)
        # code 0 means exactly zero; 1..255 cover [lo, hi]
        codes = torch.round((logs - lo) / span * 254).to(torch.uint8) + 1
        out["q"][positive] = codes
        out["range"] = torch.tensor([lo, hi], dtype=torch.float64)
    return out


def _dequantise_log(q: torch.Tensor, bounds: torch.Tensor | None) -> torch.Tensor:
    v = torch.zeros(q.shape, dtype=torch.float32)
    if bounds is not None:
        lo, hi = (float(x) for x in bounds)
        nonzero = q > 0
        logs = lo + (q[nonzero].float() - 1) / 254 * max(hi - lo, 1e-6)
        v[nonzero] = torch.exp2(2 * logs)
    return v


def _quantise_delta(value: torch.Tensor, base: torch.Tensor) -> dict[str, torch.Tensor]:
    """The EMA as int8 steps of its difference from the (float16) generator, per-tensor scale.

    EMA and generator differ by a few recent updates, so the difference is small and 8 bits of it
    lose far less than storing the EMA itself in float16 would.
    """
    delta = value.float() - base.float()
    scale = float(delta.abs().max()) / 127 or 1.0
    return {"q": torch.round(delta / scale).to(torch.int8), "scale": torch.tensor([scale], dtype=torch.float64)}


def _dequantise_delta(tensors: dict[str, torch.Tensor], prefix: str, base: torch.Tensor) -> torch.Tensor:
    return base.float() + tensors[f"{prefix}.q"].float() * float(tensors[f"{prefix}.scale"])


def _pack_optimizer(prefix: str, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Adam state dict -> tensors (moments) + JSON (param groups, steps, what was dropped)."""
    groups = state["param_groups"]
    beta1_zero = all(float(g["betas"][0]) == 0.0 for g in groups)
    meta: dict[str, Any] = {"param_groups": groups, "beta1_zero": beta1_zero, "steps": {}}
    for index, entry in state["state"].items():
        meta["steps"][str(index)] = float(entry["step"])
        if not beta1_zero:
            tensors[f"{prefix}.{index}.exp_avg"] = entry["exp_avg"].to(torch.float16)
        quantised = _quantise_log(entry["exp_avg_sq"])
        tensors[f"{prefix}.{index}.v_q"] = quantised["q"]
        if "range" in quantised:
            tensors[f"{prefix}.{index}.v_range"] = quantised["range"]
    return meta


def _unpack_optimizer(prefix: str, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    out: dict[str, Any] = {"param_groups": meta["param_groups"], "state": {}}
    for index, step in meta["steps"].items():
        v = _dequantise_log(tensors[f"{prefix}.{index}.v_q"], tensors.get(f"{prefix}.{index}.v_range"))
        m = torch.zeros_like(v) if meta["beta1_zero"] else tensors[f"{prefix}.{index}.exp_avg"].float()
        out["state"][int(index)] = {"step": torch.tensor(step), "exp_avg": m, "exp_avg_sq": v}
    return out


def _json_rng(rng: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor]]:
    """RNG states: the torch CPU state becomes a tensor, CUDA states are dropped, the rest is JSON."""
    plain, tensors = [], {}
    for rank, state in enumerate(rng):
        entry = {k: v for k, v in state.items() if k not in ("torch", "cuda")}
        entry["numpy"] = {k: v for k, v in state["numpy"].items() if k != "key"}
        tensors[f"rng.{rank}.torch"] = state["torch"]
        tensors[f"rng.{rank}.numpy_key"] = state["numpy"]["key"]
        plain.append(entry)
    return plain, tensors


def pack_checkpoint(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, *, part_mib: int = 16,
                    max_parts: int = 7) -> list[Path]:
    """Pack a training checkpoint (``last.pt``) into ``out_dir/state.partNN`` + ``out_dir/state.json``.

    The default, 7 parts of 16 MiB plus the index, is the 8-file door of a lent GPU machine.

    Returns:
        The files written (parts, then the index).

    Raises:
        StatePackError: the pack would need more than ``max_parts`` parts of ``part_mib`` MiB.
    """
    state = ckpt.load_checkpoint(checkpoint)
    tensors: dict[str, torch.Tensor] = {}
    for key, value in state["generator"].items():
        tensors[f"generator.{key}"] = value.to(torch.float16) if value.is_floating_point() else value.contiguous()
    for key, value in state["discriminator"].items():
        tensors[f"discriminator.{key}"] = value.contiguous()
    for key, value in (state.get("ema") or {}).items():
        base = tensors[f"generator.{key}"]
        if value.is_floating_point() and base.is_floating_point():
            tensors.update({f"ema.{key}.{k}": v for k, v in _quantise_delta(value, base).items()})
        else:
            tensors[f"ema.{key}"] = value.contiguous()
    rng, rng_tensors = _json_rng(state["rng"])
    tensors.update(rng_tensors)
    meta = {
        "format": PACK_FORMAT,
        "optimizer_g": _pack_optimizer("optimizer_g", state["optimizer_g"], tensors),
        "optimizer_d": _pack_optimizer("optimizer_d", state["optimizer_d"], tensors),
        "rng": rng,
        "dtypes": {name: {k: str(v.dtype).removeprefix("torch.") for k, v in state[name].items()}
                   for name in ("generator", "ema", "discriminator") if state.get(name) is not None},
        **{k: v for k, v in state.items() if k not in ("generator", "ema", "discriminator", "optimizer_g",
                                                       "optimizer_d", "rng", "format", "version")},
    }
    blob = save_safetensors(tensors, metadata={"pack": json.dumps(meta)})
    size = part_mib * MIB
    count = -(-len(blob) // size)
    if count > max_parts:
        raise StatePackError(f"{checkpoint}: the packed state is {len(blob) / MIB:.1f} MiB, more than "
                             f"{max_parts} parts of {part_mib} MiB")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, index = [], {"format": PACK_FORMAT, "step": state["step"], "parts": []}
    for i in range(count):
        chunk = blob[i * size:(i + 1) * size]
        path = out / f"state.part{i:02d}"
        atomic_write_bytes(path, chunk)
        index["parts"].append({"file": path.name, "bytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
        written.append(path)
    index_path = out / "state.json"
    ckpt.write_text(index_path, json.dumps(index, indent=1) + "\n")
    return [*written, index_path]


def unpack_checkpoint(pack_dir: str | os.PathLike, out_checkpoint: str | os.PathLike) -> Path:
    """Rebuild a resumable training checkpoint from :func:`pack_checkpoint`'s files.

    Raises:
        StatePackError: missing index or part, wrong size or checksum, or another format.
    """
    folder = Path(pack_dir)
    index_path = folder / "state.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StatePackError(f"{index_path}: not a readable pack index ({exc})") from exc
    if index.get("format") != PACK_FORMAT:
        raise StatePackError(f"{index_path}: format {index.get('format')!r}, expected {PACK_FORMAT!r}")
    chunks = []
    for part in index["parts"]:
        path = folder / part["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StatePackError(f"{path}: missing part of the pack ({exc})") from exc
        if len(data) != part["bytes"] or hashlib.sha256(data).hexdigest() != part["sha256"]:
            raise StatePackError(f"{path}: truncated or corrupt ({len(data)} bytes, expected {part['bytes']})")
        chunks.append(data)
    blob = b"".join(chunks)
    tensors = load_safetensors(blob)
    # safetensors' load() returns tensors only; the metadata is the header's "__metadata__" (JSON).
    header_len = int.from_bytes(blob[:8], "little")
    meta = json.loads(json.loads(blob[8:8 + header_len])["__metadata__"]["pack"])
    state: dict[str, Any] = {k: v for k, v in meta.items()
                             if k not in ("format", "optimizer_g", "optimizer_d", "rng", "dtypes")}
    for name in ("generator", "discriminator"):
        state[name] = {k: tensors[f"{name}.{k}"].to(getattr(torch, dtype)) for k, dtype in meta["dtypes"][name].items()}
    state["ema"] = None
    if "ema" in meta["dtypes"]:
        state["ema"] = {k: (_dequantise_delta(tensors, f"ema.{k}", tensors[f"generator.{k}"])
                            if f"ema.{k}.q" in tensors else tensors[f"ema.{k}"]).to(getattr(torch, dtype))
                        for k, dtype in meta["dtypes"]["ema"].items()}
    state["optimizer_g"] = _unpack_optimizer("optimizer_g", meta["optimizer_g"], tensors)
    state["optimizer_d"] = _unpack_optimizer("optimizer_d", meta["optimizer_d"], tensors)
    state["rng"] = [{**entry, "numpy": {**entry["numpy"], "key": tensors[f"rng.{rank}.numpy_key"]},
                     "torch": tensors[f"rng.{rank}.torch"], "cuda": []}
                    for rank, entry in enumerate(meta["rng"])]
    return ckpt.save_checkpoint(out_checkpoint, state)
