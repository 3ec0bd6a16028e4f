"""``hifacegan realness``: how real do restored real faces look? One command, no ground truth.

``hifacegan realness FACES... -o OUT [--model M] [--restored DIR]`` restores each aligned face crop
(as ``restore --aligned`` does, with the same model options) or takes restorations made before
(``--restored``, paired by file stem), then measures every input/output pair
(:mod:`hifacegan.metrics.realness`: standard NIQE of both, dlib identity distance input→output,
sharpness ratio, colour shift) and writes

* ``OUT/realness.md``: the table, one row per group of file-name prefix (``LFW-Test_…``) and ``all``;
* ``OUT/realness.csv``: the per-face values; ``OUT/realness.json``: the table and the settings;
* ``OUT/most_degraded.jpg``: a contact sheet input | restored of the ``--sheet-rows`` inputs with the
  highest NIQE, captioned with NIQE in→out and the identity distance;
* ``OUT/restored/<stem>.png``: the restorations (when it restored them).

A file that cannot be read or measured is reported and counted; the others go on.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
from pathlib import Path

from hifacegan.cli._types import unit_float
from hifacegan.io import (
    ImageReadError,
    OutputPathError,
    atomic_write_bytes,
    check_output_dir,
    list_images,
    read_image,
    write_image,
)
from hifacegan.metrics._faces import face_models
from hifacegan.metrics._paths import MissingFileError
from hifacegan.metrics.comparison_sheet import MAX_SHEET_ROWS, SheetRow, build_sheet
from hifacegan.metrics.niqe import load_niqe_params
from hifacegan.metrics.realness import FaceRealness, format_realness_table, measure_face, most_degraded, realness_table
from hifacegan.pixels import float_to_uint8

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "realness",
        help="measure restored real faces without ground truth: NIQE, identity, sharpness, a sheet of the worst",
        description="Restore aligned real low-quality faces (or take --restored ones), measure standard NIQE of "
        "input and output, the dlib identity distance input->output, the sharpness ratio and the colour shift, "
        "and write a table per file-name prefix, a per-face CSV and a contact sheet of the most degraded inputs.",
        epilog="example:\n  hifacegan realness ../shared/data/realworld/ntire_val -o realness/ --model renovation",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="FACES", help="aligned low-quality face crops")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="folder for the results")
    parser.add_argument("--restored", type=Path, metavar="DIR",
                        help="measure these restorations (paired by file stem) instead of restoring")
    parser.add_argument("--model", metavar="NAME|PATH", help="as restore's --model (default: the default model)")
    parser.add_argument("-w", "--weight", type=unit_float, default=0.0, metavar="W", help="as restore's --weight")
    parser.add_argument("--color-fix", action=argparse.BooleanOptionalAction, default=None,
                        help="as restore's --color-fix (default: as the model card says)")
    parser.add_argument("--coarse-pass", action=argparse.BooleanOptionalAction, default=None,
                        help="as restore's --coarse-pass (default: as the model card says)")
    parser.add_argument("--runtime", choices=("auto", "torch", "onnx"), default=None, help="as restore's --runtime")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                        help="as restore's --precision")
    parser.add_argument("--sheet-rows", type=int, default=24, metavar="N",
                        help=f"rows of the most-degraded sheet (default 24, at most {MAX_SHEET_ROWS}; 0: no sheet)")
    parser.add_argument("--niqe-params", metavar="NAME|FILE", default=None,
                        help="NIQE pristine model (default: standard, the scale of published NIQE)")
    parser.add_argument("--no-identity", action="store_true", help="skip the dlib identity distance")
    parser.add_argument("--detector-upsample", type=int, default=1, metavar="N",
                        help="dlib detector upsampling for the identity distance (default 1: finds small, blurred "
                        "faces)")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N faces (sorted by name)")
    parser.set_defaults(func=run)


def _pairs(args: argparse.Namespace) -> list[tuple[Path, Path | None]]:
    inputs = list_images(args.inputs)[: args.limit]
    if not args.restored:
        return [(path, None) for path in inputs]
    by_stem = {path.stem: path for path in list_images(args.restored)}
    missing = [path.name for path in inputs if path.stem not in by_stem]
    if missing:
        logger.warning("%d input(s) have no restoration in %s (left out): %s", len(missing), args.restored,
                       ", ".join(missing[:8]))
    return [(path, by_stem[path.stem]) for path in inputs if path.stem in by_stem]


def _csv(records: list[FaceRealness]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0].as_row()))
    writer.writeheader()
    for record in records:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in record.as_row().items()})
    return buffer.getvalue().encode()


def _json_value(value: object) -> object:
    """JSON has no NaN: a measure that does not apply (no face detected) is null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.sheet_rows <= MAX_SHEET_ROWS:
        logger.error("--sheet-rows must be in 0..%d, got %d", MAX_SHEET_ROWS, args.sheet_rows)
        return 2
    try:
        out_dir = check_output_dir(args.output)
        pairs = _pairs(args)
        niqe_params = load_niqe_params(args.niqe_params)
    except (OutputPathError, MissingFileError, FileNotFoundError, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    if not pairs:
        logger.error("no faces to measure in %s", ", ".join(map(str, args.inputs)))
        return 2
    models = None
    if not args.no_identity:
        try:
            models = face_models(None, args.detector_upsample)
        except (ImportError, MissingFileError) as exc:
            logger.warning("identity distance skipped: %s", exc)
    restorer = None
    if args.restored is None:
        from hifacegan.cli._exit import EXIT_USAGE
        from hifacegan.models.checkpoint import CheckpointError
        from hifacegan.restorer import Restorer

        try:
            restorer = Restorer(args.model, color_fix=args.color_fix, fidelity_weight=args.weight,
                                precision=args.precision, runtime=args.runtime, coarse_pass=args.coarse_pass)
        except (CheckpointError, ValueError, ImportError) as exc:  # ValueError: fp16 on a CPU
            logger.error("cannot load the model: %s", exc)
            return EXIT_USAGE
    records: list[FaceRealness] = []
    restored_files: dict[str, Path] = {}
    failures: list[str] = []
    for number, (path, restored_path) in enumerate(pairs, 1):
        try:
            low = read_image(path).to_uint8()
            if restorer is not None:
                restored = restorer.enhance(low, aligned=True).image
                restored_path = write_image(out_dir / "restored" / f"{path.stem}.png", float_to_uint8(restored))
            else:
                assert restored_path is not None
                restored = read_image(restored_path).to_uint8()
            records.append(measure_face(path.stem, low, restored, niqe_params=niqe_params, face_models=models))
            restored_files[path.stem] = restored_path
        except (ImageReadError, ValueError, OSError) as exc:
            failures.append(f"{path.name}: {exc}")
            logger.error("%s: %s", path.name, exc)
        if number % 10 == 0 or number == len(pairs):
            logger.info("%d/%d faces measured", number, len(pairs))
    if not records:
        logger.error("no face could be measured (%d failed)", len(failures))
        return 1
    rows = realness_table(records)
    table = format_realness_table(rows)
    atomic_write_bytes(out_dir / "realness.md", (table + "\n").encode())
    atomic_write_bytes(out_dir / "realness.csv", _csv(records))
    settings = {"model": args.model or "default", "weight": args.weight, "color_fix": args.color_fix,
                "coarse_pass": args.coarse_pass, "niqe_params": niqe_params.name,
                "restored": str(args.restored) if args.restored else None,
                "detector_upsample": args.detector_upsample, "identity": models is not None}
    summary = {"groups": [{k: _json_value(v) for k, v in vars(row).items()} for row in rows],
               "failures": failures, "settings": settings}
    atomic_write_bytes(out_dir / "realness.json", (json.dumps(summary, indent=1) + "\n").encode())
    if args.sheet_rows:
        input_files = {path.stem: path for path, _ in pairs}
        sheet_rows = [SheetRow(f"{r.name}  NIQE {r.niqe_input:.1f}->{r.niqe_output:.1f}  id "
                               f"{'-' if math.isnan(r.identity) else f'{r.identity:.2f}'}",
                               (input_files[r.name], restored_files[r.name]))
                      for r in most_degraded(records, args.sheet_rows)]
        sheet, problems = build_sheet(("input", "restored"), sheet_rows, cell=192)
        for problem in problems:
            logger.warning("sheet: %s", problem)
        write_image(out_dir / "most_degraded.jpg", sheet, jpeg_quality=90)
    print(table)
    print(f"NIQE model: {niqe_params.name}; {len(records)} faces measured, {len(failures)} failed; results in {out_dir}")
    return 0 if not failures else 1
