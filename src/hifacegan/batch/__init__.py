"""Batches of many photos: a resumable manifest, stable shards for job arrays, and a Ray engine.

``hifacegan restore`` runs :func:`hifacegan.batch.runner.restore_inputs`, which uses these around the
per-file job (``--skip-existing``, ``--shard K/N``, ``--engine ray``); see docs/scaling.md.
"""

from hifacegan.batch.manifest import Manifest, ManifestRecord, file_digest, read_manifest
from hifacegan.batch.sharding import Shard, input_keys, resolve_shard

__all__ = [
    "Manifest",
    "ManifestRecord",
    "Shard",
    "file_digest",
    "input_keys",
    "read_manifest",
    "resolve_shard",
]
