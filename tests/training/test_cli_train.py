"""``hifacegan train``: argument handling, exit codes, and a short run through the real entry point."""

from __future__ import annotations

import argparse
import importlib.util
import inspect
from pathlib import Path

import pytest
import torch
from _tiny import SIZE, TinyFaces

from hifacegan.cli import train as train_cli
from hifacegan.training import loader

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers())
    return parser.parse_args(["train", *argv])


@pytest.fixture
def fake_data_module(monkeypatch):
    """Stand-in for ``hifacegan.data``'s datasets (the loader's names), serving TinyFaces."""
    calls = []

    real_signature = inspect.signature(loader.DegradedFolderDataset)

    class DegradedFolderDataset(TinyFaces):
        def __init__(self, *args, **kwargs):
            # Bind against the real class's signature, so the loader's call is checked against what the real
            # dataset accepts (an argument it lacks fails here too) without this stand-in repeating its list.
            bound = real_signature.bind(*args, **kwargs)
            bound.apply_defaults()
            calls.append(dict(bound.arguments))
            super().__init__(n=6, size=bound.arguments["size"], seed=len(calls))

        def set_epoch(self, epoch):
            self.epoch = epoch

    monkeypatch.setattr(loader, "DegradedFolderDataset", DegradedFolderDataset)
    monkeypatch.setattr(loader, "PairedFolderDataset", None)
    return calls


def _tiny_cli_overrides(tmp_path, val=True):
    values = [f"run_dir={tmp_path / 'run'}", "model.variant=test_hifacegan", "model.ngf=8", "model.ndf=8",
              f"data.size={SIZE}", "data.num_workers=0", "train.steps=3", "train.decay_steps=0", "train.warmup_steps=1",
              "train.progress=false", "train.device=cpu", "loss.perceptual_net=none", "loss.l1=1",
              "data.train_root=faces/train", f"data.val_root={'faces/val' if val else ''}", "train.tensorboard=false"]
    return [arg for value in values for arg in ("--set", value)]


def test_cli_trains_resumes_and_exports(tmp_path, fake_data_module, caplog):
    from hifacegan.training.checkpoint import load_checkpoint

    config = tmp_path / "c.yaml"
    config.write_text("data:\n  tasks: [sr4x, denoise]\n  max_items: 6\n")
    overrides = _tiny_cli_overrides(tmp_path)
    assert train_cli.run(_args(str(config), *overrides)) == 0
    run = tmp_path / "run"
    assert (run / "final.safetensors").is_file() and (run / "final.json").is_file()
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 3
    train_call, val_call = fake_data_module[:2]
    assert train_call["root"] == "faces/train" and train_call["tasks"] == ("sr4x", "denoise")
    assert train_call["max_items"] == 6 and train_call["flip"] is True
    assert val_call["root"] == "faces/val" and val_call["flip"] is False and val_call["seed"] == 1234
    # Same folder again without --resume: refused (exit 2) with the fix in the message.
    assert train_cli.run(_args(str(config), *overrides)) == 2
    assert "--resume auto" in caplog.text
    # --resume auto with more steps continues from step 3.
    assert train_cli.run(_args(str(config), *overrides, "--set", "train.steps=4", "--resume", "auto")) == 0
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4


def test_cli_config_errors_exit_2(tmp_path, caplog):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  stepz: 3\n")
    assert train_cli.run(_args(str(bad))) == 2
    assert "train.stepz" in caplog.text
    assert train_cli.run(_args(str(tmp_path / "missing.yaml"))) == 2
    good = tmp_path / "good.yaml"
    good.write_text("data:\n  train_root: ''\n")
    assert train_cli.run(_args(str(good), "--set", f"run_dir={tmp_path / 'r'}", "--set", "train.device=cpu",
                               "--set", "loss.perceptual_net=none")) == 2
    assert "data.train_root is empty" in caplog.text


def test_cli_print_config(tmp_path, capsys):
    assert train_cli.run(_args(str(CONFIGS / "tiny_cpu.yaml"), "--print-config", "--set", "train.steps=900")) == 0
    out = capsys.readouterr().out
    assert "steps: 900" in out and "variant: hifacegan" in out


def test_cli_nan_exits_3(tmp_path, fake_data_module, monkeypatch, caplog):
    class NaNFaces(loader.DegradedFolderDataset):  # the fake one
        def __getitem__(self, index):
            item = super().__getitem__(index)
            item["degraded"] = torch.full_like(item["degraded"], float("nan"))
            return item

    monkeypatch.setattr(loader, "DegradedFolderDataset", NaNFaces)
    assert train_cli.run(_args(str(CONFIGS / "tiny_cpu.yaml"), *_tiny_cli_overrides(tmp_path, val=False))) == 3
    assert "non-finite loss" in caplog.text


@pytest.mark.skipif(importlib.util.find_spec("hifacegan.data") is None, reason="hifacegan.data is not installed yet")
def test_real_degraded_folder_dataset_trains(tmp_path):
    import numpy as np

    from hifacegan.io import write_image

    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("val", 2)):
        for i in range(count):
            write_image(tmp_path / "faces" / split / f"{i}.png", rng.random((80, 80, 3), dtype=np.float32))
    overrides = _tiny_cli_overrides(tmp_path)
    overrides = [a.replace("faces/", f"{tmp_path}/faces/") for a in overrides]
    overrides += ["--set", "data.tasks=[renovation,sr4x]"]
    assert train_cli.run(_args(str(CONFIGS / "tiny_cpu.yaml"), *overrides)) == 0
    assert (tmp_path / "run" / "final.safetensors").is_file()
