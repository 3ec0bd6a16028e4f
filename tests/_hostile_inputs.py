"""The corpus of issue 31: what a hostile visitor or an unlucky user feeds the parts beyond image files
(videos, the web page, batches, training runs), written into a test's own folder like the image corpus
of ``_bad_inputs.py`` (nothing binary is committed). Each function writes one kind of input and returns
its path; the cases that use them are in ``tests/robustness/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _clips import scene, write_clip
from PIL import Image


def unknown_codec_video(path: Path, frames: int = 4) -> Path:
    """An AVI whose video stream's fourcc is ``zzzz``: FFmpeg opens the file but knows no such codec."""
    clip = write_clip(path.with_name(path.stem + "_h264.avi"), [scene(64, 96)] * frames, fps=10, audio_rate=None,
                      container="avi")
    data = clip.read_bytes()
    clip.unlink()
    assert data.count(b"H264") >= 1  # the stream header's handler and the bitmap header's compression
    path.write_bytes(data.replace(b"H264", b"zzzz"))
    return path


def pcm_video(path: Path, container: str, channels: int = 2, frames: int = 10, rate: int = 8000) -> Path:
    """A camera-style file: H.264 with 16-bit PCM sound of ``channels`` channels, in MKV or AVI."""
    return write_clip(path, [scene()] * frames, fps=10, audio_rate=rate, container=container,
                      audio_codec="pcm_s16le", channels=channels)


def portrait_phone_video(path: Path, frames: int = 4) -> Path:
    """A phone held upright: landscape-coded frames with a display matrix turning them by 90 degrees."""
    return write_clip(path, [scene(64, 96)] * frames, fps=10, audio_rate=None, rotation=90)


def sparse_large_png(path: Path, width: int = 6000, height: int = 4000) -> Path:
    """A PNG of ``width x height`` (24 MP, under the page's 25 MP bound) that is a few hundred KB on disk."""
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(path, optimize=False)
    return path
