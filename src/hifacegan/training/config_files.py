"""Reading training config files: YAML 1.2 scalars and ``base:`` chains (see :mod:`hifacegan.training.config`).

Kept apart from the dataclasses so that each file reads at a glance: this module turns files into plain
nested dicts; ``config.py`` types and checks them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from hifacegan.training.errors import ConfigError

__all__ = ["BASE_KEY", "read_config_file", "yaml_load"]


class _Loader(yaml.SafeLoader):
    """Safe YAML loader with YAML 1.2 scalars: ``1e-4`` is a float, only true/false are booleans.

    PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-4``), so ``lr: 1e-4`` would be the
    string ``"1e-4"``, and ``on``/``off``/``yes``/``no`` are booleans, so ``amp: off`` would be False.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def yaml_load(text: str, source: str) -> Any:
    """Parse YAML text with the loader above; ``source`` names it in the error."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})") from exc


#: The top-level key naming the config file a file builds on.
BASE_KEY = "base"


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The plain values of a YAML config file, merged onto its ``base`` chain (rules in :mod:`hifacegan.training.config`).

    Raises:
        ConfigError: an unreadable file, invalid YAML, a top level that is not a mapping, a ``base`` that
            is not a file name, or bases that lead back to a file already in the chain.
    """
    return _read_with_bases(Path(path), [])


def _read_with_bases(path: Path, chain: list[Path]) -> dict[str, Any]:
    if path.resolve() in chain:
        loop = " -> ".join(str(p) for p in [*chain, path.resolve()])
        raise ConfigError(f"config bases form a loop: {loop}; remove the base: line that closes it")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    values = yaml_load(text, str(path)) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a config must be a mapping at the top level, got {type(values).__name__}")
    base = values.pop(BASE_KEY, None)
    if base is None:
        return values
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: {BASE_KEY} must name another config file (e.g. {BASE_KEY}: renovation512.yaml), "
                          f"got {base!r}")
    base_path = Path(os.path.expanduser(base))
    if not base_path.is_absolute():
        base_path = path.parent / base_path  # relative to the including file, wherever the command runs
    return _merge(_read_with_bases(base_path, [*chain, path.resolve()]), values)


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` on top: mappings merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
