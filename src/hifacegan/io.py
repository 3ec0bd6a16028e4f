"""All image reading and writing of the package, and the atomic writes every other file goes through.

Other files are read where their format lives (model weights in ``models/checkpoint.py``, training
state in ``training/checkpoint.py`` and ``training/state_pack.py``, metric and perceptual-network
weights in ``metrics/`` and ``training/perceptual.py``, NIQE models in ``metrics/niqe.py``); every file
the package writes is written with :func:`atomic_write` or :func:`atomic_write_files` from here.
Pixel conventions and the converters between them: :mod:`hifacegan.pixels`.

Images cross this boundary as ``numpy`` arrays: RGB ``float32`` in ``[0, 1]``, shape ``(H, W, 3)``,
plus an optional alpha plane. Everything odd about real files is settled here, once:
EXIF orientation, grayscale, palette, CMYK, RGBA, 16-bit, float, truncated files and images too
large to process (checked from the header, before any pixel is decoded).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from hifacegan.pixels import float_to_uint8

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "MAX_MEGAPIXELS_ENV",
    "ImageReadError",
    "LoadedImage",
    "OutputPathError",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_files",
    "check_output_dir",
    "default_max_pixels",
    "encode_image",
    "file_sha256",
    "list_images",
    "read_image",
    "remove_temporaries",
    "write_image",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

# 80 megapixels: a 10000x8000 scan still opens, a decompression bomb (often 10^9+ pixels) does not.
DEFAULT_MAX_PIXELS = 80_000_000
#: Environment variable that sets the pixel bound of :func:`read_image` (in megapixels) for every
#: command, including those without a ``--max-megapixels`` option (evaluate, benchmark-tasks, training data).
MAX_MEGAPIXELS_ENV = "HIFACEGAN_MAX_MEGAPIXELS"
_RAISE_HINT = f"downscale it, or raise the bound with --max-megapixels (restore, degrade) or ${MAX_MEGAPIXELS_ENV}"


class ImageReadError(ValueError):
    """An input file could not be turned into an image; the message says why and what to do."""


class OutputPathError(ValueError):
    """An output file or folder cannot be written (a file where a folder is needed, read-only, an input...)."""


def default_max_pixels() -> int:
    """The pixel bound of :func:`read_image`: ``$HIFACEGAN_MAX_MEGAPIXELS`` megapixels, else 80 MP.

    Raises:
        ValueError: the environment variable is not a positive number.
    """
    text = os.environ.get(MAX_MEGAPIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ValueError(f"${MAX_MEGAPIXELS_ENV} must be a positive number of megapixels, got {text!r}")
    return max(1, round(value * 1e6))


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image.

    Attributes:
        rgb: float32 array ``(H, W, 3)`` in ``[0, 1]``, upright (EXIF orientation applied).
        alpha: float32 array ``(H, W)`` in ``[0, 1]`` when the file had transparency, else ``None``.
        bit_depth: 8 or 16, the precision of the source samples (outputs keep it).
        was_gray: the source had a single colour channel.
        mode: the source's Pillow mode (``"RGB"``, ``"L"``, ``"CMYK"``, ``"I;16"`` ...), for messages.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8
    was_gray: bool = False
    mode: str = "RGB"

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``."""
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])

    def to_uint8(self) -> np.ndarray:
        """RGB as ``uint8`` ``(H, W, 3)``."""
        return float_to_uint8(self.rgb)


