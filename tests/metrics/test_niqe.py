"""NIQE: reproduces the project's MATLAB-compatible reference values; finds (or clearly misses) its model file."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from _metric_data import NIQE_PARAMS, NIQE_REFERENCE, SHARED, require

from hifacegan.io import read_image
from hifacegan.metrics import MissingFileError, find_niqe_params, load_niqe_params, niqe
from hifacegan.metrics.niqe import NIQE_PARAMS_ENV, matlab_imresize


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


def test_niqe_without_parameter_file_says_where_to_put_it():
    with pytest.raises(MissingFileError) as info:
        find_niqe_params()
    message = str(info.value)
    assert NIQE_PARAMS_ENV in message and "niqe_pris_params.npz" in message and "hifacegan" in message
    with pytest.raises(MissingFileError):
        niqe(np.zeros((200, 200, 3), dtype=np.uint8))


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
