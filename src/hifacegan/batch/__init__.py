"""Batches of many photos: a resumable manifest, stable shards for job arrays, and a Ray engine.

``hifacegan restore`` uses these around its per-photo loop (``--skip-existing``, ``--shard K/N``,
``--engine ray``); see docs/scaling.md.
"""

from hifacegan.batch.manifest import Manifest, ManifestRecord, file_digest, read_manifest
from hifacegan.batch.sharding import Shard, input_keys, parse_shard, resolve_shard

__all__ = [
    "Manifest",
    "ManifestRecord",
    "Shard",
    "file_digest",
    "input_keys",
    "parse_shard",
    "read_manifest",
    "resolve_shard",
]
