"""Weights shipped inside the package. Nothing is ever downloaded: a model is either in this table
(and in ``hifacegan/weights/``) or a local file the user passes with ``--model``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hifacegan.io import file_sha256
from hifacegan.models.checkpoint import CheckpointError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class PretrainedWeights:
    """One shipped weights file.

    Attributes:
        name: what users call it.
        filename: file inside ``hifacegan/weights/``.
        sha256: checked before loading.
        variant: generator variant.
        ngf: base width.
        size: training crop size (pixels, square).
        task: degradations it was trained on.
        data: training data and its licence.
    """

    name: str
    filename: str
    sha256: str
    variant: str
    ngf: int
    size: int
    task: str
    data: str


PRETRAINED: dict[str, PretrainedWeights] = {
    "lipspade_hq512_ngf24": PretrainedWeights(
        name="lipspade_hq512_ngf24",
        filename="lipspade_hq512_ngf24.safetensors",
        sha256="ec8cb77153ab72e4fa9b4c3fbb17069831aa6c3ff878647f77112bf5dc608da6",
        variant="lipspade",
        ngf=24,
        size=512,
        task="renovation + realworld, sr4x, sr16x, denoise, deblur, jpeg (paper GAN objective)",
        data="2,486 MEBeauty and webmorph faces aligned at 512 px (research use; starts from the UTKFace model)",
    ),
    # Model card (training, compute, validation table, limits): hifacegan/weights/<name>.json.
    "lipspade_utkface128_ngf24": PretrainedWeights(
        name="lipspade_utkface128_ngf24",
        filename="lipspade_utkface128_ngf24.safetensors",
        sha256="70a67a1cf5ca73c7b6ae78145f3e548d4f85e848571cadbd6cbd3f88d1a60971",
        variant="lipspade",
        ngf=24,
        size=128,
        task="renovation + sr4x, sr16x, denoise, deblur, jpeg",
        data="UTKFace train, 10,000 faces at 128x128 (non-commercial research use only)",
    ),
}
#: What users call the shipped models (``--model renovation``). ``renovation``: the paper's GAN at
#: 512 px, sharp and realistic; ``fidelity``: the 128-px L1 + perceptual regressor, closest to the
#: input in PSNR but softer. An alias whose weights are not in this version maps to ``None``.
MODEL_ALIASES: dict[str, str | None] = {
    "renovation": "lipspade_hq512_ngf24",
    "fidelity": "lipspade_utkface128_ngf24",
}
DEFAULT_MODEL_NAME: str | None = "lipspade_hq512_ngf24"


class NoDefaultModelError(CheckpointError):
    """No shipped default model is available."""


def default_model_path() -> Path:
    """Path of the shipped default model, verified against its sha256.

    Raises:
        NoDefaultModelError: no default model is shipped (yet), or its file is missing or corrupt.
    """
    if DEFAULT_MODEL_NAME is None:
        raise NoDefaultModelError(
            "no default model is shipped with this version of hifacegan yet; pass a checkpoint with "
            "--model PATH (official Face-Renovation .pth, BasicSR .pth or our .safetensors)"
        )
    return pretrained_path(DEFAULT_MODEL_NAME)


def is_model_name(spec: str | os.PathLike) -> bool:
    """Whether ``spec`` names a shipped model (an alias or a :data:`PRETRAINED` key) rather than a file."""
    return isinstance(spec, str) and (spec in MODEL_ALIASES or spec in PRETRAINED)


def pretrained_path(name: str) -> Path:
    """Path of a shipped model by alias (``renovation``, ``fidelity``) or full name, verified by sha256.

    Raises:
        NoDefaultModelError: unknown name, a model not shipped in this version, or a missing/corrupt file.
    """
    key = MODEL_ALIASES.get(name, name)
    if key is None:
        raise NoDefaultModelError(f"the {name!r} model is not shipped with this version of hifacegan; choose one of "
                                  f"{', '.join(k for k, v in MODEL_ALIASES.items() if v)} or pass a checkpoint path")
    if key not in PRETRAINED:
        known = sorted({*MODEL_ALIASES, *PRETRAINED})
        raise NoDefaultModelError(f"unknown model name {name!r}; shipped models: {', '.join(known)}")
    entry = PRETRAINED[key]
    path = WEIGHTS_DIR / entry.filename
    if not path.is_file():
        raise NoDefaultModelError(f"the model file {path} ({name}) is missing; reinstall hifacegan")
    digest = file_sha256(path)
    if digest != entry.sha256:
        raise NoDefaultModelError(f"the model file {path} ({name}) is corrupt (sha256 {digest[:12]}...); reinstall")
    return path


def resolve_model(spec: str | os.PathLike | None) -> str | os.PathLike:
    """What to load for ``spec``: the default model's path for ``None``, a shipped model's path for its name,
    otherwise ``spec`` itself (a checkpoint path, checked when it is loaded).

    Raises:
        NoDefaultModelError: a shipped model that is absent, corrupt or not shipped in this version.
    """
    if spec is None:
        return default_model_path()
    if is_model_name(spec):
        return pretrained_path(str(spec))
    return spec
