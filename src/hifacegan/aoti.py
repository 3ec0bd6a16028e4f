"""The generator compiled ahead of time (AOTInductor) under bf16, built once per model file and machine.

``cached_aoti_generator(weights, load)`` compiles a weights file with ``torch._inductor.aoti_compile_and_package``
into ``~/.cache/hifacegan/aoti/`` the first time (one to two minutes on two cores) and afterwards loads the
package in a fraction of a second. It is the restore path's default on a CPU with native bf16
(``Restorer(runtime="auto")``, see :func:`hifacegan.inference.cpu_has_fast_bf16`): the speed of
``torch.compile`` without its minute of compiling in every process.

What is compiled: the generator under bf16 autocast, each SPADE's two modulation convolutions stacked into one
(:class:`_FusedModulation`, the same numbers), frozen (weights folded into the graph, so Inductor can pre-pack
them for oneDNN), for **one face of the model's face size**, ``(1, 3, S, S)``. Fixed shapes ran 1.4x
faster than a package with a dynamic batch, height and width (1.65 s against 2.38 s per 512-px face on a
2-core AMD EPYC with AVX512-BF16), and even at four faces per call the dynamic package (1.89 s per face)
stayed behind one face at a time, so faces go through one by one (``docs/speed.md``). Images of any other
size (aligned crops) go through a second package, built the first time one comes: dynamic batch, height and
width in multiples of 32 (``torch.export.Dim``), as in the ONNX export.

Each package's file name holds the weights' sha256 prefix, the torch version and a digest of the CPU's
instruction-set flags, so new weights, another torch or another machine sharing the folder get their own
package. Two processes building the same package cannot damage it: each compiles into a temp file beside it
and renames it over the name (:func:`hifacegan.io.atomic_write`), and where ``fcntl`` exists the second
waits on a lock and then loads the first one's package instead of compiling again. Where a package cannot
be built (no C++ compiler, a compile error) the caller gets ``None`` after one warning and runs its next
choice; a build that failed leaves a ``.failed`` note beside the package so later runs do not spend
another minute failing (delete it to retry).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hifacegan.cache import cache_dir
from hifacegan.io import atomic_write, atomic_write_bytes, file_sha256
from hifacegan.layers.norms import instance_norm
from hifacegan.layers.spade import SPADE, resize_condition
from hifacegan.models.generator import SIZE_MULTIPLE

__all__ = ["PACKAGE_FORMAT", "AotiGenerator", "PackageBuildError", "build_package", "cached_aoti_generator",
           "cached_package_path", "machine_key"]

logger = logging.getLogger(__name__)

#: Part of every package's name: raise it when what is compiled changes for the same weights (autocast,
#: shapes, Inductor options), so packages built by an older version are not reused.
PACKAGE_FORMAT = 1
#: Package metadata key holding the model card as JSON.
CARD_METADATA_KEY = "hifacegan_model_card"
#: The two packages of a model file: one face of the card's size, and any batch and size (multiples of 32).
FACE, ANY_SIZE = "face", "any"
# Bounds of the dynamic sides, in units of 32 px, as in the ONNX export (64 px to 8192 px).
_MIN_UNITS, _MAX_UNITS = 2, 256
# Flag prefixes that decide which vector instructions Inductor's kernels may use; the rest of /proc/cpuinfo's
# flags (virtualisation, power management) would only split the cache between identical machines.
_ISA_FLAG_PREFIXES = ("avx", "amx", "fma", "f16c", "sse", "bmi", "vnni", "vpclmul", "gfni")
# What Inductor is asked for. Freezing folds the weights into the graph (prepacked oneDNN convolutions) and
# makes the package load in ~0.2 s instead of ~2.7 s. Dynamic threads: by default Inductor sizes its reduction
# buffers for the thread count at build time (and may hard-code it), so a package built under
# torch.set_num_threads(1) would stay single-threaded for good, and one built on 2 cores would overrun its
# buffers on a machine of the same family with more; with them, kernels follow the caller's thread count
# (measured within noise of the fixed package, 2.20 s against 2.08 s per face).
_INDUCTOR_OPTIONS: dict[str, Any] = {"freezing": True, "cpp.dynamic_threads": True}


# Faces of one batch that may run side by side (AotiGenerator), each on a model instance of the package (the
# instances share the weights; each holds its own activations, ~0.2 GB for a 512-px face of the shipped model).
_MAX_PARALLEL_FACES = 4


class PackageBuildError(RuntimeError):
    """A package could not be compiled (the message says why)."""


def machine_key() -> str:
    """What a package depends on besides the weights: ``torch<version>-isa<digest of the CPU's vector flags>``."""
    from hifacegan.inference import cpu_flags

    flags = sorted(flag for flag in cpu_flags() if flag.startswith(_ISA_FLAG_PREFIXES))
    import platform

    isa = hashlib.sha256(" ".join([platform.machine(), *flags]).encode()).hexdigest()[:10]
    return f"torch{torch.__version__}-isa{isa}"


