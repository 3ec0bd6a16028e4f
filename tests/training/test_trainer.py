"""The training loop on the CPU: losses, exact resume, NaN guard, budget stop, export."""

from __future__ import annotations

import json
import math

import pytest
import torch
from _tiny import TinyFaces, TinyPerceptual, tiny_config

import hifacegan
from hifacegan.training import NonFiniteLossError, Trainer
from hifacegan.training import trainer as trainer_module
from hifacegan.training.checkpoint import latest_checkpoint, load_checkpoint
from hifacegan.training.config import ConfigError


def _trainer(config, resume=None, dataset=None, val=False):
    return Trainer(config, dataset if dataset is not None else TinyFaces(), val_dataset=val, resume=resume,
                   perceptual=TinyPerceptual())


def _states(trainer):
    states = {"G": trainer.generator.state_dict(), "D": trainer.discriminator.state_dict()}
    if trainer.ema is not None:
        states["EMA"] = trainer.ema.module.state_dict()
    return states


def _assert_identical(a, b):
    for net in a:
        assert a[net].keys() == b[net].keys()
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key} differs"


def test_tiny_model_trains_with_finite_moving_losses(tmp_path):
    config = tiny_config(tmp_path / "run", "train.steps=5", "train.warmup_steps=2")
    trainer = _trainer(config)
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    result = trainer.fit()
    trainer.close()
    assert result.step == 5 and result.reason == "done" and result.images_seen == 10
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3, 4, 5]
    for r in train:
        assert all(math.isfinite(v) for k, v in r.items() if k != "kind")
    # Warm-up steps have no adversarial terms; later steps have all of them.
    assert "g_gan" not in train[0] and "d_total" not in train[1]
    assert {"g_gan", "g_feat", "g_perceptual", "d_fake", "d_real", "d_total"} <= set(train[2])
    g_losses = [r["g_total"] for r in train]
    assert len(set(g_losses)) == len(g_losses), f"generator loss does not move: {g_losses}"
    assert train[0]["images_per_s"] > 0
    after = trainer.generator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    # Frozen progressive heads stay as initialised; the used head learns.
    assert torch.equal(before["to_rgbs.0.weight"], after["to_rgbs.0.weight"])
    assert not torch.equal(before["to_rgbs.3.weight"], after["to_rgbs.3.weight"])
    # The run folder holds the resolved config, the environment, a checkpoint and the exported model.
    run = tmp_path / "run"
    assert (run / "config.yaml").is_file() and (run / "environment.json").is_file()
    assert latest_checkpoint(run) is not None


def test_warmup_reduces_reconstruction_loss(tmp_path):
    config = tiny_config(tmp_path / "run", "train.steps=12", "train.warmup_steps=12", "train.lr_g=1e-3",
                         "model.init=default")
    trainer = _trainer(config, dataset=TinyFaces(n=2))
    trainer.fit()
    trainer.close()
    train = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    l1 = [r["g_l1"] for r in train if r["kind"] == "train"]
    assert l1[-1] < 0.8 * l1[0], l1


@pytest.mark.parametrize("crash", [False, True], ids=["stop-and-save", "crash-after-checkpoint"])
def test_resume_is_bit_identical_to_uninterrupted_run(tmp_path, crash):
    overrides = ("train.steps=7", "train.warmup_steps=2", "train.ema_decay=0.9", "train.decay_steps=4",
                 "train.ckpt_every=3")
    # 8 images, batch 2: 4 steps per epoch, so the interruption falls mid-epoch and resuming crosses an epoch.
    reference = _trainer(tiny_config(tmp_path / "a", *overrides))
    reference.fit()
    reference.close()

    first = _trainer(tiny_config(tmp_path / "b", *overrides))
    # crash: die at step 5 without saving; the checkpoint of step 3 is what survives.
    first.fit(stop_at=5, save_on_stop=not crash)
    first.close()
    saved = load_checkpoint(latest_checkpoint(tmp_path / "b"))
    assert saved["step"] == (3 if crash else 5)
    assert len(saved["rng"]) == 1 and saved["optimizer_g"]["state"]

    second = _trainer(tiny_config(tmp_path / "b", *overrides), resume="auto")
    assert second.step == saved["step"]
    result = second.fit()
    second.close()
    assert result.step == 7
    _assert_identical(_states(reference), _states(second))
    assert reference.opt_d.param_groups[0]["lr"] == second.opt_d.param_groups[0]["lr"]