def list_images(paths: Sequence[str | os.PathLike] | str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Expand files, folders and glob patterns into a sorted list of image paths.

    Files named explicitly are kept whatever their extension (so a bad file is reported, not silently
    dropped); folders and globs contribute only files with an image extension.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS))
        elif path.exists():
            found.append(path)
        else:
            matches = sorted(Path().glob(str(entry))) if not path.is_absolute() else sorted(
                Path(path.anchor).glob(str(path.relative_to(path.anchor)))
            )
            if not matches:
                found.append(path)  # reported as missing by the reader
            found.extend(p for p in matches if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve() if p.exists() else p
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> LoadedImage:
    """Read any common image file into a :class:`LoadedImage`.

    Samples are scaled by their real range: 8-bit by 255, 16-bit by 65535, other integer TIFFs by their
    bit depth, and float TIFFs are taken as ``[0, 1]`` (clipped; ``NaN`` becomes 0; a float file whose
    values go above 1 is read as 0-255, or 0-65535 above 255).

    Args:
        path: file to read.
        max_pixels: refuse images with more pixels than this, judged from the file header before
            anything is decoded (memory and decompression-bomb guard); ``None``: :func:`default_max_pixels`.

    Returns:
        The decoded, upright image.

    Raises:
        ImageReadError: the file is missing, not an image, truncated, or too large.
    """
    path = Path(path)
    if max_pixels is None:
        max_pixels = default_max_pixels()
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    tiff = path.suffix.lower() in (".tif", ".tiff")
    try:
        with warnings.catch_warnings():
            # Our own bound below is the one that counts; Pillow's hard limit (2x its warning) still applies.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(path)
            _check_pixels(path, image.size, max_pixels)
            image.load()
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{path}: refused as a possible decompression bomb ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        floats = _read_float_tiff(path, max_pixels) if tiff else None  # RGB float TIFFs, which Pillow cannot open
        if floats is not None:
            return floats
        raise ImageReadError(f"{path}: not a readable image: unknown format, truncated or corrupt ({exc})") from exc
    mode = image.mode
    bits = int(image.tag_v2.get(258, (32,))[0]) if mode == "I" and hasattr(image, "tag_v2") else 16
    sixteen = _read_sixteen_bit(path) if mode in ("I;16", "I;16B", "I;16L", "I", "RGB", "RGBA") and path.suffix.lower() in (".png", ".tif", ".tiff") else None
    image = ImageOps.exif_transpose(image)
    if sixteen is not None:
        # OpenCV ignores EXIF rotation for PNG/TIFF the same way Pillow's transpose would apply it;
        # 16-bit files essentially never carry an orientation tag, so we keep OpenCV's pixels as they are.
        rgb, alpha = sixteen
        return LoadedImage(rgb=rgb, alpha=alpha, bit_depth=16, was_gray=mode.startswith("I"), mode=mode)
    was_gray = mode in ("L", "LA", "1", "I", "I;16", "F")
    alpha = None
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba, dtype=np.float32)[..., 3] / 255.0
        image = rgba.convert("RGB")
    elif mode.startswith("I") or mode == "F":
        array = np.asarray(image, dtype=np.float64)
        if mode == "F":
            gray = _float_range(array)
        else:
            # The range of the samples' bit depth, not of the values: a dark 16-bit image stays dark.
            gray = np.clip(array / (2.0 ** bits - 1), 0, 1).astype(np.float32)
        return LoadedImage(rgb=np.repeat(gray[..., None], 3, axis=2), bit_depth=16, was_gray=True, mode=mode)
    else:
        image = image.convert("RGB")  # L, 1, P, CMYK, YCbCr ... all become RGB here
    rgb = np.asarray(image, dtype=np.float32) / 255.0
    return LoadedImage(rgb=rgb, alpha=alpha, bit_depth=8, was_gray=was_gray, mode=mode)


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageReadError(
            f"{path}: {width}x{height} = {width * height / 1e6:.1f} MP exceeds the limit of {max_pixels / 1e6:g} MP "
            f"(memory and decompression-bomb guard); {_RAISE_HINT}"
        )


