"""NIQE: reproduces the MATLAB-compatible reference values; a fresh install scores on the standard scale."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _metric_data import NIQE_PARAMS, NIQE_REFERENCE, SHARED, UTK_VAL, require

from hifacegan.io import read_image
from hifacegan.metrics import MissingFileError, find_niqe_params, load_niqe_params, niqe
from hifacegan.metrics.niqe import FACES_NIQE_PARAMS, NIQE_PARAMS_ENV, PACKAGED_NIQE_PARAMS, matlab_imresize

# The module itself (``hifacegan.metrics.niqe`` the attribute is the function).
niqe_module = importlib.import_module("hifacegan.metrics.niqe")


def test_niqe_reproduces_every_reference_value():
    reference = json.loads(require(NIQE_REFERENCE).read_text())
    params = load_niqe_params(require(NIQE_PARAMS))
    assert len(reference["values"]) == 10
    for relative, expected in reference["values"].items():
        image = read_image(SHARED / relative).to_uint8()
        assert niqe(image, params=params) == pytest.approx(expected, abs=0.01), relative


def test_niqe_ranks_a_blurred_face_as_less_natural():
    import cv2

    params = load_niqe_params(require(NIQE_PARAMS))
    image = read_image(SHARED / "data/realworld/cropped_faces/Adele_crop.png").to_uint8()
    blurred = cv2.GaussianBlur(image, (0, 0), 3.0)
    assert niqe(blurred, params=params) > niqe(image, params=params) + 1.0
    assert niqe(image / 255.0, params=params) == pytest.approx(niqe(image, params=params), abs=1e-9)


def test_a_fresh_install_scores_on_the_standard_scale(monkeypatch):
    assert find_niqe_params() == PACKAGED_NIQE_PARAMS  # conftest: no env var, empty caches
    params = load_niqe_params()
    assert params.name == "standard" and params.mu.shape == (36,) and params.cov.shape == (36, 36)
    assert np.allclose(params.cov, params.cov.T) and np.linalg.eigvalsh(params.cov).min() > 0
    assert np.allclose(params.window.sum(), 1.0)
    textured = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    assert np.isfinite(niqe(textured))
    # Only a broken install (no packaged file) leaves nothing; the message then says where to put a file.
    monkeypatch.setattr(niqe_module, "PACKAGED_NIQE_PARAMS", PACKAGED_NIQE_PARAMS.with_name("gone.npz"))
    with pytest.raises(MissingFileError) as info:
        find_niqe_params()
    message = str(info.value)
    assert NIQE_PARAMS_ENV in message and "niqe_pris_params.npz" in message and "hifacegan" in message


def test_the_packaged_models_are_package_data():
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"metrics/data/*.npz"' in pyproject and '"metrics/data/*.md"' in pyproject  # a wheel installs them
    assert PACKAGED_NIQE_PARAMS.parent == Path(niqe_module.__file__).resolve().parent / "data"
    assert (PACKAGED_NIQE_PARAMS.parent / "NOTICE.md").read_text().count("Apache License 2.0") == 1
    with np.load(PACKAGED_NIQE_PARAMS) as data:
        assert str(data["name"]) == "standard" and "BasicSR" in str(data["source"])
    with np.load(FACES_NIQE_PARAMS) as data:
        assert str(data["name"]) == "hifacegan-faces-v1" and int(data["images"]) == 244


def test_the_shipped_standard_model_reproduces_the_reference_values():
    """No file of the user's: the default model gives the published (MATLAB/BasicSR) values."""
    reference = json.loads(require(NIQE_REFERENCE).read_text())["values"]
    shipped, standard = load_niqe_params(), load_niqe_params(require(NIQE_PARAMS))
    assert np.array_equal(shipped.mu, standard.mu) and np.array_equal(shipped.cov, standard.cov)
    for relative, expected in list(reference.items())[:3]:
        assert niqe(read_image(SHARED / relative).to_uint8()) == pytest.approx(expected, abs=0.01), relative


def test_shipped_models_are_chosen_by_name(monkeypatch):
    assert find_niqe_params("standard") == PACKAGED_NIQE_PARAMS
    assert find_niqe_params("faces") == find_niqe_params("hifacegan-faces-v1") == FACES_NIQE_PARAMS
    assert load_niqe_params("faces").name == "hifacegan-faces-v1"
    monkeypatch.setenv(NIQE_PARAMS_ENV, "faces")
    assert load_niqe_params().name == "hifacegan-faces-v1"


