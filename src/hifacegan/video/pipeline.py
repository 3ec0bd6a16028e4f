"""Restore the faces of every frame of a video and write an H.264 MP4 with the original audio (PyAV).

Frames are decoded, restored and encoded one at a time (memory does not grow with the video's length).
Faces are tracked across frames and their landmarks smoothed (:mod:`hifacegan.video.tracking`) before
alignment, so the restored faces do not shimmer. The audio stream is copied packet for packet when MP4
can hold its codec (AAC, MP3, Opus, ALAC, FLAC, AC-3), else re-encoded as AAC. Each frame keeps its
presentation time, so an undecodable frame leaves the previous one on screen and the sound stays in sync.
A video whose display matrix turns its frames (a phone filmed upright) is restored and written upright:
:func:`_display_orientation`.

Bad input: a file that is not a video, or has no video stream, fails with a clear message; an
undecodable frame is skipped with a note; a truncated file is restored up to where it breaks. The video
is written to a temporary file in the output folder, renamed when complete; if restoring stops part-way
(out of memory, an interrupt, a read or write error), the frames already restored are kept as
``<stem>.partial.mp4`` when the file can still be finished; on a full disk it usually cannot (MP4 writes
its index last), and the unplayable remainder is removed, as the message says.
"""

from __future__ import annotations

import copy
import glob
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hifacegan.io import float_to_uint8
from hifacegan.video.tracking import FaceTracker, SmoothingConfig

if TYPE_CHECKING:
    from hifacegan.restorer import Restorer

__all__ = ["VIDEO_EXTENSIONS", "VideoError", "VideoOptions", "VideoReport", "is_video_file", "restore_video",
           "split_video_inputs", "video_output_path"]

logger = logging.getLogger(__name__)

# Not ".ts": in a folder it is more often TypeScript than an MPEG transport stream.
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
VIDEO_FOLDER = "restored_videos"
VIDEO_INSTALL_HINT = 'pip install "hifacegan[video]" (PyAV)'
# Audio codecs an MP4 file can hold as they are; anything else (PCM, Vorbis...) is re-encoded as AAC.
_MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "opus", "alac", "flac", "ac3", "eac3"})
# Visually near-lossless H.264: the restored details should not be lost again to compression.
_DEFAULT_CRF = 18


class VideoError(Exception):
    """This video cannot be restored (the message names the file and says why)."""


@dataclass(frozen=True)
class VideoOptions:
    """How to restore a video; the face options mean what they do for photos.

    Attributes:
        max_pixels: refuse videos whose frames have more pixels (judged from the stream header).
        max_output_pixels: refuse when the upscaled frame would have more pixels.
        upscale: resize every frame by this factor (H.264 needs even sides: they are rounded down to even).
        only_center_face: restore only the face nearest the centre of each frame.
        max_faces: restore at most this many faces per frame (the largest).
        crf: H.264 constant rate factor (lower is better quality, larger files).
        smoothing: landmark filter and face matching settings.
        progress: show a progress bar (``None``: when stderr is a terminal).
    """

    max_pixels: int
    max_output_pixels: int
    upscale: float = 1.0
    only_center_face: bool = False
    max_faces: int | None = None
    crf: int = _DEFAULT_CRF
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    progress: bool | None = None


@dataclass
class VideoReport:
    """What happened to one video."""

    frames: int = 0
    faces: int = 0
    frames_with_faces: int = 0
    tracks: int = 0
    undecodable_frames: int = 0
    unrestored_frames: int = 0
    truncated: str | None = None
    audio: str = "none"
    fps: Fraction = Fraction(0)
    size: tuple[int, int] = (0, 0)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.frames} frames at {float(self.fps):.3g} fps, {self.size[0]}x{self.size[1]}",
                 f"{self.faces} faces restored in {self.frames_with_faces} frames ({self.tracks} tracked)",
                 f"audio {self.audio}"]
        if self.undecodable_frames:
            parts.append(f"{self.undecodable_frames} undecodable frame(s) skipped")
        if self.unrestored_frames:
            parts.append(f"{self.unrestored_frames} frame(s) written unrestored")
        if self.truncated:
            parts.append(f"the input ends early ({self.truncated}): restored up to there")
        return "; ".join(parts)


