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

This module is the loop; what it uses lives beside it: :mod:`~hifacegan.training.loader` (datasets and
the resumable loader), :mod:`~hifacegan.training.validation` (scores via :mod:`hifacegan.metrics`),
:mod:`~hifacegan.training.weights` (initialisation, EMA), :mod:`~hifacegan.training.checkpoint` (files,
resume), :mod:`~hifacegan.training.run_record` (environment, model card, resume diff) and
:mod:`~hifacegan.training.run_log` (metrics log, TensorBoard, stop signals).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from hifacegan.inference import cpu_has_fast_bf16
from hifacegan.io import write_image
from hifacegan.models import MultiscaleDiscriminator, create_model, save_model
from hifacegan.training import checkpoint as ckpt
from hifacegan.training.components import ComponentAdversary, component_boxes
from hifacegan.training.config import Config, ConfigError, config_to_dict, dump_config
from hifacegan.training.distributed import (
    ResumableSampler,
    all_gather_objects,
    all_reduce_max,
    cleanup_distributed,
    init_distributed,
)
from hifacegan.training.errors import NonFiniteLossError
from hifacegan.training.loader import (
    build_train_dataset,
    build_val_dataset,
    dataset_length,
    epoch_batches,
    train_loader,
)
from hifacegan.training.losses import GeneratorObjective, LSGANLoss, discriminator_loss, split_fake_real, total
from hifacegan.training.perceptual import PerceptualNetwork, build_perceptual_network
from hifacegan.training.result import TrainResult
from hifacegan.training.run_log import RunLog, install_stop_handlers
from hifacegan.training.run_record import RunFacts, config_changes, environment, model_card
from hifacegan.training.validation import image_grid, score_generator
from hifacegan.training.weights import (
    ModelEMA,
    all_finite,
    freeze_all_but,
    freeze_unused_heads,
    initialize_official,
    load_starting_point,
)

__all__ = ["FINAL_NAME", "NonFiniteLossError", "TrainResult", "Trainer"]

logger = logging.getLogger(__name__)

FINAL_NAME = "final.safetensors"


# --- the trainer ----------------------------------------------------------------------------------------


