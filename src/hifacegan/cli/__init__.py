"""The ``hifacegan`` command: one module per subcommand, registered explicitly below.

Each subcommand module defines ``add_parser(subparsers)`` (which sets ``func``) and a ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# (subcommand, module) in the order ``hifacegan --help`` lists them.
_COMMANDS: tuple[tuple[str, str], ...] = (
    ("restore", "hifacegan.cli.restore"),
    ("convert", "hifacegan.cli.convert"),
    ("export-onnx", "hifacegan.cli.export_onnx"),
    ("train", "hifacegan.cli.train"),
    ("degrade", "hifacegan.cli.degrade"),
    ("evaluate", "hifacegan.cli.evaluate"),
    ("realness", "hifacegan.cli.realness"),
    ("benchmark-tasks", "hifacegan.cli.benchmark_tasks"),
    ("serve", "hifacegan.cli.serve"),
)


def build_parser() -> argparse.ArgumentParser:
    from hifacegan import __version__

    parser = argparse.ArgumentParser(
        prog="hifacegan",
        description="HiFaceGAN face renovation: restore photos, train, degrade and evaluate, offline.",
    )
    parser.add_argument("--version", action="version", version=f"hifacegan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, module in _COMMANDS:
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