def test_existing_run_needs_resume_flag(tmp_path):
    trainer = _trainer(tiny_config(tmp_path / "run", "train.steps=1"))
    trainer.fit()
    trainer.close()
    with pytest.raises(ConfigError, match="--resume auto"):
        _trainer(tiny_config(tmp_path / "run", "train.steps=2"))
    with pytest.raises(ConfigError, match="model section"):
        _trainer(tiny_config(tmp_path / "run", "train.steps=2", "model.ngf=16"), resume="auto")


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path):
    # Batches in a fixed order (seeded sampler); a NaN image makes some step's losses NaN.
    config = tiny_config(tmp_path / "run", "train.steps=40", "train.ckpt_every=1", "train.warmup_steps=1")
    trainer = _trainer(config, dataset=TinyFaces(n=8, nan_at=5))
    with pytest.raises(NonFiniteLossError, match="non-finite loss") as info:
        trainer.fit()
    trainer.close()
    message = str(info.value)
    assert "last good checkpoint" in message and "last.pt" in message
    bad_step = trainer.step + 1
    saved = load_checkpoint(latest_checkpoint(tmp_path / "run"))
    assert saved["step"] == trainer.step == bad_step - 1
    # Nothing non-finite reached the weights, in memory or on disk.
    assert all(torch.isfinite(v).all() for v in trainer.generator.state_dict().values() if v.is_floating_point())
    assert all(torch.isfinite(v).all() for v in saved["generator"].values() if v.is_floating_point())


def test_time_budget_stops_cleanly_and_exports(tmp_path):
    config = tiny_config(tmp_path / "run", "train.steps=1000", "train.max_minutes=0.0001", "train.ema_decay=0.5",
                         "data.tasks=[sr4x,jpeg]")
    trainer = _trainer(config, val=TinyFaces(n=3, seed=1))
    result = trainer.fit()
    trainer.close()
    assert result.reason == "budget" and 1 <= result.step < 1000
    assert result.validation["images"] == 3 and math.isfinite(result.validation["psnr"])
    assert result.exported == tmp_path / "run" / "final.safetensors"
    assert load_checkpoint(result.checkpoint)["step"] == result.step
    model = hifacegan.load_model(result.exported)
    card = model.model_card
    assert card["variant"] == "test_hifacegan" and card["ngf"] == 8 and card["size"] == 64
    assert card["steps"] == result.step and card["images_seen"] == 2 * result.step
    assert card["perceptual_network"] == "tiny_random" and card["weights"] == "ema"
    assert card["tasks"] == ["sr4x", "jpeg"] and "validation" in card and "compute" in card
    assert (tmp_path / "run" / "samples").is_dir()
    with torch.no_grad():
        out = model(TinyFaces(n=1)[0]["degraded"][None])
    assert out.shape == (1, 3, 64, 64) and torch.isfinite(out).all()


def test_bf16_autocast_path_runs(tmp_path):
    # The GPU path (bf16 autocast, as on CUDA) exercised on the CPU: LIP stays finite, losses are float32.
    config = tiny_config(tmp_path / "run", "train.steps=3", "train.warmup_steps=1", "train.amp=bf16",
                         "train.channels_last=true", "train.ema_decay=0.9")
    trainer = _trainer(config, val=TinyFaces(n=2, seed=3))
    assert trainer.amp
    result = trainer.fit()
    trainer.close()
    assert result.step == 3 and math.isfinite(result.validation["psnr"])
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["g_total"]) for r in records if r["kind"] == "train")
    assert all(p.dtype == torch.float32 for p in trainer.generator.parameters())


@pytest.mark.parametrize(("amp", "device", "fast_bf16", "expected"), [
    ("auto", "cpu", True, True), ("auto", "cpu", False, False), ("auto", "cuda", False, True),
    ("off", "cpu", True, False), ("off", "cuda", True, False), ("bf16", "cpu", False, True),
])
def test_amp_auto_follows_the_cpu_bf16_flags(monkeypatch, amp, device, fast_bf16, expected):
    # auto = bf16 where the CPU computes it natively (faster), fp32 where oneDNN would emulate it (slower).
    monkeypatch.setattr(trainer_module, "cpu_has_fast_bf16", lambda: fast_bf16)
    assert trainer_module.uses_bf16_autocast(amp, torch.device(device)) is expected


