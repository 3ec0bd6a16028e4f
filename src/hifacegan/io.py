"""All image reading and writing of the package (the only module besides ``cli/`` and
``training/checkpoint.py`` that touches disk).

Images cross this boundary as ``numpy`` arrays: RGB ``float32`` in ``[0, 1]``, shape ``(H, W, 3)``,
plus an optional alpha plane. Everything odd about real files is settled here, once:
EXIF orientation, grayscale, palette, CMYK, RGBA, 16-bit, truncated files and decompression bombs.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "LoadedImage",
    "atomic_write",
    "atomic_write_bytes",
    "encode_image",
    "list_images",
    "read_image",
    "write_image",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

# 80 megapixels: a 10000x8000 scan still opens, a decompression bomb (often 10^9+ pixels) does not.
DEFAULT_MAX_PIXELS = 80_000_000


class ImageReadError(ValueError):
    """An input file could not be turned into an image; the message says why and what to do."""


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


def float_to_uint8(array: np.ndarray) -> np.ndarray:
    """Round a ``[0, 1]`` float array to ``uint8`` (values outside are clipped)."""
    return np.clip(np.rint(np.asarray(array, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def list_images(paths: list[str | os.PathLike] | str | os.PathLike, recursive: bool = False) -> list[Path]:
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


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read any common image file into a :class:`LoadedImage`.

    Args:
        path: file to read.
        max_pixels: refuse images with more pixels than this (decompression-bomb guard).

    Returns:
        The decoded, upright image.

    Raises:
        ImageReadError: the file is missing, not an image, truncated, or too large.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageReadError(
                    f"{path}: {width}x{height} = {width * height / 1e6:.0f} MP exceeds the limit of "
                    f"{max_pixels / 1e6:.0f} MP (decompression-bomb guard); downscale the image first"
                )
            image.load()
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"{path}: refused as a possible decompression bomb ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: not a readable image: unknown format, truncated or corrupt ({exc})") from exc
    mode = image.mode
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
    elif mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float32)
        scale = 65535.0 if array.max(initial=0) > 255 else 255.0
        gray = np.clip(array / scale, 0, 1)
        return LoadedImage(rgb=np.repeat(gray[..., None], 3, axis=2), bit_depth=16 if scale > 255 else 8,
                           was_gray=True, mode=mode)
    else:
        image = image.convert("RGB")  # L, 1, P, CMYK, YCbCr ... all become RGB here
    rgb = np.asarray(image, dtype=np.float32) / 255.0
    return LoadedImage(rgb=rgb, alpha=alpha, bit_depth=8, was_gray=was_gray, mode=mode)


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


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Create ``path`` atomically: ``write(handle)`` fills a temp file in the same folder, which is
    fsynced and renamed over ``path`` (and the rename made durable by fsyncing the folder).

    A reader never sees a half-written file, and a crash leaves the old file (if any) intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs should be readable like any written file
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


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
