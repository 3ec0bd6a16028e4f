"""``export-onnx --format facefusion``: a face enhancer file driven exactly as FaceFusion/ReActor drive one.

The contract: warp each face onto FFHQ's five-point template at 512 px, scale RGB to [-1, 1], feed ``input``
(and ``weight``, float64 ``(1,)``, where the file has it), take the first output's first item, scale it back
to [0, 1] and paste it. Driven that way, the faces and the photo must equal ``Restorer.enhance``'s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _tiny_model import save_tiny_generator

from hifacegan.cli import main
from hifacegan.faces.align import FFHQ_TEMPLATE_512, align
from hifacegan.faces.paste import face_mask, paste
from hifacegan.io import float_to_uint8, read_image
from hifacegan.restorer import Restorer

PHOTO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realworld" / "whole_imgs" / "Blake_Lively.jpg"


@pytest.fixture(scope="module")
def enhancer_file(tmp_path_factory):
    """The shipped renovation model exported with the ``weight`` input (about half a minute, once per module)."""
    path = tmp_path_factory.mktemp("facefusion") / "hifacegan_renovation_512.onnx"
    assert main(["export-onnx", "renovation", str(path), "--format", "facefusion", "--weight-input"]) == 0
    return path


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _drive_as_facefusion(session, photo: np.ndarray, landmarks: np.ndarray, weight: float):
    """Warp, normalise, run, de-normalise and paste each face, as the tools do; returns (photo, faces) in [0, 1]."""
    background = photo.copy()
    faces = []
    for points in landmarks:
        crop, affine = align(photo, points, 512, FFHQ_TEMPLATE_512 / 512)
        feed = {"input": (crop.transpose(2, 0, 1)[None] * 2.0 - 1.0).astype(np.float32)}
        if any(i.name == "weight" for i in session.get_inputs()):
            feed["weight"] = np.array([weight], dtype=np.float64)
        face = np.clip((session.run(None, feed)[0][0].transpose(1, 2, 0) + 1.0) / 2.0, 0.0, 1.0)
        faces.append(face)
        background = paste(background, face, affine, face_mask(512))
    return background, faces


def _grey_levels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(float_to_uint8(a).astype(int) - float_to_uint8(b).astype(int)).max())


def test_the_file_has_the_contracts_inputs_outputs_and_our_model_card(enhancer_file):
    session = _session(enhancer_file)
    inputs = [(i.name, i.shape, i.type) for i in session.get_inputs()]
    assert inputs == [("input", [1, 3, 512, 512], "tensor(float)"), ("weight", [1], "tensor(double)")]
    assert [(o.shape, o.type) for o in session.get_outputs()] == [([1, 3, 512, 512], "tensor(float)")]
    metadata = session.get_modelmeta().custom_metadata_map
    card = json.loads(metadata["hifacegan_model_card"])
    assert card["name"] == "lipspade_hq512_ngf24" and card["size"] == 512 and "licence" in card
    assert "[-1, 1]" in metadata["hifacegan_contract"]
    assert not any(size in enhancer_file.name for size in ("1024", "2048"))  # ReActor then warps to 512


@pytest.mark.slow
@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_driven_as_the_contract_says_it_gives_restorers_faces(enhancer_file, real_detector, weight):
    if not PHOTO.exists():
        pytest.skip(f"needs the real photo {PHOTO} (../shared is absent)")
    photo = read_image(PHOTO).rgb
    # fp32, as the file computes (precision "auto" picks bf16 autocast on CPUs with AVX512-BF16 or AMX), and
    # FFHQ's template, as the tools warp: the renovation card's measured template lies 0.0024 px from it,
    # which moves the crop by up to 0.8 and the restored face by up to 3 grey levels.
    expected = Restorer("renovation", "cpu", fidelity_weight=weight, precision="fp32",
                        template=FFHQ_TEMPLATE_512 / 512).enhance(photo)
    assert len(expected.landmarks) >= 1
    pasted, faces = _drive_as_facefusion(_session(enhancer_file), photo, expected.landmarks, weight)
    for face, restored in zip(faces, expected.restored_faces, strict=True):
        assert _grey_levels(face, restored) <= 1
    assert _grey_levels(pasted, expected.image) <= 1
    assert _grey_levels(pasted, photo) > 10  # the faces really changed


def test_the_wrapper_mixes_as_the_fidelity_blend_does(one_torch_thread, tmp_path):
    from hifacegan.models.blend import FidelityBlend
    from hifacegan.models.checkpoint import load_model
    from hifacegan.onnx_facefusion import FaceFusionFace

    renovation = load_model(save_tiny_generator(tmp_path / "a.safetensors", "lipspade", seed=1))
    fidelity = load_model(save_tiny_generator(tmp_path / "b.safetensors", "lipspade", seed=2))
    faces = torch.rand(1, 3, 64, 64)
    blend = FidelityBlend(renovation, fidelity, 0.3, fidelity_size=32)
    expected = blend(faces).clamp(0, 1) * 2 - 1
    fixed = FaceFusionFace(renovation, fidelity, fidelity_size=32, weight=0.3)
    with torch.no_grad():
        assert torch.allclose(fixed(faces * 2 - 1), expected, atol=1e-5)
        as_input = FaceFusionFace(renovation, fidelity, fidelity_size=32)(faces * 2 - 1, torch.tensor([0.3]).double())
        assert torch.allclose(as_input, expected, atol=1e-5)
        alone = FaceFusionFace(renovation)(faces * 2 - 1)
        assert torch.allclose(alone, renovation(faces).clamp(0, 1) * 2 - 1, atol=1e-6)


@pytest.mark.parametrize(("arguments", "message"), [
    (["renovation", "{tmp}/hifacegan_1024.onnx", "--format", "facefusion"], "warp faces to 1024 px"),
    (["fidelity", "{tmp}/fidelity_512.onnx", "--format", "facefusion"], "trained on 128-px faces"),
    (["renovation", "{tmp}/x.onnx", "--weight", "0.5"], "--weight and --weight-input belong to --format facefusion"),
    (["renovation", "{tmp}/x.onnx", "--format", "facefusion", "--weight", "0.5", "--weight-input"], "not both"),
])
def test_export_refuses_files_the_tools_would_misuse(tmp_path, caplog, arguments, message):
    code = main(["export-onnx", *(a.format(tmp=tmp_path) for a in arguments)])
    assert code == 2
    assert message in caplog.text
    assert not list(tmp_path.iterdir())

