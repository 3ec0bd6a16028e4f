"""Registry of generator variants: ``@register_model`` functions, looked up by name."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from torch import nn

_MODEL_FNS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``fn`` under its own name; the name is the variant users pass to ``create_model``."""
    name = fn.__name__
    if name in _MODEL_FNS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODEL_FNS[name] = fn
    return fn


def list_models(include_test: bool = False) -> list[str]:
    """Registered variant names, sorted (``test_*`` variants only when asked)."""
    return sorted(n for n in _MODEL_FNS if include_test or not n.startswith("test_"))


def get_model_fn(name: str) -> Callable[..., nn.Module]:
    """The builder registered as ``name``.

    Raises:
        ValueError: unknown name; the message lists close matches and all variants.
    """
    try:
        return _MODEL_FNS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_MODEL_FNS), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown model {name!r}.{hint} Available: {', '.join(list_models(True))}") from None
