"""The settings of a restore job, checked where they are built.

:class:`JobOptions` says what to do with each input file and where its outputs go (what
``hifacegan restore``'s face, output and limit options mean); :class:`ModelSettings` says how to build the
:class:`~hifacegan.restorer.Restorer` that does it (model, device, arithmetic, background). Both are
plain frozen dataclasses, so a batch can hand them to worker processes (Ray actors) as they are.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hifacegan.background import BACKGROUND_CHOICES
from hifacegan.io import default_max_pixels

if TYPE_CHECKING:
    from hifacegan.restorer import Restorer

__all__ = ["ALIGNED_MAX_PIXELS", "COMPILE_ENV", "COMPILE_MIN_PHOTOS", "EXT_CHOICES", "JobOptions", "ModelSettings",
           "choose_compile"]

logger = logging.getLogger(__name__)

# With aligned crops the generator runs on the whole image: about 0.5 GB per megapixel for the shipped model
# (an 8000x6000 crop took 24 GB), so the default bound is 4 MP, a 2048x2048 crop.
ALIGNED_MAX_PIXELS = 4_000_000
#: Formats of the restored photo: ``auto`` keeps the input's (PNG for formats that cannot be written).
EXT_CHOICES = ("auto", "png", "jpg")
# H.264's constant rate factor runs from 0 (lossless) to 51; 18 is visually near lossless.
CRF_RANGE = (0, 51)
# compile's default turns on from this many photos: compiling costs about a minute on two cores (5-9 s with
# Inductor's cache warm) and saves about 1 s per 512-px face against ONNX Runtime (docs/speed.md).
COMPILE_MIN_PHOTOS = 16
COMPILE_ENV = "HIFACEGAN_COMPILE"  # 1/0: compile's default where the settings leave it open (None)
ARCH_CHOICES = ("hifacegan", "lipspade", "spade")
# A background tile smaller than this is mostly overlap (tiles overlap by 48 px).
MIN_BACKGROUND_TILE = 32


@dataclass(frozen=True)
class JobOptions:
    """What to do with each input file, and where its outputs go.

    Attributes:
        output: the output folder (``OUTDIR``; see :mod:`hifacegan.jobs.layout` for what goes where).
        aligned: inputs are aligned face crops, each restored whole at its own size.
        only_center_face: restore only the face nearest the centre of each photo.
        upscale: resize the whole photo by this factor (faces are pasted at full size; ignored with ``aligned``).
        max_faces: restore at most this many faces per photo, the largest (``None``: all).
        ext: format of the restored photo, one of :data:`EXT_CHOICES`.
        suffix: text appended as ``_<suffix>`` to restored photos, faces and videos (GFPGAN's ``--suffix``).
        max_pixels: refuse inputs with more pixels, judged from the file header before decoding; ``None``:
            :data:`ALIGNED_MAX_PIXELS` for aligned crops, else :func:`hifacegan.io.default_max_pixels`.
        video_crf: H.264 quality of restored videos, 0-51, lower is better.
        max_output_pixels: refuse inputs whose result (after ``upscale``) would have more pixels;
            ``None``: :data:`hifacegan.jobs.MAX_OUTPUT_PIXELS` (a front end serving others sets less).

    Raises:
        ValueError: a value out of its range (the message names the field).
    """

    output: Path
    aligned: bool = False
    only_center_face: bool = False
    upscale: float = 1.0
    max_faces: int | None = None
    ext: str = "auto"
    suffix: str | None = None
    max_pixels: int | None = None
    video_crf: int = 18
    max_output_pixels: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", Path(self.output))  # frozen: str paths are accepted and kept as Path
        if not (self.upscale > 0 and math.isfinite(self.upscale)):
            raise ValueError(f"upscale must be a positive number, got {self.upscale}")
        if self.max_faces is not None and self.max_faces < 1:
            raise ValueError(f"max_faces must be at least 1 (or None: every face), got {self.max_faces}")
        if self.ext not in EXT_CHOICES:
            raise ValueError(f"unknown ext {self.ext!r}; choose one of {', '.join(EXT_CHOICES)}")
        if self.max_pixels is not None and self.max_pixels < 1:
            raise ValueError(f"max_pixels must be at least 1 (or None: the default bound), got {self.max_pixels}")
        if self.max_output_pixels is not None and self.max_output_pixels < 1:
            raise ValueError(f"max_output_pixels must be at least 1 (or None), got {self.max_output_pixels}")
        if not CRF_RANGE[0] <= self.video_crf <= CRF_RANGE[1]:
            raise ValueError(f"video_crf must be in {CRF_RANGE[0]}-{CRF_RANGE[1]}, got {self.video_crf}")

    def pixel_bound(self) -> int:
        """The largest input to accept, in pixels (:attr:`max_pixels` or its default).

        Raises:
            ValueError: ``$HIFACEGAN_MAX_MEGAPIXELS`` is set but not a positive number.
        """
        if self.max_pixels is not None:
            return self.max_pixels
        return ALIGNED_MAX_PIXELS if self.aligned else default_max_pixels()

    @property
    def name_tag(self) -> str:
        """``_<suffix>`` to insert before the extension of restored files, or ``""``."""
        return f"_{self.suffix}" if self.suffix else ""


@dataclass(frozen=True)
class ModelSettings:
    """How to build the :class:`~hifacegan.restorer.Restorer` of a job (see its arguments for details).

    Attributes:
        model: a shipped model's name, a checkpoint or ``.onnx`` path, or ``None`` for the shipped default.
        device: ``auto``, ``cpu``, ``cuda``, ``mps`` (or any device string PyTorch takes).
        arch: generator variant of a checkpoint whose keys do not say (one of :data:`ARCH_CHOICES`).
        color_fix: keep each face's colours from the input; ``None``: as the model card says.
        coarse_pass: restore faces in two passes (half size, then full); ``None``: as the model card says
            (the shipped models: none).
        fidelity_weight: share of the fidelity model mixed into the model's output, in ``[0, 1]``.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        runtime: ``auto``, ``torch``, ``onnx`` or ``None`` (``$HIFACEGAN_RUNTIME``, else auto).
        compile: ``torch.compile`` the model; ``None``: decide per batch with :func:`choose_compile`.
        background: ``lanczos`` or ``model`` (the photo enlarged, then restored by the model in tiles).
        background_tile: with ``background="model"``, the tile side in pixels (0: the whole image at once).

    Raises:
        ValueError: a value out of its range or not among its choices.
    """

    model: str | os.PathLike | None = None
    device: str = "auto"
    arch: str | None = None
    color_fix: bool | None = None
    coarse_pass: bool | None = None
    fidelity_weight: float = 0.0
    precision: str = "auto"
    runtime: str | None = None
    compile: bool | None = None
    background: str = "lanczos"
    background_tile: int = 512

    def __post_init__(self) -> None:
        from hifacegan.inference import PRECISIONS
        from hifacegan.restorer import RUNTIMES

        if self.arch is not None and self.arch not in ARCH_CHOICES:
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {', '.join(ARCH_CHOICES)}")
        if not 0.0 <= self.fidelity_weight <= 1.0:
            raise ValueError(f"fidelity_weight must be between 0 and 1, got {self.fidelity_weight}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.runtime is not None and self.runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {self.runtime!r}; choose one of {', '.join(RUNTIMES)}")
        if self.background not in BACKGROUND_CHOICES:
            raise ValueError(f"unknown background {self.background!r}; choose one of {', '.join(BACKGROUND_CHOICES)}")
        if self.background_tile != 0 and self.background_tile < MIN_BACKGROUND_TILE:
            raise ValueError(f"background_tile must be 0 (no tiles) or at least {MIN_BACKGROUND_TILE} pixels, "
                             f"got {self.background_tile}")

    def build(self) -> Restorer:
        """The restorer these settings describe, its background enlarged as :attr:`background` says.

        Raises:
            hifacegan.models.pretrained.NoDefaultModelError: no such shipped model.
            hifacegan.CheckpointError: the checkpoint cannot be loaded.
            ValueError: an unusable device or an option the runtime cannot honour.
            ImportError: ONNX Runtime was asked for a model file without the onnx/onnxscript packages.
        """
        from hifacegan.background import ModelBackground, lanczos_upscale
        from hifacegan.restorer import Restorer

        restorer = Restorer(self.model, device=self.device, arch=self.arch, color_fix=self.color_fix,
                            fidelity_weight=self.fidelity_weight, precision=self.precision, runtime=self.runtime,
                            compile=bool(self.compile), coarse_pass=self.coarse_pass)
        if self.background == "model":
            # tile 0 = one tile as large as any image (tiled_restore clips the tile to the image's sides).
            # Tiles of a background are no faces: never the coarse pass, whatever their NIQE.
            tiles = functools.partial(restorer.restore_faces, coarse_pass=False)
            restorer.background_upsampler = ModelBackground(tiles, tile=self.background_tile or 1 << 30)
        else:
            restorer.background_upsampler = lanczos_upscale
        return restorer


def choose_compile(settings: ModelSettings, photos: int, videos: int) -> bool:
    """``settings.compile`` when given, else on where it pays.

    It pays with enough faces to repay about a minute of compiling (a folder of :data:`COMPILE_MIN_PHOTOS`
    photos, a video), bf16 on a CPU that computes it natively, and a C++ compiler for Inductor. GPUs are
    left uncompiled by default (not measured).
    """
    if settings.compile is not None:
        return bool(settings.compile)
    if os.environ.get(COMPILE_ENV, "").strip():  # "1"/"0": a machine-wide default, e.g. for servers or CI
        return os.environ[COMPILE_ENV].strip().lower() not in ("0", "false", "no", "off")
    if photos < COMPILE_MIN_PHOTOS and not videos:
        return False
    if settings.runtime == "onnx" or str(settings.model).lower().endswith(".onnx") or settings.fidelity_weight:
        return False
    import torch

    from hifacegan.compiled import cpu_compiler_available
    from hifacegan.inference import autocast_dtype
    from hifacegan.restorer import resolve_device

    device = resolve_device(settings.device)
    if device.type != "cpu" or autocast_dtype(settings.precision, device) is not torch.bfloat16:
        return False
    if not cpu_compiler_available():
        logger.info("not compiling the model: no C++ compiler (apt install g++ makes large batches ~3x faster)")
        return False
    logger.info("compiling the model for these %d photo(s)%s: about a minute the first time, seconds once "
                "cached, then about 3x faster per face (--no-compile to skip)", photos, " and videos" if videos else "")
    return True
