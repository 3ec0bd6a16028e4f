"""Two CPU processes (torchrun, gloo) with batch B each reach the weights of one process with batch 2B.

Why they should: the trainer seeds every item's randomness from ``(seed, epoch, index)`` (so the data do
not depend on which process loads them), ``DistributedSampler`` hands rank ``r`` the items ``r, r+W, ...``
of the same per-epoch permutation (so a step's global batch is the same set of items), every loss is a
mean over the batch and DDP averages the per-process gradients (so the mean over 2 x B equals the mean over
2B), and the normalisations are per sample (no batch statistics to differ).

Why not bit for bit: DDP sums the two half-batch gradients in a different order than one backward over the
whole batch, so the float32 results differ in the last bits, and Adam divides by sqrt(v), which carries
those bits forward. Over the 4 steps run here the largest difference measured was 7.7e-6 (on the project's
Xeon, one thread per process); the tolerance below (atol 5e-5, rtol 1e-4) leaves room for other CPUs' float
summation yet stays under one optimiser step (Adam at lr 2e-4 moves a weight by about 2e-4 per step); a wrong
split (2 processes x 4 items, a global batch of 8) differs by 0.11, so it, a missing gradient average or
rank-dependent data would fail it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent

_WORKER = textwrap.dedent('''
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, {here!r})
    from _tiny import TinyFaces, TinyPerceptual, tiny_config

    from hifacegan.training import Trainer

    out, batch = Path(sys.argv[1]), int(sys.argv[2])
    config = tiny_config(out / "run", "train.steps=4", "train.warmup_steps=2", "train.ema_decay=0.5",
                         f"train.batch_size={{batch}}")
    trainer = Trainer(config, TinyFaces(n=8), val_dataset=False, perceptual=TinyPerceptual())
    result = trainer.fit()
    torch.save({{"G": trainer.generator.state_dict(), "D": trainer.discriminator.state_dict(),
                "EMA": trainer.ema.module.state_dict(), "step": result.step,
                "world_size": trainer.info.world_size}}, out / f"rank{{trainer.info.rank}}.pt")
    trainer.close()
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(folder: Path, processes: int, batch_per_process: int) -> dict:
    folder.mkdir()
    script = folder / "worker.py"
    script.write_text(_WORKER.format(here=str(HERE)))
    env = {key: value for key, value in os.environ.items()
           if key not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if processes == 1:
        command = [sys.executable, str(script), str(folder), str(batch_per_process)]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--nnodes=1",
                   f"--master_port={_free_port()}", str(script), str(folder), str(batch_per_process)]
    proc = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return torch.load(folder / "rank0.pt", weights_only=True)


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    single = _train(tmp_path / "one", processes=1, batch_per_process=4)
    double = _train(tmp_path / "two", processes=2, batch_per_process=2)
    assert single["world_size"] == 1 and double["world_size"] == 2
    assert single["step"] == double["step"] == 4
    moved = 0.0
    for net in ("G", "D", "EMA"):
        assert single[net].keys() == double[net].keys()
        for key, value in single[net].items():
            if not value.is_floating_point():
                continue
            torch.testing.assert_close(double[net][key], value, atol=5e-5, rtol=1e-4,
                                       msg=lambda m, net=net, key=key: f"{net}.{key}: {m}")
    # The comparison means something only if training moved the weights well beyond the tolerance.
    initial = _initial_generator()
    for key, value in single["G"].items():
        if value.is_floating_point() and key in initial:
            moved = max(moved, (value - initial[key]).abs().max().item())
    assert moved > 1e-4, f"training barely moved the generator (max change {moved:.2e}); the test is vacuous"


def _initial_generator() -> dict[str, torch.Tensor]:
    sys.path.insert(0, str(HERE))
    from _tiny import TinyFaces, TinyPerceptual, tiny_config

    from hifacegan.training import Trainer

    with tempfile.TemporaryDirectory() as folder:
        config = tiny_config(Path(folder) / "run", "train.steps=4", "train.batch_size=4")
        trainer = Trainer(config, TinyFaces(n=8), val_dataset=False, perceptual=TinyPerceptual())
        state = {key: value.clone() for key, value in trainer.generator.state_dict().items()}
        trainer.close()
    return state