def test_a_users_file_takes_precedence_and_is_named_standard(monkeypatch):
    source = require(NIQE_PARAMS)
    monkeypatch.setenv(NIQE_PARAMS_ENV, str(source))
    params = load_niqe_params()
    assert params.name == "standard" and params.source == source.resolve() != PACKAGED_NIQE_PARAMS


def test_faces_model_ranks_degraded_faces_below_clean_ones():
    """The packaged model must still rank every degraded face as less natural than its clean original."""
    import cv2

    faces = sorted(require(UTK_VAL).glob("*.jpg"))[:4]
    params = load_niqe_params(FACES_NIQE_PARAMS)
    rng = np.random.default_rng(0)
    for path in faces:
        clean = read_image(path).to_uint8()
        noisy = np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
        _, encoded = cv2.imencode(".jpg", clean, [cv2.IMWRITE_JPEG_QUALITY, 10])
        for degraded in (cv2.GaussianBlur(clean, (0, 0), 2.5), noisy, cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)):
            assert niqe(degraded, params=params) > niqe(clean, params=params) + 1.0, path.name


def test_faces_model_orders_the_reference_images_like_the_standard_one():
    reference = json.loads(require(NIQE_REFERENCE).read_text())["values"]
    standard, faces = load_niqe_params(require(NIQE_PARAMS)), load_niqe_params(FACES_NIQE_PARAMS)
    images = [read_image(SHARED / relative).to_uint8() for relative in reference]
    ranks = [np.argsort(np.argsort([niqe(im, params=p) for im in images])) for p in (standard, faces)]
    assert np.corrcoef(*ranks)[0, 1] > 0.85  # Spearman; 0.94 when the model was fitted


def test_pristine_fit_keeps_only_the_sharpest_blocks():
    fit = _fit_script().fit_pristine_model
    rng = np.random.default_rng(1)
    luma = np.full((192, 288), 120.0)
    luma[:, :96] = np.round(rng.uniform(20, 230, (192, 96)))  # two textured blocks; four flat-ish ones
    luma[:, 96:] += np.round(rng.normal(0, 3, (192, 192)))
    window = niqe_module.gaussian_window()
    mu, cov, kept = fit([luma], window)
    features, sharpness = niqe_module.niqe_block_features(luma, window)
    assert kept == 2 and np.argsort(sharpness)[-2:].tolist() == [0, 3]  # row-major: the left column
    assert np.allclose(mu, features[[0, 3]].mean(axis=0)) and cov.shape == (36, 36)
    with pytest.raises(ValueError, match="usable blocks"):
        fit([], window)


def _fit_script():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "fit_niqe_params.py"
    spec = importlib.util.spec_from_file_location("fit_niqe_params", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_niqe_finds_its_file_through_env_and_cache(monkeypatch, tmp_path):
    source = require(NIQE_PARAMS)
    monkeypatch.setenv(NIQE_PARAMS_ENV, str(source))
    assert find_niqe_params() == source
    monkeypatch.delenv(NIQE_PARAMS_ENV)
    cached = tmp_path / "xdg-cache" / "hifacegan" / "niqe_pris_params.npz"  # XDG_CACHE_HOME set by conftest
    cached.parent.mkdir(parents=True)
    shutil.copy(source, cached)
    assert find_niqe_params() == cached
    with pytest.raises(MissingFileError, match="does not exist"):
        find_niqe_params(tmp_path / "nowhere.npz")  # an explicit path is never silently replaced


def test_niqe_rejects_images_without_two_textured_blocks():
    params = load_niqe_params(require(NIQE_PARAMS))
    with pytest.raises(ValueError, match="two 96x96 blocks"):
        niqe(np.zeros((100, 150, 3), dtype=np.uint8), params=params)
    with pytest.raises(ValueError, match="texture"):  # undefined, not a NaN that would poison a mean
        niqe(np.full((200, 200, 3), 90, dtype=np.uint8), params=params)


def test_matlab_imresize_shapes_and_invariants():
    rng = np.random.default_rng(0)
    image = rng.random((97, 50)) * 255
    half = matlab_imresize(image, 0.5)
    assert half.shape == (49, 25)  # MATLAB: ceil(size * scale)
    assert np.allclose(matlab_imresize(np.full((20, 30), 7.0), 0.5), 7.0)  # weights sum to 1, borders mirrored
    # Antialiased 2x shrink of a column-constant ramp keeps the ramp's average slope.
    ramp = np.tile(np.arange(64, dtype=np.float64), (8, 1))
    out = matlab_imresize(ramp, 0.5)
    assert np.allclose(np.diff(out[0, 3:-3]), 2.0)
    assert out[0, 5] == pytest.approx(10.5)  # output pixel 6 (1-based) is centred on input 11.5
