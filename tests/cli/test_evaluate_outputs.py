"""``hifacegan evaluate``: output paths checked before any metric runs, and the pixel bound of its inputs."""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pytest

from hifacegan.cli import evaluate as evaluate_cli
from hifacegan.io import write_image


def _run(*argv) -> int:
    parser = argparse.ArgumentParser(prog="hifacegan")
    evaluate_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["evaluate", *map(str, argv)])
    return args.func(args)


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    for folder in ("restored", "reference"):
        write_image(tmp_path / folder / "a.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return tmp_path / "restored", tmp_path / "reference"


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any image is measured: the output checks must come first."""
    monkeypatch.setattr(evaluate_cli, "evaluate_folders", lambda *a, **k: pytest.fail("measured before the check"))


@pytest.mark.parametrize("option", ["--csv", "--json"])
def test_an_output_that_is_an_input_image_is_refused(pair, no_work, caplog, option):
    restored, reference = pair
    before = (reference / "a.png").read_bytes()
    assert _run("--restored", restored, "--reference", reference, "--metrics", "psnr", option, reference / "a.png") == 2
    assert (reference / "a.png").read_bytes() == before
    assert "is one of the images being measured" in caplog.text


def test_a_folder_as_output_or_one_file_for_both_is_refused_first(pair, no_work, caplog, tmp_path):
    restored, reference = pair
    (tmp_path / "folder").mkdir()
    rc = _run("--restored", restored, "--reference", reference, "--metrics", "psnr", "--csv", tmp_path / "folder")
    assert rc == 2
    assert "--csv" in caplog.text and "is a folder" in caplog.text
    assert _run("--restored", restored, "--metrics", "psnr", "--csv", tmp_path / "s", "--json", tmp_path / "s") == 2
    assert "--csv and --json are the same file" in caplog.text
    (tmp_path / "blocker").write_text("x")
    assert _run("--restored", restored, "--metrics", "psnr", "--json", tmp_path / "blocker" / "s.json") == 2
    assert "the folder of --json" in caplog.text and "is a file, not a folder" in caplog.text


def test_the_pixel_bound_applies_to_evaluate_through_the_environment(pair, monkeypatch, caplog, tmp_path):
    from _bad_inputs import big_jpeg

    restored, reference = pair
    big_jpeg(restored / "big.jpg", 1200, 1000)
    big_jpeg(reference / "big.png", 1200, 1000)
    monkeypatch.setenv("HIFACEGAN_MAX_MEGAPIXELS", "1")
    with caplog.at_level(logging.INFO):
        assert _run("--restored", restored, "--reference", reference, "--metrics", "psnr",
                    "--json", tmp_path / "s.json") == 0
    summary = (tmp_path / "s.json").read_text()
    assert "1200x1000 = 1.2 MP exceeds the limit of 1 MP" in summary and "HIFACEGAN_MAX_MEGAPIXELS" in summary
