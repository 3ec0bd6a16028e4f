"""The HiFaceGAN training loop: one loop for the CPU, one GPU and many GPUs/nodes (``torchrun``).

Recipe (paper Sec. 3.3 and 4; official ``options/config_hifacegan.py``, ``pix2pix_model.py``):
multi-scale LSGAN + feature matching (x10) + perceptual (x10) for G, LSGAN for D; Adam with
``betas=(0, 0.9)``; TTUR learning rates G 1e-4, D 4e-4; constant then linear decay to 0; one G step
then one D step per batch; official xavier(0.02) initialisation.

Two wasteful steps of the official trainer are not reproduced (DESIGN.md Sec. 3): the D step reuses
the fake images of the G step (detached) instead of running G again, and the G step computes no
gradients for D's weights (D is frozen with ``requires_grad_(False)`` while G learns and is called
outside its DDP wrapper). D sees fakes from G before G's update, as in pix2pixHD's trainer.

Also: an optional G-only warm-up (pixel L1 + perceptual, no GAN) for short budgets; optional EMA of
G; bf16 autocast on CUDA; exact resume from atomic checkpoints; a NaN/inf guard that stops before
any non-finite update; a wall-clock budget; validation PSNR/SSIM, image grids, TensorBoard,
a JSON-lines metrics log and a tqdm bar with losses and images/s. Rank 0 logs and writes files.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import platform
import random
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from hifacegan.training import checkpoint as ckpt
from hifacegan.training.config import Config, ConfigError, config_to_dict, dump_config
from hifacegan.training.distributed import (
    DistInfo,
    ResumableSampler,
    all_gather_objects,
    all_reduce_max,
    cleanup_distributed,
    init_distributed,
)
from hifacegan.training.losses import GeneratorObjective, LSGANLoss, discriminator_loss, total
from hifacegan.training.perceptual import PerceptualNetwork, build_perceptual_network

__all__ = [
    "ModelEMA",
    "NonFiniteLossError",
    "TrainResult",
    "Trainer",
    "build_train_dataset",
    "build_val_dataset",
    "degradation_config",
    "psnr_batch",
    "ssim_batch",
]

logger = logging.getLogger(__name__)

FINAL_NAME = "final.safetensors"


class NonFiniteLossError(RuntimeError):
    """A loss (or the weights) became NaN/inf; training stopped before applying the bad update."""


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` did.

    Attributes:
        step: steps completed (in all runs of this run folder).
        images_seen: training images consumed (all processes).
        reason: ``"done"``, ``"budget"`` (``train.max_minutes`` spent), ``"signal"`` (SIGTERM/SIGINT)
            or ``"stop_at"`` (the caller's ``stop_at``).
        checkpoint: last checkpoint written, if any.
        exported: the exported generator (``final.safetensors``), if any.
        validation: the last validation metrics.
        images_per_second: mean training throughput of this run (all processes).
    """

    step: int
    images_seen: int
    reason: str
    checkpoint: Path | None = None
    exported: Path | None = None
    validation: dict[str, float] = field(default_factory=dict)
    images_per_second: float = 0.0


# --- data -----------------------------------------------------------------------------------------------

