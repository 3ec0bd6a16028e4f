"""Issue 31, cases 9 and 10: a checkpoint write killed with SIGKILL leaves no temporary file once the run
starts again; ``data.max_items=0`` is refused by the config check, not by a traceback later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")


def test_a_checkpoint_write_killed_mid_way_is_cleaned_up_when_the_run_resumes(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), os.pardir, "training"))
    from _tiny import TinyFaces, tiny_config

    from hifacegan.training.checkpoint import checkpoint_dir, load_checkpoint
    from hifacegan.training.trainer import Trainer

    run_dir = tmp_path / "run"
    config = tiny_config(run_dir)
    first = Trainer(config, train_dataset=TinyFaces(), val_dataset=False)
    good = first.save_checkpoint()
    first.close()
    folder = checkpoint_dir(run_dir)

    # A real process, SIGKILLed while torch.save streams the next checkpoint into its temporary file.
    writer = textwrap.dedent(f"""
        import sys, time, torch
        from hifacegan.training import checkpoint
        def slow_save(obj, handle):
            handle.write(b"x" * 1_000_000)
            handle.flush()
            print("writing", flush=True)
            time.sleep(600)
        torch.save = slow_save
        checkpoint.save_checkpoint({str(good)!r}, {{"step": 99}})
    """)
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "writing"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    left = [p.name for p in folder.iterdir() if p.name.startswith(".hfg") and p.name.endswith(".tmp")]
    assert len(left) == 1, "the kill should have left the half-written file"

    resumed = Trainer(config, train_dataset=TinyFaces(), val_dataset=False, resume="auto")
    resumed.close()
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt"]
    assert load_checkpoint(good)["step"] == 0  # the checkpoint itself was never torn


def test_max_items_zero_is_a_config_error_with_exit_2(tmp_path, caplog):
    from hifacegan.cli import main

    config = tmp_path / "run.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\ndata:\n  train_root: {tmp_path}\n")
    assert main(["train", str(config), "--set", "data.max_items=0"]) == 2
    assert "data.max_items must be at least 1 (or null: every image), got 0" in caplog.text
    assert not (tmp_path / "run").exists()
