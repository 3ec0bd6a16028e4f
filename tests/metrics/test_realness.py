"""Realness without ground truth (issue 28): per-face measures, the grouped table, the one-command CLI."""

from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pytest
from _metric_data import SHARED, require

from hifacegan.io import read_image, write_image
from hifacegan.metrics.niqe import load_niqe_params
from hifacegan.metrics.realness import (
    FaceRealness,
    format_realness_table,
    group_of,
    measure_face,
    most_degraded,
    realness_table,
)

NTIRE_VAL = SHARED / "data" / "realworld" / "ntire_val"


def _face(name: str = "LFW-Test_Alex_Penelas_0001_00.jpg") -> np.ndarray:
    return read_image(require(NTIRE_VAL / name)).to_uint8()


def _record(name: str, niqe_input: float, identity: float = 0.1) -> FaceRealness:
    return FaceRealness(name=name, group=group_of(name), niqe_input=niqe_input, niqe_output=niqe_input / 2,
                        identity=identity, sharpness_ratio=1.5, color_shift=0.5)


def test_an_unchanged_face_keeps_identity_colour_sharpness_and_niqe():
    from hifacegan.metrics._faces import face_models

    face = _face()
    record = measure_face("LFW-Test_x", face, face, niqe_params=load_niqe_params(), face_models=face_models(None, 1))
    assert record.group == "LFW-Test"
    assert record.niqe_input == record.niqe_output and record.sharpness_ratio == 1.0 and record.color_shift == 0.0
    assert record.identity == pytest.approx(0.0, abs=1e-6)


def test_blur_and_a_tint_show_in_sharpness_niqe_and_colour_shift():
    face = _face()
    blurred = cv2.GaussianBlur(face, (0, 0), 3.0)
    record = measure_face("a", face, blurred, niqe_params=load_niqe_params(), face_models=None)
    assert record.sharpness_ratio < 0.9 and record.niqe_output > record.niqe_input  # an already soft face
    assert math.isnan(record.identity) and record.group == "all"  # no dlib models given; no prefix
    tinted = face.astype(np.int16)
    tinted[..., 2] += 8
    tinted = np.clip(tinted, 0, 255).astype(np.uint8)
    shift = measure_face("a", face, tinted, niqe_params=load_niqe_params(), face_models=None).color_shift
    assert 6.0 < shift <= 8.0  # clipping at 255 takes a little off


def test_a_larger_output_is_compared_at_the_input_size():
    face = _face()
    larger = cv2.resize(face, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    record = measure_face("a", face, larger, niqe_params=load_niqe_params(), face_models=None)
    assert record.color_shift < 0.5 and 0.8 < record.sharpness_ratio < 1.2


def test_table_groups_by_prefix_and_counts_identity_only_where_a_face_was_found():
    records = [_record("LFW-Test_a", 10.0, 0.2), _record("LFW-Test_b", 12.0, 0.7),
               _record("Wider-Test_c", 14.0, math.nan)]
    rows = {row.group: row for row in realness_table(records)}
    assert list(rows) == ["LFW-Test", "Wider-Test", "all"]
    assert rows["LFW-Test"].niqe_input == 11.0 and rows["LFW-Test"].identity_kept == 0.5
    assert rows["LFW-Test"].identity_max == 0.7 and rows["LFW-Test"].identity_faces == 2
    assert rows["Wider-Test"].identity_faces == 0 and math.isnan(rows["Wider-Test"].identity_kept)
    assert rows["all"].faces == 3 and rows["all"].identity == pytest.approx(0.45)
    table = format_realness_table(list(rows.values()))
    assert "| Wider-Test | 1 | 14.00 | 7.00 | – | – |" in table and "50% of 2" in table
    assert [r.name for r in most_degraded(records, 2)] == ["Wider-Test_c", "LFW-Test_b"]
    with pytest.raises(ValueError, match="no faces"):
        realness_table([])


def test_one_command_restores_measures_and_draws_the_worst(tmp_path, tiny_model_file, capsys):
    from hifacegan.cli import main

    faces = tmp_path / "faces"
    names = ["LFW-Test_Alex_Penelas_0001_00", "Wider-Test_0020", "Wider-Test_0024"]
    for name in names:
        source = NTIRE_VAL / f"{name}.jpg"
        if not source.exists():
            pytest.skip(f"needs the project's shared data at {source} (present in CI, absent on user machines)")
        write_image(faces / f"{name}.png", cv2.resize(read_image(source).to_uint8(), (256, 256)))
    (faces / "Wider-Test_broken.png").write_bytes(b"not a png")  # reported, never stops the others
    out = tmp_path / "out"
    code = main(["realness", str(faces), "-o", str(out), "--model", str(tiny_model_file), "--runtime", "torch",
                 "--sheet-rows", "2"])
    assert code == 1  # one face failed
    printed = capsys.readouterr().out
    assert "| LFW-Test | 1 |" in printed and "| Wider-Test | 2 |" in printed and "| all | 3 |" in printed
    assert "NIQE model: standard" in printed and "1 failed" in printed
    with open(out / "realness.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["name"] for row in rows) == sorted(names)
    summary = json.loads((out / "realness.json").read_text())
    assert [g["group"] for g in summary["groups"]] == ["LFW-Test", "Wider-Test", "all"]
    assert len(summary["failures"]) == 1 and "Wider-Test_broken" in summary["failures"][0]
    assert sorted(p.stem for p in (out / "restored").iterdir()) == sorted(names)
    sheet = read_image(out / "most_degraded.jpg").to_uint8()
    assert sheet.shape[0] > 2 * 192 and sheet.shape[1] >= 2 * 192  # two rows of input | restored

    # Measuring restorations made before gives the same table without restoring again.
    again = tmp_path / "again"
    assert main(["realness", str(faces), "-o", str(again), "--restored", str(out / "restored"),
                 "--sheet-rows", "0"]) == 0  # the unreadable face has no restoration: left out, with a warning
    assert (again / "realness.md").read_text() == (out / "realness.md").read_text()
    assert not (again / "restored").exists() and not (again / "most_degraded.jpg").exists()
