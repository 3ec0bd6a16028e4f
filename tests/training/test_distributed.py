"""Multi-process training with torchrun (gloo backend, CPU): DDP keeps every rank's weights identical."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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

    out = Path(sys.argv[1])
    config = tiny_config(out / "run", "train.steps=4", "train.warmup_steps=1", "train.ema_decay=0.5",
                         "train.ckpt_every=2")
    trainer = Trainer(config, TinyFaces(n=8), val_dataset=False, perceptual=TinyPerceptual())
    assert trainer.info.world_size == 2 and trainer.info.backend == "gloo"
    degraded, target = trainer._to_device(next(trainer._batches(*trainer._loader())))
    first_batch = degraded.sum().item()
    result = trainer.fit()
    torch.save({{"G": trainer.generator.state_dict(), "D": trainer.discriminator.state_dict(),
                "EMA": trainer.ema.module.state_dict(), "first_batch": first_batch, "step": result.step}},
               out / f"rank{{trainer.info.rank}}.pt")
    trainer.close()
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_keep_identical_weights(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER.format(here=str(HERE)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
               f"--master_port={_free_port()}", str(script), str(tmp_path)]
    proc = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    # The ranks trained on different shards of the data...
    assert ranks[0]["first_batch"] != ranks[1]["first_batch"]
    assert ranks[0]["step"] == ranks[1]["step"] == 4
    # ...yet gradients were averaged, so G, D (trained with D frozen in the G step) and the EMA agree exactly.
    for net in ("G", "D", "EMA"):
        for key, value in ranks[0][net].items():
            assert torch.equal(value, ranks[1][net][key]), f"{net}.{key} differs between ranks"
    # Only rank 0 wrote the run folder: one checkpoint and the exported generator.
    run = tmp_path / "run"
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "final.safetensors").is_file()
    saved = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert len(saved["rng"]) == 2 and saved["world_size"] == 2
