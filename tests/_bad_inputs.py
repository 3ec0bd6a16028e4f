"""The corpus of odd and hostile inputs of issue 21, written into a test's own folder (nothing binary is
committed). Each function writes one kind of file and returns its path; tests import them with
``from _bad_inputs import ...`` (``tests/`` is on ``sys.path`` through its conftest)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image


def scene(h: int, w: int) -> np.ndarray:
    """A smooth ``uint8`` RGB test picture (a gradient: easy to compare, compresses well)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255) // max(w - 1, 1), (y * 255) // max(h - 1, 1), np.full_like(x, 90)], 2).astype(np.uint8)


def big_jpeg(path: Path, width: int = 3000, height: int = 3000) -> Path:
    """A valid, plain JPEG of ``width x height`` (9 MP by default; a few hundred KB on disk)."""
    Image.fromarray(scene(height, width)).save(path, quality=80)
    return path


def float_tiff(path: Path, rgb: np.ndarray, gray: bool = False) -> Path:
    """A 32-bit float TIFF with samples in ``[0, 1]`` (RGB through OpenCV, gray through Pillow's mode F)."""
    values = rgb.astype(np.float32) / 255.0
    if gray:
        Image.fromarray(values[..., 0], "F").save(path)
    else:
        assert cv2.imwrite(str(path), np.ascontiguousarray(values[..., ::-1]))
    return path


def dark_sixteen_bit(path: Path, h: int = 20, w: int = 30) -> tuple[Path, np.ndarray]:
    """A 16-bit gray PGM whose samples are all below 256 (a nearly black 16-bit image); returns the samples."""
    values = (np.arange(h * w).reshape(h, w) % 200 + 10).astype(np.uint16)
    Image.fromarray(values).save(path, format="PPM")
    return path, values


def tiny_checkpoint(path: Path, poison: float | None = None, card: str | dict | None = None) -> Path:
    """Our ``test_hifacegan`` format (safetensors + card), optionally with one weight set to ``poison``
    (``nan``/``inf``) or the embedded card replaced by ``card`` (a dict, or raw text such as bad JSON)."""
    from safetensors.torch import save as safetensors_save

    import hifacegan
    from hifacegan.models.checkpoint import FORMAT_NAME, FORMAT_VERSION, model_card_for

    torch.manual_seed(0)
    model = hifacegan.create_model("test_hifacegan")
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if poison is not None:
        state["to_rgbs.3.weight"].view(-1)[0] = poison
    if card is None:
        card = model_card_for(model, "hifacegan", 8, size=64)
    text = card if isinstance(card, str) else json.dumps(card)
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "model_card": text}
    path.write_bytes(safetensors_save(state, metadata=metadata))
    return path


class _RunsCode:
    """Unpickling this calls ``os.system`` (creating ``marker``): what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def code_running_pickle(path: Path, marker: Path) -> Path:
    """A PyTorch checkpoint holding, beside real tensors, an object whose unpickling would run a command
    (which would create ``marker``)."""
    import hifacegan

    torch.save({"state_dict": hifacegan.create_model("test_hifacegan").state_dict(), "x": _RunsCode(marker)}, path)
    return path


def non_utf8_name(folder: Path, image: np.ndarray) -> Path:
    """A PNG whose file name is not valid UTF-8 (Latin-1 ``café.png``), as old archives and Samba shares have."""
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.png"))
    Image.fromarray(image).save(path, format="PNG")
    return path


def long_name(folder: Path, suffix: str = ".png") -> Path:
    """A path whose file name is 250 bytes long, legal (the limit is 255) but too long for a temp name that
    adds ~14 characters."""
    return folder / ("n" * (250 - len(suffix)) + suffix)
