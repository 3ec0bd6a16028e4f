"""LPIPS and FID: deep-feature metrics, available only when their standard weight files are on this machine.

No wheel ships the ImageNet backbones these metrics are defined with, and this package never
downloads (OFFLINE.md), so both run only where the user has the standard files. The networks are our
own definitions whose ``state_dict`` keys match the files, which load with ``weights_only=True``.

LPIPS (Zhang et al. 2018, v0.1, AlexNet): lower is more similar.

* backbone: torchvision's ``alexnet-owt-7be5be79.pth``, looked up at ``$HIFACEGAN_LPIPS_ALEXNET``,
  then ``$TORCH_HOME/hub/checkpoints/`` (default ``~/.cache/torch/hub/checkpoints/``, where
  ``torchvision.models.alexnet(weights="IMAGENET1K_V1")`` leaves it), then ``~/.cache/hifacegan/``;
* linear heads: the ``lpips`` package's ``weights/v0.1/alex.pth``, looked up at
  ``$HIFACEGAN_LPIPS_HEADS``, then ``~/.cache/hifacegan/lpips_alex_v0.1.pth``, then an installed
  ``lpips`` package (found without importing it).

FID (Heusel et al. 2017) with the TensorFlow-ported Inception v3 of ``pytorch-fid`` (2048-D pool
features, inputs resized to 299x299 bilinearly): ``pt_inception-2015-12-05-6726825d.pth``, looked up
at ``$HIFACEGAN_FID_INCEPTION``, then the torch hub checkpoints folder, then ``~/.cache/hifacegan/``.
FID compares two *sets* of images, so it has no per-image value; published FIDs use thousands of images.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hifacegan.io import file_sha256
from hifacegan.metrics._paths import (
    MissingFileError,
    cache_dir,
    find_file,
    installed_package_dir,
    torch_hub_checkpoints,
)
from hifacegan.pixels import to_float255

__all__ = [
    "ALEXNET_FILE",
    "FID_INCEPTION_FILE",
    "LPIPS",
    "LPIPS_HEADS_FILE",
    "FIDInception",
    "MissingFileError",
    "fid",
    "fid_features",
    "fid_from_features",
    "frechet_distance",
    "frechet_from_features",
    "load_fid_inception",
    "load_lpips",
    "lpips",
]

logger = logging.getLogger(__name__)

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_HEADS_FILE = "lpips_alex_v0.1.pth"
FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
# torch.hub names files <name>-<first 8 hex digits of their sha256>.pth; a file under the standard name
# with another hash would give numbers that are silently incomparable, so it is refused.
_HASH_PREFIX = {ALEXNET_FILE: "7be5be79", FID_INCEPTION_FILE: "6726825d"}


def _check_hash(path: Path) -> None:
    prefix = _HASH_PREFIX.get(path.name)
    if prefix is None:
        return
    if not file_sha256(path).startswith(prefix):
        raise ValueError(f"{path} is not the standard {path.name} (its sha256 does not start with {prefix}); "
                         "replace it with the original file")


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    _check_hash(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        # ValueError, not TypeError: the file is bad, not the argument, and callers treat bad files alike.
        raise ValueError(f"{path} does not hold a state dict")  # noqa: TRY004
    return state


def _to_batch(images: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    arrays = [to_float255(image, f"image {i}") / 255.0 for i, image in enumerate(images)]
    batch = np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(batch)).to(device)


# ---- LPIPS --------------------------------------------------------------------------------------------


class LPIPS(nn.Module):
    """LPIPS v0.1 with the AlexNet backbone.

    ``features`` mirrors torchvision's ``AlexNet.features`` (same indices, so its keys load as they are);
    the distances are tapped after the five ReLUs, unit-normalised along channels, squared, weighted by
    the learned 1x1 heads ``lin0..lin4``, averaged over space and summed.
    """

    _TAPS = (1, 4, 7, 9, 11)  # indices of the ReLUs whose outputs are compared
    shift: torch.Tensor
    scale: torch.Tensor
    _CHANNELS = (64, 192, 384, 256, 256)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
        )
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in self._CHANNELS)
        # LPIPS's input scaling: from [-1, 1] to roughly ImageNet-normalised values.
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x * 2.0 - 1.0) - self.shift) / self.scale
        out = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._TAPS:
                out.append(x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + 1e-10))
        return out

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Distances ``(N,)`` between two ``(N, 3, H, W)`` batches in ``[0, 1]`` (H, W at least 32)."""
        total = torch.zeros(x.shape[0], device=x.device)
        for head, fx, fy in zip(self.heads, self._taps(x), self._taps(y)):
            total += head((fx - fy) ** 2).mean(dim=(1, 2, 3))
        return total


