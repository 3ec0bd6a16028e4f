"""Progress bars of the long commands (on a terminal only) and ``evaluate --sheet``."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import hifacegan.restorer as restorer_module
from hifacegan.cli import main
from hifacegan.metrics.comparison_sheet import MAX_SHEET_ROWS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, as an interactive shell's is."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for k in range(3):
        smooth = cv2.GaussianBlur(rng.random((64, 64, 3)).astype(np.float32), (0, 0), 3)
        Image.fromarray((smooth / smooth.max() * 255).astype(np.uint8)).save(folder / f"face{k}.png")
    return folder



def _commands(faces: Path, tmp: Path, model: Path) -> dict[str, list[str]]:
    return {
        "restoring": ["restore", str(faces), "-o", str(tmp / "restored"), "--model", str(model), "--device", "cpu"],
        "degrade": ["degrade", "--task", "deblur", "--workers", "1", str(faces), str(tmp / "degraded")],
        "evaluate": ["evaluate", "--restored", str(faces), "--reference", str(faces), "--metrics", "psnr"],
        "benchmark-tasks": ["benchmark-tasks", "--model", str(model), "--data", str(faces), "--tasks", "deblur,jpeg",
                            "--metrics", "psnr", "--device", "cpu"],
    }


@pytest.mark.parametrize("command", ["restoring", "degrade", "evaluate", "benchmark-tasks"])
def test_long_commands_show_a_progress_bar_on_a_terminal_only(command, faces, tiny_model_file, tmp_path, monkeypatch):
    monkeypatch.setattr(restorer_module, "default_detector", lambda: (lambda image: []))
    argv = _commands(faces, tmp_path, tiny_model_file)[command]

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == 0
    shown = terminal.getvalue()
    assert command in shown and "100%" in shown
    total = 6 if command == "benchmark-tasks" else 3  # benchmark-tasks counts faces over both tasks
    assert f"{total}/{total}" in shown

    piped = io.StringIO()  # a log file or a pipe: no bar
    monkeypatch.setattr(sys, "stderr", piped)
    argv = [a + "_again" if a.startswith(str(tmp_path)) else a for a in argv]  # fresh output folders
    assert main(argv) == 0
    assert "100%" not in piped.getvalue() and "it/s" not in piped.getvalue()


def _pairs(tmp_path: Path, count: int, size: int = 48) -> tuple[Path, Path, Path]:
    folders = [tmp_path / name for name in ("low", "restored", "reference")]
    for folder in folders:
        folder.mkdir()
    for k in range(count):
        # Distinct solid colours per column, so the test can tell where each picture landed.
        Image.new("RGB", (size // 2, size // 2), (200, 0, 0)).save(folders[0] / f"img{k:03d}.jpg")
        Image.new("RGB", (size, size), (0, 200, 0)).save(folders[1] / f"img{k:03d}.png")
        Image.new("RGB", (size, size), (0, 0, 200)).save(folders[2] / f"img{k:03d}.png")
    return folders[0], folders[1], folders[2]


def test_evaluate_sheet_shows_input_restored_and_reference_in_labelled_columns(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    low, restored, reference = _pairs(tmp_path, 3)
    sheet_path = tmp_path / "sheet.png"
    rc = main(["evaluate", "--restored", str(restored), "--reference", str(reference), "--input", str(low),
               "--metrics", "psnr", "--sheet", str(sheet_path), "--csv", str(tmp_path / "scores.csv")])
    assert rc == 0 and (tmp_path / "scores.csv").is_file()
    sheet = np.asarray(Image.open(sheet_path).convert("RGB")).astype(int)
    cell, pitch_x, pitch_y, header = 128, 130, 146, 22
    assert sheet.shape == (header + 3 * pitch_y, 3 * pitch_x, 3)
    for row in range(3):
        centre_y = header + row * pitch_y + cell // 2
        for column, colour in enumerate(([200, 0, 0], [0, 200, 0], [0, 0, 200])):
            pixel = sheet[centre_y, column * pitch_x + cell // 2]
            assert np.abs(pixel - colour).max() < 30, (row, column, pixel)
    assert (sheet[:header] < 128).any()  # the column titles are drawn
    assert "input | restored | reference" in caplog.text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hfg")]


def test_evaluate_sheet_caps_its_rows_and_refuses_bad_paths(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    _, restored, reference = _pairs(tmp_path, 5, size=32)
    sheet_path = tmp_path / "sheet.jpg"
    rc = main(["evaluate", "--restored", str(restored), "--reference", str(reference), "--metrics", "psnr",
               "--sheet", str(sheet_path), "--sheet-rows", "2"])
    assert rc == 0
    sheet = np.asarray(Image.open(sheet_path))
    assert sheet.shape[:2] == (22 + 2 * 146, 2 * 130)  # two rows, no input column without --input
    assert "the first 2 of 5" in caplog.text

    cases = ((sheet_path, ["--sheet-rows", str(MAX_SHEET_ROWS + 1)], "--sheet-rows"),
             (sheet_path, ["--csv", str(sheet_path)], "same file"),
             (restored / "img000.png", [], "is one of the images"))  # an input is never overwritten
    for target, extra, message in cases:
        before = target.read_bytes()
        rc = main(["evaluate", "--restored", str(restored), "--reference", str(reference), "--metrics", "psnr",
                   "--sheet", str(target), *extra])
        assert rc == 2 and message in caplog.text
        assert target.read_bytes() == before
