"""``hifacegan degrade``: folder mode (determinism across workers, bad files, pairs) and contact sheets."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hifacegan.cli import degrade as degrade_cli
from hifacegan.data import split_stacked
from hifacegan.degradations import TASKS, degrade, rng_for


def _run(*argv: str) -> int:
    """Run the subcommand through its own parser (independent of the other subcommands)."""
    parser = argparse.ArgumentParser(prog="hifacegan")
    degrade_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["degrade", *map(str, argv)])
    return args.func(args)


def _faces(folder, count=5, size=40):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for i in range(count):
        image = rng.integers(0, 256, (size, size + i, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / f"face{i}.png")
        arrays[f"face{i}"] = image
    return arrays


def _read(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_registered_in_the_main_command():
    from hifacegan.cli import _COMMANDS

    assert ("degrade", "hifacegan.cli.degrade") in _COMMANDS


@pytest.mark.parametrize("task", ["renovation", "realworld"])
def test_output_is_identical_for_any_worker_count(tmp_path, task):
    faces = _faces(tmp_path / "in")
    assert _run("--task", task, "--seed", 3, tmp_path / "in", tmp_path / "one", "--workers", 1) == 0
    assert _run("--task", task, "--seed", 3, tmp_path / "in", tmp_path / "two", "--workers", 2) == 0
    for stem, image in faces.items():
        one = (tmp_path / "one" / f"{stem}.png").read_bytes()
        assert one == (tmp_path / "two" / f"{stem}.png").read_bytes()
        written = _read(tmp_path / "one" / f"{stem}.png")
        assert written.shape == image.shape
        assert np.array_equal(written, degrade(image, task, rng_for(3, stem))[0])  # = the library call
    record = json.loads((tmp_path / "one" / "degradations.json").read_text())
    assert record["task"] == task and record["seed"] == 3 and sorted(record["items"]) == sorted(faces)


def test_bad_file_is_reported_and_the_rest_is_processed(tmp_path, caplog):
    _faces(tmp_path / "in", count=3)
    (tmp_path / "in" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with caplog.at_level(logging.WARNING):
        assert _run("--task", "jpeg", tmp_path / "in", tmp_path / "out", "--workers", 2) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["face0.png", "face1.png", "face2.png"]
    assert "broken" in caplog.text
    assert "broken" in json.loads((tmp_path / "out" / "degradations.json").read_text())["failed"]


def _process_or_crash(job):
    """Stands in for an image decoder that segfaults on one file (runs in a pool worker)."""
    if Path(job.source).stem == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    return degrade_cli._process(job)


@pytest.mark.skipif(not hasattr(signal, "SIGSEGV") or os.name != "posix", reason="needs POSIX signals")
def test_a_worker_crash_fails_only_its_file(tmp_path, caplog, monkeypatch):
    # Before: a dead worker broke the pool and the command ended with BrokenProcessPool, no
    # degradations.json and every file after it unprocessed.
    faces = _faces(tmp_path / "in", count=40, size=24)  # 41 files, 2 workers: chunks of 5 jobs
    Image.fromarray(faces["face4"]).save(tmp_path / "in" / "crash.png")
    monkeypatch.setattr(degrade_cli, "_process", _process_or_crash)
    with caplog.at_level(logging.WARNING):
        assert _run("--task", "sr4x", "--seed", 1, tmp_path / "in", tmp_path / "out", "--workers", 2) == 0
    record = json.loads((tmp_path / "out" / "degradations.json").read_text())
    assert list(record["failed"]) == ["crash"] and "worker process died" in record["failed"]["crash"]
    assert sorted(record["items"]) == sorted(faces)
    for stem, image in faces.items():  # every other file is written, and exactly as without the crash
        assert np.array_equal(_read(tmp_path / "out" / f"{stem}.png"), degrade(image, "sr4x", rng_for(1, stem))[0])
    assert not (tmp_path / "out" / "crash.png").exists()
    assert "worker died" in caplog.text


def test_nothing_processed_exits_non_zero(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"garbage")
    assert _run("--task", "sr4x", tmp_path / "in", tmp_path / "out", "--workers", 1) != 0
    (tmp_path / "empty").mkdir()
    assert _run("--task", "sr4x", tmp_path / "empty", tmp_path / "out2") != 0


def test_refuses_to_write_into_the_input_folder(tmp_path):
    faces = _faces(tmp_path / "in", count=1)
    before = (tmp_path / "in" / "face0.png").read_bytes()
    assert _run("--task", "sr4x", tmp_path / "in", tmp_path / "in" / "." ) == 2
    assert (tmp_path / "in" / "face0.png").read_bytes() == before and len(faces) == 1


def test_missing_arguments_exit_2(tmp_path):
    assert _run(tmp_path) == 2
    assert _run(tmp_path / "a", tmp_path / "b") == 2  # no --task


def test_pairs_write_the_official_stacked_layout(tmp_path):
    faces = _faces(tmp_path / "in", count=2, size=32)
    assert _run("--task", "sr16x", "--pairs", tmp_path / "in", tmp_path / "pairs", "--workers", 1) == 0
    for stem, image in faces.items():
        stacked = _read(tmp_path / "pairs" / f"{stem}.png")
        if image.shape[0] != image.shape[1]:
            assert stacked.shape == (2 * image.shape[0], image.shape[1], 3)
            continue
        assert stacked.shape == (64, 32, 3)
        top, bottom = split_stacked(stacked)
        assert np.array_equal(bottom, image)  # the original, below
        assert np.array_equal(top, degrade(image, "sr16x", rng_for(0, stem))[0])  # the degraded, on top


def test_config_file_and_face_size(tmp_path):
    faces = _faces(tmp_path / "in", count=1, size=32)
    (tmp_path / "c.yaml").write_text("mosaic_block: 8\n")
    assert _run("--task", "sr16x", "--config", tmp_path / "c.yaml", tmp_path / "in", tmp_path / "o", "--workers", 1) == 0
    out = _read(tmp_path / "o" / "face0.png")
    assert np.array_equal(out[:8, :8], np.broadcast_to(out[0, 0], (8, 8, 3)))
    assert not np.array_equal(out[:16, :16], np.broadcast_to(out[0, 0], (16, 16, 3)))
    (tmp_path / "bad.yaml").write_text("mosaic_blok: 8\n")
    assert _run("--task", "sr16x", "--config", tmp_path / "bad.yaml", tmp_path / "in", tmp_path / "p") == 2
    assert _run("--task", "sr16x", "--face-size", 128, tmp_path / "in", tmp_path / "q", "--workers", 1) == 0
    assert np.array_equal(_read(tmp_path / "q" / "face0.png")[:4, :4], np.broadcast_to(
        _read(tmp_path / "q" / "face0.png")[0, 0], (4, 4, 3)))
    assert len(faces) == 1


def test_contact_sheet(tmp_path):
    _faces(tmp_path / "in", count=2, size=48)
    (tmp_path / "in" / "bad.png").write_bytes(b"nope")
    paths = sorted((tmp_path / "in").glob("*.png"))
    assert _run("--sheet", tmp_path / "sheet.png", "--cell", 32, *paths) == 0
    sheet = _read(tmp_path / "sheet.png")
    assert sheet.shape == (22 + 2 * 34, (1 + len(TASKS)) * 34, 3)
    assert _run("--sheet", tmp_path / "none.png", tmp_path / "in" / "bad.png") == 1
    assert _run("--sheet", paths[0], *paths) == 2  # would overwrite an input


# --- issue 21: the corpus of bad inputs (tests/_bad_inputs.py) --------------------------------------


def test_pixel_bound_refuses_a_big_file_and_the_rest_is_degraded(tmp_path, caplog):
    from _bad_inputs import big_jpeg

    _faces(tmp_path / "in", count=1)
    big_jpeg(tmp_path / "in" / "big.jpg")  # 3000x3000 = 9 MP
    with caplog.at_level(logging.WARNING):
        assert _run("--task", "jpeg", tmp_path / "in", tmp_path / "out", "--workers", 1, "--max-megapixels", 1) == 0
    failed = json.loads((tmp_path / "out" / "degradations.json").read_text())["failed"]
    assert list(failed) == ["big"] and "big.jpg: 3000x3000 = 9.0 MP exceeds the limit of 1 MP" in failed["big"]
    assert "--max-megapixels" in caplog.text
    assert (tmp_path / "out" / "face0.png").exists()


def test_non_utf8_file_names_are_degraded(tmp_path):
    from _bad_inputs import non_utf8_name

    image = _faces(tmp_path / "in", count=1)["face0"]
    odd = non_utf8_name(tmp_path / "in", image)
    assert _run("--task", "jpeg", "--seed", 2, tmp_path / "in", tmp_path / "out", "--workers", 1) == 0
    written = tmp_path / "out" / f"{odd.stem}.png"
    assert np.array_equal(_read(written), degrade(image, "jpeg", rng_for(2, odd.stem))[0])
    record = json.loads((tmp_path / "out" / "degradations.json").read_text())
    assert not record["failed"] and len(record["items"]) == 2


def test_an_error_message_names_the_file(tmp_path, monkeypatch):
    _faces(tmp_path / "in", count=2)

    def failing(image, task, rng, config=None):
        raise ValueError("some internal problem")

    monkeypatch.setattr(degrade_cli, "degrade", failing)
    assert _run("--task", "jpeg", tmp_path / "in", tmp_path / "out", "--workers", 1) == 1
    failed = json.loads((tmp_path / "out" / "degradations.json").read_text())["failed"]
    assert str(tmp_path / "in" / "face0.png") in failed["face0"] and "some internal problem" in failed["face0"]


@pytest.mark.skipif(os.name != "posix", reason="needs symlinks")
def test_an_input_linked_into_the_output_folder_is_never_overwritten(tmp_path, caplog):
    faces = _faces(tmp_path / "elsewhere", count=2)
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "elsewhere" / "face0.png").rename(out / "face0.png")
    before = (out / "face0.png").read_bytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "face0.png").symlink_to(out / "face0.png")  # its output path is the file it points to
    (tmp_path / "in" / "face1.png").symlink_to(tmp_path / "elsewhere" / "face1.png")
    with caplog.at_level(logging.WARNING):
        assert _run("--task", "jpeg", tmp_path / "in", out, "--workers", 1) == 0
    assert (out / "face0.png").read_bytes() == before
    assert "is an input file (through a link) and would be overwritten" in caplog.text
    assert np.array_equal(_read(out / "face1.png"), degrade(faces["face1"], "jpeg", rng_for(0, "face1"))[0])


def test_a_bad_output_folder_is_a_usage_error(tmp_path, caplog):
    _faces(tmp_path / "in", count=1)
    (tmp_path / "out").write_text("a file, not a folder")
    with caplog.at_level(logging.ERROR):
        assert _run("--task", "jpeg", tmp_path / "in", tmp_path / "out", "--workers", 1) == 2
    assert "OUTPUT_DIR" in caplog.text and "is a file, not a folder" in caplog.text
