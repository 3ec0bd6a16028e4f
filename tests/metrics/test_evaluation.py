"""Folder evaluation and ``hifacegan evaluate``: pairing by stem, skips with reasons, CSV/JSON, exit codes."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math

import numpy as np
import pytest
from _metric_data import NIQE_PARAMS, require

from hifacegan.cli import evaluate as evaluate_cli
from hifacegan.io import write_image
from hifacegan.metrics import EvaluationOptions, Evaluator, evaluate_folders, pair_folders, parse_metrics, psnr


def _image(seed: int, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.fixture
def folders(tmp_path):
    """reference/ a,b,c (+ d without restored); restored/ a (exact), b (noisy), c (other size), e (no reference),
    f.png + f.jpg (ambiguous), g (unreadable)."""
    ref, out = tmp_path / "reference", tmp_path / "restored"
    for stem in "abcdfg":
        write_image(ref / f"{stem}.png", _image(ord(stem)))
    write_image(out / "a.png", _image(ord("a")))
    noisy = np.clip(_image(ord("b")) + np.random.default_rng(0).normal(0, 10, (64, 64, 3)), 0, 255)
    write_image(out / "b.png", noisy.astype(np.uint8))
    write_image(out / "c.png", _image(ord("c"), 48))
    write_image(out / "e.png", _image(1))
    write_image(out / "f.png", _image(2))
    write_image(out / "f.jpg", _image(2))
    (out / "g.png").write_bytes(b"not an image")
    return out, ref


def test_parse_metrics():
    assert parse_metrics("niqe, PSNR,ms-ssim,psnr") == ["psnr", "ms_ssim", "niqe"]
    with pytest.raises(ValueError, match="psnr, ssim"):
        parse_metrics("psnr,sharpnes")


def test_pair_folders_reports_every_unpaired_file(folders):
    out, ref = folders
    pairs, skipped = pair_folders(out, ref)
    assert [p[0] for p in pairs] == ["a", "b", "c", "g"]
    reasons = {s["name"]: s["reason"] for s in skipped}
    assert reasons["e"] == "no reference image with this stem"
    assert "share this stem" in reasons["f"]
    assert set(reasons) == {"e", "f"}


def test_evaluate_folders_counts_skips_with_reasons(folders):
    out, ref = folders
    report = evaluate_folders(out, ref, ["psnr", "ssim", "ms_ssim"])
    rows = {row["name"]: row for row in report.rows}
    assert rows["a"]["psnr"] == math.inf and rows["a"]["ssim"] == pytest.approx(1.0)
    assert rows["b"]["psnr"] == pytest.approx(psnr(_noisy_b(out), _image(ord("b"))))
    assert rows["c"]["psnr"] is None  # size mismatch: skipped, with its reason
    assert report.counts == {"psnr": 2, "ssim": 2, "ms_ssim": 0}
    by_reason = report.skip_counts()
    assert by_reason["psnr: size differs from the reference: (48, 48, 3) vs (64, 64, 3)"] == 1
    assert any(k.startswith("ms_ssim: MS-SSIM needs images of at least 161x161") for k in by_reason)
    assert any(k.startswith("*: ") and "not a readable image" in k for k in by_reason)  # g
    assert report.unmatched_references == ["d"]
    assert report.summary["ms_ssim"] is None
    assert report.summary["ssim"] == pytest.approx((1.0 + rows["b"]["ssim"]) / 2)


def _noisy_b(out):
    from hifacegan.io import read_image

    return read_image(out / "b.png").to_uint8()


def test_no_reference_runs_only_niqe_and_says_why(caplog, tmp_path):
    evaluator = Evaluator(["psnr", "sharpness", "niqe"], with_reference=False)
    assert "needs reference" in evaluator.unavailable["psnr"]
    assert "needs reference" in evaluator.unavailable["sharpness"]
    assert evaluator.active == ["niqe"]  # no file of the user's in this test's environment: the shipped standard model
    assert evaluator.details["niqe_params"] == "standard"
    broken = Evaluator(["niqe"], EvaluationOptions(niqe_params=tmp_path / "missing.npz"), with_reference=False)
    assert "does not exist" in broken.unavailable["niqe"]  # an explicit file is never silently replaced
    assert "NIQE skipped" in caplog.text and caplog.text.count("NIQE skipped") == 1


def test_report_csv_and_json(folders):
    out, ref = folders
    report = evaluate_folders(out, ref, ["psnr", "ssim"])
    table = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [r["name"] for r in table] == ["a", "b", "c", "e", "f", "g"]
    assert table[0]["psnr"] == "inf" and table[2]["psnr"] == "" and table[0]["reference_file"].endswith("a.png")
    summary = report.to_json()
    json.dumps(summary, allow_nan=False)  # strict JSON: infinity is written as a string
    assert summary["psnr"] == "inf" and summary["images"] == 3
    assert summary["skipped"]["references_without_restored"] == 1
    assert summary["skipped"]["total"] == len(report.skipped) == 5  # e, f, g + c's psnr and ssim


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    evaluate_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["evaluate", *argv])
    return args.func(args)


def test_cli_writes_csv_and_json(tmp_path, capsys):
    params = require(NIQE_PARAMS)
    big_ref, big_out = tmp_path / "big_ref", tmp_path / "big_out"
    face = np.clip(np.random.default_rng(5).normal(128, 40, (200, 200, 3)), 0, 255).astype(np.uint8)
    write_image(big_ref / "x.png", face)
    write_image(big_out / "x.png", np.clip(face.astype(int) + 3, 0, 255).astype(np.uint8))
    code = _cli("--restored", str(big_out), "--reference", str(big_ref), "--metrics", "psnr,ssim,ms_ssim,niqe",
                "--niqe-params", str(params), "--csv", str(tmp_path / "s.csv"), "--json", str(tmp_path / "s.json"))
    assert code == 0
    printed = capsys.readouterr().out
    assert "psnr" in printed and "ms_ssim" in printed and "niqe" in printed
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["psnr"] == pytest.approx(20 * math.log10(255 / 3), abs=0.2)
    assert summary["niqe"] > 0 and summary["counts"]["niqe"] == 1
    assert (tmp_path / "s.csv").read_text().startswith("name,restored_file,reference_file,psnr,ssim,ms_ssim,niqe")


def test_cli_errors(tmp_path, folders, capsys):
    out, _ = folders
    assert _cli("--restored", str(tmp_path / "missing")) == 2
    assert _cli("--restored", str(out), "--metrics", "psnr") == 1  # PSNR needs --reference: nothing can run
    with pytest.raises(SystemExit):
        _cli("--restored", str(out), "--metrics", "bogus")
    assert "unknown metric" in capsys.readouterr().err


def test_evaluation_options_reach_the_metrics(folders):
    out, ref = folders
    plain = evaluate_folders(out, ref, ["psnr"])
    cropped = evaluate_folders(out, ref, ["psnr"], EvaluationOptions(crop_border=8, y_channel=True))
    b_plain = next(r["psnr"] for r in plain.rows if r["name"] == "b")
    b_y = next(r["psnr"] for r in cropped.rows if r["name"] == "b")
    assert b_y != pytest.approx(b_plain)


def test_cli_niqe_works_on_a_fresh_install(tmp_path, monkeypatch, capsys):
    """No --niqe-params, no $HIFACEGAN_NIQE_PARAMS, an empty home: the packaged model runs, and says so."""
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("HIFACEGAN_NIQE_PARAMS", raising=False)
    face = np.clip(np.random.default_rng(7).normal(128, 40, (200, 200, 3)), 0, 255).astype(np.uint8)
    write_image(tmp_path / "out" / "x.png", face)
    assert _cli("--restored", str(tmp_path / "out"), "--metrics", "niqe", "--json", str(tmp_path / "s.json")) == 0
    assert "niqe_params: standard" in capsys.readouterr().out
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["niqe"] > 0 and summary["counts"]["niqe"] == 1 and summary["niqe_params"] == "standard"
    assert summary["unavailable"] == {}


def test_cli_sharpness_ratio_column(tmp_path):
    import cv2

    face = np.clip(np.random.default_rng(8).normal(128, 40, (64, 64, 3)), 0, 255).astype(np.uint8)
    write_image(tmp_path / "ref" / "x.png", face)
    write_image(tmp_path / "out" / "x.png", cv2.GaussianBlur(face, (0, 0), 1.5))
    assert _cli("--restored", str(tmp_path / "out"), "--reference", str(tmp_path / "ref"), "--metrics", "sharpness",
                "--csv", str(tmp_path / "s.csv"), "--json", str(tmp_path / "s.json")) == 0
    row = next(csv.DictReader(io.StringIO((tmp_path / "s.csv").read_text())))
    assert 0 < float(row["sharpness"]) < 0.6  # blurred: less gradient energy than the reference
    assert json.loads((tmp_path / "s.json").read_text())["sharpness"] == pytest.approx(float(row["sharpness"]), 1e-5)
