"""The shipped default model: present, verified, described, and actually restoring faces."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import hifacegan
from hifacegan.cli import main
from hifacegan.metrics import psnr
from hifacegan.models import pretrained, read_weights


def test_default_model_is_shipped_verified_and_described():
    path = pretrained.default_model_path()
    entry = pretrained.PRETRAINED[pretrained.DEFAULT_MODEL_NAME]
    assert path.stat().st_size < 80e6  # "tens of MB at most"
    _, card = read_weights(path)
    assert (card["variant"], card["ngf"], card["size"]) == (entry.variant, entry.ngf, entry.size)
    assert np.asarray(card["face_template"]).shape == (5, 2)
    # Every paper task is reported in the card (the renovation model's table adds the real-world mix).
    assert {"sr4x", "sr16x", "denoise", "deblur", "jpeg", "renovation"} <= set(card["validation"]["table"])


def test_a_corrupt_default_model_is_refused(tmp_path, monkeypatch):
    entry = pretrained.PRETRAINED[pretrained.DEFAULT_MODEL_NAME]
    broken = tmp_path / entry.filename
    shutil.copy(pretrained.WEIGHTS_DIR / entry.filename, broken)
    with open(broken, "r+b") as handle:
        handle.seek(-16, 2)
        handle.write(b"\0" * 16)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(pretrained.NoDefaultModelError, match="corrupt"):
        pretrained.default_model_path()


def test_default_model_removes_noise_from_held_out_faces(reference_dir):
    from hifacegan.degradations import DegradationConfig, degrade, rng_for

    val = sorted((reference_dir.parents[1] / "data" / "utkface" / "val").glob("*.jpg"))[:4]
    model = hifacegan.load_model(pretrained.default_model_path())
    config = DegradationConfig().scaled_for_size(128)
    gains = []
    for path in val:
        truth = np.asarray(Image.open(path).convert("RGB").resize((128, 128), Image.BOX))
        noisy, _ = degrade(truth, "denoise", rng_for(0, path.stem), config)
        x = torch.from_numpy(noisy).permute(2, 0, 1)[None].float() / 255
        out = hifacegan.restore_tensor(model, x)[0].permute(1, 2, 0).numpy()
        restored = np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
        gains.append(psnr(restored, truth) - psnr(noisy, truth))
    assert min(gains) > 3.0, gains


def test_restore_aligned_uses_the_default_model_without_model_flag(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (96, 80, 3), dtype=np.uint8)).save(tmp_path / "crop.png")
    assert main(["restore", str(tmp_path / "crop.png"), "-o", str(tmp_path / "out"), "--aligned",
                 "--device", "cpu"]) == 0
    written = Image.open(tmp_path / "out" / "restored_faces" / "crop.png")
    assert written.size == (80, 96) and written.mode == "RGB"