def cached_package_path(weights: str | os.PathLike, shape: str = FACE) -> Path:
    """Where a package of ``weights`` is cached: ``<cache>/aoti/<stem>-<sha256 prefix>-<shape>-<machine>-f<format>.pt2``.

    ``shape`` is :data:`FACE` or :data:`ANY_SIZE`; ``<machine>`` is :func:`machine_key`.
    """
    weights = Path(weights)
    name = f"{weights.stem}-{file_sha256(weights)[:16]}-{shape}-{machine_key()}-f{PACKAGE_FORMAT}.pt2"
    return cache_dir() / "aoti" / name


class _FusedModulation(nn.Module):
    """A :class:`~hifacegan.layers.spade.SPADE` whose ``mlp_gamma`` and ``mlp_beta`` run as one convolution.

    Both read the same hidden map, so one convolution with their weights stacked gives the same numbers (the
    package's output was identical to the bit) from one pass over that map, and oneDNN runs one convolution
    of 2C outputs faster than two of C: the shipped model's face ran in 1.84 s instead of 2.24 s.
    """

    def __init__(self, spade: SPADE) -> None:
        super().__init__()
        self.mlp_shared = spade.mlp_shared
        stacked = torch.cat([spade.mlp_gamma.weight, spade.mlp_beta.weight]).detach()
        self.mlp_gamma_beta = nn.Conv2d(stacked.shape[1], stacked.shape[0], 3, padding=1, bias=False)
        self.mlp_gamma_beta.weight = nn.Parameter(stacked, requires_grad=False)
        self.channels = spade.mlp_gamma.weight.shape[0]

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        actv = self.mlp_shared(resize_condition(condition, (x.shape[-2], x.shape[-1])))
        gamma, beta = self.mlp_gamma_beta(actv).split(self.channels, dim=1)
        return instance_norm(x) * gamma + beta


def _fuse_modulations(module: nn.Module) -> nn.Module:
    """``module`` with every SPADE replaced by :class:`_FusedModulation`, in place."""
    for name, child in module.named_children():
        if isinstance(child, SPADE):
            setattr(module, name, _FusedModulation(child))
        else:
            _fuse_modulations(child)
    return module


class _Bf16Generator(nn.Module):
    """The generator under bf16 autocast, returning fp32: what the package holds (its inputs stay fp32)."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.generator(images).float()


def build_package(generator: nn.Module, path: str | os.PathLike, shape: str = FACE, face_size: int = 512) -> Path:
    """Compile ``generator`` (ready for inference, on the CPU) under bf16 into the package ``path``, atomically.

    Args:
        shape: :data:`FACE`: input ``(1, 3, face_size, face_size)`` only; :data:`ANY_SIZE`: any batch and any
            height and width that are multiples of 32 from 64 to 8192.

    Raises:
        PackageBuildError: export or compilation failed (the message holds the first line of the cause).
    """
    card = json.dumps(dict(getattr(generator, "model_card", None) or {}), default=str)
    # A copy: the caller's generator may still run eagerly (sizes no package serves).
    wrapped = _Bf16Generator(_fuse_modulations(copy.deepcopy(generator).float().eval())).eval()
    if shape == FACE:
        example, dynamic = torch.rand(1, 3, face_size, face_size), None
    else:
        # Batch 2 in the example: an example batch of 1 would be specialised to 1. Sides are 32 x an integer,
        # so the exporter proves every down-sampling divides exactly.
        height = torch.export.Dim("height_units", min=_MIN_UNITS, max=_MAX_UNITS)
        width = torch.export.Dim("width_units", min=_MIN_UNITS, max=_MAX_UNITS)
        batch = torch.export.Dim("batch", min=1, max=1024)
        example = torch.rand(2, 3, 4 * SIZE_MULTIPLE, 4 * SIZE_MULTIPLE)
        dynamic = {"images": {0: batch, 2: SIZE_MULTIPLE * height, 3: SIZE_MULTIPLE * width}}
    options = {**_INDUCTOR_OPTIONS, "aot_inductor.metadata": {CARD_METADATA_KEY: card}}
    try:
        with torch.no_grad():
            program = torch.export.export(wrapped, (example,), dynamic_shapes=dynamic)
        return atomic_write(path, lambda handle: _compile(program, handle, options))
    except OSError:
        raise  # the cache folder cannot be written: the caller says so
    except Exception as error:  # export and Inductor raise many types (and C++ compiler errors)
        first_line = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        raise PackageBuildError(f"{type(error).__name__}: {first_line}") from error


def _compile(program: Any, handle: Any, options: dict[str, Any]) -> None:
    """AOTInductor's compile-and-package step, writing into the open temp file ``handle`` (a seam for tests)."""
    torch._inductor.aoti_compile_and_package(program, package_path=handle, inductor_configs=options)


