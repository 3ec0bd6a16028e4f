"""LPIPS and FID: run from local weight files only (synthetic ones here), else one clear message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hifacegan.metrics import MissingFileError
from hifacegan.metrics.feature_distance import (
    ALEXNET_FILE,
    FID_INCEPTION_FILE,
    LPIPS,
    FIDInception,
    fid,
    fid_from_features,
    frechet_distance,
    load_fid_inception,
    load_lpips,
    lpips,
)


@pytest.fixture
def lpips_files(tmp_path):
    """torchvision-layout AlexNet weights and lpips-layout heads, random but well-formed."""
    torch.manual_seed(0)
    reference = LPIPS()
    backbone = {f"features.{k}": v for k, v in reference.features.state_dict().items()}
    backbone["classifier.1.weight"] = torch.zeros(4, 4)  # torchvision files carry a classifier: ignored
    heads = {f"lin{i}.model.1.weight": head.weight.detach().abs() for i, head in enumerate(reference.heads)}
    torch.save(backbone, tmp_path / "alexnet.pth")
    torch.save(heads, tmp_path / "alex.pth")
    return tmp_path / "alexnet.pth", tmp_path / "alex.pth"


def test_lpips_loads_local_files_and_measures(lpips_files):
    model = load_lpips(*lpips_files)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert lpips(image, image, model=model) == 0.0
    noisy = np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8)
    assert lpips(noisy, image, model=model) > 0.0
    with pytest.raises(ValueError, match="differ in size"):
        lpips(image, image[:32], model=model)


def test_lpips_missing_files_say_where_to_put_them(lpips_files, tmp_path):
    with pytest.raises(MissingFileError, match="HIFACEGAN_LPIPS_ALEXNET") as info:
        load_lpips()
    assert ALEXNET_FILE in str(info.value) and "hub" in str(info.value)
    with pytest.raises(MissingFileError, match="HIFACEGAN_LPIPS_HEADS"):
        load_lpips(backbone=lpips_files[0])


def test_a_standard_file_name_with_other_contents_is_refused(lpips_files, tmp_path):
    fake = tmp_path / ALEXNET_FILE
    fake.write_bytes(lpips_files[0].read_bytes())
    with pytest.raises(ValueError, match="sha256"):
        load_lpips(fake, lpips_files[1])


def test_frechet_distance_closed_forms():
    # 1-D: (m1 - m2)^2 + s1 + s2 - 2 sqrt(s1 s2)
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == \
        pytest.approx(4.0 + 4.0 + 9.0 - 2 * 6.0)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 8))
    cov = np.cov(a, rowvar=False)
    assert frechet_distance(a.mean(0), cov, a.mean(0), cov) == pytest.approx(0.0, abs=1e-8)
    assert fid_from_features(a, a + 0.5) == pytest.approx(8 * 0.25, abs=1e-8)  # shift only moves the mean
    assert fid_from_features(a, 2 * a) > fid_from_features(a, 1.1 * a) > 0
    with pytest.raises(ValueError, match="at least two"):
        fid_from_features(a[:1], a)


def test_fid_network_loads_its_file_layout_and_compares_sets(tmp_path):
    torch.manual_seed(0)
    state = FIDInception().state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # as in old files
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    torch.save(state, tmp_path / "inception.pth")
    model = load_fid_inception(tmp_path / "inception.pth")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(3)]
    assert fid(images, images, model=model, batch_size=2) == pytest.approx(0.0, abs=1e-3)
    del state["Mixed_7c.branch_pool.conv.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="does not fit"):
        load_fid_inception(tmp_path / "broken.pth")
    with pytest.raises(MissingFileError, match=FID_INCEPTION_FILE):
        load_fid_inception()