def test_sigterm_stops_cleanly_with_checkpoint_and_export(tmp_path):
    import os
    import signal

    class SignalOnce(TinyFaces):
        sent = False

        def __getitem__(self, index):
            if not SignalOnce.sent:
                SignalOnce.sent = True
                os.kill(os.getpid(), signal.SIGTERM)  # as a cluster scheduler does before pre-empting
            return super().__getitem__(index)

    previous = signal.getsignal(signal.SIGTERM)
    trainer = _trainer(tiny_config(tmp_path / "run", "train.steps=50"), dataset=SignalOnce())
    result = trainer.fit()
    trainer.close()
    assert result.reason == "signal" and result.step == 1
    assert load_checkpoint(result.checkpoint)["step"] == 1 and result.exported.is_file()
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored


_GROUP_SIGTERM_SCRIPT = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from _tiny import TinyFaces, TinyPerceptual, tiny_config
from hifacegan.training import Trainer

flag = Path(sys.argv[1]) / "signalled"

class SignalGroupOnce(TinyFaces):
    def __getitem__(self, index):
        if not flag.exists():  # runs in a DataLoader worker
            flag.touch()
            os.killpg(os.getpgrp(), signal.SIGTERM)  # as `timeout`, `kill -- -PGID` and schedulers do
        return super().__getitem__(index)

config = tiny_config(Path(sys.argv[1]) / "run", "train.steps=50", "data.num_workers=1")
result = Trainer(config, SignalGroupOnce(), val_dataset=False, perceptual=TinyPerceptual()).fit()
print("RESULT", result.reason, result.step, result.checkpoint is not None and result.checkpoint.is_file(),
      result.exported is not None and result.exported.is_file())
"""


def test_sigterm_to_the_process_group_spares_workers_and_stops_cleanly(tmp_path):
    # A signal to the whole group also reaches the DataLoader workers; they must leave it to the main
    # process, or the run dies mid-step without saving (seen with `timeout` and `pkill -f`).
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.run([sys.executable, "-c", _GROUP_SIGTERM_SCRIPT, str(tmp_path), str(Path(__file__).parent)],
                          check=False, capture_output=True, text=True, timeout=300, start_new_session=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reason, step, saved, exported = proc.stdout.split("RESULT", 1)[1].split()
    assert reason == "signal" and int(step) < 50 and saved == "True" and exported == "True"


def test_tensorboard_logs_or_one_line_note(tmp_path, monkeypatch, caplog):
    import builtins
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        trainer = _trainer(tiny_config(tmp_path / "tb", "train.steps=2", "train.tensorboard=true"),
                           val=TinyFaces(n=2))
        trainer.fit()
        trainer.close()
        assert list((tmp_path / "tb" / "tensorboard").glob("events.out.tfevents.*"))
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    trainer = _trainer(tiny_config(tmp_path / "none", "train.steps=2", "train.tensorboard=true"))
    with caplog.at_level("INFO"):
        result = trainer.fit()
    trainer.close()
    assert result.step == 2 and not (tmp_path / "none" / "tensorboard").exists()
    assert sum("TensorBoard logging off" in r.message for r in caplog.records) == 1


class _Terminal:
    """A stderr stand-in that says it is a terminal and keeps what was written."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_bar_on_a_terminal_beside_the_log_lines(tmp_path, monkeypatch, caplog, terminal):
    import io
    import logging
    import sys

    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    config = tiny_config(tmp_path / "run", "train.steps=3", "train.progress=true", "train.log_every=1")
    trainer = Trainer(config, TinyFaces(n=4), val_dataset=False, perceptual=TinyPerceptual())
    with caplog.at_level(logging.INFO, logger="hifacegan"):
        trainer.fit()
    trainer.close()
    bar = stderr.text if terminal else stderr.getvalue()
    if terminal:
        assert "3/3" in bar and "step" in bar
    else:
        assert "3/3" not in bar  # no bar in a log file or pipe
    assert "step 3/3" in caplog.text  # the log lines are still there


def test_a_new_run_starts_from_another_runs_ema_generator_and_discriminator(tmp_path):
    first = _trainer(tiny_config(tmp_path / "a", "train.steps=3", "train.ckpt_every=3", "train.ema_decay=0.9"))
    first.fit()
    first.close()
    source = latest_checkpoint(tmp_path / "a")
    second = _trainer(tiny_config(tmp_path / "b", f"model.init_from={source}"))
    assert second.step == 0 and not second.opt_g.state_dict()["state"]  # a new run, not a resume
    _assert_identical({"G": first.ema.module.state_dict(), "D": first.discriminator.state_dict()},
                      {"G": second.generator.state_dict(), "D": second.discriminator.state_dict()})
    second.close()
    with pytest.raises(ConfigError, match="do not fit the model settings"):
        _trainer(tiny_config(tmp_path / "c", f"model.init_from={source}", "model.ndf=16"))
    with pytest.raises(ConfigError, match="keep one"):
        tiny_config(tmp_path / "d", f"model.init_from={source}", f"model.pretrained={source}")


