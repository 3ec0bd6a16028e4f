"""One call from a photo to a restored photo: ``Restorer(model).enhance(image)``.

Detect faces (five landmarks) -> align each onto the model's training-crop template -> restore all
crops in one batch -> warp each back with a soft mask onto the (optionally upscaled) photo.
Works on NumPy arrays and PIL images, in memory; reading and writing files is the CLI's job.

Example::

    from hifacegan import Restorer
    restorer = Restorer("lipspade_48.pth")                  # or Restorer() for the shipped default
    result = restorer.enhance(numpy_rgb_or_pil_image, upscale=2)
    result.to_pil().save("restored.png")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from hifacegan.data.transforms import resize_to
from hifacegan.faces.align import FFHQ_TEMPLATE, align, scale_affine, template_points
from hifacegan.faces.detect import DetectedFace, FaceDetector, default_detector
from hifacegan.faces.paste import face_mask, paste
from hifacegan.inference import PRECISIONS, autocast_dtype, card_color_fix, restore_faces
from hifacegan.io import float_to_uint8

__all__ = ["DEFAULT_FACE_SIZE", "RUNTIMES", "RestoreResult", "Restorer", "resolve_device", "to_float_rgb"]

logger = logging.getLogger(__name__)

#: Crop size assumed for checkpoints whose card does not say (the official models: FFHQ 512).
DEFAULT_FACE_SIZE = 512
# ITU-R BT.601 luma, the weights Pillow's "L" conversion uses: a restored gray photo stays gray.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
DEVICES = ("auto", "cpu", "cuda", "mps")
#: ``runtime`` values: ``auto`` (below), PyTorch, ONNX Runtime on the CPU (hifacegan.onnx_runtime), or the model
#: compiled ahead of time under bf16 on the CPU (hifacegan.aoti).
RUNTIMES = ("auto", "torch", "onnx", "aoti")
#: Environment variable with the default ``runtime`` (``auto`` when unset), e.g. ``torch`` on a server that
#: should never export.
RUNTIME_ENV = "HIFACEGAN_RUNTIME"


@dataclass
class RestoreResult:
    """What :meth:`Restorer.enhance` returns. Arrays are float32 in ``[0, 1]``, RGB, ``(H, W, 3)``.

    Attributes:
        image: the restored photo (``upscale`` times the input size); for ``aligned`` input, the
            restored crop.
        cropped_faces: the aligned crops given to the model, one per face.
        restored_faces: the model's output for each crop.
        boxes: ``(N, 4)`` face boxes ``(x0, y0, x1, y1)`` in input pixels.
        landmarks: ``(N, 5, 2)`` landmarks in input pixels (empty for ``aligned`` input).
        affines: ``(N, 2, 3)`` maps from input pixels to crop pixels.
        alpha: ``(H, W)`` transparency of the input, resized like ``image``; ``None`` if it had none.
        faces_detected: faces the detector found, before ``only_center_face``/``max_faces``.
        was_gray: the input was grayscale, so ``image`` was made gray too.
    """

    image: np.ndarray
    cropped_faces: list[np.ndarray] = field(default_factory=list)
    restored_faces: list[np.ndarray] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 5, 2)))
    affines: np.ndarray = field(default_factory=lambda: np.zeros((0, 2, 3)))
    alpha: np.ndarray | None = None
    faces_detected: int = 0
    was_gray: bool = False

    def to_uint8(self) -> np.ndarray:
        """The restored photo as ``uint8`` ``(H, W, 3)``."""
        return float_to_uint8(self.image)

    def to_pil(self) -> Any:
        """The restored photo as a PIL image (``RGBA`` when the input had transparency)."""
        rgb = self.to_uint8()
        if self.alpha is None:
            return Image.fromarray(rgb, "RGB")
        alpha = float_to_uint8(self.alpha)
        return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"``: CUDA, else Apple MPS, else CPU; otherwise the named device, checked.

    Raises:
        ValueError: an unknown device name, or one that is not available on this machine.
    """
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for but Apple MPS is not available; use --device cpu or auto")
    return torch.device(name)


