"""The HiFaceGAN nodes: load a model, restore the faces of pictures or video frames, restore aligned face crops.

All loading and restoring goes through :class:`hifacegan.Restorer`, as ``hifacegan restore`` does; nothing is
downloaded (the shipped models live inside the hifacegan package, other models are files the user put in
``models/facerestore_models``). ComfyUI images are float tensors ``(B, H, W, C)`` in ``[0, 1]``; each item of a
batch (a video frame) is restored on its own, and a frame without a face comes back unchanged.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

try:
    from hifacegan.inference import PRECISIONS
    from hifacegan.models.pretrained import MODEL_ALIASES
    from hifacegan.restorer import Restorer
except ImportError as error:  # the one thing a user must install; say how instead of a bare traceback
    raise ImportError(f"the HiFaceGAN nodes need the hifacegan package in ComfyUI's Python ({error}); install it "
                      f"with: {sys.executable} -m pip install <the hifacegan repository's folder or URL>") from error

try:  # ComfyUI's model folders; absent when the tests import this file outside ComfyUI
    import folder_paths
except ImportError:
    folder_paths = None

logger = logging.getLogger(__name__)

#: ComfyUI's usual folder for face restoration models (other face-restore packs use it too).
MODEL_FOLDER = "facerestore_models"
#: Files the loader lists there: official/BasicSR ``.pth``, hifacegan ``.safetensors``, ``hifacegan export-onnx`` files.
MODEL_EXTENSIONS = (".pth", ".safetensors", ".onnx")
CATEGORY = "image/restoration/HiFaceGAN"
MODEL_TYPE = "HIFACEGAN_MODEL"
# The fidelity knob of both restore nodes, as restore's -w/--weight.
FIDELITY_WEIGHT_INPUT = ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": (
    "share of the fidelity model mixed in: 0 sharp and realistic, 1 closest to the input (restore -w)")})


def register_model_folder() -> None:
    """Add ``models/facerestore_models`` to ComfyUI's model folders, listing the files our loader reads.

    Another pack (or extra_model_paths.yaml) may have registered the folder already: its paths are kept, and
    an empty extension set, which lists every file, is left as it is.
    """
    if folder_paths is None:
        return
    created = MODEL_FOLDER not in folder_paths.folder_names_and_paths
    folder_paths.add_model_folder_path(MODEL_FOLDER, os.path.join(folder_paths.models_dir, MODEL_FOLDER))
    extensions = folder_paths.folder_names_and_paths[MODEL_FOLDER][1]
    if created or extensions:
        extensions.update(MODEL_EXTENSIONS)


def shipped_model_names() -> list[str]:
    """The models inside the hifacegan package, by the names ``restore --model`` takes."""
    return [name for name, weights in MODEL_ALIASES.items() if weights]


def model_choices() -> list[str]:
    """The loader's list: the shipped models, then the model files in ``models/facerestore_models``."""
    files = folder_paths.get_filename_list(MODEL_FOLDER) if folder_paths is not None else []
    return shipped_model_names() + [f for f in files if f.lower().endswith(MODEL_EXTENSIONS)]


def _comfy_device() -> torch.device | None:
    """The device ComfyUI runs models on (``--cpu`` included); ``None`` outside ComfyUI (hifacegan's choice)."""
    try:
        import comfy.model_management
    except ImportError:
        return None
    return comfy.model_management.get_torch_device()


def _frame_steps(total: int) -> Callable[[], None]:
    """A call per frame done: moves ComfyUI's progress bar and stops the run when the user cancels it."""
    try:
        import comfy.model_management
        import comfy.utils
    except ImportError:
        return lambda: None
    bar = comfy.utils.ProgressBar(total)

    def step() -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        bar.update(1)

    return step


def _to_array(frame: torch.Tensor) -> np.ndarray:
    # Some nodes hand on values a little outside [0, 1] (sharpening, blending); Restorer refuses those.
    return frame.detach().to("cpu", torch.float32).clamp(0.0, 1.0).numpy()


class HiFaceGANModel:
    """What the loader hands on: a model (shipped name or file), its device and precision.

    The fidelity weight is a restore-time option in the graph but a :class:`Restorer` setting, so one
    Restorer is kept per weight, the last two used (each holds the model's weights).

    Args:
        model: a shipped model's name or a model file's path.
        device: where to run; ``None`` lets hifacegan choose.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (:class:`Restorer`).
        detector: the face detector; ``None`` for hifacegan's default (RetinaFace).
    """

    _KEEP = 2

    def __init__(self, model: str | os.PathLike, device: torch.device | str | None = None,
                 precision: str = "auto", detector: Any = None) -> None:
        self.model = model
        self.device = device
        self.precision = precision
        self.detector = detector
        self._restorers: OrderedDict[float, Restorer] = OrderedDict()

    def restorer(self, fidelity_weight: float = 0.0) -> Restorer:
        """The :class:`Restorer` mixing ``fidelity_weight`` of the fidelity model in (made on first use)."""
        key = round(float(fidelity_weight), 4)
        if key not in self._restorers:
            self._restorers[key] = Restorer(self.model, self.device, precision=self.precision, fidelity_weight=key,
                                            detector=self.detector)
            while len(self._restorers) > self._KEEP:
                self._restorers.popitem(last=False)
        self._restorers.move_to_end(key)
        return self._restorers[key]

    def __repr__(self) -> str:
        return f"HiFaceGANModel({str(self.model)!r}, device={self.device}, precision={self.precision!r})"


