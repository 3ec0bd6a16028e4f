"""hifacegan.pixels: the converters between the layers' image conventions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from hifacegan.pixels import (
    float_to_uint8,
    image_to_tensor,
    levels_to_uint8,
    tensor_to_image,
    to_checked_uint8,
    to_float255,
    uint8_to_chw_tensor,
)


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def test_uint8_survives_every_round_trip():
    image = _image()
    as_float = image.astype(np.float32) / 255.0
    assert np.array_equal(float_to_uint8(as_float), image)
    assert np.array_equal(levels_to_uint8(to_float255(image)), image)
    assert np.array_equal(to_checked_uint8(as_float), image)
    assert np.array_equal(float_to_uint8(tensor_to_image(image_to_tensor(image))[0]), image)
    chw = uint8_to_chw_tensor(image)
    assert chw.shape == (3, 5, 7) and chw.dtype == torch.float32
    assert torch.equal(chw, image_to_tensor(image)[0])


def test_rounding_and_clipping():
    assert float_to_uint8(np.array([-0.5, 0.5 / 255, 1.5 / 255, 2.0])).tolist() == [0, 0, 2, 255]
    assert levels_to_uint8(np.array([-3.0, 127.5, 128.49, 300.0])).tolist() == [0, 128, 128, 255]
    assert tensor_to_image(torch.full((1, 3, 2, 2), 1.5))[0].max() == 1.0


def test_metric_input_checks_name_the_problem():
    with pytest.raises(ValueError, match=r"outside|values in"):
        to_float255(np.full((4, 4, 3), 2.0, dtype=np.float32), "restored")
    with pytest.raises(ValueError, match="NaN"):
        to_float255(np.full((4, 4, 3), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        to_checked_uint8(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        to_float255(np.zeros((4, 4, 3), dtype=np.int32))


def test_batches_keep_order_and_layout():
    images = [_image(1), _image(2)]
    batch = image_to_tensor(images)
    assert batch.shape == (2, 3, 5, 7)
    back = [float_to_uint8(a) for a in tensor_to_image(batch)]
    assert all(np.array_equal(a, b) for a, b in zip(back, images))


def test_old_import_paths_give_the_same_functions():
    import hifacegan.io
    import hifacegan.tensor
    from hifacegan import pixels

    assert hifacegan.io.float_to_uint8 is pixels.float_to_uint8
    assert hifacegan.tensor.image_to_tensor is pixels.image_to_tensor


def test_models_do_not_import_the_inference_module():
    # Loading a model needs nothing from inference.py: prepare_for_inference lives under models/ (checked
    # in the source, imports inside functions included). models/blend.py still runs its fidelity model
    # through inference.restore_tensor, which the one batch-restore function of issue 21 replaces.
    import ast
    from pathlib import Path

    import hifacegan.models

    folder = Path(hifacegan.models.__file__).parent
    for path in (folder / "checkpoint.py", folder / "prepare.py", folder / "_factory.py", folder / "pretrained.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(n == "hifacegan.inference" for n in names), f"{path.name} imports hifacegan.inference"
    code = "import sys, hifacegan.models.checkpoint; print('hifacegan.inference' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    from hifacegan.inference import prepare_for_inference
    from hifacegan.models import prepare_for_inference as from_models

    assert prepare_for_inference is from_models
