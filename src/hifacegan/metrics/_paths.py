"""Where the metrics look for files they cannot ship: parameter and weight files the user provides.

Nothing is ever downloaded. Each lookup tries, in order: the path passed in, an environment
variable, then a few documented local folders; a miss raises :class:`MissingFileError` whose message
lists every place tried and says where to put the file.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from hifacegan.cache import cache_dir

__all__ = ["MissingFileError", "cache_dir", "find_file", "installed_package_dir", "torch_hub_checkpoints"]


class MissingFileError(FileNotFoundError):
    """A metric's parameter or weight file is not on this machine; the message says where to put it."""


def torch_hub_checkpoints() -> Path:
    """Where torchvision and torch.hub keep downloaded weights (``$TORCH_HOME/hub/checkpoints``)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def installed_package_dir(name: str) -> Path | None:
    """Folder of an installed top-level package, found without importing it (imports can be slow or broken)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_file(what: str, explicit: str | os.PathLike | None, env_var: str, candidates: list[Path],
              hint: str) -> Path:
    """Return the first existing file among ``explicit``, ``$env_var`` and ``candidates``.

    Args:
        what: the file's description for the message, e.g. ``"NIQE pristine-model parameters"``.
        explicit: a path the caller was given; when set, it is the only place looked at.
        env_var: environment variable that may name the file.
        candidates: default locations, in order of preference.
        hint: where the file comes from, appended to the error message.

    Returns:
        The path of an existing file.

    Raises:
        MissingFileError: none of the places holds the file.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.is_file():
            return path
        raise MissingFileError(f"{what}: {path} does not exist or is not a file. {hint}")
    tried = []
    from_env = os.environ.get(env_var)
    if from_env:
        path = Path(from_env).expanduser()
        if path.is_file():
            return path
        tried.append(f"${env_var}={path}")
    for path in candidates:
        if path.is_file():
            return path
        tried.append(str(path))
    raise MissingFileError(
        f"{what} not found (looked at: {'; '.join(tried) or 'nowhere'}). Put the file at {candidates[0]}, "
        f"or set ${env_var} to its path. {hint}"
    )
