"""``python -m hifacegan.cli.state_pack pack CKPT OUT_DIR`` / ``unpack PACK_DIR RUN_DIR``.

Packs a training checkpoint into a few small files to bring a short GPU run's state back, and unpacks
them into a resumable ``last.pt`` (:mod:`hifacegan.training.state_pack` says how). Not a ``hifacegan``
subcommand: it serves ``scripts/gpu_short_run.sh``, not everyday use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hifacegan.training import checkpoint as ckpt
from hifacegan.training.state_pack import MIB, StatePackError, pack_checkpoint, unpack_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hifacegan.cli.state_pack",
                                     description="Pack a whole training checkpoint into a few small files, and "
                                     "unpack it into a resumable last.pt.")
    sub = parser.add_subparsers(dest="command", required=True)
    pack = sub.add_parser("pack", help="checkpoint -> OUT_DIR/state.partNN + state.json")
    pack.add_argument("checkpoint", type=Path)
    pack.add_argument("out_dir", type=Path)
    pack.add_argument("--part-mib", type=int, default=16)
    pack.add_argument("--max-parts", type=int, default=7)
    unpack = sub.add_parser("unpack", help="pack -> RUN_DIR/checkpoints/last.pt (then: hifacegan train ... --resume auto)")
    unpack.add_argument("pack_dir", type=Path)
    unpack.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            for path in pack_checkpoint(args.checkpoint, args.out_dir, part_mib=args.part_mib, max_parts=args.max_parts):
                print(f"{path}  {path.stat().st_size / MIB:.1f} MiB")
        else:
            target = ckpt.checkpoint_dir(args.run_dir) / ckpt.LAST_NAME
            if target.exists():
                parser.error(f"{target} exists; move it away first (nothing was changed)")
            print(unpack_checkpoint(args.pack_dir, target))
    except (StatePackError, ckpt.TrainingCheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