class _EpochIndexed(Dataset):
    """Adapter between :class:`ResumableSampler`'s ``(epoch, index)`` pairs and a map-style dataset.

    It forwards the epoch to ``dataset.set_epoch`` (inside the worker that loads the item) and runs
    each item under global RNGs seeded from ``(seed, epoch, index)``, so any randomness a dataset
    draws from the global generators is reproducible whatever the worker count, and after a resume.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self._epoch: int | None = None

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if epoch != self._epoch and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self._epoch = epoch
        item_seed = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0])
        in_main_process = torch.utils.data.get_worker_info() is None
        saved = (random.getstate(), np.random.get_state(), torch.get_rng_state()) if in_main_process else None
        random.seed(item_seed)
        np.random.seed(item_seed)
        torch.manual_seed(item_seed)
        try:
            return self.dataset[index]
        finally:
            if saved is not None:  # leave the trainer's own RNG streams untouched
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])


def _leave_stop_signals_to_main(_worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGTERM/SIGINT; the main process handles them.

    ``timeout``, ``kill -- -PGID``, ``pkill -f`` and cluster schedulers signal the whole process group.
    A worker killed by that signal makes the main process raise mid-step, before its own handler can
    finish the step and save; ignoring the signal here lets the main process stop cleanly and shut the
    workers down. Orphaned workers still exit: PyTorch's worker loop watches its parent.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def degradation_config(config: Config) -> Any:
    """The :class:`hifacegan.degradations.DegradationConfig` of ``config.data`` (file, then scaled to ``size``).

    Raises:
        ConfigError: unreadable file or unknown/invalid degradation settings.
    """
    from hifacegan.degradations import DegradationConfig

    d = config.data
    ranges = DegradationConfig()
    if d.degradation_config:
        import yaml

        try:
            with open(d.degradation_config, encoding="utf-8") as handle:
                values = yaml.safe_load(handle) or {}
            ranges = DegradationConfig.from_dict(values)
        except (OSError, yaml.YAMLError, ValueError, TypeError) as exc:
            raise ConfigError(f"data.degradation_config={d.degradation_config!r}: {exc}") from exc
    return ranges.scaled_for_size(d.face_size or d.size) if d.degradation_scale else ranges


def build_train_dataset(config: Config) -> Dataset:
    """The training dataset described by ``config.data`` (see :class:`~hifacegan.training.config.DataConfig`).

    Raises:
        ConfigError: no training folder configured, or bad degradation settings.
    """
    d = config.data
    if not d.train_root:
        raise ConfigError("data.train_root is empty: set it in the config or with --set data.train_root=FOLDER")
    from hifacegan import data as data_module

    seed = config.train.seed
    if d.source == "paired":
        return data_module.PairedFolderDataset(d.train_lq_root, d.train_root, size=d.size, flip=d.flip, seed=seed)
    if d.source == "stacked":
        return data_module.StackedPairDataset(d.train_root, size=d.size, flip=d.flip, seed=seed)
    return data_module.DegradedFolderDataset(d.train_root, d.size, tasks=tuple(d.tasks), seed=seed,
                                             random_crop=d.random_crop, flip=d.flip, face_size=d.face_size or None,
                                             config=degradation_config(config), max_items=d.max_items)


def build_val_dataset(config: Config) -> Dataset | None:
    """The held-out dataset of ``config.data`` (fixed degradations, seed ``data.val_seed``), or None."""
    d = config.data
    if not d.val_root:
        return None
    from hifacegan import data as data_module

    if d.source == "paired":
        return data_module.PairedFolderDataset(d.val_lq_root, d.val_root, size=d.size)
    if d.source == "stacked":
        return data_module.StackedPairDataset(d.val_root, size=d.size)
    # Whole faces at face_size: validation measures what restoring a photo's face does, not a patch.
    return data_module.DegradedFolderDataset(d.val_root, d.face_size or d.size, tasks=tuple(d.tasks), seed=d.val_seed,
                                             random_crop=False, flip=False, config=degradation_config(config),
                                             max_items=d.val_max_items)


# --- metrics (training monitor; ``hifacegan evaluate`` is the reference implementation) -----------------

def psnr_batch(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of ``(N, 3, H, W)`` images in ``[0, 1]`` (RGB, no border crop)."""
    mse = (output.float() - target.float()).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


