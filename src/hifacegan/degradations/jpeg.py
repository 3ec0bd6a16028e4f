"""JPEG compression: the paper's ``jpeg`` task and the ``jpeg`` step of ``renovation``.

Official recipe: imgaug ``JpegCompression(compression=(50, 85))``. imgaug turns the compression
strength ``c`` (drawn uniformly per image) into the encoder quality
``round(1 + 99 * (1 - c / 101))``, so (50, 85) means quality 51 down to 17.

Encoding uses libjpeg through OpenCV with baseline IJG tables and 4:2:0 chroma subsampling, set
explicitly so the bytes do not depend on a library default; a fixed quality gives identical bytes
on every run.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

from hifacegan.degradations._checks import check_image, uniform
from hifacegan.degradations.config import DegradationConfig

__all__ = [
    "decode_jpeg",
    "encode_jpeg",
    "estimate_jpeg_quality",
    "imgaug_compression_to_quality",
    "jpeg_compress",
    "random_jpeg",
]

# JPEG standard (ITU-T T.81 Annex K.1) luminance quantisation table, row-major, which libjpeg scales
# by quality; used to read a file's quality back from its tables.
_LUMINANCE_TABLE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.int64)

_ENCODE_FLAGS = [cv2.IMWRITE_JPEG_OPTIMIZE, 0, cv2.IMWRITE_JPEG_PROGRESSIVE, 0]
if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR"):  # OpenCV >= 4.5.5 lets us pin the subsampling
    _ENCODE_FLAGS += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]


def imgaug_compression_to_quality(compression: float) -> int:
    """imgaug's mapping from ``JpegCompression`` strength (0..100) to encoder quality (1..100)."""
    if not 0 <= compression <= 100:
        raise ValueError(f"compression must lie in [0, 100], got {compression}")
    return int(np.clip(np.round(1 + 99 * (1.0 - compression / 101.0)), 1, 100))


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """Encode a uint8 RGB image as baseline JPEG (4:2:0) at ``quality`` (1..100)."""
    image = check_image(image)
    quality = int(quality)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must lie in [1, 100], got {quality}")
    ok, buffer = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality, *_ENCODE_FLAGS])
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode an image of shape {image.shape}")
    return buffer.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decode JPEG bytes to uint8 RGB ``(H, W, 3)``."""
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError("not decodable JPEG data")
    return np.ascontiguousarray(decoded[..., ::-1])


def jpeg_compress(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip: encode at ``quality`` and decode; uint8 RGB in and out, same size."""
    return decode_jpeg(encode_jpeg(image, quality))


def estimate_jpeg_quality(data: bytes) -> int:
    """The IJG quality whose scaled standard luminance table is closest to the file's first table.

    Exact for files written by libjpeg-based encoders (OpenCV, Pillow, most cameras' software) with
    the standard tables; an estimate for others.

    Raises:
        ValueError: the data is not a JPEG with quantisation tables.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            tables = getattr(image, "quantization", None)
    except OSError as exc:
        raise ValueError(f"not a JPEG file ({exc})") from exc
    if not tables:
        raise ValueError("no JPEG quantisation tables found")
    table = np.asarray(tables[min(tables)], dtype=np.int64)
    best, best_error = 1, None
    for quality in range(1, 101):
        scale = 5000 // quality if quality < 50 else 200 - 2 * quality
        expected = np.clip((_LUMINANCE_TABLE * scale + 50) // 100, 1, 255)
        error = int(np.abs(expected - table).sum())
        if best_error is None or error < best_error:
            best, best_error = quality, error
    return best


def random_jpeg(image: np.ndarray, rng: np.random.Generator, config: DegradationConfig) -> tuple[np.ndarray, dict]:
    """JPEG round trip with imgaug's compression strength drawn from ``config.jpeg_compression``.

    Returns:
        The decoded uint8 image and ``{"op": "jpeg", "compression", "quality"}``.
    """
    compression = uniform(rng, config.jpeg_compression)
    quality = imgaug_compression_to_quality(compression)
    return jpeg_compress(image, quality), {"op": "jpeg", "compression": compression, "quality": quality}
