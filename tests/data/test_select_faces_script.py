"""scripts/select_faces_by_niqe.py: keeps exactly the faces at or under the NIQE threshold, reads only."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from hifacegan.io import write_image
from hifacegan.metrics.niqe import niqe

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("select_faces_by_niqe", ROOT / "scripts" / "select_faces_by_niqe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _images(folder: Path) -> dict[str, float]:
    """Three textures of different naturalness, written as PNGs; returns their NIQE by file name."""
    rng = np.random.default_rng(0)
    base = rng.random((192, 192, 3)).astype(np.float32)
    variants = {"sharp.png": base, "soft.png": cv2.GaussianBlur(base, (0, 0), 1.5),
                "flat.png": cv2.GaussianBlur(base, (0, 0), 4.0) * 0.2 + 0.4}
    scores = {}
    for name, image in variants.items():
        pixels = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
        write_image(folder / name, pixels)
        scores[name] = niqe(pixels, params="standard")
    return scores


def test_keeps_faces_under_the_threshold_and_leaves_the_source_alone(tmp_path):
    source, output = tmp_path / "faces", tmp_path / "kept" / "train"
    source.mkdir()
    scores = _images(source)
    ordered = sorted(scores, key=scores.get)
    threshold = (scores[ordered[0]] + scores[ordered[1]]) / 2  # between the best and the second best
    before = {p.name: p.read_bytes() for p in source.iterdir()}

    assert _script().main([str(source), "-o", str(output), "--max-niqe", str(threshold)]) == 0

    assert sorted(p.name for p in output.iterdir()) == [ordered[0]]
    assert (output / ordered[0]).read_bytes() == before[ordered[0]]
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before
    with open(output.parent / "train_niqe.csv") as f:
        rows = {row["file"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(scores)
    for name, score in scores.items():
        assert float(rows[name]["niqe"]) == pytest.approx(score, abs=1e-3)
        assert rows[name]["decision"] == ("kept" if name == ordered[0] else "dropped")


def test_refuses_a_folder_that_is_not_empty(tmp_path):
    source, output = tmp_path / "faces", tmp_path / "out"
    source.mkdir()
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit):
        _script().main([str(source), "-o", str(output), "--max-niqe", "5"])
    assert (output / "keep.txt").read_text() == "mine"


def test_reuses_an_earlier_table_of_scores(tmp_path):
    source = tmp_path / "faces"
    source.mkdir()
    scores = _images(source)
    first = tmp_path / "loose" / "train"
    assert _script().main([str(source), "-o", str(first), "--max-niqe", "1000"]) == 0
    table = first.parent / "train_niqe.csv"
    # Doctor the table: a reused score must decide, not a fresh measurement.
    ordered = sorted(scores, key=scores.get)
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["niqe"] = "1.0" if row["file"] == ordered[-1] else "9.0"
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "niqe", "decision"])
        writer.writeheader()
        writer.writerows(rows)

    second = tmp_path / "strict" / "train"
    assert _script().main([str(source), "-o", str(second), "--max-niqe", "2", "--scores", str(table)]) == 0
    assert sorted(p.name for p in second.iterdir()) == [ordered[-1]]


def test_rejects_a_table_without_scores(tmp_path):
    source = tmp_path / "faces"
    source.mkdir()
    table = tmp_path / "other.csv"
    table.write_text("name,value\na.png,1\n")
    with pytest.raises(SystemExit):
        _script().main([str(source), "-o", str(tmp_path / "out"), "--max-niqe", "5", "--scores", str(table)])
    assert not (tmp_path / "out").exists()
