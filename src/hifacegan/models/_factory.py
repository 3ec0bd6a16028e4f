"""``create_model``: build any registered generator by name."""

from __future__ import annotations

from torch import nn

from hifacegan.models._registry import get_model_fn


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the generator variant ``name`` with fresh weights.

    Args:
        name: ``"hifacegan"``, ``"lipspade"``, ``"spade"`` (or ``"test_hifacegan"``).
        **kwargs: constructor arguments, e.g. ``ngf=48``, ``spectral=False``.

    Returns:
        The generator, in training form (spectral norm active). For inference use
        :func:`hifacegan.models.prepare_for_inference` or :func:`hifacegan.load_model`.

    Raises:
        ValueError: unknown ``name`` (the message lists the close matches).
    """
    return get_model_fn(name)(**kwargs)