class HiFaceGANModelLoader:
    """Loads a shipped HiFaceGAN model, or a model file from ``models/facerestore_models``."""

    DESCRIPTION = ("Loads a HiFaceGAN face restoration model: a shipped one (renovation: sharp and realistic, 512-px "
                   "faces; fidelity: closest to the input, softer) or a file in models/facerestore_models (official "
                   "or BasicSR .pth, hifacegan .safetensors, hifacegan export-onnx .onnx). Nothing is downloaded.")
    RETURN_TYPES = (MODEL_TYPE,)
    RETURN_NAMES = ("model",)
    FUNCTION = "load"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "model_name": (model_choices(), {"default": "renovation",
                                             "tooltip": "a shipped model, or a file in models/facerestore_models"}),
            "precision": (list(PRECISIONS), {"default": "auto", "tooltip": (
                "auto: bf16 on GPUs and on CPUs with AVX512-BF16/AMX, fp32 elsewhere; .onnx files run fp32")}),
        }}

    def load(self, model_name: str, precision: str) -> tuple[HiFaceGANModel]:
        device: torch.device | str | None = _comfy_device()
        if model_name in shipped_model_names():
            model: str | os.PathLike = model_name
        elif folder_paths is not None:
            model = folder_paths.get_full_path_or_raise(MODEL_FOLDER, model_name)
        else:
            model = model_name
        if str(model).lower().endswith(".onnx"):
            device = "cpu"  # hifacegan runs .onnx files with ONNX Runtime on the CPU
        loaded = HiFaceGANModel(model, device, precision)
        try:
            loaded.restorer(0.0)  # load now, so a bad file fails at this node with its own message
        except ValueError as error:
            if str(model).lower().endswith(".onnx") and "expected one input" in str(error):
                raise ValueError(f"{model_name} is not a hifacegan export-onnx file (a FaceFusion/ReActor file, "
                                 "from --format facefusion, is for those tools): export one with hifacegan "
                                 "export-onnx MODEL OUT.onnx, or use the .safetensors model") from error
            raise
        return (loaded,)


class HiFaceGANRestoreFaces:
    """Restores every face of each picture (or video frame) of a batch and pastes it back."""

    DESCRIPTION = ("Finds the faces of each image of the batch (RetinaFace), restores them with HiFaceGAN and pastes "
                   "them back, as hifacegan restore does. An image without a face passes through unchanged.")
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    FUNCTION = "restore"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "image": ("IMAGE", {"tooltip": "pictures or video frames"}),
            "model": (MODEL_TYPE,),
            "fidelity_weight": FIDELITY_WEIGHT_INPUT,
            "upscale": ("FLOAT", {"default": 1.0, "min": 0.25, "max": 8.0, "step": 0.25, "tooltip": (
                "resize the picture by this factor (bicubic background), faces restored at the new size")}),
            "only_center_face": ("BOOLEAN", {"default": False, "tooltip": "restore only the face nearest the centre"}),
            "max_faces": ("INT", {"default": 0, "min": 0, "max": 1000, "tooltip": (
                "restore at most this many faces, the largest ones; 0: all")}),
        }}

    def restore(self, image: torch.Tensor, model: HiFaceGANModel, fidelity_weight: float, upscale: float,
                only_center_face: bool, max_faces: int) -> tuple[torch.Tensor]:
        restorer = model.restorer(fidelity_weight)
        step = _frame_steps(len(image))
        frames = []
        for frame in image:
            result = restorer.enhance(_to_array(frame), only_center_face=only_center_face, upscale=upscale,
                                      max_faces=max_faces or None)
            if not result.restored_faces and upscale == 1 and frame.shape[-1] == 3:
                frames.append(frame)  # no face: the very frame, so a video's faceless frames stay bit-exact
            else:
                frames.append(torch.from_numpy(result.image).to(frame.device, frame.dtype))
            step()
        return (torch.stack(frames),)


class HiFaceGANRestoreAlignedFaces:
    """Restores face crops that are already aligned (as ``restore --aligned``), each at its own size."""

    DESCRIPTION = ("Restores already aligned face crops (faces framed as in FFHQ, e.g. 512x512 from a face "
                   "detailer or a crop node) whole, without detection or pasting: hifacegan restore --aligned.")
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("faces",)
    FUNCTION = "restore"
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "faces": ("IMAGE", {"tooltip": "aligned face crops"}),
            "model": (MODEL_TYPE,),
            "fidelity_weight": FIDELITY_WEIGHT_INPUT,
        }}

    def restore(self, faces: torch.Tensor, model: HiFaceGANModel, fidelity_weight: float) -> tuple[torch.Tensor]:
        restorer = model.restorer(fidelity_weight)
        step = _frame_steps(len(faces))
        restored = []
        for face in faces:
            result = restorer.enhance(_to_array(face), aligned=True)
            restored.append(torch.from_numpy(result.image).to(face.device, face.dtype))
            step()
        return (torch.stack(restored),)


NODE_CLASS_MAPPINGS = {
    "HiFaceGANModelLoader": HiFaceGANModelLoader,
    "HiFaceGANRestoreFaces": HiFaceGANRestoreFaces,
    "HiFaceGANRestoreAlignedFaces": HiFaceGANRestoreAlignedFaces,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "HiFaceGANModelLoader": "HiFaceGAN Model Loader",
    "HiFaceGANRestoreFaces": "HiFaceGAN Restore Faces",
    "HiFaceGANRestoreAlignedFaces": "HiFaceGAN Restore Aligned Faces",
}
