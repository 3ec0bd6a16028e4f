"""--shard K/N: a stable partition by path relative to the input folder, defaulting from Slurm/Kubernetes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from hifacegan.batch.sharding import Shard, input_keys, resolve_shard
from hifacegan.cli._types import parse_shard  # restore's --shard type


def _names(n: int) -> list[str]:
    return [f"scan_{i:05d}.jpg" for i in range(n)]


def test_shards_partition_the_inputs_evenly():
    names = _names(4000)
    shards = [Shard(k, 4) for k in range(4)]
    owners = [[s.index for s in shards if s.contains(name)] for name in names]
    assert all(len(o) == 1 for o in owners)  # every photo in exactly one shard
    counts = [sum(o == [k] for o in owners) for k in range(4)]
    assert min(counts) > 900 and max(counts) < 1100, counts  # 1000 +- 10% (binomial sd ~27)


def test_assignment_depends_neither_on_order_nor_on_other_files():
    shard = Shard(1, 3)
    before = {name for name in _names(300) if shard.contains(name)}
    more = list(reversed(_names(600)))  # listed in another order, with 300 more photos
    after = {name for name in more if shard.contains(name)}
    assert before == {name for name in after if name in set(_names(300))}


def test_keys_are_relative_to_the_input_folder(tmp_path):
    for mount in ("mnt_a", "mnt_b"):
        (tmp_path / mount / "archive" / "sub").mkdir(parents=True)
    a = tmp_path / "mnt_a" / "archive"
    b = tmp_path / "mnt_b" / "archive"
    paths_a = [a / "x.jpg", a / "sub" / "y.jpg"]
    paths_b = [b / "x.jpg", b / "sub" / "y.jpg"]
    # Two machines mounting the archive at different places agree on every key.
    assert list(input_keys(paths_a, [str(a)]).values()) == ["x.jpg", "sub/y.jpg"]
    assert list(input_keys(paths_b, [str(b)]).values()) == ["x.jpg", "sub/y.jpg"]
    # A file named directly (or by a glob) is keyed by its name; the innermost folder argument wins.
    assert input_keys([b / "x.jpg"], [str(b / "x.jpg")]) == {b / "x.jpg": "x.jpg"}
    assert input_keys(paths_b, [str(b), str(b / "sub")])[b / "sub" / "y.jpg"] == "y.jpg"


def test_parse_shard():
    assert parse_shard("2/5") == Shard(2, 5)
    for bad in ("5/5", "-1/3", "1", "a/b", "0/0"):
        with pytest.raises(argparse.ArgumentTypeError, match="not a shard K/N"):
            parse_shard(bad)


def test_the_shard_defaults_from_job_arrays():
    assert resolve_shard(None, None, {}) is None
    assert resolve_shard(Shard(0, 2), None, {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"}) == Shard(0, 2)
    slurm = {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}
    assert resolve_shard(None, None, slurm) == Shard(2, 4)  # --array=1-4: task 3 is the third shard
    assert resolve_shard(None, None, {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "8"}) == Shard(0, 8)
    assert resolve_shard(None, 3, {"JOB_COMPLETION_INDEX": "2"}) == Shard(2, 3)
    with pytest.raises(ValueError, match="pass --shard-count N"):
        resolve_shard(None, None, {"JOB_COMPLETION_INDEX": "2"})
    with pytest.raises(ValueError, match="JOB_COMPLETION_INDEX gives shard 3/3"):
        resolve_shard(None, 3, {"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(ValueError, match="disagree"):
        resolve_shard(Shard(0, 2), 3, {})
    with pytest.raises(ValueError, match="needs a shard index"):
        resolve_shard(None, 3, {})
    with pytest.raises(ValueError, match="must be an integer"):
        resolve_shard(None, None, {"SLURM_ARRAY_TASK_ID": "x"})


def test_keys_do_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    monkeypatch.chdir(tmp_path)
    relative = input_keys([Path("in/p.jpg")], ["in"])
    absolute = input_keys([tmp_path / "in" / "p.jpg"], [str(tmp_path / "in")])
    assert list(relative.values()) == list(absolute.values()) == ["p.jpg"]