def is_video_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is taken as a video (by its extension, one of :data:`VIDEO_EXTENSIONS`)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def split_video_inputs(entries: list[str]) -> tuple[list[str], list[Path]]:
    """Split restore's INPUT arguments into what the photo reader takes and the video files.

    Files named with a video extension are videos; folders and globs contribute the videos they hold
    and are also kept for the photo reader (which takes only images from them).
    """
    images: list[str] = []
    videos: list[Path] = []
    for entry in entries:
        path = Path(entry)
        if path.is_file() or (not path.exists() and not glob.has_magic(entry)):
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                videos.append(path)  # a missing one is reported by name with the others
            else:
                images.append(entry)
            continue
        if path.is_dir():
            matches = sorted(path.iterdir())
        else:
            matches = sorted(Path(p) for p in glob.glob(entry))
        found = [p for p in matches if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
        videos.extend(found)
        if path.is_dir() or len(found) < len(matches) or not matches:
            images.append(entry)
    unique: dict[Path, Path] = {}
    for video in videos:
        unique.setdefault(video.resolve() if video.exists() else video, video)
    return images, list(unique.values())


def video_output_path(out: Path, stem: str, suffix: str = "") -> Path:
    """Where the restored video of ``stem`` goes: ``OUTDIR/restored_videos/<stem><suffix>.mp4``."""
    return out / VIDEO_FOLDER / f"{stem}{suffix}.mp4"


def _import_av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise VideoError(f"restoring videos needs PyAV: {VIDEO_INSTALL_HINT}") from exc
    return av


def _even(value: float) -> int:
    # yuv420p (what every player reads) stores colour at half resolution: both sides must be even.
    return max(2, int(value) // 2 * 2)


def _frame_restorer(restorer: Restorer, tracker: FaceTracker) -> Restorer:
    """The restorer of a video's frames: a shallow copy (sharing the loaded model) with the tracking detector.

    The model card's coarse pass is decided per face from its NIQE; in a video a face near the threshold
    would switch between one and two passes from frame to frame, and flicker. So frames take it only when
    asked for explicitly (``coarse_pass=True``).
    """
    frame_restorer = copy.copy(restorer)
    frame_restorer._detector = tracker
    frame_restorer.coarse_pass = bool(restorer.coarse_pass)
    return frame_restorer


def restore_video(path: Path, target: Path, restorer: Restorer, options: VideoOptions) -> VideoReport:
    """Restore every frame of ``path`` and write the result to ``target`` (an ``.mp4``) atomically.

    Raises:
        VideoError: not a readable video, no video stream, frames too large, or restoring stopped
            part-way (the message says where the partial result was kept).
    """
    av = _import_av()
    try:
        source = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path}: not a readable video (damaged, cut short, or not a video at all): {exc}") from exc
    with source:
        if not source.streams.video:
            raise VideoError(f"{path}: has no video stream")
        video_in = source.streams.video[0]
        if video_in.codec_context is None:  # PyAV's answer for a codec (fourcc) FFmpeg does not know
            raise VideoError(f"{path}: its video stream's codec is unknown to FFmpeg (an unusual or damaged "
                             "fourcc); convert it to H.264 first, e.g. with ffmpeg -i IN -c:v libx264 OUT.mp4")
        video_in.thread_type = "AUTO"
        report = VideoReport()
        width, height = video_in.codec_context.width, video_in.codec_context.height
        if width <= 0 or height <= 0:
            raise VideoError(f"{path}: the video stream has no frame size; the file is probably damaged")
        if width * height > options.max_pixels:
            raise VideoError(f"{path}: frames of {width}x{height} ({width * height / 1e6:.1f} MP) are more than the "
                             f"bound of {options.max_pixels / 1e6:g} MP; raise it with --max-megapixels")
        orientation = _display_orientation(av, path)
        width, height = orientation.displayed_size(width, height)
        out_width, out_height = _even(round(width * options.upscale)), _even(round(height * options.upscale))
        if out_width * out_height > options.max_output_pixels:
            raise VideoError(f"{path}: {width}x{height} upscaled by {options.upscale:g} would be "
                             f"{out_width * out_height / 1e6:.0f} MP per frame; use a smaller --upscale")
        fps = Fraction(video_in.average_rate or video_in.guessed_rate or 25).limit_denominator(100_000)
        report.fps, report.size = fps, (out_width, out_height)
        audio_in = _decodable_audio(source, report, path)
        tracker = FaceTracker(restorer.detector, float(fps), options.smoothing)
        frame_restorer = _frame_restorer(restorer, tracker)

        target.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=".hfg", suffix=".mp4", dir=target.parent)
        os.close(handle)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a written video should be readable like any output
        started = time.perf_counter()
        sink = av.open(tmp, "w", format="mp4")
        stopped: BaseException | None = None
        unfinished = False
        try:
            video_out = sink.add_stream("libx264" if "libx264" in av.codecs_available else "h264", rate=fps,
                                        options={"crf": str(options.crf)})
            video_out.width, video_out.height, video_out.pix_fmt = out_width, out_height, "yuv420p"
            video_out.codec_context.time_base = 1 / fps
            audio_out = _add_audio(sink, audio_in, report)
            try:
                _transcode(source, video_in, audio_in, sink, video_out, audio_out, frame_restorer, orientation,
                           options, report, path)
            except (MemoryError, OSError, RuntimeError, KeyboardInterrupt) as exc:
                stopped = exc  # keep what was restored: close the file properly below, then say so
            try:
                _finish(sink, video_out, audio_out, report)
            except OSError:  # av.FFmpegError included
                if stopped is None:
                    raise
                # A full disk cannot take the MP4's index (written last) either: without it the frames
                # already written cannot be played, so the file only takes space.
                unfinished = True
                _release(sink)
        except BaseException:
            try:
                sink.close()
            except av.FFmpegError:
                pass  # the original error is the one to report
            Path(tmp).unlink(missing_ok=True)
            raise
        report.tracks = tracker.track_count
        report.seconds = time.perf_counter() - started
        if report.frames == 0:
            Path(tmp).unlink(missing_ok=True)
            reason = f" ({report.truncated})" if report.truncated else ""
            raise VideoError(f"{path}: no frame could be decoded{reason}")
        if stopped is not None and unfinished:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(stopped, KeyboardInterrupt):
                raise stopped
            raise VideoError(f"{path}: stopped after {report.frames} frames: {type(stopped).__name__}: {stopped}; "
                             "the partial video could not be finished (its index could not be written) and was "
                             "removed") from stopped
        if stopped is not None:
            partial = target.with_name(f"{target.stem}.partial.mp4")
            os.replace(tmp, partial)
            if isinstance(stopped, KeyboardInterrupt):
                raise stopped
            raise VideoError(f"{path}: stopped after {report.frames} frames: {type(stopped).__name__}: {stopped}; "
                             f"the frames restored so far are in {partial}") from stopped
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, target)
        return report


