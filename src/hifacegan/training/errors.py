"""The error every training-config check raises (its own module so that config readers and checkers share it)."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key, what is wrong and the valid choices."""
