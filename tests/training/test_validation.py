"""Validation while training scores with hifacegan.metrics, and the trainer reports those numbers."""

from __future__ import annotations

import math

import numpy as np
import torch
from _tiny import TinyFaces, TinyPerceptual, tiny_config
from torch import nn

from hifacegan.metrics import psnr, ssim
from hifacegan.training import Trainer
from hifacegan.training.validation import image_grid, score_generator


class Brighten(nn.Module):
    """A "generator" with a known output: the input plus a constant, so the scores can be worked out."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.offset


def _pairs(batch):
    return batch["degraded"], batch["target"]


def test_scores_are_the_metrics_package_numbers():
    faces = TinyFaces(n=5)
    scores = score_generator(Brighten(0.02), faces, batch_size=2, num_workers=0, to_device=_pairs,
                             precision="fp32", with_input=True)
    assert scores.count == 5
    expected_psnr, expected_ssim, input_psnr = [], [], []
    for i in range(5):
        item = faces[i]
        output = (item["degraded"] + 0.02).clamp(0, 1).permute(1, 2, 0).numpy()
        target = item["target"].permute(1, 2, 0).numpy()
        expected_psnr.append(psnr(output, target))
        expected_ssim.append(ssim(output, target))
        input_psnr.append(psnr(item["degraded"].permute(1, 2, 0).numpy(), target))
    means = scores.means()
    assert math.isclose(means["psnr"], float(np.mean(expected_psnr)), rel_tol=1e-9)
    assert math.isclose(means["ssim"], float(np.mean(expected_ssim)), rel_tol=1e-9)
    assert math.isclose(means["input_psnr"], float(np.mean(input_psnr)), rel_tol=1e-9)
    # The brightened output is not the input: the two rows must differ.
    assert not math.isclose(means["psnr"], means["input_psnr"], rel_tol=1e-6)


def test_psnr_of_a_constant_error_is_the_closed_form():
    target = torch.full((1, 3, 32, 32), 0.5)
    dataset = [{"degraded": target[0], "target": target[0]}]
    scores = score_generator(Brighten(0.1), dataset, batch_size=1, num_workers=0, to_device=_pairs,
                             precision="fp32", with_input=False)
    # MSE = 0.1^2 in [0, 1] units: PSNR = 10 log10(1 / 0.01) = 20 dB (float32 round-off aside).
    assert abs(scores.means()["psnr"] - 20.0) < 1e-4
    assert scores.sums["input_psnr"] == 0.0  # not asked for


def test_model_mode_is_restored_and_grid_has_three_columns():
    model = Brighten(0.0).train()
    scores = score_generator(model, TinyFaces(n=3), batch_size=4, num_workers=0, to_device=_pairs,
                             precision="fp32", with_input=False)
    assert model.training
    grid = image_grid(scores.grid_rows)
    size = TinyFaces(n=1)[0]["target"].shape[-1]
    assert grid.shape == (3, 3 * size, 3 * size)


def test_trainer_validation_reports_metric_package_scores(tmp_path):
    config = tiny_config(tmp_path / "run", "train.steps=1", "train.warmup_steps=1")
    val = TinyFaces(n=3, seed=5)
    trainer = Trainer(config, TinyFaces(n=4), val_dataset=val, perceptual=TinyPerceptual())
    trainer.fit()
    trainer.close()
    metrics = trainer.last_validation
    model = trainer.ema.module if trainer.ema is not None else trainer.generator
    model.eval()
    with torch.no_grad():
        expected = []
        for i in range(3):
            item = val[i]
            output = model(item["degraded"][None]).float().clamp(0, 1)[0].permute(1, 2, 0).numpy()
            expected.append(psnr(output, item["target"].permute(1, 2, 0).numpy()))
    assert metrics["images"] == 3
    assert abs(metrics["psnr"] - float(np.mean(expected))) < 1e-4
    assert (tmp_path / "run" / "samples" / "step_00000001.png").is_file()
