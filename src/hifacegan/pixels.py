"""The package's image conventions, one per layer, and the only converters between them.

=====================  ===========================================  ==========================================
layer                  convention                                   where
=====================  ===========================================  ==========================================
files (I/O)            RGB ``float32`` ``(H, W, 3)`` in ``[0, 1]``  :mod:`hifacegan.io` reads to it and writes
                       (+ optional alpha); 8/16-bit on disk         from it, rounding with
                                                                    :func:`float_to_uint8`
faces, restorer        the same ``float32`` ``[0, 1]`` arrays       :mod:`hifacegan.faces`,
                       (``uint8`` accepted at the API)              :mod:`hifacegan.restorer`
degradations           RGB ``uint8`` ``(H, W, 3)``, levels 0..255;  :mod:`hifacegan.degradations`; float
                       float intermediates hold 8-bit levels        levels back with :func:`levels_to_uint8`
models                 ``float32`` tensors ``(N, 3, H, W)`` in      :func:`image_to_tensor`,
                       ``[0, 1]``; datasets give ``(3, H, W)``      :func:`tensor_to_image`,
                                                                    :func:`uint8_to_chw_tensor`
metrics                ``float64`` ``(H, W, 3)`` in ``[0, 255]``    :func:`to_float255` (from ``uint8`` or
                       inside; ``uint8`` or float ``[0, 1]`` in     float ``[0, 1]``, checked);
                                                                    :func:`to_checked_uint8` for dlib
=====================  ===========================================  ==========================================

Every converter here is pure (no disk, no device choice beyond an explicit ``device``). torch is
imported only by the tensor converters: ``hifacegan degrade`` and image I/O must not load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "float_to_uint8",
    "image_to_tensor",
    "levels_to_uint8",
    "tensor_to_image",
    "to_checked_uint8",
    "to_float255",
    "uint8_to_chw_tensor",
]


def float_to_uint8(array: np.ndarray) -> np.ndarray:
    """Round a ``[0, 1]`` float array to ``uint8`` (values outside are clipped)."""
    return np.clip(np.rint(np.asarray(array, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def levels_to_uint8(array: np.ndarray) -> np.ndarray:
    """Round a float array of 8-bit levels (``0..255``) to ``uint8`` (clipping to 0..255)."""
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def to_float255(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check an RGB image and return it as float64 ``(H, W, 3)`` in ``[0, 255]``.

    Args:
        image: ``(H, W, 3)`` RGB, ``uint8`` in ``[0, 255]`` or float in ``[0, 1]``.
        name: what to call the array in error messages.

    Returns:
        float64 ``(H, W, 3)`` in ``[0, 255]`` (floats are scaled, not rounded).

    Raises:
        ValueError: wrong rank/channel count, an unsupported dtype, or a float image outside ``[0, 1]``.
    """
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB array, got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float64)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 in [0, 255] or float in [0, 1], got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    # A little slack for float32 round-off of values that were clipped to [0, 1].
    if low < -1e-6 or high > 1.0 + 1e-6:
        raise ValueError(
            f"{name} is a float array with values in [{low:.4g}, {high:.4g}]; float images must lie in [0, 1] "
            "(pass uint8 for [0, 255] data)"
        )
    return array.astype(np.float64) * 255.0


def to_checked_uint8(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` RGB image, ``uint8`` or float ``[0, 1]`` (checked as :func:`to_float255` does), as
    C-contiguous ``uint8``."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = levels_to_uint8(to_float255(array))
    elif array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {array.shape}")
    return np.ascontiguousarray(array)


def image_to_tensor(image: np.ndarray | list[np.ndarray], device: torch.device | str | None = None) -> torch.Tensor:
    """``(H, W, 3)`` array (float ``[0,1]`` or ``uint8``), or a list of equal-size ones, to ``(N, 3, H, W)``."""
    import torch

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


def uint8_to_chw_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` to a float32 ``(3, H, W)`` tensor in ``[0, 1]`` (one dataset item)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)