def load_lpips(backbone: str | os.PathLike | None = None, heads: str | os.PathLike | None = None,
               device: str | torch.device = "cpu") -> LPIPS:
    """Build LPIPS from the standard local files (see the module docstring for where they are looked for).

    Args:
        backbone: torchvision AlexNet weights; ``None`` searches the default places.
        heads: LPIPS v0.1 AlexNet linear heads (``lpips``'s ``alex.pth``); ``None`` searches.
        device: where to put the network.

    Raises:
        MissingFileError: a file is missing; the message says where to put it.
        ValueError: a file does not match the network.
    """
    backbone_path = find_file(
        "LPIPS backbone (torchvision AlexNet weights)", backbone, "HIFACEGAN_LPIPS_ALEXNET",
        [torch_hub_checkpoints() / ALEXNET_FILE, cache_dir() / ALEXNET_FILE],
        "It is what torchvision.models.alexnet(weights='IMAGENET1K_V1') downloads on a machine with internet.")
    lpips_package = installed_package_dir("lpips")
    head_candidates = [cache_dir() / LPIPS_HEADS_FILE]
    if lpips_package is not None:
        head_candidates.append(lpips_package / "weights" / "v0.1" / "alex.pth")
    heads_path = find_file(
        "LPIPS v0.1 AlexNet linear heads", heads, "HIFACEGAN_LPIPS_HEADS", head_candidates,
        "Copy lpips/weights/v0.1/alex.pth from the 'lpips' package (pip download lpips; it is inside the wheel).")
    model = LPIPS()
    state = {k: v for k, v in _load_state(backbone_path).items() if k.startswith("features.")}
    missing, unexpected = model.features.load_state_dict(
        {k[len("features."):]: v for k, v in state.items()}, strict=False)
    if missing or unexpected:
        raise ValueError(f"{backbone_path} does not fit AlexNet: missing {missing}, unexpected {unexpected}")
    head_state = _load_state(heads_path)
    for i, head in enumerate(model.heads):
        assert isinstance(head, nn.Conv2d)
        # lpips stores each head as Sequential(Dropout, Conv2d): key "lin<i>.model.1.weight".
        weight = head_state.get(f"lin{i}.model.1.weight", head_state.get(f"lin{i}.weight"))
        if weight is None or tuple(weight.shape) != tuple(head.weight.shape):
            raise ValueError(f"{heads_path}: lin{i} weight missing or of the wrong shape")
        head.weight.data.copy_(weight)
    logger.debug("LPIPS from %s and %s", backbone_path, heads_path)
    return model.to(device).eval().requires_grad_(False)


def lpips(a: np.ndarray, b: np.ndarray, *, model: LPIPS) -> float:
    """LPIPS distance of two ``(H, W, 3)`` RGB images (uint8 or float in [0, 1]) of the same size.

    Raises:
        ValueError: shapes differ or are not ``(H, W, 3)``.
    """
    if np.shape(a) != np.shape(b):
        raise ValueError(f"images differ in size: {np.shape(a)} vs {np.shape(b)}")
    device = next(model.parameters()).device
    return float(model(_to_batch([a], device), _to_batch([b], device))[0])


# ---- FID ----------------------------------------------------------------------------------------------


class _ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3) + ReLU: Inception's ``BasicConv2d``, keys ``conv.*``/``bn.*``."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pool ignores the zero padding; the FID network was trained that way.
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _BlockA(nn.Module):
    def __init__(self, cin: int, pool: int) -> None:
        super().__init__()
        self.branch1x1 = _ConvBN(cin, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = _ConvBN(cin, 48, 1), _ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, padding=1)
        self.branch_pool = _ConvBN(cin, pool, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg3(x)),
        ], 1)


class _BlockB(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = _ConvBN(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class _BlockC(nn.Module):
    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))
        self.branch1x1 = _ConvBN(cin, 192, 1)
        self.branch7x7_1 = _ConvBN(cin, c7, 1)
        self.branch7x7_2 = _ConvBN(c7, c7, row[0], padding=row[1])
        self.branch7x7_3 = _ConvBN(c7, 192, col[0], padding=col[1])
        self.branch7x7dbl_1 = _ConvBN(cin, c7, 1)
        self.branch7x7dbl_2 = _ConvBN(c7, c7, col[0], padding=col[1])
        self.branch7x7dbl_3 = _ConvBN(c7, c7, row[0], padding=row[1])
        self.branch7x7dbl_4 = _ConvBN(c7, c7, col[0], padding=col[1])
        self.branch7x7dbl_5 = _ConvBN(c7, 192, row[0], padding=row[1])
        self.branch_pool = _ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d7 = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d7 = layer(d7)
        return torch.cat([self.branch1x1(x), b7, d7, self.branch_pool(_avg3(x))], 1)


