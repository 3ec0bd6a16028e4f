"""Restoration quality metrics of the HiFaceGAN paper, offline.

Full-reference: :func:`psnr`, :func:`ssim`, :func:`ms_ssim` (pure NumPy/OpenCV); :func:`fed`
(identity embedding distance) and :func:`lle` (68-landmark distance) with dlib's offline models
(optional packages ``dlib-bin`` and ``face-recognition-models``); LPIPS and FID in
:mod:`hifacegan.metrics.feature_distance`, only where their standard weight files are present.
No-reference: :func:`niqe` (MATLAB-compatible, with the standard pristine model shipped in the
package, so values compare with published NIQE; see :mod:`hifacegan.metrics.niqe`). Realness: :func:`sharpness_ratio`
(gradient energy against the reference's, ideal 1) and, set-level,
:mod:`hifacegan.metrics.fd_mobilenet` (FID-style distance on offline MobileNetV2 features, not FID).

Every per-image metric takes ``(H, W, 3)`` RGB arrays, ``uint8`` in ``[0, 255]`` or float in
``[0, 1]``, and raises ``ValueError`` on malformed input. :mod:`hifacegan.metrics.evaluation` pairs
folders, runs several metrics and aggregates them (``hifacegan evaluate``); :data:`METRICS`
(:mod:`hifacegan.metrics.registry`) is the one table of metric names, titles and directions.
"""

from hifacegan.metrics._faces import FaceModels, FaceNotFoundError, face_models
from hifacegan.metrics._paths import MissingFileError
from hifacegan.metrics.evaluation import (
    ALL_METRICS,
    EvaluationOptions,
    EvaluationReport,
    EvaluationRun,
    Evaluator,
    evaluate_folders,
    pair_folders,
    parse_metrics,
)
from hifacegan.metrics.fed import fed, fed_with_boxes
from hifacegan.metrics.lle import lle, lle_with_boxes
from hifacegan.metrics.niqe import NiqeParams, find_niqe_params, load_niqe_params, niqe
from hifacegan.metrics.psnr import psnr
from hifacegan.metrics.registry import METRICS, MetricInfo, metric_info
from hifacegan.metrics.sharpness import sharpness, sharpness_ratio
from hifacegan.metrics.ssim import ms_ssim, ssim

__all__ = [
    "ALL_METRICS",
    "METRICS",
    "EvaluationOptions",
    "EvaluationReport",
    "EvaluationRun",
    "Evaluator",
    "FaceModels",
    "FaceNotFoundError",
    "MetricInfo",
    "MissingFileError",
    "NiqeParams",
    "evaluate_folders",
    "face_models",
    "fed",
    "fed_with_boxes",
    "find_niqe_params",
    "lle",
    "lle_with_boxes",
    "load_niqe_params",
    "metric_info",
    "ms_ssim",
    "niqe",
    "pair_folders",
    "parse_metrics",
    "psnr",
    "sharpness",
    "sharpness_ratio",
    "ssim",
]