@dataclass(frozen=True)
class _Orientation:
    """How to turn a stored frame as its display matrix shows it: transpose, then flip rows and/or columns."""

    transpose: bool = False
    flip_rows: bool = False
    flip_columns: bool = False

    def displayed_size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.transpose else (width, height)

    def upright(self, image: np.ndarray) -> np.ndarray:
        if self == _AS_STORED:
            return image  # no display matrix (most videos): the frame as decoded, not copied
        if self.transpose:
            image = image.transpose(1, 0, 2)
        if self.flip_rows:
            image = image[::-1]
        if self.flip_columns:
            image = image[:, ::-1]
        return np.ascontiguousarray(image)


_AS_STORED = _Orientation()


def _orientation_of(matrix: np.ndarray) -> _Orientation | None:
    """The turn FFmpeg's display ``matrix`` (9 ints, 16.16 fixed point) describes; ``None`` for other angles.

    FFmpeg maps a stored pixel (x, y) to the displayed (a*x + c*y, b*x + d*y), with
    ``matrix = [a, b, u, c, d, v, tx, ty, w]`` (libavutil/display.h), y pointing down.
    """
    a, b, c, d = (float(v) for v in matrix[[0, 1, 3, 4]])
    scale = max(abs(a), abs(b), abs(c), abs(d))
    if scale == 0:
        return None
    a, b, c, d = (round(v / scale, 2) for v in (a, b, c, d))
    if abs(a) == abs(d) == 1 and b == c == 0:  # 0 or 180 degrees, or a mirror
        return _Orientation(flip_rows=d < 0, flip_columns=a < 0)
    if abs(b) == abs(c) == 1 and a == d == 0:  # 90 or 270 degrees: a displayed row is a stored column
        return _Orientation(transpose=True, flip_rows=b < 0, flip_columns=c < 0)
    return None


