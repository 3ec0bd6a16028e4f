"""Short test clips made with PyAV from a still photo: a slow pan, optionally with a sine-wave soundtrack,
and a stand-in face detector that keeps video tests fast. ``from _clips import ...`` (``tests/`` is on
``sys.path`` through its conftest)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from hifacegan.faces.align import FFHQ_TEMPLATE
from hifacegan.faces.detect import DetectedFace

SINE_HZ = 440


def pan_frames(photo: np.ndarray, frames: int, margin: int = 8) -> list[np.ndarray]:
    """``frames`` crops of ``photo`` moving a pixel or so per frame (even sides, as H.264 wants)."""
    height, width = photo.shape[:2]
    height, width = (height - margin) // 2 * 2, (width - margin) // 2 * 2
    return [np.ascontiguousarray(photo[(t * 3) % margin:(t * 3) % margin + height, t % margin:t % margin + width])
            for t in range(frames)]


class CentreFace:
    """A stand-in detector: one face in the middle of every frame (keeps the video tests fast)."""

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        h, w = image.shape[:2]
        scale = min(h, w) * 0.6
        landmarks = (FFHQ_TEMPLATE - 0.5) * scale + (w / 2, h / 2)
        box = np.array([w / 2 - scale / 2, h / 2 - scale / 2, w / 2 + scale / 2, h / 2 + scale / 2])
        return [DetectedFace(box, landmarks, 0.99)]


def scene(h: int = 96, w: int = 128) -> np.ndarray:
    """A smooth ``uint8`` RGB gradient, different along each axis (so a rotation shows)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255) // (w - 1), (y * 255) // (h - 1), np.full_like(x, 90)], 2).astype(np.uint8)


def write_clip(path: Path, frames: list[np.ndarray], fps: int, audio_rate: int | None = 22050,
               container: str | None = None, audio_codec: str = "aac", channels: int = 1,
               rotation: float = 0, mirror: bool = False) -> Path:
    """Encode ``frames`` (uint8 RGB) as H.264 at ``fps``, with a sine of the same duration as audio
    (AAC, or ``pcm_s16le`` for a container that holds it) on ``channels`` channels, and a display
    matrix of ``rotation`` degrees counter-clockwise (as a phone filming upright writes: the player turns
    the frames), then a left-right mirror if ``mirror``."""
    import av

    height, width = frames[0].shape[:2]
    layout = {1: "mono", 2: "stereo"}[channels]
    with av.open(str(path), "w", format=container) as sink:
        video = sink.add_stream("libx264" if "libx264" in av.codecs_available else "h264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation or mirror:
            video.set_display_rotation(rotation, hflip=mirror)
        audio = None
        if audio_rate:
            audio = sink.add_stream(audio_codec, rate=audio_rate)
            audio.layout = layout
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in video.encode(frame):
                sink.mux(packet)
        if audio is not None:
            samples = round(audio_rate * len(frames) / fps)
            wave = (0.3 * np.sin(2 * np.pi * SINE_HZ * np.arange(samples) / audio_rate)).astype(np.float32)
            sample_format = "flt" if audio_codec == "aac" else "s16"
            if sample_format == "s16":
                wave = (wave * 32767).astype(np.int16)
            # Packed formats interleave the channels; the same sine on each.
            wave = np.repeat(wave, channels)[None]
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(wave[:, start * channels:(start + 1024) * channels],
                                                   format=sample_format, layout=layout)
                chunk.sample_rate, chunk.pts = audio_rate, start
                for packet in audio.encode(chunk):
                    sink.mux(packet)
        for stream in (video, audio):
            if stream is not None:
                for packet in stream.encode():
                    sink.mux(packet)
    return path


def read_clip(path: Path) -> tuple[list[np.ndarray], dict]:
    """Decoded RGB frames and facts about the streams."""
    import av

    with av.open(str(path)) as source:
        video = source.streams.video[0]
        audio = source.streams.audio[0] if source.streams.audio else None
        info = {"fps": video.average_rate, "size": (video.codec_context.width, video.codec_context.height),
                "audio_codec": None if audio is None else audio.codec_context.name,
                "audio_rate": None if audio is None else audio.codec_context.sample_rate}
        frames = [frame.to_ndarray(format="rgb24") for frame in source.decode(video)]
        if audio is not None:
            source.seek(0)
            samples = [f.to_ndarray() for f in source.decode(source.streams.audio[0])]
            info["audio"] = np.concatenate([s.reshape(-1) for s in samples]) if samples else np.zeros(0)
    return frames, info
