"""Training checkpoints: atomic writes, safe loading, RNG state round trip."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from hifacegan.training import checkpoint as C


def test_save_is_atomic_and_load_is_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.pt"
    C.save_checkpoint(path, {"step": 1, "w": torch.ones(3)})
    assert C.load_checkpoint(path)["step"] == 1

    def exploding_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(C.torch, "save", exploding_save)
    with pytest.raises(OSError, match="disk full"):
        C.save_checkpoint(path, {"step": 2})
    # The old checkpoint survives intact and no temporary file is left behind.
    monkeypatch.undo()
    assert C.load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]
    assert C.latest_checkpoint(tmp_path) == path


def test_load_rejects_foreign_and_unsafe_files(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(1)}, plain)
    with pytest.raises(C.TrainingCheckpointError, match="not a hifacegan training checkpoint"):
        C.load_checkpoint(plain)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": C.CHECKPOINT_FORMAT, "x": Evil()}, evil)
    with pytest.raises(C.TrainingCheckpointError, match="not a readable"):
        C.load_checkpoint(evil)
    with pytest.raises(C.TrainingCheckpointError, match="no such"):
        C.load_checkpoint(tmp_path / "absent.pt")
    assert C.latest_checkpoint(tmp_path / "nothing") is None


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.normal()  # leaves a cached Gaussian in NumPy's legacy state
    C.save_checkpoint(tmp_path / "c.pt", {"rng": C.capture_rng_state()})
    expected = (random.random(), np.random.normal(), np.random.rand(), torch.rand(3))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    C.restore_rng_state(C.load_checkpoint(tmp_path / "c.pt")["rng"])
    got = (random.random(), np.random.normal(), np.random.rand(), torch.rand(3))
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])