def to_float_rgb(image: Any) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Bring a NumPy array or PIL image to float32 RGB ``[0, 1]``.

    NumPy arrays are read as RGB (not OpenCV's BGR): ``(H, W)`` gray, ``(H, W, 1)``, ``(H, W, 3)`` or
    ``(H, W, 4)`` with alpha; ``uint8`` is divided by 255, ``uint16`` by 65535, floats must already
    be in ``[0, 1]``.

    Returns:
        ``(rgb, alpha, was_gray)``.

    Raises:
        TypeError: not an array or PIL image, or an unsupported dtype.
        ValueError: an unsupported shape, an empty image, or float values outside ``[0, 1]``.
    """
    if isinstance(image, Image.Image):
        return _pil_to_float(image)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a NumPy array or a PIL image, got {type(image).__name__}")
    array = image
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
        if array.size and (np.nanmin(array) < -1e-3 or np.nanmax(array) > 1.0 + 1e-3):
            raise ValueError(f"float images must be in [0, 1], got values in [{np.nanmin(array):.3g}, "
                             f"{np.nanmax(array):.3g}]; divide 0-255 data by 255 or pass uint8")
        array = np.clip(np.nan_to_num(array), 0.0, 1.0)
    else:
        raise TypeError(f"unsupported image dtype {array.dtype}; use uint8, uint16 or float in [0, 1]")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
        alpha = None
        was_gray = True
    elif array.ndim == 3 and array.shape[2] in (3, 4):
        alpha = np.ascontiguousarray(array[..., 3]) if array.shape[2] == 4 else None
        array = np.ascontiguousarray(array[..., :3])
        was_gray = bool(np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 1], array[..., 2]))
    else:
        raise ValueError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    return array, alpha, was_gray


def _pil_to_float(image: Any) -> tuple[np.ndarray, np.ndarray | None, bool]:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float32)
        scale = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        return to_float_rgb(np.clip(array / scale, 0, 1))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        return to_float_rgb(np.asarray(image.convert("RGBA")))
    if mode in ("L", "1"):
        return to_float_rgb(np.asarray(image.convert("L")))
    return to_float_rgb(np.asarray(image.convert("RGB")))


class Restorer:
    """Restores every face of a photo with a HiFaceGAN generator.

    Args:
        model: ``None`` for the shipped default model; a shipped model's name (``"renovation"``,
            ``"fidelity"``); a checkpoint path (official, BasicSR or ours);
            or a generator module ready for inference (see :func:`hifacegan.prepare_for_inference`).
        device: ``"cpu"``, ``"cuda"``, ``"mps"``, ``"auto"``/``None`` (best available), or a
            ``torch.device``.
        arch: generator variant when ``model`` is a path whose keys do not say.
        detector: face detector (any callable image -> list of :class:`DetectedFace`); ``None`` for
            the default RetinaFace.
        face_size: side of the aligned crops; ``None``: the model card's ``size``, else 512.
        template: ``(5, 2)`` landmark template normalised to ``[0, 1]``; ``None``: the model card's
            ``face_template``, else FFHQ's.
        color_fix: keep each face's low frequencies (colour, shading) from the input
            (:func:`hifacegan.keep_input_colors`); ``None``: the model card's ``color_fix``, else off.
        coarse_pass: restore faces in two passes, at half size for the layout, then at full size
            (:func:`hifacegan.inference.coarse_to_fine`; opt-in, see there why): ``True`` every face, ``False``
            none; ``None``: the faces whose NIQE reaches the model card's ``coarse_pass.niqe_at_least`` (none
            when the card does not say, as the shipped models' cards do not).
        batch_size: faces per forward pass (all faces of a typical photo go in one).
        fidelity_weight: the realness/fidelity knob in ``[0, 1]`` (CodeFormer's ``w``): mix this share
            of the shipped ``fidelity`` model's output into ``model``'s (:class:`~hifacegan.models.blend.FidelityBlend`).
        background_upsampler: ``(image, factor) -> enlarged image`` for the background, as GFPGAN's
            ``bg_upsampler`` (see :mod:`hifacegan.background`); ``None``: plain bicubic.
        precision: ``"auto"`` (bf16 autocast on CPUs with AVX512-BF16 or AMX and on GPUs, fp32 elsewhere),
            ``"fp32"``, ``"bf16"`` or ``"fp16"`` (GPU); see :func:`hifacegan.inference.autocast_dtype`.
        runtime: ``"torch"``; ``"onnx"`` (ONNX Runtime, CPU, fp32; ``model`` may then be an ``.onnx`` file
            from ``hifacegan export-onnx``, else it is exported when loaded); ``"aoti"`` (a model file compiled
            ahead of time under bf16 on the CPU, once, into ``~/.cache/hifacegan/aoti``: see
            :func:`hifacegan.aoti.cached_aoti_generator`); or ``"auto"``: ONNX Runtime for an ``.onnx`` file;
            for a model file on the CPU without ``fidelity_weight`` (which mixes in a second model),
            ``"aoti"`` where the arithmetic is bf16 (``precision`` bf16, or auto on a CPU with native bf16),
            else ONNX Runtime fp32 (exported once into ``~/.cache/hifacegan/onnx``, see
            :func:`hifacegan.onnx_runtime.cached_onnx_generator`) unless ``precision`` asks for fp16; PyTorch
            otherwise, and whenever neither can be had (after one warning saying why). On a 2-core
            AVX512-BF16 CPU the compiled package restored whole photos 2.0x faster than ONNX Runtime fp32 and
            5.8x faster than PyTorch fp32 (``docs/speed.md``). ``None``: ``"onnx"`` for an ``.onnx`` file, else ``$HIFACEGAN_RUNTIME``, else
            ``"auto"``.
        compile: compile the model. Under ``runtime="auto"`` on the CPU this is the ``"aoti"`` package where it
            can be had; otherwise the PyTorch model runs through ``torch.compile``
            (:class:`~hifacegan.compiled.CompiledGenerator`), under bf16 only, which compiles in every process
            (about a minute per face size, seconds once Inductor's cache holds it). Picks ``runtime="torch"``
            under ``"auto"`` where no package can be had. Ignored by ``runtime="aoti"`` (compiled already).

    Raises:
        hifacegan.models.pretrained.NoDefaultModelError: ``model=None`` and no default model is shipped.
        hifacegan.CheckpointError: the checkpoint cannot be loaded.
        ValueError: an unknown or unavailable device, precision or runtime, a malformed face template, or
            options ONNX Runtime cannot honour (a GPU, bf16, ``fidelity_weight``).
    """

    def __init__(self, model: nn.Module | str | os.PathLike | None = None, device: str | torch.device | None = None,
                 *, arch: str | None = None, detector: FaceDetector | None = None, face_size: int | None = None,
                 template: np.ndarray | list | None = None, batch_size: int = 16,
                 color_fix: bool | None = None, fidelity_weight: float = 0.0, precision: str = "auto",
                 runtime: str | None = None, compile: bool = False, coarse_pass: bool | None = None,
                 background_upsampler: Callable[[np.ndarray, float], np.ndarray] | None = None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        if runtime in (None, "auto") and _is_onnx_file(model):  # whatever the environment says
            runtime = "onnx"
        runtime = runtime or os.environ.get(RUNTIME_ENV) or "auto"
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
        on_cpu = runtime in ("onnx", "aoti") and device in (None, "auto")
        self.device = resolve_device("cpu" if on_cpu else device)
        cached_model = None
        if runtime == "auto":
            cached_model, runtime = _cached_runtime(model, arch, self.device, precision, fidelity_weight, compile)
        if compile and runtime == "onnx":
            raise ValueError("compile is a PyTorch option; runtime 'onnx' cannot compile (use runtime 'torch')")
        if runtime in ("onnx", "aoti"):
            _check_cpu_runtime_options(runtime, model, self.device, precision, fidelity_weight)
            self.model = cached_model or (_load_onnx if runtime == "onnx" else _load_aoti)(model, arch)
        else:
            self.model = _load(model, arch, self.device)
        self.runtime = runtime
        self.precision = precision
        # ONNX Runtime runs fp32; the package holds its own bf16 autocast: neither is wrapped in torch.autocast.
        self.autocast_dtype = None if runtime in ("onnx", "aoti") else autocast_dtype(precision, self.device)
        arithmetic = {None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[self.autocast_dtype]
        self.compiled = compile and runtime == "torch" and self.autocast_dtype is not None  # fp32: no faster compiled
        if compile and runtime == "torch" and not self.compiled:
            logger.info("not compiling: compiled fp32 ran no faster than eager (hifacegan.compiled); "
                        "compile helps with bf16, on CPUs with AVX512-BF16 or AMX and on GPUs")
        if self.compiled:
            from hifacegan.compiled import CompiledGenerator

            self.model = CompiledGenerator(self.model)
        if runtime == "aoti":
            logger.info("model runs compiled ahead of time (AOTInductor), bf16 autocast (precision %s)", precision)
        else:
            logger.info("model runs with %s, %s%s (precision %s)", "ONNX Runtime" if runtime == "onnx" else "PyTorch",
                        arithmetic, ", compiled (the first face of each size compiles: about a minute, seconds "
                        "once cached)" if self.compiled else "", precision)
        card: dict[str, Any] = dict(getattr(self.model, "model_card", None) or {})
        if fidelity_weight:
            from hifacegan.models.blend import FidelityBlend

            fidelity = _load("fidelity", None, self.device)
            self.model = FidelityBlend(self.model, fidelity, fidelity_weight,
                                       fidelity_size=int(getattr(fidelity, "model_card", {}).get("size") or DEFAULT_FACE_SIZE))
        self.face_size = int(face_size or card.get("size") or DEFAULT_FACE_SIZE)
        self.template = np.asarray(template if template is not None else card.get("face_template", FFHQ_TEMPLATE),
                                   dtype=np.float64)
        template_points(self.face_size, self.template)  # a malformed card template fails here, not per photo
        self._detector = detector
        self.batch_size = batch_size
        self.color_fix = card_color_fix(self.model) if color_fix is None else color_fix
        self.coarse_pass = coarse_pass
        self.mask = face_mask(self.face_size)
        self.background_upsampler = background_upsampler

    @property
    def detector(self) -> FaceDetector:
        """The face detector (the default one is created on first use)."""
        if self._detector is None:
            self._detector = default_detector()
        return self._detector

    def restore_faces(self, crops: list[np.ndarray], *, coarse_pass: bool | None = None) -> list[np.ndarray]:
        """Run the generator on float32 RGB crops, all in one batch (up to ``batch_size``); returns the restored crops.

        ``coarse_pass``: as the constructor's, which applies when it is ``None`` (a background, which is no face,
        passes ``False``).

        Raises:
            ValueError: the model's output holds NaN or infinity (nothing is returned, so nothing is pasted).
        """
        return restore_faces(self.model, crops, batch_size=self.batch_size, color_fix=self.color_fix,
                             precision=self.precision,
                             coarse_pass=self.coarse_pass if coarse_pass is None else coarse_pass)

    def enhance(self, image: Any, aligned: bool = False, only_center_face: bool = False, upscale: float = 1,
                max_faces: int | None = None) -> RestoreResult:
        """Restore the faces of one photo.

        Args:
            image: NumPy array (RGB order; ``uint8``, ``uint16`` or float ``[0, 1]``; gray, RGB or RGBA)
                or PIL image.
            aligned: the image already is an aligned face crop: restore it whole, at its own size.
            only_center_face: restore only the face nearest the image centre.
            upscale: resize the photo by this factor (plain bicubic for the background; faces are
                pasted at the new resolution). Not applied to ``aligned`` input.
            max_faces: restore at most this many faces, the largest ones.

        Returns:
            A :class:`RestoreResult`.

        Raises:
            TypeError, ValueError: the image is not usable (see :func:`to_float_rgb`), or bad options.
        """
        if upscale <= 0 or not np.isfinite(upscale):
            raise ValueError(f"upscale must be a positive number, got {upscale}")
        if max_faces is not None and max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        rgb, alpha, was_gray = to_float_rgb(image)
        if aligned:
            restored_face = self.restore_faces([rgb])[0]
            restored_face = _to_gray(restored_face) if was_gray else restored_face
            h, w = rgb.shape[:2]
            return RestoreResult(image=restored_face, cropped_faces=[rgb], restored_faces=[restored_face],
                                 boxes=np.array([[0.0, 0.0, w, h]]), affines=np.array([[[1.0, 0, 0], [0, 1.0, 0]]]),
                                 alpha=alpha, faces_detected=1, was_gray=was_gray)

        faces = list(self.detector(rgb))
        detected = len(faces)
        faces = _select_faces(faces, rgb.shape[:2], only_center_face, max_faces)
        background = _resize(rgb, upscale) if self.background_upsampler is None else self.background_upsampler(
            rgb, upscale)
        # The exact per-axis factors after rounding the new size, so faces land where they were.
        factors = (background.shape[1] / rgb.shape[1], background.shape[0] / rgb.shape[0])
        if alpha is not None:
            alpha = np.clip(_resize(alpha, upscale), 0.0, 1.0)
        crops, affines = [], []
        for face in faces:
            crop, affine = align(rgb, face.landmarks, self.face_size, self.template)
            crops.append(crop)
            affines.append(affine)
        restored = self.restore_faces(crops)
        for restored_face, affine in zip(restored, affines, strict=True):
            background = paste(background, restored_face, scale_affine(affine, factors), self.mask, out=background)
        if was_gray:
            background = _to_gray(background)
            restored = [_to_gray(face) for face in restored]
        return RestoreResult(
            image=background, cropped_faces=crops, restored_faces=restored,
            boxes=np.array([f.box for f in faces]).reshape(-1, 4),
            landmarks=np.array([f.landmarks for f in faces]).reshape(-1, 5, 2),
            affines=np.array(affines).reshape(-1, 2, 3), alpha=alpha, faces_detected=detected, was_gray=was_gray,
        )


def _load(model: nn.Module | str | os.PathLike | None, arch: str | None, device: torch.device) -> nn.Module:
    """A generator from a module, a shipped model's name, a checkpoint path, or ``None`` (the default)."""
    from hifacegan.models import pretrained

    if isinstance(model, nn.Module):
        return model.to(device)
    from hifacegan.models.checkpoint import load_model

    return load_model(pretrained.resolve_model(model), arch=arch, device=device)


def _check_cpu_runtime_options(runtime: str, model: nn.Module | str | os.PathLike | None, device: torch.device,
                               precision: str, fidelity_weight: float) -> None:
    """ONNX Runtime (fp32) and the compiled package (bf16, of a model file) run one network on the CPU: refuse
    what they would silently ignore."""
    arithmetic = {"onnx": "fp32", "aoti": "bf16"}[runtime]
    if device.type != "cpu":
        raise ValueError(f"runtime {runtime!r} runs on the CPU; device {device.type!r} needs runtime 'torch'")
    if precision not in ("auto", arithmetic):
        raise ValueError(f"runtime {runtime!r} runs {arithmetic}; precision {precision!r} needs runtime 'torch'")
    if fidelity_weight:
        raise ValueError("the fidelity weight mixes two torch models; use runtime 'torch' with it")
    if runtime == "aoti" and (isinstance(model, nn.Module) or _is_onnx_file(model)):
        raise ValueError("runtime 'aoti' compiles a model file (a checkpoint or a shipped model's name), not "
                         f"{'a module built in Python' if isinstance(model, nn.Module) else 'an .onnx file'}")


def _is_onnx_file(model: nn.Module | str | os.PathLike | None) -> bool:
    return model is not None and not isinstance(model, nn.Module) and str(model).lower().endswith(".onnx")


def _load_onnx(model: nn.Module | str | os.PathLike | None, arch: str | None) -> Any:
    """An ONNX Runtime generator: an ``.onnx`` file as is, anything else loaded with torch and exported."""
    from hifacegan.onnx_runtime import onnx_generator_for

    if _is_onnx_file(model):
        return onnx_generator_for(model)  # type: ignore[arg-type]  # _is_onnx_file: a path
    return onnx_generator_for(_load(model, arch, torch.device("cpu")))


def _load_aoti(model: nn.Module | str | os.PathLike | None, arch: str | None) -> Any:
    """``runtime="aoti"`` asked for: the model file's package, compiled now if absent.

    Raises:
        ValueError: no package can be had here (the warning logged before says why).
    """
    from hifacegan.aoti import cached_aoti_generator

    path = _model_file(model)
    if path is None:
        _load(model, arch, torch.device("cpu"))  # raises the loader's own message for a missing file
        raise AssertionError("unreachable: the loader accepted a file that does not exist")
    generator = cached_aoti_generator(path, lambda: _load(path, arch, torch.device("cpu")))
    if generator is None:
        raise ValueError("runtime 'aoti': the model could not be compiled here (see the warning above); use "
                         "runtime 'auto' or 'torch'")
    return generator


def _model_file(model: nn.Module | str | os.PathLike | None) -> Path | None:
    """The checkpoint file behind ``model`` (a path or a shipped model's name), or ``None`` for a module or
    a path that does not exist (the torch loader then gives the clear message)."""
    if isinstance(model, nn.Module):
        return None
    from hifacegan.models import pretrained

    path = Path(pretrained.resolve_model(model))
    return path if path.is_file() else None


def _cached_runtime(model: nn.Module | str | os.PathLike | None, arch: str | None, device: torch.device,
                    precision: str, fidelity_weight: float, compile: bool) -> tuple[Any, str]:
    """``runtime="auto"``: ``(cached model, runtime)``, the model ``None`` where PyTorch loads it afterwards.

    A cache keyed by the file's hash needs a model *file* (a module built in Python has none) run on the CPU
    without the fidelity blend (a second torch model). Where the arithmetic is bf16 (native, or asked for),
    the compiled package (:mod:`hifacegan.aoti`); otherwise, or where it cannot be built, ONNX Runtime fp32
    (:mod:`hifacegan.onnx_runtime`) unless ``compile`` (PyTorch then compiles) or ``precision`` asks for
    another arithmetic; else PyTorch.
    """
    path = None if device.type != "cpu" or fidelity_weight else _model_file(model)
    if path is None:
        return None, "torch"
    load = lambda: _load(path, arch, torch.device("cpu"))  # called only to compile or export
    if precision in ("auto", "bf16") and autocast_dtype(precision, device) is torch.bfloat16:
        from hifacegan.aoti import cached_aoti_generator

        compiled = cached_aoti_generator(path, load)
        if compiled is not None:
            return compiled, "aoti"
    if compile or precision not in ("auto", "fp32"):
        return None, "torch"
    from hifacegan.onnx_runtime import cached_onnx_generator

    exported = cached_onnx_generator(path, load)
    return exported, "torch" if exported is None else "onnx"


def _select_faces(faces: list[DetectedFace], shape: tuple[int, int], only_center_face: bool,
                  max_faces: int | None) -> list[DetectedFace]:
    """Apply ``only_center_face`` (nearest box centre to the image centre) and ``max_faces`` (largest boxes)."""
    if only_center_face and faces:
        cy, cx = shape[0] / 2, shape[1] / 2
        faces = [min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)]
    if max_faces is not None and len(faces) > max_faces:
        faces = sorted(faces, key=lambda f: f.area, reverse=True)[:max_faces]
    return faces


def _resize(array: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1:
        return np.array(array, dtype=np.float32, copy=True)
    h, w = array.shape[:2]
    # Bicubic overshoots at edges; clip so the background stays a valid [0, 1] image.
    return np.clip(resize_to(array, max(1, round(h * factor)), max(1, round(w * factor))), 0, 1)


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    gray = rgb @ _LUMA
    return np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
