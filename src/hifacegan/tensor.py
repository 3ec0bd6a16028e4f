"""Conversions between the package's two image representations.

Outside the networks an image is a NumPy array ``(H, W, 3)`` float32 RGB in ``[0, 1]`` (see
:mod:`hifacegan.io`); inside it is a torch tensor ``(N, 3, H, W)`` float32 in ``[0, 1]``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["image_to_tensor", "tensor_to_image"]


def image_to_tensor(image: np.ndarray | list[np.ndarray], device: torch.device | str | None = None) -> torch.Tensor:
    """``(H, W, 3)`` array (float ``[0,1]`` or ``uint8``), or a list of equal-size ones, to ``(N, 3, H, W)``."""
    images = image if isinstance(image, list) else [image]
    arrays = []
    for array in images:
        array = np.asarray(array)
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {array.shape}")
        arrays.append(array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32))
    batch = torch.from_numpy(np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2)))
    return batch.to(device) if device is not None else batch


def tensor_to_image(tensor: torch.Tensor) -> list[np.ndarray]:
    """``(N, 3, H, W)`` tensor in ``[0, 1]`` to a list of ``(H, W, 3)`` float32 arrays (clipped to ``[0, 1]``)."""
    if tensor.ndim != 4 or tensor.shape[1] != 3:
        raise ValueError(f"expected an (N, 3, H, W) tensor, got shape {tuple(tensor.shape)}")
    array = tensor.detach().float().clamp(0, 1).cpu().numpy().transpose(0, 2, 3, 1)
    return [np.ascontiguousarray(a) for a in array]