def ssim_batch(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, data
    range 1, valid region), computed per RGB channel and averaged."""
    x, y = output.float(), target.float()
    channels = x.shape[1]
    coords = torch.arange(11, dtype=torch.float32, device=x.device) - 5
    g = torch.exp(-coords**2 / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(channels, 1, 11, 11).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=channels)

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x**2
    syy = blur(y * y) - mu_y**2
    sxy = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return ssim_map.flatten(1).mean(1)


# --- EMA ------------------------------------------------------------------------------------------------

class ModelEMA:
    """Exponential moving average of a generator's weights (float32 copy, never trained directly).

    ``ema = d * ema + (1 - d) * weights`` after each step with ``d = min(decay, (1 + step) / (10 + step))``:
    the ramp keeps the early average from being dominated by the random initialisation (a common
    choice, e.g. in TensorFlow's ExponentialMovingAverage with ``num_updates``). Buffers (spectral-norm
    ``u``/``v``) are copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).float().eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        ema_params = [p for p in self.module.parameters()]
        params = [p.detach().float() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for ema_buffer, buffer in zip(self.module.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)


# --- helpers --------------------------------------------------------------------------------------------

def initialize_official(module: nn.Module, gain: float = 0.02) -> None:
    """The official ``init_type='xavier'``, ``init_variance=0.02``: xavier-normal conv/linear weights, zero
    biases (spectral-normalised convs: the underlying ``weight_orig``). Norm layers keep their defaults."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)):
                weight = m.weight_orig if hasattr(m, "weight_orig") else m.weight
                nn.init.xavier_normal_(weight, gain=gain)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def _freeze_unused_heads(generator: nn.Module) -> None:
    # Progressive training is off in the official config (train_phase = max_train_phase): only the last
    # RGB head is used. The others get no gradient; DDP requires every trainable parameter to get one,
    # so they are frozen and stay out of the optimiser (they are still saved, for checkpoint compatibility).
    heads = getattr(generator, "to_rgbs", None)
    if isinstance(heads, nn.ModuleList):
        for head in heads[:-1]:
            head.requires_grad_(False)


def _environment(info: DistInfo) -> dict[str, Any]:
    from hifacegan import __version__

    env: dict[str, Any] = {
        "hifacegan": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "world_size": info.world_size,
        "backend": info.backend or "single process",
        "device": str(info.device),
        "argv": sys.argv,
    }
    if info.device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(info.device)
    return env


def _image_grid(rows: list[torch.Tensor]) -> torch.Tensor:
    """``rows`` of ``(N, 3, H, W)`` tensors (e.g. degraded, output, target) -> one ``(3, N*H, len*W)`` grid."""
    columns = [r.float().clamp(0, 1).cpu() for r in rows]
    lines = [torch.cat([c[i] for c in columns], dim=2) for i in range(columns[0].shape[0])]
    return torch.cat(lines, dim=1)


def _unwrap(module: nn.Module) -> nn.Module:
    module = getattr(module, "module", module)  # DDP
    return getattr(module, "_orig_mod", module)  # torch.compile


def _split(outputs: list[list[torch.Tensor]], n: int) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """Discriminator outputs of a ``[fakes; reals]`` batch -> (fake outputs, real outputs).

    Fakes and reals go through D in one batch, as the official ``discriminate`` does (one pass, so one
    spectral-norm power iteration per D call, as in the official code).
    """
    return [[f[:n] for f in scale] for scale in outputs], [[f[n:] for f in scale] for scale in outputs]


def _all_finite(module: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


# --- the trainer ----------------------------------------------------------------------------------------

class Trainer:
    """Train a HiFaceGAN generator and discriminator as ``config`` says.

    Args:
        config: the run's configuration (see :mod:`hifacegan.training.config`).
        train_dataset: map-style dataset of ``{"degraded", "target"}`` items (``(3, H, W)`` float in
            ``[0, 1]``); None builds it from ``config.data``.
        val_dataset: held-out dataset of the same kind; None builds it from ``config.data`` (none if
            ``data.val_root`` is empty). Pass ``False`` for no validation.
        resume: ``None`` (fresh run; an existing checkpoint in the run folder is an error), ``"auto"``
            (resume from ``<run_dir>/checkpoints/last.pt`` if present) or a checkpoint path.
        perceptual: a perceptual network to use instead of building ``config.loss.perceptual_net``
            (tests use a small random one).

    Raises:
        ConfigError: inconsistent configuration or resume request.
        hifacegan.training.perceptual.PerceptualWeightsError: missing perceptual weights.
    """

    def __init__(self, config: Config, train_dataset: Dataset | None = None,
                 val_dataset: Dataset | None | bool = None, resume: str | os.PathLike | None = None,
                 perceptual: PerceptualNetwork | None = None) -> None:
        self.config = config
        self.run_dir = Path(config.run_dir)
        t = config.train
        self.info = init_distributed(t.device)
        self.device = self.info.device
        self.amp = t.amp == "bf16" or (t.amp == "auto" and self.device.type == "cuda")
        if self.device.type == "cuda":
            # Fixed input sizes: let cuDNN pick the fastest kernels; TF32 for the fp32 parts.
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

        resume_path = self._resume_path(resume)  # before any slow setup: a wrong request fails at once
        if train_dataset is None:
            train_dataset = build_train_dataset(config)
        if val_dataset is None:
            val_dataset = build_val_dataset(config)
        self.train_dataset = train_dataset
        self.val_dataset = val_dataset if val_dataset is not False else None
        per_process = math.ceil(len(train_dataset) / self.info.world_size)  # DistributedSampler's share
        self.steps_per_epoch = per_process // t.batch_size
        if self.steps_per_epoch == 0:
            raise ConfigError(f"the training set has {len(train_dataset)} images: too few for batch size "
                              f"{t.batch_size} on {self.info.world_size} process(es)")

        # Same seed on every process: identical initial weights (DDP also broadcasts rank 0's).
        torch.manual_seed(t.seed)
        np.random.seed(t.seed)
        random.seed(t.seed)
        m = config.model
        from hifacegan import create_model
        from hifacegan.models import MultiscaleDiscriminator

        self.generator = create_model(m.variant, ngf=m.ngf)
        self.discriminator = MultiscaleDiscriminator(in_channels=6, ndf=m.ndf, n_layers=m.n_layers_d, num_d=m.num_d)
        if m.init == "xavier":
            initialize_official(self.generator, m.init_gain)
            initialize_official(self.discriminator, m.init_gain)
        if m.pretrained:
            from hifacegan.models.checkpoint import build_from_state_dict, read_weights

            # Fine-tuning: same architecture, weights from the file (spectral-norm u/v included).
            state, _card = read_weights(m.pretrained)
            pretrained, _, _ = build_from_state_dict(state, m.variant, m.ngf, m.pretrained)
            self.generator.load_state_dict(pretrained.state_dict())
        _freeze_unused_heads(self.generator)
        memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
        self.memory_format = memory_format
        self.generator.to(self.device, memory_format=memory_format)
        self.discriminator.to(self.device, memory_format=memory_format)
        self.ema = ModelEMA(self.generator, t.ema_decay) if t.ema_decay > 0 else None

        if perceptual is None and config.loss.perceptual_net != "none" and config.loss.perceptual > 0:
            perceptual = build_perceptual_network(config.loss.perceptual_net, config.loss.perceptual_weights or None,
                                                  config.loss.perceptual_imagenet_norm)
        self.perceptual = perceptual.to(self.device, memory_format=memory_format) if perceptual is not None else None
        self.perceptual_name = perceptual.name if perceptual is not None else "none"
        lw = config.loss
        self.objective = GeneratorObjective(self.perceptual, gan=lw.gan, feat=lw.feat,
                                            perceptual_weight=lw.perceptual, l1=lw.l1)
        self.gan_loss = LSGANLoss()

        g_params = [p for p in self.generator.parameters() if p.requires_grad]
        self.opt_g = torch.optim.Adam(g_params, lr=t.lr_g, betas=(t.beta1, t.beta2))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2))
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, self._lr_factor)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, self._lr_factor)

        if self.info.distributed:
            ids = [self.info.local_rank] if self.device.type == "cuda" else None
            self.g_train: nn.Module = DistributedDataParallel(self.generator, device_ids=ids)
            self.d_train: nn.Module = DistributedDataParallel(self.discriminator, device_ids=ids)
        else:
            self.g_train, self.d_train = self.generator, self.discriminator
        # D during the G step: no weight gradients, so no DDP gradient synchronisation either.
        self.d_frozen: nn.Module = self.discriminator
        if t.compile:
            self.g_train = torch.compile(self.g_train)
            self.d_train = torch.compile(self.d_train)
            self.d_frozen = torch.compile(self.d_frozen)

        self.step = 0
        self.elapsed_before = 0.0  # training seconds of earlier runs of this run folder
        self._stop_requested = False
        self._baseline: dict[str, float] | None = None
        self._writer: Any = None
        self.last_validation: dict[str, float] = {}
        if resume_path is not None:
            self._load_resume(resume_path)

    # -- schedule ---------------------------------------------------------------------------------------
    def _lr_factor(self, step: int) -> float:
        """Constant, then linear to 0 over the last ``decay_steps`` (official niter / niter_decay)."""
        t = self.config.train
        if t.decay_steps == 0:
            return 1.0
        return max(0.0, min(1.0, (t.steps - step) / t.decay_steps))

    # -- checkpoints ------------------------------------------------------------------------------------
    def _checkpoint_state(self) -> dict[str, Any]:
        rng = all_gather_objects(ckpt.capture_rng_state(), self.info)
        return {
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "images_seen": self.images_seen,
            "elapsed_s": self.elapsed_before + self._run_elapsed(),
            "world_size": self.info.world_size,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "optimizer_g": self.opt_g.state_dict(),
            "optimizer_d": self.opt_d.state_dict(),
            "scheduler_g": self.sched_g.state_dict(),
            "scheduler_d": self.sched_d.state_dict(),
            "rng": rng,
            "perceptual": self.perceptual_name,
            "config": config_to_dict(self.config),
        }

    def save_checkpoint(self) -> Path | None:
        """Write ``<run_dir>/checkpoints/last.pt`` (rank 0; every process takes part in gathering RNG states).

        Raises:
            NonFiniteLossError: the weights hold NaN/inf (the previous checkpoint is kept).
        """
        if not (_all_finite(self.generator) and _all_finite(self.discriminator)):
            raise NonFiniteLossError(
                f"step {self.step}: the weights contain NaN/inf; not overwriting the last good checkpoint "
                f"{ckpt.checkpoint_dir(self.run_dir) / ckpt.LAST_NAME}")
        state = self._checkpoint_state()
        if not self.info.is_main:
            return None
        folder = ckpt.checkpoint_dir(self.run_dir)
        path = ckpt.save_checkpoint(folder / ckpt.LAST_NAME, state)
        keep = self.config.train.keep_every
        if keep and self.step % keep == 0:
            ckpt.save_checkpoint(folder / f"step_{self.step:08d}.pt", state)
        logger.debug("checkpoint at step %d: %s", self.step, path)
        return path

    def _resume_path(self, resume: str | os.PathLike | None) -> Path | None:
        """The checkpoint to resume from, or None for a fresh run.

        Raises:
            ConfigError: a fresh run asked for in a folder that already holds a checkpoint.
            hifacegan.training.checkpoint.TrainingCheckpointError: an explicit path that does not exist.
        """
        existing = ckpt.latest_checkpoint(self.run_dir)
        if resume is None:
            if existing is not None:
                raise ConfigError(
                    f"{self.run_dir} already holds a checkpoint ({existing}); continue it with --resume auto, "
                    f"or choose another run_dir (--set run_dir=...)")
            return None
        if str(resume) == "auto":
            if existing is None:
                logger.info("--resume auto: no checkpoint in %s yet, starting a new run", self.run_dir)
            return existing
        path = Path(resume)
        if not path.is_file():
            raise ckpt.TrainingCheckpointError(f"{path}: no such checkpoint file (--resume)")
        return path

    def _load_resume(self, path: Path) -> None:
        """Restore everything from a training checkpoint (all processes read the same file: on several
        nodes the run folder must be on shared storage)."""
        state = ckpt.load_checkpoint(path)
        saved_model = state["config"].get("model")
        if saved_model != config_to_dict(self.config)["model"]:
            raise ConfigError(f"{path}: the checkpoint's model section {saved_model} differs from the config's "
                              f"{config_to_dict(self.config)['model']}; resume with the same model settings")
        changed = _config_changes(state["config"], config_to_dict(self.config))
        if changed:
            logger.warning("resuming with changed settings (the run will not match an uninterrupted one): %s",
                           ", ".join(changed))
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        if self.ema is not None:
            if state["ema"] is not None:
                self.ema.module.load_state_dict(state["ema"])
            else:
                self.ema.module.load_state_dict(self.generator.state_dict())
        self.opt_g.load_state_dict(state["optimizer_g"])
        self.opt_d.load_state_dict(state["optimizer_d"])
        self.sched_g.load_state_dict(state["scheduler_g"])
        self.sched_d.load_state_dict(state["scheduler_d"])
        self.step = int(state["step"])
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        rng = state["rng"]
        if len(rng) == self.info.world_size:
            ckpt.restore_rng_state(rng[self.info.rank])
        else:
            logger.warning("checkpoint written by %d processes, now %d: RNG streams restart from the seed",
                           len(rng), self.info.world_size)
        if self.info.is_main:
            logger.info("resumed from %s at step %d", path, self.step)

    # -- the loop ---------------------------------------------------------------------------------------
    @property
    def images_seen(self) -> int:
        return self.step * self.config.train.batch_size * self.info.world_size

    def _run_elapsed(self) -> float:
        return time.perf_counter() - self._start if hasattr(self, "_start") else 0.0

    def _loader(self) -> tuple[DataLoader, ResumableSampler]:
        t, d = self.config.train, self.config.data
        sampler = ResumableSampler(len(self.train_dataset), self.info, seed=t.seed, shuffle=True)
        workers = d.num_workers
        kwargs: dict[str, Any] = {}
        if workers > 0:
            kwargs = {"persistent_workers": d.persistent_workers, "prefetch_factor": d.prefetch_factor}
        loader = DataLoader(_EpochIndexed(self.train_dataset, t.seed), batch_size=t.batch_size, sampler=sampler,
                            num_workers=workers, pin_memory=d.pin_memory and self.device.type == "cuda",
                            drop_last=True, worker_init_fn=_leave_stop_signals_to_main, **kwargs)
        return loader, sampler

    def _batches(self, loader: DataLoader, sampler: ResumableSampler) -> Iterator[dict[str, Any]]:
        """Batches from the current step on, epoch after epoch, resuming mid-epoch when needed."""
        batch_size = self.config.train.batch_size
        while True:
            epoch, in_epoch = divmod(self.step, self.steps_per_epoch)
            sampler.set_position(epoch, in_epoch * batch_size)
            yield from loader

    def _to_device(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        degraded = batch["degraded"].to(self.device, non_blocking=True).to(memory_format=self.memory_format)
        target = batch["target"].to(self.device, non_blocking=True).to(memory_format=self.memory_format)
        return degraded, target

    def _autocast(self) -> Any:
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def train_step(self, degraded: torch.Tensor, target: torch.Tensor, stop: bool) -> tuple[dict[str, float], bool]:
        """One G step then one D step (D step skipped during warm-up).

        Both backward passes run before either optimiser steps; that changes nothing (G's step does not
        touch D, and D's loss uses the already computed fakes), and lets one synchronisation check every
        loss for NaN/inf and agree on stopping, before any weight changes.

        Returns:
            ``(losses, stop)``: this process's loss values and whether any process asked to stop.

        Raises:
            NonFiniteLossError: a loss is NaN/inf on some process; no weights were changed.
        """
        t = self.config.train
        warmup = self.step < t.warmup_steps
        n = len(degraded)
        with self._autocast():
            fake = self.g_train(degraded)
            terms = self.objective.reconstruction(fake, target, l1=t.warmup_l1 if warmup else None)
            if not warmup:
                self.discriminator.requires_grad_(False)
                outputs = self.d_frozen(torch.cat([torch.cat([degraded, fake], 1), torch.cat([degraded, target], 1)]))
                terms.update(self.objective.adversarial(*_split(outputs, n)))
            g_total = total(terms)
        self.opt_g.zero_grad(set_to_none=True)
        g_total.backward()
        d_terms: dict[str, torch.Tensor] = {}
        if not warmup:
            self.discriminator.requires_grad_(True)
            with self._autocast():
                outputs = self.d_train(torch.cat([torch.cat([degraded, fake.detach()], 1),
                                                  torch.cat([degraded, target], 1)]))
                d_terms = discriminator_loss(self.gan_loss, *_split(outputs, n))
            self.opt_d.zero_grad(set_to_none=True)
            d_terms["d_total"].backward()
        names = ["g_total", *terms, *d_terms]
        values = torch.stack([g_total.detach(), *(v.detach().float() for v in terms.values()),
                              *(v.detach().float() for v in d_terms.values())])
        flags = torch.stack([(~torch.isfinite(values)).any().float(), torch.tensor(float(stop), device=values.device)])
        flags = all_reduce_max(flags, self.info)
        host = torch.cat([values, flags]).cpu().tolist()
        losses = dict(zip(names, host[: len(names)]))
        nonfinite, stop_all = host[-2] > 0, host[-1] > 0
        if nonfinite:
            bad = [k for k, v in losses.items() if not math.isfinite(v)] or ["(on another process)"]
            raise NonFiniteLossError(
                f"step {self.step + 1}: non-finite loss {', '.join(bad)} ({losses}); stopped before updating "
                f"the weights. The last good checkpoint is {self._last_checkpoint_text()}. Lower the learning "
                f"rates, check the data for NaN/inf pixels, or try train.amp=off, then resume with --resume auto.")
        self.opt_g.step()
        if not warmup:
            self.opt_d.step()
        self.sched_g.step()
        with warnings.catch_warnings():
            # During the warm-up D's optimiser does not step but its schedule advances with the global step.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            self.sched_d.step()
        if self.ema is not None:
            self.ema.update(self.generator, self.step)
        self.step += 1
        return losses, stop_all

    def _last_checkpoint_text(self) -> str:
        path = ckpt.latest_checkpoint(self.run_dir)
        return str(path) if path is not None else "none (no checkpoint was written yet)"

    # -- validation and logging ------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """PSNR/SSIM of the EMA generator (else G) on the validation set, plus those of the degraded input.

        Runs on rank 0 only (other processes return ``{}``). Writes an image grid (degraded | output |
        target) to ``<run_dir>/samples/`` and TensorBoard.
        """
        if self.val_dataset is None or not self.info.is_main:
            return {}
        model = self.ema.module if self.ema is not None else self.generator
        was_training = model.training
        model.eval()  # eval: spectral norm uses its stored vectors and does not update them
        loader = DataLoader(self.val_dataset, batch_size=min(self.config.train.batch_size * 2, 16), shuffle=False,
                            num_workers=min(self.config.data.num_workers, 2),
                            worker_init_fn=_leave_stop_signals_to_main)
        sums = {"psnr": 0.0, "ssim": 0.0, "input_psnr": 0.0, "input_ssim": 0.0}
        count, grid_rows = 0, None
        for batch in loader:
            degraded, target = self._to_device(batch)
            # The package's one restore path (pads to x32, clips to [0, 1]) in the trainer's arithmetic.
            from hifacegan.inference import restore_tensor

            output = restore_tensor(model, degraded, batch_size=len(degraded), precision="bf16" if self.amp else "fp32")
            sums["psnr"] += psnr_batch(output, target).sum().item()
            sums["ssim"] += ssim_batch(output, target).sum().item()
            if self._baseline is None:
                sums["input_psnr"] += psnr_batch(degraded, target).sum().item()
                sums["input_ssim"] += ssim_batch(degraded, target).sum().item()
            if grid_rows is None:
                n = min(4, len(degraded))
                grid_rows = [degraded[:n], output[:n], target[:n]]
            count += len(degraded)
        model.train(was_training)
        if count == 0:
            return {}
        if self._baseline is None:
            self._baseline = {"input_psnr": sums["input_psnr"] / count, "input_ssim": sums["input_ssim"] / count}
        metrics = {"psnr": sums["psnr"] / count, "ssim": sums["ssim"] / count, **self._baseline, "images": count}
        if grid_rows is not None:
            grid = _image_grid(grid_rows)
            from hifacegan.io import write_image

            write_image(self.run_dir / "samples" / f"step_{self.step:08d}.png", grid.permute(1, 2, 0).numpy())
            if self._writer is not None:
                self._writer.add_image("val/degraded_output_target", grid, self.step)
        self.last_validation = metrics
        return metrics

    def _open_tensorboard(self) -> None:
        if not (self.info.is_main and self.config.train.tensorboard):
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.info("TensorBoard logging off: the 'tensorboard' package is not installed (pip install tensorboard)")
            return
        self._writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))

    def _log(self, kind: str, values: dict[str, float]) -> None:
        if not self.info.is_main:
            return
        ckpt.append_jsonl(self.run_dir / "metrics.jsonl", {"kind": kind, "step": self.step, **values})
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(f"{kind}/{key}", value, self.step)

    # -- signals ------------------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, _frame: Any) -> None:
            logger.warning("received %s: finishing this step, then saving a checkpoint (again to abort)",
                           signal.Signals(signum).name)
            self._stop_requested = True
            signal.signal(signum, previous[signum])  # a second signal acts as usual

        for s in previous:
            signal.signal(s, handler)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)

        return restore

    # -- fit ----------------------------------------------------------------------------------------------
    def fit(self, stop_at: int | None = None, save_on_stop: bool = True) -> TrainResult:
        """Train until ``train.steps``, the time budget, a signal, or ``stop_at``.

        Args:
            stop_at: stop after this many steps in total without exporting (for tests and schedulers).
            save_on_stop: write a checkpoint when stopping at ``stop_at`` (False imitates a crash).

        Returns:
            What happened; on rank 0 the final checkpoint and exported model paths.

        Raises:
            NonFiniteLossError: NaN/inf losses or weights (the last good checkpoint is kept).
        """
        t = self.config.train
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt.write_text(self.run_dir / "config.yaml", dump_config(self.config))
            ckpt.write_text(self.run_dir / "environment.json",
                            json.dumps(_environment(self.info), indent=2, default=str) + "\n")
            params_g = sum(p.numel() for p in self.generator.parameters())
            params_d = sum(p.numel() for p in self.discriminator.parameters())
            logger.info("%s ngf %d (%.1f M parameters), D %.1f M; %s, %d process(es), batch %d per process, "
                        "%s, perceptual %s; run folder %s", self.config.model.variant, self.config.model.ngf,
                        params_g / 1e6, params_d / 1e6, self.device, self.info.world_size, t.batch_size,
                        "bf16 autocast" if self.amp else "fp32", self.perceptual_name, self.run_dir)
        self._open_tensorboard()
        restore_signals = self._install_signal_handlers()
        loader, sampler = self._loader()
        batches = self._batches(loader, sampler)
        from tqdm import tqdm

        bar = tqdm(total=t.steps, initial=self.step, unit="step", dynamic_ncols=True,
                   disable=None if (self.info.is_main and t.progress) else True)
        self._start = time.perf_counter()
        window_start, window_steps, data_seconds = self._start, 0, 0.0
        paused = 0.0  # checkpoint/validation seconds in this window, left out of the images/s figure
        reason, start_step = "done", self.step
        last_ckpt: Path | None = None
        budget = t.max_minutes * 60.0
        losses: dict[str, float] = {}
        try:
            while self.step < t.steps:
                if stop_at is not None and self.step >= stop_at:
                    reason = "stop_at"
                    break
                fetch_start = time.perf_counter()
                degraded, target = self._to_device(next(batches))
                data_seconds += time.perf_counter() - fetch_start
                stop = self._stop_requested or (budget > 0 and self._run_elapsed() >= budget)
                losses, stop_all = self.train_step(degraded, target, stop)
                window_steps += 1
                bar.update(1)
                if self.step % min(t.log_every or 10, 10) == 0 or self.step == t.steps:
                    now = time.perf_counter()
                    rate = window_steps * t.batch_size * self.info.world_size / max(now - window_start - paused, 1e-9)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items() if k in ("g_total", "d_total")}
                                    | {"img/s": f"{rate:.1f}"})
                if t.log_every and self.step % t.log_every == 0:
                    now = time.perf_counter()
                    busy = max(now - window_start - paused, 1e-9)
                    rate = window_steps * t.batch_size * self.info.world_size / busy
                    record = {**losses, "lr_g": self.sched_g.get_last_lr()[0], "lr_d": self.sched_d.get_last_lr()[0],
                              "images_per_s": rate, "epoch": self.step / self.steps_per_epoch,
                              # Share of the time spent waiting for batches: near 1 means data-bound
                              # (raise data.num_workers), near 0 means compute-bound.
                              "data_wait": data_seconds / busy}
                    self._log("train", record)
                    if self.info.is_main:
                        logger.info("step %d/%d  %s  %.1f img/s (data wait %.0f%%)", self.step, t.steps,
                                    "  ".join(f"{k} {v:.4g}" for k, v in losses.items()), rate,
                                    100 * record["data_wait"])
                    window_start, window_steps, data_seconds, paused = now, 0, 0.0, 0.0
                pause_start = time.perf_counter()
                if t.ckpt_every and self.step % t.ckpt_every == 0 and self.step < t.steps:
                    last_ckpt = self.save_checkpoint() or last_ckpt
                if t.val_every and self.step % t.val_every == 0 and self.step < t.steps:
                    self._validate_and_log()
                paused += time.perf_counter() - pause_start
                if stop_all:
                    reason = "signal" if self._stop_requested else "budget"
                    break
            else:
                reason = "done"
        finally:
            bar.close()
            restore_signals()
        run_seconds = self._run_elapsed()
        rate = (self.step - start_step) * t.batch_size * self.info.world_size / max(run_seconds, 1e-9)
        if self.info.is_main:
            logger.info("stopped (%s) at step %d after %.1f min: %.2f images/s over this run (checkpoints and "
                        "validation included)", reason, self.step, run_seconds / 60, rate)
        exported = None
        if reason != "stop_at" or save_on_stop:
            last_ckpt = self.save_checkpoint() or last_ckpt
        if reason != "stop_at":
            validation = self._validate_and_log()
            if self.info.is_main:
                exported = self.export(self.run_dir / FINAL_NAME, rate, validation)
        if self._writer is not None:
            self._writer.flush()
        return TrainResult(step=self.step, images_seen=self.images_seen, reason=reason, checkpoint=last_ckpt,
                           exported=exported, validation=self.last_validation, images_per_second=rate)

    def _validate_and_log(self) -> dict[str, float]:
        metrics = self.validate()
        if metrics:
            self._log("val", metrics)
            logger.info("validation at step %d: PSNR %.2f dB (input %.2f), SSIM %.4f (input %.4f) on %d images",
                        self.step, metrics["psnr"], metrics["input_psnr"], metrics["ssim"], metrics["input_ssim"],
                        metrics["images"])
        return metrics

    def export(self, path: str | os.PathLike, images_per_second: float = 0.0,
               validation: dict[str, float] | None = None) -> Path:
        """Save the EMA generator (else G) in the package's safetensors format with a model card."""
        from hifacegan.models import save_model

        c = self.config
        model = self.ema.module if self.ema is not None else self.generator
        env = _environment(self.info)
        card = {
            "variant": c.model.variant,
            "ngf": c.model.ngf,
            # The face size it restores: with patches (data.face_size) that is the whole face, not the patch.
            "size": c.data.face_size or c.data.size,
            "task": "renovation" if len(c.data.tasks) > 1 else c.data.tasks[0],
            "tasks": list(c.data.tasks),
            "steps": self.step,
            "images_seen": self.images_seen,
            "weights": "ema" if self.ema is not None else "generator",
            "ema_decay": c.train.ema_decay,
            "warmup_steps": c.train.warmup_steps,
            "perceptual_network": self.perceptual_name,
            "loss_weights": dataclasses.asdict(c.loss),
            "data": {"source": c.data.source, "train": c.data.train_root, "train_lq": c.data.train_lq_root or None,
                     "val": c.data.val_root or None, "size": c.data.size, "face_size": c.data.face_size or None,
                     "degradation_scaled_to_size": c.data.degradation_scale,
                     "degradation_config": c.data.degradation_config or "official"},
            "compute": {"device": env.get("gpu", str(self.device)), "processes": self.info.world_size,
                        "batch_per_process": c.train.batch_size, "bf16_autocast": self.amp,
                        "training_hours": round((self.elapsed_before + self._run_elapsed()) / 3600, 3),
                        "images_per_second": round(images_per_second, 2), "torch": torch.__version__},
            "validation": validation or {},
            "provenance": "trained with hifacegan train",
        }
        saved = save_model(path, model, card)
        logger.info("exported %s generator to %s", card["weights"], saved)
        return saved

    def close(self) -> None:
        """Release TensorBoard files and the process group."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        cleanup_distributed()


# Settings that change how a run is watched or paced, not the numbers it computes.
_BOOKKEEPING = {
    "run_dir", "train.max_minutes", "train.log_every", "train.val_every", "train.ckpt_every", "train.keep_every",
    "train.progress", "train.tensorboard", "data.num_workers", "data.pin_memory", "data.persistent_workers",
    "data.prefetch_factor", "data.val_max_items",
}


def _config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Differences between a checkpoint's config and the current one that change the training itself."""
    changes = []
    for section, values in new.items():
        if isinstance(values, dict):
            for key, value in values.items():
                before = (old.get(section) or {}).get(key)
                if before != value and f"{section}.{key}" not in _BOOKKEEPING:
                    changes.append(f"{section}.{key}: {before!r} -> {value!r}")
        elif old.get(section) != values and section not in _BOOKKEEPING:
            changes.append(f"{section}: {old.get(section)!r} -> {values!r}")
    return changes
