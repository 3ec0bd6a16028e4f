"""The ComfyUI node pack (integrations/comfyui) outside ComfyUI: its nodes are plain classes over ``Restorer``.

ComfyUI loads the pack as a package from its folder; the tests import it the same way. The real server runs
it in tests/integrations/test_comfyui_server.py.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hifacegan.faces.align import FFHQ_TEMPLATE
from hifacegan.faces.detect import DetectedFace
from hifacegan.restorer import Restorer

PACK = Path(__file__).resolve().parents[2] / "integrations" / "comfyui"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pack():
    """The pack imported as ComfyUI imports a custom node folder: a package from its ``__init__.py``."""
    spec = importlib.util.spec_from_file_location("hifacegan_comfyui_pack", PACK / "__init__.py",
                                                  submodule_search_locations=[str(PACK)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    for name in [n for n in sys.modules if n.startswith(spec.name)]:
        del sys.modules[name]


class FacesIn:
    """A detector that finds the given faces in images whose top-left pixel is bright, none in the others."""

    def __init__(self, faces: list[DetectedFace]) -> None:
        self.faces = faces

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        return list(self.faces) if image[0, 0].mean() > 0.5 else []


def _face(center: tuple[float, float], eye_distance: float) -> DetectedFace:
    scale = eye_distance / (FFHQ_TEMPLATE[1, 0] - FFHQ_TEMPLATE[0, 0])
    half = 0.5 * scale
    box = np.array([center[0] - half, center[1] - half, center[0] + half, center[1] + half])
    return DetectedFace(box=box, landmarks=(FFHQ_TEMPLATE - 0.5) * scale + center, score=0.99)


def _frames(count: int, h: int = 120, w: int = 160) -> torch.Tensor:
    """ComfyUI IMAGE batch ``(B, H, W, 3)`` in [0, 1]; the first frame "has faces" (bright corner), the rest not."""
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    frames = []
    for k in range(count):
        frame = torch.stack([0.5 + 0.3 * torch.sin(x / (9 + k)), 0.5 + 0.3 * torch.cos(y / 7),
                             torch.full_like(x, 0.4 + 0.1 * (k % 3))], -1)
        frame[0, 0] = 1.0 if k == 0 else 0.0
        frames.append(frame)
    return torch.stack(frames)


def _model(pack, tiny_model_file, detector):
    return pack.nodes.HiFaceGANModel(tiny_model_file, "cpu", precision="fp32", detector=detector)


def test_the_pack_exports_its_nodes_as_comfyui_expects(pack):
    assert set(pack.NODE_CLASS_MAPPINGS) == set(pack.NODE_DISPLAY_NAME_MAPPINGS) == {
        "HiFaceGANModelLoader", "HiFaceGANRestoreFaces", "HiFaceGANRestoreAlignedFaces"}
    for node in pack.NODE_CLASS_MAPPINGS.values():
        inputs = node.INPUT_TYPES()["required"]
        assert callable(getattr(node(), node.FUNCTION)) and node.CATEGORY.startswith("image/")
        assert len(node.RETURN_TYPES) == len(node.RETURN_NAMES)
        for spec in inputs.values():
            assert isinstance(spec[0], (str, list))
    loader_choices = pack.NODE_CLASS_MAPPINGS["HiFaceGANModelLoader"].INPUT_TYPES()["required"]["model_name"][0]
    assert loader_choices[:2] == ["renovation", "fidelity"]  # no ComfyUI here: the shipped models only


def test_frames_with_faces_are_restored_and_frames_without_pass_unchanged(pack, tiny_model_file):
    detector = FacesIn([_face((70.0, 60.0), 30.0), _face((125.0, 50.0), 20.0)])
    frames = _frames(3)
    (out,) = pack.nodes.HiFaceGANRestoreFaces().restore(frames, _model(pack, tiny_model_file, detector), 0.0, 1.0,
                                                         False, 0)
    assert out.shape == frames.shape and out.dtype == torch.float32
    assert torch.equal(out[1], frames[1]) and torch.equal(out[2], frames[2])
    expected = Restorer(tiny_model_file, "cpu", precision="fp32", detector=detector).enhance(frames[0].numpy())
    assert np.allclose(out[0].numpy(), expected.image, atol=1e-6)
    assert (out[0] - frames[0]).abs().max() > 0.05


def test_the_restore_options_are_restorers(pack, tiny_model_file):
    detector = FacesIn([_face((40.0, 60.0), 24.0), _face((110.0, 60.0), 30.0)])
    frames = _frames(2)
    model = _model(pack, tiny_model_file, detector)
    (out,) = pack.nodes.HiFaceGANRestoreFaces().restore(frames, model, 0.0, 2.0, True, 0)
    assert out.shape == (2, 240, 320, 3)  # every frame upscaled, faceless ones too
    restorer = Restorer(tiny_model_file, "cpu", precision="fp32", detector=detector)
    centre = restorer.enhance(frames[0].numpy(), only_center_face=True, upscale=2)
    assert len(centre.restored_faces) == 1 and np.allclose(out[0].numpy(), centre.image, atol=1e-6)
    (largest,) = pack.nodes.HiFaceGANRestoreFaces().restore(frames[:1], model, 0.0, 1.0, False, 1)
    expected = restorer.enhance(frames[0].numpy(), max_faces=1)
    assert np.allclose(largest[0].numpy(), expected.image, atol=1e-6)


def test_one_restorer_per_fidelity_weight_the_last_two_kept(pack, tiny_model_file):
    model = _model(pack, tiny_model_file, FacesIn([]))
    first = model.restorer(0.0)
    assert model.restorer(0.0) is first
    model.restorer(0.25)
    model.restorer(0.5)
    assert model.restorer(0.0) is not first


def test_aligned_crops_are_restored_whole(pack, tiny_model_file):
    crops = _frames(2, 64, 64)
    (out,) = pack.nodes.HiFaceGANRestoreAlignedFaces().restore(crops, _model(pack, tiny_model_file, None), 0.0)
    assert out.shape == crops.shape
    expected = Restorer(tiny_model_file, "cpu", precision="fp32").enhance(crops[1].numpy(), aligned=True)
    assert np.allclose(out[1].numpy(), expected.image, atol=1e-6)


def test_the_loader_loads_a_file_and_names_a_foreign_onnx_file(pack, tiny_model_file, tmp_path):
    loader = pack.nodes.HiFaceGANModelLoader()
    (model,) = loader.load(str(tiny_model_file), "fp32")
    assert model.restorer(0.0).face_size == 64
    not_ours = tmp_path / "not_ours.onnx"
    _write_onnx_with_input(not_ours, "input")
    with pytest.raises(ValueError, match="not a hifacegan export-onnx file"):
        loader.load(str(not_ours), "auto")


def _write_onnx_with_input(path: Path, name: str) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Identity", [name], ["output"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_the_pack_runs_no_code_from_strings_and_installs_nothing():
    # The registry's rules: no eval/exec, no pip at run time; and nothing may download.
    source = "\n".join(p.read_text() for p in PACK.glob("*.py"))
    for pattern in (r"\beval\(", r"\bexec\(", r"\bpip\b(?! install <)", r"subprocess", r"urllib", r"requests",
                    r"https?://"):
        assert not re.search(pattern, source), pattern


def test_the_registry_metadata_is_there():
    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((PACK / "pyproject.toml").read_text())
    assert meta["tool"]["comfy"]["PublisherId"] and meta["tool"]["comfy"]["DisplayName"]
    assert meta["project"]["name"] and meta["project"]["version"]
