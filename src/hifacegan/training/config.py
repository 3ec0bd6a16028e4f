"""Training configuration: typed dataclasses read from YAML, with ``--set key=value`` overrides.

A config file has up to five top-level keys: ``run_dir`` and the sections ``model``, ``data``,
``loss`` and ``train`` (one dataclass each). Unknown keys and values of the wrong type are rejected
with a message naming the key, the expected type and close matches. Overrides such as
``train.lr_g=2e-4`` or ``data.tasks=[sr4x,jpeg]`` are parsed as YAML scalars/flow sequences by a
safe loader (a literal parser: nothing is ever executed), then type-checked like file values.

A file can build on another with ``base: other.yaml`` (resolved relative to the including file; chains
allowed, loops refused) and state only what it changes: sections are merged key by key, the including
file's values winning, and any other value (a list included) replaces the base's. Reading files
(YAML, bases) is :mod:`hifacegan.training.config_files`; this module types and checks the values.

The config is read-only during a run; the resolved config is saved in the run folder and in every
checkpoint (as BasicSR ``basicsr/train.py`` does), so a run can be reproduced from its folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

from hifacegan.training.config_files import read_config_file, yaml_load
from hifacegan.training.errors import ConfigError

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "load_config",
    "parse_override",
    "read_config_file",
]


@dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator architecture.

    Attributes:
        variant: generator variant for :func:`hifacegan.create_model` (``hifacegan``, ``lipspade``,
            ``spade``, ``test_hifacegan``).
        ngf: generator base width (official: 64 for ``hifacegan``, 48 for the released ``lipspade``).
        ndf: discriminator base width (official 64).
        n_layers_d: layers per PatchGAN (official 4).
        num_d: discriminator scales (official 2).
        init: ``"xavier"``: the official ``init_type='xavier'``, ``init_variance=0.02`` (xavier-normal
            conv/linear weights with gain 0.02, zero biases); ``"default"``: PyTorch's initialisation.
        init_gain: gain of the xavier initialisation.
        pretrained: generator weights to start from (fine-tuning): any file :func:`hifacegan.load_model`
            reads (ours, official, BasicSR); its variant and ngf must match. Empty: train from scratch.
            The discriminator starts fresh.
        init_from: a training checkpoint (``checkpoints/*.pt`` of an earlier run) to start a new run
            from: its averaged generator (EMA) and its discriminator, not its optimisers or step. A
            stage that continues another keeps the discriminator it trained; a fresh one let stage 3's
            generator drift smooth for its first thousand steps (issue 28). Excludes ``pretrained``.
        trainable: generator parameter-name prefixes that learn (e.g. ``[ups.2, ups.3, to_rgbs.3]``: the
            two finest decoder blocks and the RGB head); every other generator weight stays as loaded.
            Empty: the whole generator learns. Meant for fine-tuning: it limits what a short stage can
            undo, and backpropagation stops at the first trainable layer. The discriminators always learn.
    """

    variant: str = "hifacegan"
    ngf: int = 64
    ndf: int = 64
    n_layers_d: int = 4
    num_d: int = 2
    init: str = "xavier"
    init_gain: float = 0.02
    pretrained: str = ""
    init_from: str = ""
    trainable: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataConfig:
    """Training and validation data.

    ``source`` says what the folders hold:

    * ``"degrade"``: high-quality faces in ``train_root``, degraded on the fly each epoch
      (:class:`hifacegan.data.DegradedFolderDataset`, one of ``tasks`` drawn per image);
    * ``"paired"``: pre-made pairs, degraded images in ``train_lq_root`` with the same file names as
      the originals in ``train_root`` (:class:`hifacegan.data.PairedFolderDataset`);
    * ``"stacked"``: the official Face-Renovation layout, one ``[degraded; original]`` image per pair
      in ``train_root`` (:class:`hifacegan.data.StackedPairDataset`).

    Validation reads ``val_root`` (and ``val_lq_root`` for ``"paired"``) the same way, with
    degradations fixed by ``val_seed``; an empty ``val_root`` disables it. Relative paths are relative
    to the working directory.

    Attributes:
        source: ``"degrade"``, ``"paired"`` or ``"stacked"``.
        train_root: training faces (originals, or stacked pairs).
        train_lq_root: degraded training faces (``source: paired``).
        val_root: held-out faces ("" = no validation).
        val_lq_root: degraded held-out faces (``source: paired``).
        size: training crop size in pixels (a multiple of 32).
        face_size: side the whole face is resized to before a random ``size`` patch is cut from it
            (0 = ``size``, no patches). The generators are fully convolutional, so training on
            160-px patches of 512-px faces teaches the 512-px model at the cost of a 160-px step, as
            super-resolution trainers do; degradation ranges are then scaled for ``face_size`` and
            validation restores whole ``face_size`` faces.
        whole_face_prob: with ``face_size``, the share of training items that are the whole face
            reduced to ``size`` instead of a patch (whole-face layout and statistics; see
            :class:`hifacegan.data.DegradedFolderDataset`). 0 = patches only.
        component_patch_prob: with ``face_size``, the share of patches placed to hold an eye or the
            mouth wholly, so the eye/mouth discriminators (``loss.component``) see them often. 0 = random.
        tasks: degradation tasks mixed during training (see :data:`hifacegan.degradations.TASKS`).
        degradation_config: YAML file of degradation ranges (keys of
            :class:`hifacegan.degradations.DegradationConfig`; "" = the official ranges).
        degradation_scale: scale the spatial extents of the ranges (blur sigmas and kernels, mosaic
            block), which the official scripts set for 512x512 faces, to ``size``
            (:meth:`~hifacegan.degradations.DegradationConfig.scaled_for_size`; no change at 512).
        random_crop: random crops instead of resizing the whole face.
        flip: random horizontal flips (official ``no_flip=False``).
        max_items: use only the first N training images (None = all).
        val_max_items: validate on the first N held-out images (None = all).
        val_seed: seed of the validation degradations (fixed, so numbers compare across steps and runs).
        num_workers: DataLoader worker processes per training process.
        pin_memory: page-locked host batches (faster host-to-GPU copies; ignored on CPU).
        persistent_workers: keep workers alive across epochs.
        prefetch_factor: batches prefetched per worker.
    """

    source: str = "degrade"
    train_root: str = ""
    train_lq_root: str = ""
    val_root: str = ""
    val_lq_root: str = ""
    size: int = 512
    face_size: int = 0
    whole_face_prob: float = 0.0
    component_patch_prob: float = 0.0
    tasks: tuple[str, ...] = ("renovation",)
    degradation_config: str = ""
    degradation_scale: bool = True
    random_crop: bool = False
    flip: bool = True
    max_items: int | None = None
    val_max_items: int | None = 100
    val_seed: int = 1234
    num_workers: int = 2
    pin_memory: bool = True
    persistent_workers: bool = True
    prefetch_factor: int = 2