def _display_orientation(av: Any, path: Path) -> _Orientation:
    """How the first frame of ``path``'s video is turned for display (FFmpeg attaches the display matrix
    of the stream to each decoded frame); as stored when it has none, or none can be decoded.

    A phone filmed upright stores landscape frames and a matrix telling players to turn them. Rather than
    copy the matrix onto the output, the frames are turned upright before restoring: the face detector
    misses many sideways faces, and the output plays the same in every player, its width and height the
    displayed ones. The matrix is read from a separate opening of the file, because the output's frame
    size must be set before its first packet, and the audio can be written before the first frame decodes.
    """
    try:
        with av.open(str(path), metadata_errors="ignore") as probe:
            stream = probe.streams.video[0]
            for count, packet in enumerate(probe.demux(stream)):
                if count >= 64:
                    break
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    continue  # an undecodable first frame: the next one carries the same matrix
                for frame in frames:
                    side_data = frame.side_data.get("DISPLAYMATRIX")
                    if side_data is None:
                        return _AS_STORED
                    matrix = np.frombuffer(bytes(side_data), dtype=np.int32)
                    orientation = _orientation_of(matrix) if matrix.size == 9 else None
                    if orientation is None:
                        logger.warning("%s: its display matrix turns the frames by %s degrees, not a multiple of "
                                       "90: the video is restored as stored", path.name, frame.rotation)
                        return _AS_STORED
                    return orientation
    except (av.FFmpegError, OSError):
        pass  # the transcoding itself reports what is wrong with the file
    return _AS_STORED


def _finish(sink: Any, video_out: Any, audio_out: Any, report: VideoReport) -> None:
    """Flush the encoders and close the container (which writes the MP4's index)."""
    for packet in video_out.encode():
        sink.mux(packet)
    if audio_out is not None and report.audio.startswith("re-encoded"):
        for packet in audio_out.encode():
            sink.mux(packet)
    sink.close()


def _release(sink: Any) -> None:
    """Close ``sink``'s file after a failed close, so that removing it frees its space at once."""
    try:
        sink.close()
    except OSError:
        pass  # the first error is the one to report


def _decodable_audio(source: Any, report: VideoReport, path: Path) -> Any:
    """The first audio stream FFmpeg can read, or ``None`` (no audio, or only codecs it does not know)."""
    for stream in source.streams.audio:
        if stream.codec_context is not None:
            return stream
    if source.streams.audio:
        report.audio = "dropped (its codec is unknown to FFmpeg)"
        logger.warning("%s: the audio's codec is unknown to FFmpeg: the video is restored without sound", path.name)
    return None


def _add_audio(sink: Any, audio_in: Any, report: VideoReport) -> Any:
    """The output audio stream: a copy of the input's when MP4 can hold it, else AAC; ``None`` without audio."""
    if audio_in is None:
        return None
    name = audio_in.codec_context.name
    if name in _MP4_AUDIO_CODECS:
        report.audio = f"copied ({name})"
        return sink.add_stream_from_template(audio_in)
    report.audio = f"re-encoded as AAC (MP4 cannot hold {name})"
    stream = sink.add_stream("aac", rate=audio_in.codec_context.sample_rate or 48000)
    stream.layout = _aac_layout(audio_in.codec_context.layout)
    return stream