def _float_range(array: np.ndarray) -> np.ndarray:
    """Float samples to ``[0, 1]``: nominally already there; 0-255 or 0-65535 data when the values say so."""
    array = np.nan_to_num(np.asarray(array, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    peak = float(array.max(initial=0.0))
    scale = 1.0 if peak <= 1.0 + 1e-3 else 255.0 if peak <= 255.0 + 1e-3 else 65535.0
    return np.clip(array / scale, 0.0, 1.0).astype(np.float32)


def _read_float_tiff(path: Path, max_pixels: int) -> LoadedImage | None:
    """Decode a float (e.g. RGB float32) TIFF with OpenCV, after checking its size from the TIFF header."""
    import cv2
    from PIL import TiffImagePlugin

    try:
        with open(path, "rb") as handle:
            tags = TiffImagePlugin.ImageFileDirectory_v2(handle.read(8))
            handle.seek(tags.next)
            tags.load(handle)
        width, height = int(tags[256]), int(tags[257])
    except (OSError, SyntaxError, ValueError, KeyError, TypeError):
        return None
    _check_pixels(path, (width, height), max_pixels)
    decoded = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or not np.issubdtype(decoded.dtype, np.floating):
        return None
    array = _float_range(decoded)
    if array.ndim == 2:
        return LoadedImage(rgb=np.repeat(array[..., None], 3, axis=2), bit_depth=16, was_gray=True, mode="F")
    alpha = np.ascontiguousarray(array[..., 3]) if array.shape[2] == 4 else None
    rgb = np.ascontiguousarray(array[..., 2::-1])
    return LoadedImage(rgb=rgb, alpha=alpha, bit_depth=16, mode="RGB float")


def _read_sixteen_bit(path: Path) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Decode a 16-bit PNG/TIFF at full precision with OpenCV (Pillow truncates 16-bit RGB to 8 bits)."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint16:
        return None
    array = decoded.astype(np.float32) / 65535.0
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2), None
    if array.shape[2] == 4:
        return np.ascontiguousarray(array[..., [2, 1, 0]]), np.ascontiguousarray(array[..., 3])
    return np.ascontiguousarray(array[..., [2, 1, 0]]), None


def encode_image(rgb: np.ndarray, suffix: str, alpha: np.ndarray | None = None, bit_depth: int = 8,
                 jpeg_quality: int = 95) -> bytes:
    """Encode an RGB float ``[0, 1]`` (or ``uint8``) array as PNG/JPEG/... bytes.

    Alpha is kept for formats that support it (PNG, WebP, TIFF); JPEG drops it. ``bit_depth=16``
    writes 16-bit PNG/TIFF.
    """
    import cv2

    suffix = suffix.lower() if suffix.startswith(".") else "." + suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise ValueError(f"cannot write {suffix!r} images; choose one of {', '.join(IMAGE_EXTENSIONS)}")
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        rgb = rgb.astype(np.float32) / 255.0
    keep_alpha = alpha is not None and suffix in (".png", ".webp", ".tif", ".tiff")
    sixteen = bit_depth == 16 and suffix in (".png", ".tif", ".tiff")
    planes = rgb[..., ::-1]
    if keep_alpha:
        planes = np.concatenate([planes, np.asarray(alpha, dtype=np.float32)[..., None]], axis=2)
    if sixteen:
        out = np.clip(np.rint(planes * 65535.0), 0, 65535).astype(np.uint16)
    else:
        out = float_to_uint8(planes)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if suffix in (".jpg", ".jpeg") else []
    ok, buffer = cv2.imencode(suffix, np.ascontiguousarray(out), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {out.shape} image as {suffix}")
    return buffer.tobytes()


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Create ``path`` atomically: ``write(handle)`` fills a temp file in the same folder, which is
    fsynced and renamed over ``path`` (and the rename made durable by fsyncing the folder).

    A reader never sees a half-written file, and a crash leaves the old file (if any) intact.
    """
    path = Path(path)
    tmp = _stage(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard([tmp])
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_files(files: dict[Path, bytes]) -> list[Path]:
    """Write several files as one unit: every one is staged (written and fsynced) before any is renamed.

    An error while staging (encoding, disk full, permissions) leaves none of them written and the
    old files intact; only a crash between the renames, a few microseconds, can leave some renamed.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            staged.append((_stage(Path(path), _bytes_writer(data)), Path(path)))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        _discard([tmp for tmp, _ in staged])
        raise
    for folder in {path.parent for _, path in staged}:
        _fsync_dir(folder)
    return [path for _, path in staged]


def _bytes_writer(data: bytes) -> Callable[[BinaryIO], object]:
    return lambda handle: handle.write(data)


# Every atomic write stages its file as ``.hfg<8 random characters>.tmp`` beside the target.
_TEMP_PREFIX, _TEMP_SUFFIX = ".hfg", ".tmp"


def _stage(path: Path, write: Callable[[BinaryIO], object]) -> str:
    """A fsynced temp file beside ``path`` filled by ``write``. Its name is short whatever ``path``'s is
    (``.hfg`` + 8 random characters + ``.tmp``), so any legal file name can be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs should be readable like any written file
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _discard([tmp])
        raise
    return tmp


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the staging files that atomic writes into ``folder`` left behind (``.hfg*.tmp``).

    A process killed between staging and renaming (``kill -9``, power loss) leaves its temp file, which
    nothing else will ever remove. Call this only where no other process is writing into ``folder``
    (e.g. a training run's start-up): a live writer's temp file would be deleted under it.

    Returns:
        The files removed (empty when ``folder`` does not exist).
    """
    removed = []
    for tmp in Path(folder).glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
        try:
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # removed meanwhile, or not ours to remove: leave it
            continue
    return removed


def _discard(paths: list[str]) -> None:
    for tmp in paths:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_output_dir(folder: str | os.PathLike, role: str = "output folder") -> Path:
    """Create ``folder`` if needed and check that files can be created in it, before any work is done.

    Raises:
        OutputPathError: it is a file, lies under a file, or is not writable.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{role} {folder} is a file, not a folder; choose another")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(prefix=".hfg", dir=folder):
            pass
    except OSError as exc:
        raise OutputPathError(f"{role} {folder} cannot be written ({exc.strerror or exc}); choose another") from exc
    return folder


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; not possible on every platform, so best effort.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda handle: handle.write(data))


def write_image(path: str | os.PathLike, rgb: np.ndarray, alpha: np.ndarray | None = None, bit_depth: int = 8,
                jpeg_quality: int = 95) -> Path:
    """Encode by the file's extension and write atomically. See :func:`encode_image`."""
    path = Path(path)
    return atomic_write_bytes(path, encode_image(rgb, path.suffix, alpha, bit_depth, jpeg_quality))


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 4-MiB blocks (model weights run to hundreds of MB).

    The one file hash of the package: shipped-model checks, ONNX cache names, weight checks and batch
    manifests all use it. Raises ``OSError`` when the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()
