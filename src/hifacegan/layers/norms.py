"""Normalisation helpers: parameter-free instance norm and spectral normalisation folding."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

# BatchNorm's and InstanceNorm's default epsilon, as in the official code.
NORM_EPS = 1e-5


def instance_norm(x: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel normalisation without affine parameters.

    The official test scripts run the SPADE generator in train mode with batch size 1, so its
    ``BatchNorm2d(affine=False)`` normalises each sample by its own statistics (biased variance,
    eps 1e-5) and ignores the running statistics. That is exactly instance normalisation, which we
    use for every batch size: results do not depend on what else is in the batch.
    """
    return F.instance_norm(x, eps=NORM_EPS)


def spectral_conv(conv: nn.Conv2d, enabled: bool = True) -> nn.Conv2d:
    """Wrap a conv in spectral normalisation (``weight_orig``/``weight_u``/``weight_v``, as the official
    checkpoints store it) when ``enabled``."""
    return spectral_norm(conv) if enabled else conv


def _spectral_norm_hook(module: nn.Module):
    for hook in module._forward_pre_hooks.values():
        if type(hook).__name__ == "SpectralNorm" and getattr(hook, "name", None) == "weight":
            return hook
    return None


@torch.no_grad()
def fold_spectral_norm(model: nn.Module, power_iterations: int = 1) -> nn.Module:
    """Replace every spectral-normalised weight by the plain tensor ``W / sigma(W)``, in place.

    The official test scripts run the generator in train mode, where PyTorch's spectral norm does
    one power iteration from the stored ``u`` before each forward. Folding does those iterations
    once here, so inference gives the official output with no per-call overhead.

    Args:
        model: module tree, changed in place.
        power_iterations: power iterations before computing sigma (1 = official test-time semantics).

    Returns:
        ``model``, with plain ``weight`` parameters and no spectral-norm hooks.
    """
    for module in model.modules():
        hook = _spectral_norm_hook(module)
        if hook is None:
            continue
        # Attributes the spectral-norm hook added: typed as Tensor | Module by nn.Module.__getattr__.
        weight = cast(torch.Tensor, module.weight_orig)
        matrix = weight.reshape(weight.shape[0], -1)
        u, v = cast(torch.Tensor, module.weight_u).clone(), cast(torch.Tensor, module.weight_v).clone()
        for _ in range(power_iterations):
            v = F.normalize(torch.mv(matrix.t(), u), dim=0, eps=hook.eps)
            u = F.normalize(torch.mv(matrix, v), dim=0, eps=hook.eps)
        sigma = torch.dot(u, torch.mv(matrix, v))
        folded = (weight / sigma).detach().clone()
        del module._forward_pre_hooks[next(k for k, h in module._forward_pre_hooks.items() if h is hook)]
        for hook_id in [k for k, h in module._state_dict_hooks.items() if type(h).__name__ == "SpectralNormStateDictHook"]:
            del module._state_dict_hooks[hook_id]
        for hook_id in [k for k, h in module._load_state_dict_pre_hooks.items()
                        if "SpectralNorm" in type(getattr(h, "hook", h)).__name__]:
            del module._load_state_dict_pre_hooks[hook_id]
        del module.weight_orig
        del module._buffers["weight_u"]
        del module._buffers["weight_v"]
        if hasattr(module, "weight"):
            delattr(module, "weight")
        module.weight = nn.Parameter(folded, requires_grad=weight.requires_grad)
    return model


def has_spectral_norm(model: nn.Module) -> bool:
    """True while any module still carries a spectral-norm hook."""
    return any(_spectral_norm_hook(m) is not None for m in model.modules())
