"""ONNX export of a generator and inference with ONNX Runtime.

``export_onnx(model, "model.onnx")`` writes a graph with a dynamic batch, height and width (height and
width multiples of 32, as the network needs; :func:`hifacegan.restore_tensor` pads any input to them) and
the model card in the file's metadata, so face size, template and colour fix travel with it.
``load_onnx("model.onnx")`` gives an :class:`OnnxGenerator`, which the restore path accepts wherever it
accepts a torch generator (``hifacegan restore --runtime onnx``, ``Restorer(runtime="onnx")``).
``cached_onnx_generator(weights, load)`` exports a weights file once into the user's cache
(``~/.cache/hifacegan/onnx/``) and reuses that file afterwards: the CPU default (``runtime="auto"``).

Exporting needs the ``onnx`` and ``onnxscript`` packages, running an exported file ``onnxruntime``: all
three are core dependencies.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hifacegan.cache import cache_dir
from hifacegan.io import file_sha256
from hifacegan.models.generator import SIZE_MULTIPLE

__all__ = ["CARD_METADATA_KEY", "EXPORT_FORMAT", "OnnxGenerator", "cached_onnx_generator", "cached_onnx_path",
           "can_export_onnx", "export_onnx", "load_onnx", "onnx_generator_for"]

logger = logging.getLogger(__name__)

#: ONNX metadata key holding the model card as JSON.
CARD_METADATA_KEY = "hifacegan_model_card"
INPUT_NAME, OUTPUT_NAME = "image", "restored"
# Bounds of the dynamic sides, in units of 32 px: 64 px (the smallest side restore_tensor feeds the model)
# to 8192 px. torch.export needs finite bounds; they are not a size limit of the file.
_MIN_UNITS, _MAX_UNITS = 2, 256
_EXPORT_SIDE_UNITS = 4  # the example input is 128 x 128: small, so exporting is quick
#: Part of every cached file's name: raise it when the exported graph changes for the same weights (opset,
#: export options), so files exported by an older version are not reused.
EXPORT_FORMAT = 1


def export_onnx(model: nn.Module, path: str | os.PathLike, *, opset: int = 18) -> Path:
    """Write ``model`` (a generator ready for inference) as an ONNX file, atomically.

    The graph takes ``image`` ``(N, 3, H, W)`` float32 in ``[0, 1]`` with ``H`` and ``W`` multiples of 32
    from 64 to 8192 and returns ``restored``, the network's ``tanh`` output (clip it to ``[0, 1]``, as
    :func:`hifacegan.restore_tensor` does). The model card is stored as JSON under
    :data:`CARD_METADATA_KEY`.

    Raises:
        ImportError: the ``onnx``/``onnxscript`` packages are missing (core dependencies; an old install).
    """
    try:
        import onnx  # noqa: F401  (the exporter needs both; say which to install)
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ImportError(f"exporting to ONNX needs the onnx and onnxscript packages ({error}); "
                          'install them with: pip install "onnx>=1.17" "onnxscript>=0.2"') from error
    from hifacegan.io import atomic_write_bytes

    model = model.float().eval()
    side = _EXPORT_SIDE_UNITS * SIZE_MULTIPLE
    example = torch.rand(1, 3, side, side, device=next(model.parameters()).device)
    # Height and width are declared as 32 x (an integer), so the exporter proves every down-sampling
    # divides exactly and the graph holds no shape special-cased to the example.
    height = torch.export.Dim("height_units", min=_MIN_UNITS, max=_MAX_UNITS)
    width = torch.export.Dim("width_units", min=_MIN_UNITS, max=_MAX_UNITS)
    batch = torch.export.Dim("batch", min=1, max=1024)
    dynamic = {"image": {0: batch, 2: SIZE_MULTIPLE * height, 3: SIZE_MULTIPLE * width}}
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                                    output_names=[OUTPUT_NAME], dynamic_shapes=dynamic, verbose=False)
    if program is None:  # only the legacy TorchScript exporter returns None; dynamo=True returns a program
        raise RuntimeError("torch.onnx.export returned no program")
    proto = program.model_proto
    card = dict(getattr(model, "model_card", None) or {})
    entry = proto.metadata_props.add()
    entry.key, entry.value = CARD_METADATA_KEY, json.dumps(card, default=str)
    path = Path(path)
    atomic_write_bytes(path, proto.SerializeToString())
    return path


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Keep the exporter's chatter off the user's terminal: onnxscript/onnx_ir log a line per graph pass and
    folded initialiser, torch.onnx warns that torchvision (never used here) is absent, and torch's pytree
    emits a FutureWarning. Errors still propagate."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


class OnnxGenerator:
    """An exported generator run by ONNX Runtime on the CPU, called like the torch module.

    ``generator(images)`` takes an ``(N, 3, H, W)`` float tensor (sides multiples of 32) and returns the
    network's output as a float32 tensor; ``model_card`` is the card stored at export.
    """

    device = torch.device("cpu")

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The same thread count as torch, so the two runtimes are compared (and share a machine) alike.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                                providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types (Fail, InvalidProtobuf, ...)
            raise ValueError(f"{self.path}: not a usable ONNX model ({str(error).strip()[:300]})") from error
        names = ([i.name for i in self.session.get_inputs()], [o.name for o in self.session.get_outputs()])
        if names != ([INPUT_NAME], [OUTPUT_NAME]):
            raise ValueError(f"{self.path}: expected one input {INPUT_NAME!r} and one output {OUTPUT_NAME!r} "
                             f"(a file from hifacegan export-onnx), got inputs {names[0]} and outputs {names[1]}")
        metadata = self.session.get_modelmeta().custom_metadata_map
        try:
            self.model_card: dict[str, Any] = json.loads(metadata.get(CARD_METADATA_KEY, "{}"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{self.path}: the model card in its metadata is not valid JSON ({error})") from error

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(images.detach().to("cpu", torch.float32).numpy())
        (output,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: array})
        return torch.from_numpy(output)

    def __repr__(self) -> str:
        return f"OnnxGenerator({str(self.path)!r})"


def load_onnx(path: str | os.PathLike, threads: int | None = None) -> OnnxGenerator:
    """An ONNX file written by :func:`export_onnx` as an :class:`OnnxGenerator`."""
    return OnnxGenerator(path, threads)


def onnx_generator_for(model: nn.Module | str | os.PathLike, threads: int | None = None) -> OnnxGenerator:
    """An :class:`OnnxGenerator` for an ``.onnx`` path as is, or for a torch generator exported on the spot.

    Exporting takes seconds to a minute; ``hifacegan export-onnx`` does it once for repeated use.
    """
    if not isinstance(model, nn.Module):
        return load_onnx(model, threads)
    logger.info("exporting the model to ONNX for this run (hifacegan export-onnx saves a file to reuse)")
    with tempfile.TemporaryDirectory(prefix="hifacegan-onnx-") as folder:
        path = export_onnx(model, Path(folder) / "model.onnx")
        generator = load_onnx(path, threads)  # the session holds the graph in memory; the file can go
    generator.path = Path("<exported in memory>")
    return generator


def can_export_onnx() -> bool:
    """Whether the exporter's packages (``onnx``, ``onnxscript``; core dependencies) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxscript"))


