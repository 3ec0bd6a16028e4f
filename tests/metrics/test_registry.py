"""One registry of metrics: every table of names and properties is derived from it."""

from __future__ import annotations

import pytest

from hifacegan.metrics import METRICS, metric_info
from hifacegan.metrics.evaluation import (
    ALL_METRICS,
    FULL_REFERENCE_METRICS,
    HIGHER_IS_BETTER,
    SET_METRICS,
    TARGET_VALUES,
    parse_metrics,
)
from hifacegan.metrics.registry import direction_mark


def test_the_published_tables_are_views_of_the_registry():
    assert ALL_METRICS == ("psnr", "ssim", "ms_ssim", "lpips", "fid", "fd_mobilenet", "niqe", "sharpness", "fed",
                           "lle")
    assert tuple(m.name for m in METRICS) == ALL_METRICS
    assert FULL_REFERENCE_METRICS == set(ALL_METRICS) - {"niqe"}
    assert SET_METRICS == ("fid", "fd_mobilenet")
    assert TARGET_VALUES == {"sharpness": 1.0}
    assert HIGHER_IS_BETTER["psnr"] and not HIGHER_IS_BETTER["niqe"] and "sharpness" not in HIGHER_IS_BETTER


def test_titles_decimals_and_directions():
    assert metric_info("ms_ssim").title == "MS-SSIM" and metric_info("psnr").decimals == 2
    assert [direction_mark(m) for m in ("psnr", "lpips", "sharpness")] == ["+", "-", "=1"]
    assert [direction_mark(m, arrows=True) for m in ("ssim", "fed", "sharpness")] == ["↑", "↓", "→1"]
    assert {m.name for m in METRICS if m.needs_faces} == {"fed", "lle"}


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="psnr, ssim"):
        metric_info("pnsr")
    with pytest.raises(ValueError, match="choose from psnr"):
        parse_metrics("psnr,bogus")
    assert parse_metrics("lle,psnr") == ["psnr", "lle"]  # registry order
