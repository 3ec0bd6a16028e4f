"""Issue 31: a model that cannot be loaded ends every command with the same status, 2 (cli/_exit.py), and
one message, never a traceback: the fix is in the command line, and nothing was tried."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hifacegan.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture
def broken_model(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")  # a header length, then no valid header
    return path


@pytest.fixture
def faces(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(folder / "face.png")
    return folder


@pytest.mark.parametrize("command", ["restore", "convert", "export-onnx", "benchmark-tasks", "realness", "train",
                                     "restore-unknown-name"])
def test_an_unloadable_model_exits_2_in_every_command(command, broken_model, faces, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    argv = {
        "restore": ["restore", str(faces), "-o", str(out), "--model", str(broken_model), "--device", "cpu"],
        "restore-unknown-name": ["restore", str(faces), "-o", str(out), "--model", "renovatoin"],
        "convert": ["convert", str(broken_model), str(tmp_path / "converted.safetensors")],
        "export-onnx": ["export-onnx", str(broken_model), str(tmp_path / "model.onnx")],
        "benchmark-tasks": ["benchmark-tasks", "--model", str(broken_model), "--data", str(faces), "--tasks", "jpeg",
                            "--metrics", "psnr", "--device", "cpu"],
        "realness": ["realness", str(faces), "-o", str(out), "--model", str(broken_model), "--no-identity"],
        "train": ["train", str(CONFIGS / "default_utkface128.yaml"), "--set", "train.batch_size=1", "--set", f"run_dir={out}", "--set",
                  f"model.pretrained={broken_model}", "--set", f"data.train_root={faces}", "--set", "data.val_root=",
                  "--set", "train.device=cpu", "--set", "loss.perceptual_net=none", "--set", "data.num_workers=0"],
    }[command]
    assert main(argv) == 2, caplog.text
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and ("broken.safetensors" in errors[0].getMessage()
                                 or "renovatoin" in errors[0].getMessage()), caplog.text
