"""The errors of training: every config check raises :class:`ConfigError` (its own module so that config readers
and checkers share it); a run whose losses turn NaN/inf stops with :class:`NonFiniteLossError`."""

from __future__ import annotations

__all__ = ["ConfigError", "NonFiniteLossError"]


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key, what is wrong and the valid choices."""


class NonFiniteLossError(RuntimeError):
    """A loss (or the weights) became NaN/inf; training stopped before applying the bad update."""
