"""Small, fast stand-ins for the training tests: an in-memory dataset, a random perceptual net, a tiny config."""

from __future__ import annotations

import torch
from torch import nn

from hifacegan.training.config import Config, load_config
from hifacegan.training.perceptual import PerceptualNetwork

SIZE = 64


class TinyFaces(torch.utils.data.Dataset):
    """``n`` fixed random "faces" with a deterministic per-index degradation (noise + darkening)."""

    def __init__(self, n: int = 8, size: int = SIZE, seed: int = 0, nan_at: int | None = None) -> None:
        g = torch.Generator().manual_seed(seed)
        base = torch.rand(n, 3, size // 8, size // 8, generator=g)
        self.targets = nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
        self.noise = 0.1 * torch.randn(n, 3, size, size, generator=g)
        self.nan_at = nan_at

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict:
        target = self.targets[index]
        degraded = (0.8 * target + self.noise[index]).clamp(0, 1)
        # Global-RNG randomness too: the trainer must make it reproducible across resumes.
        if torch.rand(()) < 0.5:
            degraded, target = degraded.flip(-1), target.flip(-1)
        if self.nan_at is not None and index == self.nan_at:
            degraded = torch.full_like(degraded, float("nan"))
        return {"degraded": degraded, "target": target, "name": f"{index:03d}"}


class TinyPerceptual(PerceptualNetwork):
    """Five random frozen conv levels (stride 2): the shape of VGG/MobileNet features, at no cost."""

    name = "tiny_random"

    def __init__(self) -> None:
        super().__init__(imagenet_norm=True)
        torch.manual_seed(123)
        widths = [3, 4, 4, 8, 8, 8]
        self.levels = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2 if i else 1, padding=1), nn.ReLU())
            for i in range(5)
        )
        self.freeze()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.normalize(x)
        out = []
        for level in self.levels:
            x = level(x)
            out.append(x)
        return out


def tiny_config(run_dir, *overrides: str) -> Config:
    base = [
        f"run_dir={run_dir}", "model.variant=test_hifacegan", "model.ngf=8", "model.ndf=8", "model.n_layers_d=3",
        f"data.size={SIZE}", "data.num_workers=0", "train.steps=6", "train.batch_size=2", "train.log_every=1",
        "train.val_every=0", "train.ckpt_every=0", "train.progress=false", "train.tensorboard=false",
        "train.device=cpu", "loss.perceptual_net=none", "train.seed=7",
        # fp32: the equivalence tests compare weights to 5e-5 (train.amp=auto would pick bf16 on CPUs that have it).
        "train.amp=off",
    ]
    return load_config(None, base + list(overrides))
