"""What ``restore --bg`` costs, and how fast ``restore clip.mp4`` runs, with the shipped default model on this CPU.

Usage::

    ~/hifacegan-runs/quiet.sh .venv/bin/python benchmarks/background_speed.py            # ../shared photos
    .venv/bin/python benchmarks/background_speed.py --photos a.jpg b.png --upscales 1 2 --frames 12

Prints one row per (photo, upscale, background): seconds for the whole ``Restorer.enhance`` (detect, align,
restore faces, background, paste) and the background's share; then the frames/s of the video pipeline on a
short clip panned over the first photo (faces tracked and smoothed, H.264 out). One run each (the model
background takes tens of seconds per photo); threads as torch's default.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_PHOTOS = REPO.parent / "shared" / "data" / "realworld" / "whole_imgs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", type=Path,
                        default=[SHARED_PHOTOS / "10045.png", SHARED_PHOTOS / "00.jpg"])
    parser.add_argument("--upscales", nargs="*", type=float, default=[1.0, 2.0], help="none: only the video row")
    parser.add_argument("--frames", type=int, default=12, help="frames of the video row (0: no video row)")
    args = parser.parse_args()
    missing = [str(p) for p in args.photos if not p.is_file()]
    if missing:
        print(f"missing photos: {', '.join(missing)}", file=sys.stderr)
        return 2

    import torch

    from hifacegan.background import ModelBackground, lanczos_upscale
    from hifacegan.io import read_image
    from hifacegan.restorer import Restorer

    restorer = Restorer(device="cpu")
    backgrounds = {"lanczos": lanczos_upscale, "model": ModelBackground(restorer.restore_faces)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, shipped default model, tiles 512 px")
    print(f"{'photo':<14} {'MP in':>6} {'x':>3} {'bg':<8} {'MP out':>7} {'s total':>8} {'s bg':>7} {'faces':>5}")
    for photo in args.photos:
        rgb = read_image(photo).rgb
        restorer.enhance(rgb[:256, :256])  # warm-up: detector session, first forward
        for upscale in args.upscales:
            for name, upsampler in backgrounds.items():
                spent = []

                def timed(image, factor, upsampler=upsampler, spent=spent):
                    began = time.perf_counter()
                    out = upsampler(image, factor)
                    spent.append(time.perf_counter() - began)
                    return out

                restorer.background_upsampler = timed
                began = time.perf_counter()
                result = restorer.enhance(rgb, upscale=upscale)
                total = time.perf_counter() - began
                out_mp = result.image.shape[0] * result.image.shape[1] / 1e6
                print(f"{photo.name:<14} {rgb.shape[0] * rgb.shape[1] / 1e6:>6.2f} {upscale:>3g} {name:<8} "
                      f"{out_mp:>7.2f} {total:>8.2f} {sum(spent):>7.2f} {len(result.restored_faces):>5}", flush=True)
    if args.frames:
        _video_row(args.photos[0], args.frames, Restorer(device="cpu"))
    return 0


def _video_row(photo: Path, frames: int, restorer) -> None:
    sys.path.insert(0, str(REPO / "tests" / "video"))
    from _clips import pan_frames, write_clip  # the test suite's clip maker

    from hifacegan.io import read_image
    from hifacegan.video.pipeline import VideoOptions, restore_video

    rgb = read_image(photo).to_uint8()
    with tempfile.TemporaryDirectory() as tmp:
        clip_frames = pan_frames(rgb, frames)
        clip = write_clip(Path(tmp) / "clip.mp4", clip_frames, fps=25)
        restorer.enhance(clip_frames[0])  # warm-up
        # The same frames as photos, just before: the video's overhead (decode, track, encode) is the difference.
        began = time.perf_counter()
        for frame in clip_frames:
            restorer.enhance(frame)
        photo_seconds = (time.perf_counter() - began) / len(clip_frames)
        options = VideoOptions(max_pixels=80_000_000, max_output_pixels=250_000_000, progress=False)
        report = restore_video(clip, Path(tmp) / "out.mp4", restorer, options)
    print(f"video: {report.frames} frames of {report.size[0]}x{report.size[1]} from {photo.name}, "
          f"{report.faces} faces: {report.seconds / report.frames:.2f} s/frame ({report.frames / report.seconds:.2f} "
          f"frames/s); the same frames as photos: {photo_seconds:.2f} s/frame")


if __name__ == "__main__":
    sys.exit(main())