# AAC's encoder takes named layouts only; PCM from AVI and MKV often states just a channel count
# ("2 channels"), which it refuses (avcodec_open2 returns EINVAL). Each count gets FFmpeg's default layout.
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _aac_layout(layout: Any) -> str:
    """The layout to encode AAC in: the input's channel count as FFmpeg's default layout (stereo past 8)."""
    channels = layout.nb_channels if layout is not None else 2
    return _DEFAULT_LAYOUTS.get(channels, "stereo")


def _demux(source: Any, streams: list[Any], report: VideoReport) -> Iterator[Any]:
    """The packets of ``streams``; a read error ends the stream early (a truncated or damaged file)."""
    import av

    packets = source.demux(*streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            report.truncated = str(exc)
            return
        yield packet


def _transcode(source: Any, video_in: Any, audio_in: Any, sink: Any, video_out: Any, audio_out: Any,
               restorer: Restorer, orientation: _Orientation, options: VideoOptions,
               report: VideoReport, path: Path) -> None:
    import av
    from tqdm import tqdm

    total = video_in.frames or None
    if total is None and source.duration:
        total = round(source.duration / av.time_base * float(report.fps)) or None
    streams = [video_in] + ([audio_in] if audio_in is not None else [])
    last_pts = -1
    bar = tqdm(total=total, desc=path.name, unit="frame", disable=None if options.progress is None
               else not options.progress, dynamic_ncols=True, leave=False)
    with bar:
        for packet in _demux(source, streams, report):
            if packet.stream.type == "audio":
                _write_audio(packet, sink, audio_out, report)
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                report.undecodable_frames += 1
                logger.warning("%s: skipped an undecodable frame near %.2f s: %s", path.name,
                               float(packet.pts * packet.time_base) if packet.pts is not None else -1, exc)
                continue
            for frame in frames:
                # Keep each frame's time (a skipped frame leaves a gap, not a shift of everything after it).
                pts = last_pts + 1 if frame.time is None else max(round(frame.time * report.fps), last_pts + 1)
                rgb = orientation.upright(frame.to_ndarray(format="rgb24"))
                image = _restore_frame(rgb, restorer, options, report, path)
                if image.shape[:2] != (video_out.height, video_out.width):
                    image = image[:video_out.height, :video_out.width]  # rounded down to even sides
                out_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                out_frame.pts, out_frame.time_base, last_pts = pts, 1 / report.fps, pts
                for out_packet in video_out.encode(out_frame):
                    sink.mux(out_packet)
                report.frames += 1
                bar.update(1)
                bar.set_postfix(faces=report.faces, refresh=False)
    # A damaged or cut file can simply stop yielding packets: compare with what its header promised.
    expected = total or 0
    if report.truncated is None and report.frames + report.undecodable_frames < expected - 1:
        report.truncated = f"{report.frames} of the {expected} frames its header announces"


def _restore_frame(rgb: np.ndarray, restorer: Restorer, options: VideoOptions, report: VideoReport,
                   path: Path) -> np.ndarray:
    try:
        result = restorer.enhance(rgb, only_center_face=options.only_center_face, upscale=options.upscale,
                                  max_faces=options.max_faces)
    except ValueError as exc:
        # E.g. a non-finite model output: this frame goes out unrestored rather than stopping the video.
        report.unrestored_frames += 1
        logger.warning("%s: frame %d written unrestored: %s", path.name, report.frames, exc)
        from hifacegan.background import lanczos_upscale

        return float_to_uint8(lanczos_upscale(rgb.astype(np.float32) / 255.0, options.upscale))
    faces = len(result.restored_faces)
    report.faces += faces
    report.frames_with_faces += bool(faces)
    return result.to_uint8()


def _write_audio(packet: Any, sink: Any, audio_out: Any, report: VideoReport) -> None:
    if audio_out is None:
        return
    if report.audio.startswith("copied"):
        if packet.dts is None:  # the demuxer's end-of-stream marker, not data
            return
        packet.stream = audio_out
        sink.mux(packet)
        return
    import av

    try:
        decoded = packet.decode()
    except av.FFmpegError:
        return  # a damaged audio packet is a moment of silence, not a reason to stop
    for frame in decoded:
        frame.pts = None  # let the encoder number the resampled frames
        for out_packet in audio_out.encode(frame):
            sink.mux(out_packet)
