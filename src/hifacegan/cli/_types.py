"""Argument types shared by the sub-commands: parse a value and name the rule it breaks."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from hifacegan.batch.sharding import Shard

__all__ = ["int_between", "parse_shard", "positive_float", "positive_int", "unit_float"]


def _number(text: str, kind: type[float | int] = float) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a {'whole number' if kind is int else 'number'}, got {text!r}") from None


def positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def unit_float(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse type for whole numbers from ``low`` to ``high``."""

    def parse(text: str) -> int:
        value = int(_number(text, int))
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}-{high}, got {text}")
        return value

    return parse


def parse_shard(text: str) -> Shard:
    """``K/N``: shard K of N (see :meth:`hifacegan.batch.sharding.Shard.parse`)."""
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
