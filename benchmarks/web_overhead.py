"""What the web page adds to a restore: ``restore_uploads`` (read, restore, encode every PNG, zip) against
``Restorer.enhance`` alone on the same photos, with the shipped default model and the real detector.

Prints one row per photo (median of N runs, fresh run folder each time, after one warm-up call):

    .venv/bin/python benchmarks/web_overhead.py --photos ../shared/data/realworld/whole_imgs --repeats 5

HTTP and the browser are not timed: they depend on the network, not on this package.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_seconds

from hifacegan.io import list_images, read_image
from hifacegan.web.session import RestoreOptions, RestorerPool, ServeLimits, restore_uploads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/realworld/whole_imgs"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: steadier figures on a shared CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    photos = list_images(args.photos)
    if not photos:
        print(f"no photos in {args.photos}", file=sys.stderr)
        return 1
    pool = RestorerPool(None, device="cpu")
    options, limits = RestoreOptions(), ServeLimits(max_upload_mb=100, max_megapixels=100)
    work = Path(tempfile.mkdtemp(prefix="web-overhead-"))
    try:
        print("| photo | size | faces | enhance s | page s | page / enhance |\n|---|---|---:|---:|---:|---:|")
        for photo in photos:
            image = read_image(photo).rgb
            restorer = pool.get(options.model, 0.0)
            faces = len(restorer.enhance(image).restored_faces)
            enhance = median_seconds(lambda image=image, restorer=restorer: restorer.enhance(image), args.repeats)

            def page(photo: Path = photo) -> None:
                run_dir = Path(tempfile.mkdtemp(dir=work))
                report = restore_uploads([photo], options, pool, run_dir, limits)
                assert report.photos, report.messages
                shutil.rmtree(run_dir)

            page_s = median_seconds(page, args.repeats)
            h, w = image.shape[:2]
            print(f"| {photo.name} | {w}x{h} | {faces} | {enhance:.3f} | {page_s:.3f} | {page_s / enhance:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
