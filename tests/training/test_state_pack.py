"""A training checkpoint packed into small parts (the GPU hand-over) resumes on the CPU."""

from __future__ import annotations

import pytest
import torch
from _tiny import TinyFaces, TinyPerceptual, tiny_config

from hifacegan.training import Trainer
from hifacegan.training.checkpoint import latest_checkpoint, load_checkpoint
from hifacegan.training.state_pack import (
    StatePackError,
    _dequantise_log,
    _quantise_log,
    pack_checkpoint,
    unpack_checkpoint,
)

OVERRIDES = ("train.steps=6", "train.warmup_steps=1", "train.ema_decay=0.9", "train.ckpt_every=3", "train.beta1=0.0")


def _trainer(config, resume=None):
    return Trainer(config, TinyFaces(), val_dataset=False, resume=resume, perceptual=TinyPerceptual())


def test_second_moment_quantisation_is_within_a_few_percent_and_keeps_zeros():
    v = torch.cat([torch.zeros(10), torch.logspace(-20, 0, 1000)])
    packed = _quantise_log(v)
    assert packed["q"].dtype == torch.uint8
    back = _dequantise_log(packed["q"], packed["range"])
    assert torch.equal(back[:10], torch.zeros(10))
    ratio = (back[10:].sqrt() / v[10:].sqrt())
    assert float((ratio - 1).abs().max()) < 0.1  # 33 octaves in 254 codes: <= 4.6% on sqrt(v)


def test_packed_state_fits_the_parts_and_resumes(tmp_path):
    first = _trainer(tiny_config(tmp_path / "gpu", *OVERRIDES))
    first.fit(stop_at=3, save_on_stop=True)
    first.close()
    saved = load_checkpoint(latest_checkpoint(tmp_path / "gpu"))

    files = pack_checkpoint(latest_checkpoint(tmp_path / "gpu"), tmp_path / "pack", part_mib=4, max_parts=8)
    assert files[-1].name == "state.json" and all(f.stat().st_size <= 4 << 20 for f in files)
    unpacked = load_checkpoint(unpack_checkpoint(tmp_path / "pack", tmp_path / "cpu" / "checkpoints" / "last.pt"))

    assert unpacked["step"] == saved["step"] == 3 and unpacked["config"] == saved["config"]
    for key, value in saved["generator"].items():  # float16 rounding, once
        assert unpacked["generator"][key].dtype == value.dtype
        torch.testing.assert_close(unpacked["generator"][key], value, rtol=2e-3, atol=1e-4)
    for key, value in saved["discriminator"].items():  # the discriminator is kept exactly
        assert torch.equal(unpacked["discriminator"][key], value)
    # beta1 = 0 (the official Adam(0, 0.9)): the first moment is not stored, the next step overwrites it
    assert all(not s["exp_avg"].any() for s in unpacked["optimizer_g"]["state"].values())
    assert torch.equal(unpacked["rng"][0]["torch"], saved["rng"][0]["torch"])

    resumed = _trainer(tiny_config(tmp_path / "cpu", *OVERRIDES), resume="auto")
    assert resumed.step == 3
    result = resumed.fit()
    resumed.close()
    assert result.step == 6
    assert all(torch.isfinite(p).all() for p in resumed.generator.parameters())


def test_a_truncated_part_is_refused_naming_it(tmp_path):
    trainer = _trainer(tiny_config(tmp_path / "run", *OVERRIDES))
    trainer.fit(stop_at=3, save_on_stop=True)
    trainer.close()
    files = pack_checkpoint(latest_checkpoint(tmp_path / "run"), tmp_path / "pack", part_mib=4)
    part = files[0]
    part.write_bytes(part.read_bytes()[:-10])
    with pytest.raises(StatePackError, match=part.name):
        unpack_checkpoint(tmp_path / "pack", tmp_path / "out.pt")