class _BlockD(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = _ConvBN(cin, 192, 1), _ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _ConvBN(cin, 192, 1)
        self.branch7x7x3_2 = _ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class _BlockE(nn.Module):
    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = _ConvBN(cin, 320, 1)
        self.branch3x3_1 = _ConvBN(cin, 384, 1)
        self.branch3x3_2a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _ConvBN(cin, 448, 1)
        self.branch3x3dbl_2 = _ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        d3 = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        # The FID network's last block max-pools here (a quirk of the TensorFlow graph it was ported from).
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([
            self.branch1x1(x),
            torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1),
            torch.cat([self.branch3x3dbl_3a(d3), self.branch3x3dbl_3b(d3)], 1),
            self.branch_pool(pooled),
        ], 1)


class FIDInception(nn.Module):
    """The Inception v3 of FID (TensorFlow's 2015-12-05 graph as ported by ``pytorch-fid``), up to the 2048-D pool."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = _ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = _ConvBN(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = _BlockA(192, 32), _BlockA(256, 64), _BlockA(288, 64)
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b, self.Mixed_6c = _BlockC(768, 128), _BlockC(768, 160)
        self.Mixed_6d, self.Mixed_6e = _BlockC(768, 160), _BlockC(768, 192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b, self.Mixed_7c = _BlockE(1280, max_pool=False), _BlockE(2048, max_pool=True)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 2048)`` features of an ``(N, 3, H, W)`` batch in ``[0, 1]`` (resized to 299x299)."""
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2.0 - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, stride=2)))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def load_fid_inception(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> FIDInception:
    """Build the FID network from ``pt_inception-2015-12-05-6726825d.pth`` (see the module docstring).

    Raises:
        MissingFileError: the file is missing; the message says where to put it.
        ValueError: the file does not match the network.
    """
    weights = find_file(
        "FID Inception weights", path, "HIFACEGAN_FID_INCEPTION",
        [torch_hub_checkpoints() / FID_INCEPTION_FILE, cache_dir() / FID_INCEPTION_FILE],
        "It is the file pytorch-fid downloads on first use (release 'fid_weights' of mseitzer/pytorch-fid).")
    model = FIDInception()
    state = {k: v for k, v in _load_state(weights).items() if not k.startswith(("fc.", "AuxLogits."))}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Files saved before PyTorch 0.4.1 carry no BatchNorm step counters; they are unused at inference.
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{weights} does not fit the FID Inception: missing {missing[:5]}..., "
                         f"unexpected {unexpected[:5]}...")
    logger.debug("FID Inception from %s", weights)
    return model.to(device).eval().requires_grad_(False)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians: ``|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))``.

    ``tr((C1 C2)^(1/2))`` is computed as ``tr((C1^(1/2) C2 C1^(1/2))^(1/2))``: the same eigenvalues, but
    of a symmetric matrix, so it stays real and stable for the singular covariances of small sets.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: {mu1.shape}, {cov1.shape} vs {mu2.shape}, {cov2.shape}")
    values, vectors = np.linalg.eigh((cov1 + cov1.T) / 2.0)
    root1 = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root1 @ cov2 @ root1
    trace_root = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None))))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_root)


def frechet_from_features(features_a: np.ndarray, features_b: np.ndarray, metric: str = "FID") -> float:
    """Fréchet distance of the Gaussians fitted to two feature sets ``(N, D)`` and ``(M, D)``.

    Shared by FID and ``fd_mobilenet``; ``metric`` names the caller in the error messages.

    Raises:
        ValueError: fewer than two samples in a set, or different feature sizes.
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected two (N, D) feature arrays with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"{metric} needs at least two images per set, got {len(a)} and {len(b)}")
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID of two feature sets ``(N, D)`` and ``(M, D)`` (at least two rows each).

    Raises:
        ValueError: fewer than two samples in a set, or different feature sizes.
    """
    return frechet_from_features(features_a, features_b, "FID")


def fid(images_a: Sequence[np.ndarray], images_b: Sequence[np.ndarray], *, model: FIDInception,
        batch_size: int = 16) -> float:
    """FID between two sets of ``(H, W, 3)`` RGB images (uint8 or float in [0, 1]; sizes may vary per image).

    Raises:
        ValueError: a set has fewer than two images, or an image is malformed.
    """
    return fid_from_features(fid_features(images_a, model=model, batch_size=batch_size),
                             fid_features(images_b, model=model, batch_size=batch_size))


def fid_features(images: Sequence[np.ndarray], *, model: FIDInception, batch_size: int = 16) -> np.ndarray:
    """``(N, 2048)`` float32 FID features of ``(H, W, 3)`` RGB images (uint8 or float in [0, 1])."""
    device = next(model.parameters()).device
    out: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = list(images[start:start + batch_size])
        # Images of different sizes cannot share a batch; the network resizes each to 299x299 anyway.
        groups = [chunk] if len({np.shape(image) for image in chunk}) == 1 else [[image] for image in chunk]
        out.extend(model(_to_batch(group, device)).cpu().numpy() for group in groups)
    return np.concatenate(out) if out else np.zeros((0, 2048), dtype=np.float32)

