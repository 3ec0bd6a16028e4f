"""``--shard K/N``: a stable 1/N of the inputs for each of N processes, machines or array tasks.

A photo belongs to shard ``sha256(key) mod N``, where ``key`` is its path relative to the input folder it
was found in (its file name when it was named directly or by a glob). The assignment therefore depends on
neither the listing order nor the other files: adding photos to the archive moves no photo to another
shard, and machines that mount the archive at different places agree.

Job arrays need no new code: Slurm sets ``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT`` (and
``SLURM_ARRAY_TASK_MIN``, subtracted so arrays numbered from 1 work); a Kubernetes Indexed Job sets only
``JOB_COMPLETION_INDEX``, so the count comes from ``--shard-count N`` (the Job's ``completions``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Shard", "input_keys", "resolve_shard"]


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``0 <= index < count``)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= K < N (shards are numbered from 0)")

    def contains(self, key: str) -> bool:
        """Whether the photo identified by ``key`` (see :func:`input_keys`) belongs to this shard."""
        digest = hashlib.sha256(os.fsencode(key)).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """The shard written ``K/N``.

        Raises:
            ValueError: not two integers with ``0 <= K < N``.
        """
        index, slash, count = text.partition("/")
        try:
            if not slash:
                raise ValueError
            return cls(int(index), int(count))
        except ValueError as exc:
            detail = f": {exc}" if str(exc) else ""
            raise ValueError(f"{text!r} is not a shard K/N with 0 <= K < N (e.g. 0/4){detail}") from None


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} must be an integer") from None


def resolve_shard(flag: Shard | None, count_flag: int | None, environ: Mapping[str, str] = os.environ) -> Shard | None:
    """The shard of this process: ``--shard`` if given, else from a Slurm array or a Kubernetes Indexed Job.

    Args:
        flag: the ``--shard K/N`` value, if any (wins over the environment).
        count_flag: ``--shard-count N``: the number of shards when the environment gives only the index.
        environ: the environment to read.

    Returns:
        The shard, or None when this process should take every input.

    Raises:
        ValueError: an index without a count, or an index out of range, with the option that fixes it.
    """
    if flag is not None:
        if count_flag is not None and count_flag != flag.count:
            raise ValueError(f"--shard {flag} and --shard-count {count_flag} disagree; give one of them")
        return flag
    slurm_id = _env_int(environ, "SLURM_ARRAY_TASK_ID")
    if slurm_id is not None:
        count = count_flag if count_flag is not None else _env_int(environ, "SLURM_ARRAY_TASK_COUNT")
        first = _env_int(environ, "SLURM_ARRAY_TASK_MIN") or 0
        if count is None:
            raise ValueError("SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT; pass --shard-count N")
        return _checked(slurm_id - first, count, "SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN")
    job_index = _env_int(environ, "JOB_COMPLETION_INDEX")
    if job_index is not None:
        if count_flag is None:
            raise ValueError(f"JOB_COMPLETION_INDEX={job_index} is set (a Kubernetes Indexed Job) but Kubernetes does "
                             "not say how many shards there are; pass --shard-count N (the Job's completions)")
        return _checked(job_index, count_flag, "JOB_COMPLETION_INDEX")
    if count_flag is not None:
        raise ValueError("--shard-count needs a shard index: --shard K/N, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX")
    return None


def _checked(index: int, count: int, source: str) -> Shard:
    try:
        return Shard(index, count)
    except ValueError as exc:
        raise ValueError(f"{source} gives {exc}") from None


def input_keys(paths: Iterable[Path], input_args: Iterable[str | os.PathLike]) -> dict[Path, str]:
    """Each input's key: its path relative to the folder argument it was found under, else its file name.

    Args:
        paths: the listed input files.
        input_args: the INPUT arguments they were listed from (files, folders, globs).
    """
    roots = sorted((Path(arg).expanduser().absolute() for arg in input_args if Path(arg).expanduser().is_dir()),
                   key=lambda root: len(root.parts), reverse=True)  # the innermost folder wins
    keys: dict[Path, str] = {}
    for path in paths:
        absolute = path.expanduser().absolute()
        key = path.name
        for root in roots:
            if absolute.is_relative_to(root):
                key = absolute.relative_to(root).as_posix()
                break
        keys[path] = key
    return keys
