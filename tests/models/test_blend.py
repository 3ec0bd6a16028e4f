"""The realness/fidelity knob and shipped-model names (``--model renovation|fidelity``, ``--weight``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import hifacegan
from hifacegan.models import pretrained
from hifacegan.models.blend import FidelityBlend


class Constant(torch.nn.Module):
    """A "generator" that returns one grey level everywhere (its input's size), to see what is mixed."""

    def __init__(self, level: float) -> None:
        super().__init__()
        self.level = torch.nn.Parameter(torch.tensor(level), requires_grad=False)
        self.seen: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape[-2:]))
        return torch.full_like(x, float(self.level))


@pytest.mark.parametrize("weight", [0.0, 0.25, 1.0])
def test_blend_mixes_the_two_outputs_by_the_weight(weight):
    renovation, fidelity = Constant(0.8), Constant(0.2)
    renovation.model_card = {"size": 256}
    blend = FidelityBlend(renovation, fidelity, weight, fidelity_size=64)
    out = blend(torch.rand(2, 3, 256, 256))
    assert out.shape == (2, 3, 256, 256)
    torch.testing.assert_close(out, torch.full_like(out, 0.8 * (1 - weight) + 0.2 * weight))
    # the fidelity model sees the face at its own training size (a quarter of the side here)
    assert fidelity.seen == ([] if weight == 0 else [(64, 64)])
    assert blend.model_card["size"] == 256 and blend.model_card["fidelity_weight"] == weight


def test_blend_weight_is_checked():
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        FidelityBlend(Constant(0), Constant(0), 1.5, fidelity_size=64)


def test_fidelity_share_is_the_fidelity_model_at_its_scale():
    torch.manual_seed(0)
    fidelity = hifacegan.prepare_for_inference(hifacegan.create_model("test_hifacegan"))
    blend = FidelityBlend(Constant(0.5), fidelity, 1.0, fidelity_size=64)
    x = torch.rand(1, 3, 128, 128)
    expected = F.interpolate(hifacegan.restore_tensor(fidelity, F.interpolate(x, size=(64, 64), mode="area")),
                             size=(128, 128), mode="bicubic", align_corners=False)
    torch.testing.assert_close(blend(x), expected)


def test_model_names_resolve_or_say_what_exists(monkeypatch):
    assert pretrained.pretrained_path("fidelity") == pretrained.pretrained_path("lipspade_utkface128_ngf24")
    assert pretrained.is_model_name("fidelity") and not pretrained.is_model_name("my_model.pth")
    monkeypatch.setitem(pretrained.MODEL_ALIASES, "renovation", None)
    with pytest.raises(pretrained.NoDefaultModelError, match="'renovation' model is not shipped"):
        pretrained.pretrained_path("renovation")
    with pytest.raises(pretrained.NoDefaultModelError, match="shipped models: fidelity"):
        pretrained.pretrained_path("fidelty")
