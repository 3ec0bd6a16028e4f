"""ONNX files that face-swap and enhance tools load as a face enhancer (FaceFusion, ReActor, Deep-Live-Cam).

Their contract, which differs from our own export (:func:`hifacegan.onnx_runtime.export_onnx`):

- one input named ``input``: ``(1, 3, 512, 512)`` float32 RGB in ``[-1, 1]``, a face warped onto the
  FFHQ five-point template at 512 px (:data:`hifacegan.faces.align.FFHQ_TEMPLATE_512`);
- optionally a second input ``weight``: float64 of shape ``(1,)``, the model's own knob (CodeFormer's
  fidelity ``w``). Here it is the fidelity share that ``Restorer(fidelity_weight=...)`` and
  ``restore --weight`` mix in (:class:`hifacegan.models.blend.FidelityBlend`);
- the first output's first item is the restored face, ``(3, 512, 512)`` in ``[-1, 1]``;
- ReActor takes the face size from the file name: 512 unless the name says 1024 or 2048.

The graph holds the whole of :meth:`hifacegan.Restorer.restore_faces` for one crop (scaling, the network,
clipping, the blend, the colour fix where the model card asks for it), so a tool that follows the contract gets the faces ``Restorer`` gives, to a grey level.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hifacegan.faces.align import FFHQ_TEMPLATE
from hifacegan.inference import card_color_fix, keep_input_colors
from hifacegan.models.blend import FidelityBlend

__all__ = ["FACEFUSION_FACE_SIZE", "FaceFusionFace", "check_facefusion_file_name", "export_facefusion_onnx"]

#: Side of the faces the contract passes (pixels).
FACEFUSION_FACE_SIZE = 512
INPUT_NAME, WEIGHT_NAME, OUTPUT_NAME = "input", "weight", "output"
# A card template farther than this from FFHQ's (fraction of the side: 2.5 px at 512) frames faces otherwise
# than these tools warp them; the renovation model's measured template is within 0.00002.
_TEMPLATE_TOLERANCE = 0.005
#: ONNX metadata key describing the contract, next to the model card (hifacegan.onnx_runtime.CARD_METADATA_KEY).
CONTRACT_METADATA_KEY = "hifacegan_contract"
_CONTRACT = ("face enhancer for FaceFusion/ReActor: input 'input' (1, 3, 512, 512) float32 RGB in [-1, 1], a face "
             "warped onto the FFHQ five-point template at 512 px; optional input 'weight' (1,) float64, the share "
             "of hifacegan's fidelity model (0: renovation only, 1: fidelity only); output 'output' (1, 3, 512, "
             "512), the restored face in [-1, 1]")


class FaceFusionFace(nn.Module):
    """A generator wrapped in the face-enhancer contract: faces in ``[-1, 1]`` in, restored faces in ``[-1, 1]`` out.

    Computes what :func:`hifacegan.restore_faces` computes for a 512-px crop: the network on the crop in
    ``[0, 1]``, clipped to ``[0, 1]``; with a fidelity model, the mix of :class:`FidelityBlend` at a fixed
    ``weight`` or at the ``weight`` passed with each face; then the colour fix against the input face
    (:func:`hifacegan.keep_input_colors`) when ``color_fix`` (default: the model card's choice, as
    ``Restorer``'s).

    Args:
        model: the generator, ready for inference (its card should frame faces as FFHQ at 512 px).
        fidelity: the fidelity generator to mix in, or ``None`` for ``model`` alone.
        fidelity_size: the fidelity model's training face size (pixels).
        weight: the fixed fidelity share in ``[0, 1]``, used when ``forward`` gets no ``weight``.
        color_fix: apply the colour fix; ``None``: as the model card says.
    """

    def __init__(self, model: nn.Module, fidelity: nn.Module | None = None, fidelity_size: int = FACEFUSION_FACE_SIZE,
                 weight: float = 0.0, color_fix: bool | None = None) -> None:
        super().__init__()
        self.model = model
        # FidelityBlend at weight 1 is the fidelity half of Restorer's blend, resizing included, so a weight
        # fed at run time mixes exactly the two images Restorer mixes.
        self.faithful = None if fidelity is None else FidelityBlend(model, fidelity, 1.0, fidelity_size)
        self.weight = float(weight)
        self.model_card = dict(getattr(model, "model_card", None) or {})
        self.color_fix = card_color_fix(model) if color_fix is None else bool(color_fix)

    def forward(self, faces: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        images = ((faces + 1.0) * 0.5).clamp(0.0, 1.0)
        restored = self.model(images).float().clamp(0.0, 1.0)
        if self.faithful is not None:
            share = weight.to(restored.dtype).reshape(1) if weight is not None else self.weight
            restored = torch.lerp(restored, self.faithful(images).float(), share).clamp(0.0, 1.0)
        if self.color_fix:
            restored = keep_input_colors(restored, images)
        return restored * 2.0 - 1.0


def check_facefusion_file_name(path: str | os.PathLike) -> None:
    """Refuse a name from which ReActor would take another face size than 512.

    Raises:
        ValueError: the file name holds ``1024`` or ``2048``.
    """
    name = Path(path).name
    found = re.search(r"1024|2048", name)
    if found:
        raise ValueError(f"{name}: ReActor reads the face size from the file name and would warp faces to "
                         f"{found.group()} px; this model takes 512 px faces: name it e.g. hifacegan_512.onnx")


def _check_framing(card: dict) -> None:
    """The model must frame faces as the contract warps them: FFHQ's template at 512 px."""
    size = int(card.get("size") or FACEFUSION_FACE_SIZE)
    template = np.asarray(card.get("face_template", FFHQ_TEMPLATE), dtype=np.float64)
    off = float(np.abs(template - FFHQ_TEMPLATE).max()) if template.shape == FFHQ_TEMPLATE.shape else np.inf
    if size != FACEFUSION_FACE_SIZE or off > _TEMPLATE_TOLERANCE:
        raise ValueError(f"the face-enhancer contract passes faces warped onto FFHQ's template at 512 px; this "
                         f"model was trained on {size}-px faces framed by its own template (off by {off:.3f} of "
                         "the side): export a 512-px FFHQ-framed model such as 'renovation'")


def export_facefusion_onnx(model: nn.Module, path: str | os.PathLike, *, weight: float = 0.0,
                           weight_input: bool = False, fidelity: nn.Module | None = None,
                           opset: int = 18) -> Path:
    """Write ``model`` as an ONNX face enhancer for FaceFusion-style tools, atomically.

    Args:
        model: the generator, ready for inference, trained on 512-px FFHQ-framed faces.
        path: the ``.onnx`` file (its name must not hold 1024 or 2048: :func:`check_facefusion_file_name`).
        weight: a fixed fidelity share in ``[0, 1]`` baked into the graph (as ``restore --weight``).
        weight_input: add the ``weight`` input instead, the fidelity share per call. ReActor always feeds 1
            there (fidelity model only), so files for ReActor go without it.
        fidelity: the fidelity generator; ``None`` loads the shipped ``fidelity`` model when needed.
        opset: ONNX opset.

    Raises:
        ValueError: a weight outside ``[0, 1]``, ``weight`` given together with ``weight_input``, a file name
            ReActor would read as another size, or a model framed otherwise than FFHQ at 512 px.
        ImportError: the ``onnx``/``onnxscript`` packages are missing.
    """
    from hifacegan.io import atomic_write_bytes
    from hifacegan.onnx_runtime import CARD_METADATA_KEY, _quiet_exporter, can_export_onnx  # one quieting, shared

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the fidelity weight must be in [0, 1], got {weight}")
    if weight and weight_input:
        raise ValueError("give either a fixed weight or the weight input, not both")
    check_facefusion_file_name(path)
    card = dict(getattr(model, "model_card", None) or {})
    _check_framing(card)
    if not can_export_onnx():
        raise ImportError('exporting to ONNX needs the onnx and onnxscript packages (core dependencies); install '
                          'them with: pip install "onnx>=1.17" "onnxscript>=0.2"')
    blended = bool(weight or weight_input)
    if blended and fidelity is None:  # the shipped fidelity model, the one Restorer mixes in
        from hifacegan.models import pretrained
        from hifacegan.models.checkpoint import load_model

        fidelity = load_model(pretrained.pretrained_path("fidelity"), device="cpu")
    fidelity_size = int((getattr(fidelity, "model_card", None) or {}).get("size") or FACEFUSION_FACE_SIZE)
    wrapped = FaceFusionFace(model.float().eval(), fidelity.float().eval() if blended and fidelity else None,
                             fidelity_size, weight).eval()
    face = torch.zeros(1, 3, FACEFUSION_FACE_SIZE, FACEFUSION_FACE_SIZE)
    inputs: tuple[torch.Tensor, ...] = (face, torch.tensor([0.5], dtype=torch.float64)) if weight_input else (face,)
    names = [INPUT_NAME, WEIGHT_NAME] if weight_input else [INPUT_NAME]
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(wrapped, inputs, dynamo=True, opset_version=opset, input_names=names,
                                    output_names=[OUTPUT_NAME], verbose=False)
    if program is None:  # only the legacy TorchScript exporter returns None; dynamo=True returns a program
        raise RuntimeError("torch.onnx.export returned no program")
    proto = program.model_proto
    if weight:
        card["fidelity_weight"] = weight
    for key, value in ((CARD_METADATA_KEY, json.dumps(card, default=str)), (CONTRACT_METADATA_KEY, _CONTRACT)):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path = Path(path)
    atomic_write_bytes(path, proto.SerializeToString())
    return path
