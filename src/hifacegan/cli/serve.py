"""``hifacegan serve``: a web page on this machine to restore photos in the browser (the ``[web]`` extra).

Binds to 127.0.0.1 (this machine only) unless ``--host`` says otherwise; refuses files over
``--max-upload-mb`` and images over ``--max-megapixels`` with a message in the page; restores one
request at a time; keeps every file in a temporary folder removed on exit.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging

from hifacegan.cli._types import positive_float, positive_int

logger = logging.getLogger(__name__)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, got {text}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="a web page to restore photos in the browser (needs the [web] extra)",
        description="Serve a page where photos are uploaded, restored, compared before/after with a slider and "
        "downloaded. Offline: no analytics, no share link; files stay in a temporary folder removed on exit.",
        epilog="examples:\n"
        "  hifacegan serve                          # http://127.0.0.1:7860\n"
        "  hifacegan serve --port 8080 --model fidelity --max-upload-mb 10\n"
        "  hifacegan serve --host 0.0.0.0           # reachable from other machines: mind who can reach it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    parser.add_argument("--port", type=_port, default=7860, help="TCP port (default 7860)")
    parser.add_argument("--model", metavar="NAME|PATH",
                        help="the model preselected in the page: renovation, fidelity or a checkpoint path "
                        "(default: the package's default model); the page offers it and the shipped names")
    parser.add_argument("--max-upload-mb", type=positive_float, default=20.0, metavar="N",
                        help="refuse files larger than N MB, each with a message (default 20)")
    parser.add_argument("--max-megapixels", type=positive_float, metavar="MP",
                        help="refuse images of more than MP megapixels, judged from the header (default 25; "
                        "4 for aligned crops, where the model runs on the whole image)")
    parser.add_argument("--max-request-mb", type=positive_float, default=200.0, metavar="N",
                        help="refuse upload requests over N MB, all files together, before reading them (default 200)")
    parser.add_argument("--max-files", type=positive_int, default=20, metavar="N",
                        help="refuse upload requests of more than N files (default 20)")
    parser.add_argument("--max-disk-mb", type=positive_float, default=2000.0, metavar="N",
                        help="keep uploads and results under N MB in all, deleting the oldest first; an upload "
                        "that cannot fit is refused (default 2000; at least twice --max-request-mb)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                        help="where to run the model (default auto: CUDA, else MPS, else CPU)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("gradio") is None:
        logger.error("hifacegan serve needs Gradio: pip install 'hifacegan[web]'")
        return 2
    from hifacegan.web.app import ServeConfig, serve

    config = ServeConfig(host=args.host, port=args.port, model=args.model, max_upload_mb=args.max_upload_mb,
                         max_megapixels=args.max_megapixels, device=args.device,
                         max_request_mb=args.max_request_mb, max_files=args.max_files, max_disk_mb=args.max_disk_mb)
    try:
        config.bounds  # noqa: B018  (checked here so a bad combination is a usage error, not a traceback)
    except ValueError as exc:
        logger.error("hifacegan serve: %s", exc)
        return 2
    try:
        serve(config)
    except OSError as exc:  # the port is taken, the host cannot be bound...
        logger.error("cannot serve on %s:%d: %s", args.host, args.port, exc)
        return 1
    return 0