@dataclass(frozen=True)
class LossConfig:
    """Loss weights and the perceptual network (paper, Sec. 3.3; official ``lambda_feat``/``lambda_vgg``).

    Attributes:
        gan: weight of the multi-scale LSGAN generator loss (official 1).
        feat: weight of discriminator feature matching (official ``lambda_feat=10``; divided by ``num_d``).
        perceptual: weight of the perceptual loss (official ``lambda_vgg=10``).
        l1: weight of an optional pixel L1 loss (not in the paper: 0).
        lowfreq: weight of an L1 between 8x8-average-pooled output and target (not in the paper: 0).
            It ties colour and shading to the truth while leaving texture to the GAN terms: a
            generator trained by LSGAN + perceptual alone drifts in mean colour (issue 28).
        mild_l1: weight of a pixel L1 that counts each item by how mildly it is degraded (not in the paper:
            0): ``sigmoid((PSNR(input, truth) - mild_psnr_db) / 1.5 dB)``
            (:func:`hifacegan.training.losses.mild_input_l1`). It asks for faithfulness where the input still
            holds the detail, so that a restorer does not make a good photo worse (issue 28).
        mild_psnr_db: the input PSNR (dB, to the truth) at which an item counts half as mild.
        spectrum: weight of the mean squared difference of the log power of output and truth per frequency
            ring and orientation (:func:`hifacegan.training.losses.band_spectrum_loss`; not in the paper: 0). It leaves where texture
            lies free but not how much of it there is per scale and direction: against the diagonal hatching
            the GAN terms draw on skin (issue 28).
        component: weight of the eye and mouth discriminators' generator term (not in the paper: 0, off).
            They judge crops at the FFHQ template's boxes (:mod:`hifacegan.training.components`), as
            GFPGAN's component discriminators do; needs ``data.source: degrade`` with aligned faces.
        perceptual_net: ``"vgg19"`` (the paper; needs the standard weight file locally),
            ``"mobilenet_v2"`` (offline stand-in) or ``"none"``.
        perceptual_weights: path of the perceptual network's weight file ("" = the documented
            default locations, see :mod:`hifacegan.training.perceptual`).
        perceptual_imagenet_norm: normalise inputs with the ImageNet mean/std the weights were trained
            with. The official code feeds its ``[0, 1]`` images to VGG19 without normalisation (false).
    """

    gan: float = 1.0
    feat: float = 10.0
    perceptual: float = 10.0
    l1: float = 0.0
    lowfreq: float = 0.0
    mild_l1: float = 0.0
    mild_psnr_db: float = 30.0
    spectrum: float = 0.0
    component: float = 0.0
    perceptual_net: str = "vgg19"
    perceptual_weights: str = ""
    perceptual_imagenet_norm: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, precision, logging and checkpointing.

    Steps count optimisation iterations (one G step + one D step each) of ``batch_size`` images per
    process; ``world_size * batch_size`` images per step in all.

    Attributes:
        steps: total steps; the learning rates reach 0 here.
        decay_steps: linear decay to 0 over the last ``decay_steps`` steps, constant before (official:
            ``niter`` constant epochs then ``niter_decay`` decaying epochs). 0 = constant.
        batch_size: images per process per step (official 2 at 512x512).
        lr_g: generator learning rate (TTUR: official ``lr/2`` = 1e-4).
        lr_d: discriminator learning rate (TTUR: official ``lr*2`` = 4e-4).
        beta1: Adam beta1 (official 0).
        beta2: Adam beta2 (official 0.9).
        warmup_steps: first steps train G alone with pixel L1 + perceptual (no discriminator).
            Not in the paper; recommended for short budgets (DESIGN.md Sec. 3).
        warmup_l1: pixel L1 weight during the warm-up.
        d_warmup_steps: first steps train the discriminators alone on G's current output, G frozen (no G
            step, no EMA update). For a run that starts a trained generator with a fresh discriminator:
            an untrained D's first gradients pulled the shipped G smooth at once (issue 28, stage 3:
            ntire_val NIQE 5.17 -> 6.74 in 1,000 steps). Cannot be combined with ``warmup_steps``.
        ema_decay: exponential moving average of G's weights (0 = off), e.g. 0.999.
        amp: ``"auto"`` (bf16 autocast on CUDA and on CPUs with AVX512-BF16 or AMX, else fp32),
            ``"bf16"`` or ``"off"``.
        channels_last: NHWC memory layout (often faster on GPUs; slower on this project's CPUs).
        compile: ``torch.compile`` the generator and discriminator (first steps are slow).
        max_minutes: wall-clock budget; the run stops cleanly (checkpoint + export) once it is spent. 0 = none.
        seed: seed of initialisation, sampling and degradations.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` (with ``torchrun``: each process's ``LOCAL_RANK`` GPU).
        log_every: steps between log lines / TensorBoard scalars.
        val_every: steps between validations (PSNR/SSIM, image grids). 0 = only at the end.
        ckpt_every: steps between checkpoints (``<run_dir>/checkpoints/last.pt``). 0 = only at the end.
        keep_every: also keep ``step_<N>.pt`` every N steps (0 = only ``last.pt``).
        progress: show a tqdm progress bar (rank 0, when the output is a terminal).
        tensorboard: write TensorBoard logs when the ``tensorboard`` package is installed.
    """

    steps: int = 100_000
    decay_steps: int = 0
    batch_size: int = 2
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    warmup_steps: int = 0
    warmup_l1: float = 1.0
    d_warmup_steps: int = 0
    ema_decay: float = 0.0
    amp: str = "auto"
    channels_last: bool = False
    compile: bool = False
    max_minutes: float = 0.0
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    val_every: int = 1000
    ckpt_every: int = 1000
    keep_every: int = 0
    progress: bool = True
    tensorboard: bool = True


@dataclass(frozen=True)
class Config:
    """A whole training run.

    Attributes:
        run_dir: folder for checkpoints, logs, samples and the exported model.
        model: architecture.
        data: datasets.
        loss: loss weights and perceptual network.
        train: optimisation and bookkeeping.
    """

    run_dir: str = "runs/hifacegan"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _validate(self)


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "loss": LossConfig, "train": TrainConfig}
_CHOICES = {
    "model.init": ("xavier", "default"),
    "data.source": ("degrade", "paired", "stacked"),
    "loss.perceptual_net": ("vgg19", "mobilenet_v2", "none"),
    "train.amp": ("auto", "bf16", "off"),
    "train.device": ("auto", "cpu", "cuda"),
}


def _dynamic_choices() -> dict[str, tuple[str, ...]]:
    """Choices that live in registries: generator variants and degradation tasks."""
    # Imported here: the registries pull in torch and the networks, which reading a config does not need
    # until it is checked.
    from hifacegan.degradations import TASKS
    from hifacegan.models import list_models

    return {"model.variant": tuple(list_models(include_test=True)), "data.tasks": TASKS}


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{key}={value!r} is not valid{hint}; choose one of {', '.join(map(repr, choices))}")


def _validate(config: Config) -> None:
    for key, choices in {**_CHOICES, **_dynamic_choices()}.items():
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        for item in value if isinstance(value, tuple) else (value,):
            _check_choice(key, item, choices)
    if not config.data.tasks:
        raise ConfigError("data.tasks is empty; list at least one degradation task")
    t, d, m = config.train, config.data, config.model
    positive = {"train.steps": t.steps, "train.batch_size": t.batch_size, "data.size": d.size,
                "model.ngf": m.ngf, "model.ndf": m.ndf, "model.num_d": m.num_d, "model.n_layers_d": m.n_layers_d}
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be positive, got {value}")
    non_negative = {"train.decay_steps": t.decay_steps, "train.warmup_steps": t.warmup_steps,
                    "train.d_warmup_steps": t.d_warmup_steps,
                    "train.max_minutes": t.max_minutes, "train.log_every": t.log_every, "train.val_every": t.val_every,
                    "train.ckpt_every": t.ckpt_every, "train.keep_every": t.keep_every,
                    "data.num_workers": d.num_workers, "loss.component": config.loss.component,
                    "loss.mild_l1": config.loss.mild_l1, "loss.spectrum": config.loss.spectrum}
    for key, value in non_negative.items():
        if value < 0:
            raise ConfigError(f"{key} must be >= 0, got {value}")
    if t.warmup_steps and t.d_warmup_steps:
        raise ConfigError("train.warmup_steps (G alone) and train.d_warmup_steps (D alone) cannot both be set")
    if m.pretrained and m.init_from:
        raise ConfigError("model.pretrained and model.init_from both name a starting point; keep one")
    if t.decay_steps > t.steps:
        raise ConfigError(f"train.decay_steps ({t.decay_steps}) cannot exceed train.steps ({t.steps})")
    if not 0.0 <= t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
    if d.source == "paired" and d.train_root and not d.train_lq_root:
        raise ConfigError("data.source=paired needs data.train_lq_root (the folder of degraded images)")
    if d.source == "paired" and d.val_root and not d.val_lq_root:
        raise ConfigError("data.source=paired with data.val_root needs data.val_lq_root too")
    # 0 would pass as "a number" and then leave the dataset empty: a traceback far from the cause.
    for key, limit in {"data.max_items": d.max_items, "data.val_max_items": d.val_max_items}.items():
        if limit is not None and limit < 1:
            raise ConfigError(f"{key} must be at least 1 (or null: every image), got {limit}")
    if d.size % 32:
        raise ConfigError(f"data.size must be a multiple of 32 (five 2x up-samplings), got {d.size}")
    if d.face_size and (d.face_size % 32 or d.face_size < d.size):
        raise ConfigError(f"data.face_size must be 0 or a multiple of 32 no smaller than data.size ({d.size}), "
                          f"got {d.face_size}")
    if not 0.0 <= d.whole_face_prob <= 1.0 or (d.whole_face_prob and not d.face_size):
        raise ConfigError(f"data.whole_face_prob must be in [0, 1] and needs data.face_size, got {d.whole_face_prob}")
    if not 0.0 <= d.component_patch_prob <= 1.0 or (d.component_patch_prob and not d.face_size):
        raise ConfigError("data.component_patch_prob must be in [0, 1] and needs data.face_size, "
                          f"got {d.component_patch_prob}")
    if d.face_size and d.source != "degrade":
        raise ConfigError(f"data.face_size (patches of whole faces) needs data.source=degrade, got {d.source!r}")


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _check_value(value: Any, hint: Any, key: str) -> Any:
    """Return ``value`` converted to ``hint`` (int -> float, list -> tuple), or raise :class:`ConfigError`."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _check_value(value, option, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r} ({type(value).__name__})")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            if isinstance(value, str):
                value = [value]  # "tasks: renovation" means the one-element list
            else:
                raise ConfigError(f"{key}: expected a list, got {value!r} ({type(value).__name__})")
        (item_hint, *_rest) = typing.get_args(hint)
        return tuple(_check_value(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value))
    # bool is a subclass of int: "steps: true" must not pass, nor "flip: 1".
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a field type this checker does not know is a programming error
        raise TypeError(f"unsupported config field type {hint!r} for {key}")
    raise ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r} ({type(value).__name__})")


def _unknown_key(key: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key.split(".")[-1], valid, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    prefix = key.rsplit(".", 1)[0] + "." if "." in key else ""
    return ConfigError(f"unknown config key {key!r}.{hint} Valid keys: {', '.join(prefix + v for v in valid)}")


def _section_from_dict(cls: type, values: Any, prefix: str) -> Any:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix}: expected a mapping of keys to values, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            raise _unknown_key(f"{prefix}.{key}", names)
        kwargs[key] = _check_value(value, hints[key], f"{prefix}.{key}")
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any]) -> Config:
    """Build a :class:`Config` from nested plain values, checking every key and type.

    Raises:
        ConfigError: unknown key, wrong type or invalid value.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"a config must be a mapping at the top level, got {type(values).__name__}")
    top = ["run_dir", *_SECTIONS]
    for key in values:
        if key not in top:
            raise _unknown_key(str(key), top)
    sections = {name: _section_from_dict(cls, values.get(name), name) for name, cls in _SECTIONS.items()}
    for name, fields in _PATH_FIELDS.items():
        section = sections[name]
        sections[name] = dataclasses.replace(section, **{f: _expand(getattr(section, f)) for f in fields})
    run_dir = _expand(_check_value(values.get("run_dir", Config.run_dir), str, "run_dir"))
    return Config(run_dir=run_dir, **sections)


#: Path-valued fields: ``~`` is expanded, so a config can put run folders and data under the home folder.
_PATH_FIELDS = {
    "model": ("pretrained", "init_from"),
    "data": ("train_root", "train_lq_root", "val_root", "val_lq_root", "degradation_config"),
    "loss": ("perceptual_weights",),
}


def _expand(path: str) -> str:
    return os.path.expanduser(path) if path.startswith("~") else path


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain nested dict (tuples as lists), suitable for YAML/JSON and checkpoints."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"section.key=value"`` and parse the value as a YAML literal (never evaluated as code).

    Examples: ``train.lr_g=2e-4`` -> 0.0002, ``data.tasks=[sr4x,jpeg]`` -> ["sr4x", "jpeg"],
    ``data.max_items=null`` -> None, ``run_dir=runs/x`` -> "runs/x".

    Raises:
        ConfigError: no ``=``, or a value that is not a YAML scalar/flow list.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} must look like section.key=value, e.g. train.lr_g=2e-4")
    value = yaml_load(raw, f"override {text!r}") if raw.strip() else ""
    if isinstance(value, dict):
        raise ConfigError(f"override {text!r}: set one key at a time (section.key=value), not a mapping")
    return key, value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides to a nested plain dict (a copy is returned).

    Raises:
        ConfigError: malformed override or unknown key (close matches are suggested).
    """
    result = {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        if len(parts) == 1:
            if key not in ("run_dir",):
                raise _unknown_key(key, ["run_dir", *(f"{s}.<key>" for s in _SECTIONS)])
            result[key] = value
            continue
        if len(parts) != 2 or parts[0] not in _SECTIONS:
            raise _unknown_key(key, [f"{s}.<key>" for s in _SECTIONS] + ["run_dir"])
        section, name = parts
        names = [f.name for f in dataclasses.fields(_SECTIONS[section])]
        if name not in names:
            raise _unknown_key(key, names)
        current = result.get(section) or {}
        result[section] = {**current, name: value}
    return result


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config file (or start from the defaults when ``path`` is None) and apply overrides.

    Args:
        path: YAML file with ``run_dir``, ``model``, ``data``, ``loss``, ``train`` keys, and optionally
            ``base`` (a file it builds on).
        overrides: ``section.key=value`` strings, applied in order after the file.

    Returns:
        The validated, frozen config.

    Raises:
        ConfigError: unreadable file, invalid YAML, a loop of bases, unknown key, wrong type or invalid value.
    """
    values = {} if path is None else read_config_file(path)
    values = apply_overrides(values, list(overrides or []))
    return config_from_dict(values)


def dump_config(config: Config) -> str:
    """The config as YAML text, bases merged in (round-trips through :func:`load_config`)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None)