def _load_package(path: Path, runners: int = 1) -> Any | None:
    """The package at ``path`` loaded with ``runners`` model instances (that many calls may run at once; the
    weights are shared), or ``None`` when there is none or it is unusable (then it is removed)."""
    if not path.is_file():
        return None
    try:
        from torch._inductor.package import load_package

        return load_package(str(path), num_runners=runners)
    except Exception as error:  # noqa: BLE001  the loader raises RuntimeError and others for a damaged file
        logger.warning("the cached compiled model %s is unusable, compiling it again: %s", path.name,
                       str(error).strip()[:300])
        with contextlib.suppress(OSError):
            path.unlink()
        return None


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` exclusively where ``fcntl`` exists, so one process compiles and the others wait.

    Without ``fcntl`` (Windows) both compile; the atomic rename still keeps the package whole.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path.with_suffix(".lock"), "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _failure_note(path: Path) -> Path:
    return path.with_suffix(".failed")


def cached_package(weights: Path, load: Callable[[], nn.Module], shape: str = FACE,
                   face_size: int | None = None, runners: int = 1) -> Any | None:
    """The loaded package of ``weights`` for ``shape`` (``runners`` instances), compiled into the cache first if absent.

    ``load()`` gives the torch generator; it is called only to compile, and what it raises propagates.
    Returns ``None`` after one warning saying why when no package can be had: no C++ compiler, the cache is
    not writable, compiling failed now or (a ``.failed`` note) in an earlier run.
    """
    from hifacegan.compiled import cpu_compiler_available

    path = cached_package_path(weights, shape)
    runner = _load_package(path, runners)
    if runner is not None:
        return runner
    note = _failure_note(path)
    if note.is_file():
        logger.warning("not compiling the model: compiling it failed in an earlier run (%s); delete %s to retry",
                       note.read_text(errors="replace").strip()[:300], note)
        return None
    if not cpu_compiler_available():
        logger.warning("not compiling the model (about 2x faster per face with bf16): no C++ compiler found for "
                       "PyTorch's Inductor (install g++, or set $CXX)")
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _build_lock(path):
            runner = _load_package(path, runners)  # another process may have built it while this one waited
            if runner is None:
                model = load()  # a bad checkpoint fails here, with the loader's own message
                size = face_size or int((getattr(model, "model_card", None) or {}).get("size") or 512)
                what = f"{size}-px faces" if shape == FACE else "images of any size"
                logger.info("compiling the model for %s once, for faster CPU restores (one to two minutes; later "
                            "runs load it in about a second): %s", what, path)
                build_package(model, path, shape, size)
                runner = _load_package(path, runners)
    except OSError as error:
        logger.warning("not compiling the model: cannot write the compiled model to the cache (%s); set "
                       "$HIFACEGAN_CACHE_DIR to a writable folder", error)
        return None
    except PackageBuildError as error:
        with contextlib.suppress(OSError):
            atomic_write_bytes(note, f"{error}\n".encode())
        logger.warning("compiling the model failed, running it uncompiled (slower): %s", error)
        return None
    return runner


def _package_card(runner: Any) -> dict[str, Any]:
    try:
        card = json.loads(runner.get_metadata().get(CARD_METADATA_KEY, "{}"))
    except (json.JSONDecodeError, AttributeError, RuntimeError):
        return {}
    return card if isinstance(card, dict) else {}


def _openmp_thread_setter() -> Callable[[int], Any] | None:
    """``omp_set_num_threads`` of the OpenMP runtime that torch and the packages share, or ``None``.

    OpenMP keeps that count per calling thread (torch.set_num_threads would change it for the whole process),
    which is what lets faces run side by side with one thread each. ``None`` where torch has no OpenMP or the
    symbol cannot be reached (then faces run one after the other).
    """
    if not torch.backends.openmp.is_available():
        return None
    try:
        return ctypes.CDLL(None).omp_set_num_threads
    except (OSError, AttributeError, TypeError):
        return None


class AotiGenerator:
    """A model file's compiled packages, called like the generator: ``(N, 3, H, W)`` fp32 in, fp32 out.

    Faces of the card's size go through the face package: one face alone with all of torch's threads; several
    side by side, up to ``parallel_faces`` at once with torch's threads shared out between them. Splitting one
    face over two threads makes them wait for each other at every kernel, and the more so on a busy CPU: on
    the 2-core EPYC, eight faces took 0.98 s each two at a time with a thread each, 2.15 s each one at a time
    with both threads. Other sizes go through the any-size package, compiled on first use
    (``cached_package``); where that cannot be had, through the uncompiled generator under bf16 autocast
    (``load()``), after the one warning that said why.

    Attributes:
        model_card: the card stored in the package (face size, template, colour fix).
        face_size: the side of the face package's input.
        parallel_faces: how many faces may run at once (the face package's model instances).
    """

    device = torch.device("cpu")

    def __init__(self, weights: Path, face_runner: Any, load: Callable[[], nn.Module], parallel_faces: int = 1) -> None:
        self.weights = Path(weights)
        self.face_runner = face_runner
        self.model_card: dict[str, Any] = _package_card(face_runner)
        self.face_size = int(self.model_card.get("size") or 512)
        self.parallel_faces = parallel_faces
        self._load = load
        self._other_sizes: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._lock = threading.Lock()  # a server may call from several threads: compile the second package once
        self._set_threads = _openmp_thread_setter()
        self._pool: ThreadPoolExecutor | None = None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = images.detach().to("cpu", torch.float32).contiguous()
        if tuple(images.shape[1:]) != (3, self.face_size, self.face_size):
            return self._any_size()(images)
        faces = [images[i:i + 1] for i in range(images.shape[0])]
        threads, set_threads = torch.get_num_threads(), self._set_threads
        side_by_side = min(len(faces), self.parallel_faces, threads)
        if side_by_side < 2 or set_threads is None:
            return torch.cat([self.face_runner(face) for face in faces])
        each = threads // side_by_side

        def run(share: list[torch.Tensor]) -> list[torch.Tensor]:
            set_threads(each)  # this worker thread's OpenMP count, for the package's kernels and convolutions
            with torch.inference_mode():
                return [self.face_runner(face) for face in share]

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.parallel_faces, thread_name_prefix="hifacegan-face")
        shares = list(self._pool.map(run, [faces[k::side_by_side] for k in range(side_by_side)]))
        # Face i went to share i % side_by_side, as its (i // side_by_side)-th face: put them back in order.
        return torch.cat([shares[i % side_by_side][i // side_by_side] for i in range(len(faces))])

    def _any_size(self) -> Callable[[torch.Tensor], torch.Tensor]:
        with self._lock:
            if self._other_sizes is None:
                runner = cached_package(self.weights, self._load, ANY_SIZE, self.face_size)
                self._other_sizes = runner if runner is not None else _Bf16Generator(self._load()).eval()
            return self._other_sizes

    def __repr__(self) -> str:
        return f"AotiGenerator({str(self.weights)!r})"


def cached_aoti_generator(weights: str | os.PathLike, load: Callable[[], nn.Module]) -> AotiGenerator | None:
    """An :class:`AotiGenerator` for a weights file, its face package compiled once into the cache.

    ``load()`` gives the torch generator, ready for inference on the CPU; it is called only to compile (or
    for sizes no package serves), and what it raises (a bad checkpoint) propagates. Returns ``None`` after
    one warning when no package can be had here (see :func:`cached_package`); the caller runs its next choice.
    """
    weights = Path(weights)
    parallel_faces = min(torch.get_num_threads(), _MAX_PARALLEL_FACES)
    runner = cached_package(weights, load, FACE, runners=parallel_faces)
    return None if runner is None else AotiGenerator(weights, runner, load, parallel_faces)
