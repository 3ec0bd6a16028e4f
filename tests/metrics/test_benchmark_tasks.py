"""``hifacegan benchmark-tasks`` and its library part: rows per task, bicubic baseline, table formats."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from hifacegan.cli import benchmark_tasks as benchmark_cli
from hifacegan.io import list_images, read_image, write_image
from hifacegan.metrics import Evaluator
from hifacegan.metrics.tasks import ROWS, bicubic_baseline, format_task_table, run_task_benchmark


def _faces(n: int = 3, size: int = 64) -> list[tuple[str, np.ndarray]]:
    y, x = np.mgrid[0:size, 0:size] / size
    out = []
    for i in range(n):
        image = np.stack([0.5 + 0.4 * np.sin((5 + i) * x + c) * np.cos(3 * y) for c in (0, 1, 2)], axis=2)
        out.append((f"face{i}", (image * 255).astype(np.uint8)))
    return out


def test_bicubic_baseline_only_interpolates_sr_tasks():
    image = _faces(1)[0][1]
    assert bicubic_baseline(image, "denoise") is image
    sr = bicubic_baseline(image, "sr4x")
    assert sr.shape == image.shape and sr.dtype == np.uint8
    assert not np.array_equal(sr, image)
    # A 4x4-block-constant image survives area down / bicubic up almost unchanged in block centres.
    blocks = np.kron(np.arange(16 * 16 * 3).reshape(16, 16, 3) % 200, np.ones((4, 4, 1))).astype(np.uint8)
    assert bicubic_baseline(blocks, "sr16x").shape == blocks.shape


def test_run_task_benchmark_rows_and_determinism():
    faces = _faces()
    evaluator = Evaluator(["psnr", "ssim"])

    def identity(images: list[np.ndarray]) -> list[np.ndarray]:
        return [im.copy() for im in images]

    results = run_task_benchmark(faces, ["sr4x", "jpeg"], seed=3, restore=identity, evaluator=evaluator,
                                 batch_size=2)
    assert list(results.reports) == ["sr4x", "jpeg"]
    for task in ("sr4x", "jpeg"):
        assert list(results.reports[task]) == list(ROWS)
        rows = results.reports[task]
        # An identity "model" scores exactly like its input.
        assert rows["model"].summary == rows["input"].summary
        assert rows["input"].counts["psnr"] == 3
    assert results.reports["jpeg"]["bicubic"] is results.reports["jpeg"]["input"]
    assert results.reports["sr4x"]["bicubic"].summary != results.reports["sr4x"]["input"].summary
    again = run_task_benchmark(faces, ["jpeg"], seed=3, restore=identity, evaluator=evaluator)
    assert again.reports["jpeg"]["input"].summary == results.reports["jpeg"]["input"].summary
    other_seed = run_task_benchmark(faces, ["jpeg"], seed=4, restore=identity, evaluator=evaluator)
    assert other_seed.reports["jpeg"]["input"].summary != results.reports["jpeg"]["input"].summary

    table = format_task_table(results, evaluator.metrics)
    assert len(table.splitlines()) == 2 + 6 and "PSNR ↑" in table
    markdown = format_task_table(results, evaluator.metrics, markdown=True).splitlines()
    assert markdown[0] == "| task | method | PSNR ↑ | SSIM ↑ |" and markdown[1] == "|---|---|---:|---:|"
    assert markdown[2].startswith("| sr4x | input | ") and len(markdown) == 8
    with pytest.raises(ValueError, match="unknown task"):
        run_task_benchmark(faces, ["sr8x"], seed=0, restore=identity, evaluator=evaluator)


def test_a_better_restorer_scores_better():
    from hifacegan.degradations import degrade, rng_for

    faces = _faces()
    # An oracle that knows the degraded -> truth mapping: PSNR must be infinite, far above the input's.
    lookup = {degrade(img, "denoise", rng_for(0, stem))[0].tobytes(): img for stem, img in faces}
    assert len(lookup) == len(faces)

    def oracle(images: list[np.ndarray]) -> list[np.ndarray]:
        return [lookup[im.tobytes()] for im in images]

    results = run_task_benchmark(faces, ["denoise"], 0, oracle, Evaluator(["psnr"]))
    assert results.reports["denoise"]["model"].summary["psnr"] == float("inf")
    assert results.reports["denoise"]["input"].summary["psnr"] < 40


def test_cli_with_a_tiny_model(tmp_path, capsys):
    from hifacegan import create_model, save_model
    from hifacegan.models.checkpoint import model_card_for

    model = create_model("test_hifacegan")
    weights = save_model(tmp_path / "tiny.safetensors", model, model_card_for(model, "hifacegan", 8))
    for stem, image in _faces(2):
        write_image(tmp_path / "data" / f"{stem}.png", image)
    parser = argparse.ArgumentParser()
    benchmark_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["benchmark-tasks", "--model", str(weights), "--data", str(tmp_path / "data"),
                              "--tasks", "sr16x,deblur", "--seed", "1", "--metrics", "psnr,ssim",
                              "--markdown", str(tmp_path / "t.md"), "--json", str(tmp_path / "t.json"),
                              "--save-images", str(tmp_path / "imgs")])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "sr16x" in printed and "bicubic" in printed and "model" in printed
    markdown = (tmp_path / "t.md").read_text()
    assert markdown.count("| sr16x |") == 3 and markdown.count("| deblur |") == 3
    summary = json.loads((tmp_path / "t.json").read_text())
    assert summary["images"] == 2 and set(summary["tasks"]) == {"sr16x", "deblur"}
    saved = list_images(tmp_path / "imgs" / "sr16x" / "model")
    assert [p.stem for p in saved] == ["face0", "face1"]
    # The saved input equals what `hifacegan degrade` makes from (seed, stem).
    from hifacegan.degradations import degrade, rng_for

    expected = degrade(_faces(1)[0][1], "sr16x", rng_for(1, "face0"))[0]
    assert np.array_equal(read_image(tmp_path / "imgs" / "sr16x" / "input" / "face0.png").to_uint8(), expected)


def test_cli_rejects_unknown_tasks(capsys):
    parser = argparse.ArgumentParser()
    benchmark_cli.add_parser(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["benchmark-tasks", "--model", "m", "--data", "d", "--tasks", "sr8x"])
    assert "unknown task" in capsys.readouterr().err