def cached_onnx_path(weights: str | os.PathLike) -> Path:
    """Where the ONNX export of ``weights`` is cached: ``<cache>/onnx/<stem>-<sha256 prefix>-f<format>.onnx``.

    The name holds the weights file's content hash, so a changed or replaced file is exported afresh.
    The cache folder is ``$XDG_CACHE_HOME/hifacegan``, by default ``~/.cache/hifacegan``.
    """
    weights = Path(weights)
    return cache_dir() / "onnx" / f"{weights.stem}-{file_sha256(weights)[:16]}-f{EXPORT_FORMAT}.onnx"


def cached_onnx_generator(weights: str | os.PathLike, load: Callable[[], nn.Module],
                          threads: int | None = None) -> OnnxGenerator | None:
    """An :class:`OnnxGenerator` for a weights file, exported once into the cache and reused afterwards.

    ``load()`` gives the torch generator, ready for inference; it is called only when the file must be
    exported, and what it raises (a bad checkpoint) propagates. Returns ``None``, after logging why, when no ONNX model can be had here: the exporter is not
    installed, the cache folder is not writable, or the export fails. The caller then runs PyTorch.
    """
    path = cached_onnx_path(weights)
    if path.is_file():
        try:
            return load_onnx(path, threads)
        except ValueError as error:  # a damaged cache file: export it again
            logger.warning("the cached ONNX model is unusable, exporting it again: %s", error)
    if not can_export_onnx():
        logger.info('running PyTorch: ONNX Runtime, faster on most CPUs, needs the model exported once, which '
                    'needs the onnx and onnxscript packages (pip install "onnx>=1.17" "onnxscript>=0.2")')
        return None
    model = load()  # a bad checkpoint fails here, with the loader's own message
    logger.info("exporting the model to ONNX Runtime once, for faster CPU restores (about half a minute); "
                "cached as %s", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model, path)
        return load_onnx(path, threads)
    except OSError as error:
        logger.warning("running PyTorch: cannot write the ONNX model to the cache (%s); set XDG_CACHE_HOME to a "
                       "writable folder", error)
    except Exception as error:  # noqa: BLE001  the exporter raises many types; PyTorch still restores correctly
        logger.warning("running PyTorch: exporting the model to ONNX failed (%s: %s)", type(error).__name__,
                       str(error).strip()[:300])
    return None
