"""Tiny generators with random weights, saved as model files with a card, for the restore-path tests.

``from _tiny_model import save_tiny_generator`` (``tests/`` is on ``sys.path`` through its conftest); the
``tiny_model_file`` fixture in ``tests/conftest.py`` is the common one.
"""

from __future__ import annotations

from pathlib import Path

import torch

import hifacegan
from hifacegan.models.checkpoint import model_card_for, save_model

#: variant given to :func:`hifacegan.create_model` -> architecture named in the card.
_CARD_ARCH = {"test_hifacegan": "hifacegan", "lipspade": "lipspade"}
_NGF = 8


def save_tiny_generator(path: Path, variant: str = "test_hifacegan", seed: int = 0, size: int = 64) -> Path:
    """Seed torch, build a width-8 ``variant`` generator and save it to ``path`` with a card for ``size``-px faces."""
    torch.manual_seed(seed)
    model = hifacegan.create_model(variant, ngf=_NGF)
    save_model(path, model, model_card_for(model, _CARD_ARCH[variant], _NGF, size=size))
    return path