def test_discriminator_warmup_leaves_the_generator_untouched(tmp_path):
    config = tiny_config(tmp_path / "run", "train.steps=4", "train.d_warmup_steps=2", "train.ema_decay=0.5")
    trainer = _trainer(config)
    start = {net: {k: v.clone() for k, v in state.items()} for net, state in _states(trainer).items()}
    trainer.fit(stop_at=2, save_on_stop=False)
    calibrated = _states(trainer)
    # G's weights and the EMA stay; only spectral norm's power-iteration vectors (`*_u`, `*_v`: buffers updated by
    # every forward in training mode) move.
    weights = {net: {k: v for k, v in calibrated[net].items() if not k.endswith(("_u", "_v"))} for net in ("G", "EMA")}
    _assert_identical(weights, {net: {k: start[net][k] for k in weights[net]} for net in weights})
    assert any(not torch.equal(start["D"][k], calibrated["D"][k]) for k in start["D"]), "D never moved"
    trainer.fit()
    trainer.close()
    after = trainer.generator.state_dict()
    assert any(not torch.equal(start["G"][k], after[k]) for k in after if after[k].is_floating_point())
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert "g_gan" not in train[0] and "d_total" in train[0] and "g_gan" in train[2]
    with pytest.raises(ConfigError, match="d_warmup_steps"):
        tiny_config(tmp_path / "x", "train.warmup_steps=1", "train.d_warmup_steps=1")


def test_kept_steps_are_saved_whatever_the_checkpoint_interval(tmp_path):
    config = tiny_config(tmp_path / "run", "train.steps=7", "train.ckpt_every=3", "train.keep_every=2")
    trainer = _trainer(config)
    trainer.fit()
    trainer.close()
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step_*.pt"))
    assert kept == ["step_00000002.pt", "step_00000004.pt", "step_00000006.pt"]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "step_00000004.pt")["step"] == 4


def test_trainable_prefixes_freeze_the_rest_of_the_generator(tmp_path):
    trainer = _trainer(tiny_config(tmp_path / "run", "train.steps=2", "model.trainable=[ups.3, to_rgbs.3]"))
    before = {k: v.clone() for k, v in trainer.generator.named_parameters()}
    optimised = {id(p) for group in trainer.opt_g.param_groups for p in group["params"]}
    trainer.fit()
    trainer.close()
    after = dict(trainer.generator.named_parameters())
    for name, value in after.items():
        learns = name.startswith(("ups.3.", "to_rgbs.3."))
        assert (id(value) in optimised) == learns, name
        if not learns:
            assert torch.equal(before[name], value), f"{name} moved although frozen"
    assert any(not torch.equal(before[n], after[n]) for n in after if n.startswith("ups.3.")), "ups.3 never moved"
    with pytest.raises(ConfigError, match="names no generator parameter.*ups.3"):
        _trainer(tiny_config(tmp_path / "typo", "model.trainable=[ups.30]"))


def test_the_mild_input_l1_reaches_the_loop_with_the_batch_inputs(tmp_path):
    # A midpoint far under any input's PSNR counts every item as mild, so the term is the plain pixel L1 x weight.
    config = tiny_config(tmp_path / "run", "train.steps=2", "loss.mild_l1=3", "loss.mild_psnr_db=-100", "loss.l1=1")
    trainer = _trainer(config)
    trainer.fit()
    trainer.close()
    train = [r for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
             if r["kind"] == "train"]
    assert [r["g_mild_l1"] for r in train] == pytest.approx([3 * r["g_l1"] / config.loss.l1 for r in train], rel=1e-3)


def test_the_band_spectrum_loss_reaches_the_loop(tmp_path):
    config = tiny_config(tmp_path / "run", "train.steps=2", "loss.spectrum=0.5")
    trainer = _trainer(config)
    trainer.fit()
    trainer.close()
    train = [r for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
             if r["kind"] == "train"]
    assert len(train) == 2 and all(r["g_spectrum"] > 0 for r in train)