def uses_bf16_autocast(amp: str, device: torch.device) -> bool:
    """Whether the trainer runs forward passes under bf16 autocast for ``train.amp``.

    ``auto`` turns it on for CUDA and for CPUs with native bf16 (AVX512-BF16 or AMX): the step ran 1.19-1.27x
    faster than fp32 on both CPUs measured (README "Speed", ``benchmarks/train_speed.py``); without those
    flags oneDNN emulates bf16, which is slower than fp32, so ``auto`` stays fp32 there.
    """
    if amp != "auto":
        return amp == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16())


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
        self.amp = uses_bf16_autocast(t.amp, self.device)
        if self.device.type == "cuda":
            # Fixed input sizes: let cuDNN pick the fastest kernels; TF32 for the fp32 parts.
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

        # Before any slow setup: a wrong request fails at once.
        resume_path = ckpt.resume_checkpoint_path(self.run_dir, resume)
        if self.info.is_main:
            ckpt.remove_interrupted_writes(self.run_dir)
        if train_dataset is None:
            train_dataset = build_train_dataset(config)
        if val_dataset is None:
            val_dataset = build_val_dataset(config)
        self.train_dataset = train_dataset
        self.val_dataset: Dataset | None = None if isinstance(val_dataset, bool) else val_dataset
        per_process = math.ceil(dataset_length(train_dataset) / self.info.world_size)  # DistributedSampler's share
        self.steps_per_epoch = per_process // t.batch_size
        if self.steps_per_epoch == 0:
            raise ConfigError(f"the training set has {dataset_length(train_dataset)} images: too few for batch size "
                              f"{t.batch_size} on {self.info.world_size} process(es)")

        # Same seed on every process: identical initial weights (DDP also broadcasts rank 0's).
        torch.manual_seed(t.seed)
        np.random.seed(t.seed)
        random.seed(t.seed)
        m = config.model
        self.generator = create_model(m.variant, ngf=m.ngf)
        self.discriminator = MultiscaleDiscriminator(in_channels=6, ndf=m.ndf, n_layers=m.n_layers_d, num_d=m.num_d)
        if m.init == "xavier":
            initialize_official(self.generator, m.init_gain)
            initialize_official(self.discriminator, m.init_gain)
        start, start_components = load_starting_point(self.generator, self.discriminator, m)
        if start and self.info.is_main:
            logger.info("starting from %s", start)
        freeze_unused_heads(self.generator)
        if m.trainable:
            learning = freeze_all_but(self.generator, m.trainable)
            if self.info.is_main:
                logger.info("generator: only %s learn (%.2f M parameters)", ", ".join(m.trainable), learning / 1e6)
        memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
        self.memory_format = memory_format
        # nn.Module.to takes memory_format (documented); its type stubs do not list it.
        self.generator.to(self.device, memory_format=memory_format)  # type: ignore[call-overload]
        self.discriminator.to(self.device, memory_format=memory_format)  # type: ignore[call-overload]
        self.ema = ModelEMA(self.generator, t.ema_decay) if t.ema_decay > 0 else None

        if perceptual is None and config.loss.perceptual_net != "none" and config.loss.perceptual > 0:
            perceptual = build_perceptual_network(config.loss.perceptual_net, config.loss.perceptual_weights or None,
                                                  config.loss.perceptual_imagenet_norm)
        if perceptual is not None:
            perceptual.to(self.device, memory_format=memory_format)  # type: ignore[call-overload]
        self.perceptual = perceptual
        self.perceptual_name = perceptual.name if perceptual is not None else "none"
        lw = config.loss
        self.objective = GeneratorObjective(self.perceptual, gan=lw.gan, feat=lw.feat,
                                            perceptual_weight=lw.perceptual, l1=lw.l1, lowfreq=lw.lowfreq,
                                            mild_l1=lw.mild_l1, mild_psnr_db=lw.mild_psnr_db, spectrum=lw.spectrum)
        self.gan_loss = LSGANLoss()

        g_params = [p for p in self.generator.parameters() if p.requires_grad]
        self.opt_g = torch.optim.Adam(g_params, lr=t.lr_g, betas=(t.beta1, t.beta2))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2))
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, self._lr_factor)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, self._lr_factor)
        self.components = (ComponentAdversary(lw.component, t.lr_d, (t.beta1, t.beta2), self._lr_factor).to(self.device)
                           if lw.component > 0 else None)
        if self.components is not None and start_components is not None:
            self.components.discriminators.load_state_dict(start_components["discriminators"])
            logger.info("the eye/mouth discriminators start from %s too", m.init_from)

        if self.info.distributed:
            ids = [self.info.local_rank] if self.device.type == "cuda" else None
            self.g_train: Callable[..., Any] = DistributedDataParallel(self.generator, device_ids=ids)
            self.d_train: Callable[..., Any] = DistributedDataParallel(self.discriminator, device_ids=ids)
        else:
            self.g_train, self.d_train = self.generator, self.discriminator
        # D during the G step: no weight gradients, so no DDP gradient synchronisation either.
        self.d_frozen: Callable[..., Any] = self.discriminator
        if t.compile:
            self.g_train = torch.compile(self.g_train)
            self.d_train = torch.compile(self.d_train)
            self.d_frozen = torch.compile(self.d_frozen)

        self.step = 0
        self.elapsed_before = 0.0  # training seconds of earlier runs of this run folder
        self._stop_requested = False
        self._baseline: dict[str, float] | None = None
        # metrics.jsonl from the start; fit() adds TensorBoard (its folder appears only when a run starts).
        self.run_log = RunLog(self.run_dir, self.info.is_main, tensorboard=False)
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
            "components": self.components.training_state() if self.components is not None else None,
            "rng": rng,
            "perceptual": self.perceptual_name,
            "config": config_to_dict(self.config),
        }

    def save_checkpoint(self) -> Path | None:
        """Write ``<run_dir>/checkpoints/last.pt`` (rank 0; every process takes part in gathering RNG states).

        Raises:
            NonFiniteLossError: the weights hold NaN/inf (the previous checkpoint is kept).
        """
        if not (all_finite(self.generator) and all_finite(self.discriminator)):
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

    def _load_resume(self, path: Path) -> None:
        """Restore everything from a training checkpoint (all processes read the same file: on several
        nodes the run folder must be on shared storage)."""
        state = ckpt.load_checkpoint(path)
        saved_model = state["config"].get("model")
        if saved_model != config_to_dict(self.config)["model"]:
            raise ConfigError(f"{path}: the checkpoint's model section {saved_model} differs from the config's "
                              f"{config_to_dict(self.config)['model']}; resume with the same model settings")
        changed = config_changes(state["config"], config_to_dict(self.config))
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
        if self.components is not None:
            self.components.load_training_state(state.get("components"))
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
        return train_loader(self.train_dataset, self.config, self.info)

    def _batches(self, loader: DataLoader, sampler: ResumableSampler) -> Iterator[dict[str, Any]]:
        """Batches from the current step on, epoch after epoch, resuming mid-epoch when needed."""
        return epoch_batches(loader, sampler, self.step, self.steps_per_epoch, self.config.train.batch_size)

    def _to_device(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        degraded = batch["degraded"].to(self.device, non_blocking=True).to(memory_format=self.memory_format)
        target = batch["target"].to(self.device, non_blocking=True).to(memory_format=self.memory_format)
        return degraded, target

    def _component_boxes(self, batch: dict[str, Any], size: int) -> list | None:
        """The eye/mouth boxes of a batch, when those discriminators are on and the items say where they lie."""
        frames = batch.get("face_frame")
        return component_boxes(frames, size) if self.components is not None and frames is not None else None

    def _autocast(self) -> Any:
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def train_step(self, degraded: torch.Tensor, target: torch.Tensor, stop: bool,
                   boxes: list | None = None) -> tuple[dict[str, float], bool]:
        """One G step then one D step (D step skipped during warm-up, G step during D's); ``boxes``: the eye/mouth boxes
        (:func:`~hifacegan.training.components.component_boxes`) when those discriminators are on.

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
        d_only = self.step < t.d_warmup_steps  # D learns G's current output before G feels it
        n = len(degraded)
        with self._autocast(), torch.set_grad_enabled(not d_only):
            fake = self.g_train(degraded)
            terms = self.objective.reconstruction(fake, target, l1=t.warmup_l1 if warmup else None,
                                                  degraded=degraded)
            if not warmup and not d_only:
                self.discriminator.requires_grad_(False)
                outputs = self.d_frozen(torch.cat([torch.cat([degraded, fake], 1), torch.cat([degraded, target], 1)]))
                terms.update(self.objective.adversarial(*split_fake_real(outputs, n)))
                if self.components is not None and boxes is not None:
                    terms.update(self.components.generator_terms(fake, boxes))
            g_total = total(terms)
        self.opt_g.zero_grad(set_to_none=True)
        if not d_only:
            g_total.backward()
        d_terms: dict[str, torch.Tensor] = {}
        if not warmup:
            self.discriminator.requires_grad_(True)
            with self._autocast():
                outputs = self.d_train(torch.cat([torch.cat([degraded, fake.detach()], 1),
                                                  torch.cat([degraded, target], 1)]))
                d_terms = discriminator_loss(self.gan_loss, *split_fake_real(outputs, n))
                if self.components is not None and boxes is not None:
                    d_terms.update(self.components.discriminator_terms(fake, target, boxes))
            self.opt_d.zero_grad(set_to_none=True)
            if self.components is not None:
                self.components.optimizer.zero_grad(set_to_none=True)
            (d_terms["d_total"] + d_terms.get("d_component", 0.0)).backward()
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
        if not d_only:
            self.opt_g.step()
        if not warmup:
            self.opt_d.step()
        if self.components is not None:
            if not warmup:
                self.components.average_gradients(self.info.world_size)
            self.components.step(update=not warmup and boxes is not None)
        with warnings.catch_warnings():
            # During a warm-up one optimiser does not step but its schedule advances with the global step.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            self.sched_g.step()
            self.sched_d.step()
        if self.ema is not None and not d_only:
            self.ema.update(self.generator, self.step)
        self.step += 1
        return losses, stop_all

    def _last_checkpoint_text(self) -> str:
        path = ckpt.latest_checkpoint(self.run_dir)
        return str(path) if path is not None else "none (no checkpoint was written yet)"

    # -- validation and logging ------------------------------------------------------------------------
    def validate(self) -> dict[str, float]:
        """PSNR/SSIM of the EMA generator (else G) on the validation set, plus those of the degraded input.

        Runs on rank 0 only (other processes return ``{}``). Writes an image grid (degraded | output |
        target) to ``<run_dir>/samples/`` and TensorBoard.
        """
        if self.val_dataset is None or not self.info.is_main:
            return {}
        model = self.ema.module if self.ema is not None else self.generator
        scores = score_generator(model, self.val_dataset, batch_size=self.config.train.batch_size * 2,
                                 num_workers=min(self.config.data.num_workers, 2), to_device=self._to_device,
                                 precision="bf16" if self.amp else "fp32", with_input=self._baseline is None)
        if scores.count == 0:
            return {}
        means = scores.means()
        if self._baseline is None:  # the degraded inputs never change: score them once
            self._baseline = {"input_psnr": means["input_psnr"], "input_ssim": means["input_ssim"]}
        metrics = {"psnr": means["psnr"], "ssim": means["ssim"], **self._baseline, "images": scores.count}
        if scores.grid_rows is not None:
            grid = image_grid(scores.grid_rows)
            write_image(self.run_dir / "samples" / f"step_{self.step:08d}.png", grid.permute(1, 2, 0).numpy())
            self.run_log.image("val/degraded_output_target", grid, self.step)
        self.last_validation = metrics
        return metrics

    def _log(self, kind: str, values: dict[str, float]) -> None:
        self.run_log.scalars(kind, self.step, values)

    def _request_stop(self) -> None:
        self._stop_requested = True

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
                            json.dumps(environment(self.info), indent=2, default=str) + "\n")
            params_g = sum(p.numel() for p in self.generator.parameters())
            params_d = sum(p.numel() for p in self.discriminator.parameters())
            logger.info("%s ngf %d (%.1f M parameters), D %.1f M; %s, %d process(es), batch %d per process, "
                        "%s, perceptual %s; run folder %s", self.config.model.variant, self.config.model.ngf,
                        params_g / 1e6, params_d / 1e6, self.device, self.info.world_size, t.batch_size,
                        "bf16 autocast" if self.amp else "fp32", self.perceptual_name, self.run_dir)
        self.run_log.close()
        self.run_log = RunLog(self.run_dir, self.info.is_main, t.tensorboard)
        restore_signals = install_stop_handlers(self._request_stop)
        loader, sampler = self._loader()
        batches = self._batches(loader, sampler)
        # A bar on stderr when it is a terminal (disable=None), rank 0 only; the log lines print above it.
        bar = tqdm(total=t.steps, initial=self.step, unit="step", dynamic_ncols=True, file=sys.stderr,
                   disable=None if (self.info.is_main and t.progress) else True)
        log_beside_bar = contextlib.ExitStack()
        if not bar.disable:
            log_beside_bar.enter_context(logging_redirect_tqdm())
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
                batch = next(batches)
                degraded, target = self._to_device(batch)
                data_seconds += time.perf_counter() - fetch_start
                stop = self._stop_requested or (budget > 0 and self._run_elapsed() >= budget)
                losses, stop_all = self.train_step(degraded, target, stop, self._component_boxes(batch, target.shape[-1]))
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
                    record = {**losses, "lr_g": float(self.sched_g.get_last_lr()[0]),
                              "lr_d": float(self.sched_d.get_last_lr()[0]),
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
                # A kept step is a checkpoint step too, whatever ckpt_every says (keep_every 500 with
                # ckpt_every 200 kept nothing before step 1,000).
                if any(every and self.step % every == 0 for every in (t.ckpt_every, t.keep_every)) and self.step < t.steps:
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
            log_beside_bar.close()
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
        self.run_log.flush()
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
        model = self.ema.module if self.ema is not None else self.generator
        facts = RunFacts(steps=self.step, images_seen=self.images_seen, uses_ema=self.ema is not None,
                         perceptual_name=self.perceptual_name, bf16_autocast=self.amp,
                         training_seconds=self.elapsed_before + self._run_elapsed(),
                         images_per_second=images_per_second, validation=validation or {})
        card = model_card(self.config, self.info, facts)
        saved = save_model(path, model, card)
        logger.info("exported %s generator to %s", card["weights"], saved)
        return saved

    def close(self) -> None:
        """Release TensorBoard files and the process group."""
        self.run_log.close()
        cleanup_distributed()
