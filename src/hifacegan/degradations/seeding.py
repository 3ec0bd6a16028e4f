"""Random generators derived from ``(seed, key)`` only, so degradations never depend on processing order.

A dataset index, a file stem or ``"epoch/index"`` is hashed with SHA-256 (stable across processes,
machines and Python versions, unlike the salted built-in ``hash()``) into a NumPy ``SeedSequence``.
The same ``(seed, key)`` therefore gives the same stream in any worker, batch or order. NumPy
keeps ``PCG64`` and ``SeedSequence`` stable across releases; the distributions a ``Generator``
draws are stable in practice but not formally guaranteed across NumPy major versions.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["rng_for"]


def rng_for(seed: int, key: str | int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``key``.

    Args:
        seed: run or dataset seed (any integer).
        key: what the randomness is for, e.g. a file stem, a dataset index or ``"3/1207"``
            (epoch 3, item 1207). Integers and their decimal strings give the same generator.

    Returns:
        A fresh ``numpy.random.Generator`` (PCG64).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    # The unit separator cannot appear in a decimal seed, so (1, "23") and (12, "3") never collide.
    # surrogateescape: a file stem that is not UTF-8 (from os.listdir) hashes as its own bytes.
    digest = hashlib.sha256(f"{int(seed)}\x1f{key}".encode("utf-8", "surrogateescape")).digest()
    words = np.frombuffer(digest, dtype="<u4").tolist()
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))
