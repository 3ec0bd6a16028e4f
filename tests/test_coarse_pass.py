"""The coarse pass: heavily degraded faces restored at half size first, then at full size (issue 28)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hifacegan.inference import card_coarse_pass, coarse_to_fine, heavily_degraded, restore_faces, takes_coarse_pass
from hifacegan.metrics.niqe import niqe


class _Identity(nn.Module):
    """A 'generator' that returns its input: what the passes do around the model is then visible exactly."""

    def __init__(self, card: dict | None = None) -> None:
        super().__init__()
        self.model_card = card or {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _texture(seed: int, size: int = 256, blur: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.random((1, 3, 8, 8), dtype=np.float32))
    image = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    image = image + 0.08 * torch.from_numpy(rng.standard_normal((1, 3, size, size)).astype(np.float32))
    if blur:
        image = F.avg_pool2d(F.pad(image, (4, 4, 4, 4), mode="replicate"), 9, stride=1)
    return image.clamp(0, 1)[0].permute(1, 2, 0).numpy().copy()


def _down_up(image: torch.Tensor) -> torch.Tensor:
    h, w = image.shape[-2:]
    small = F.interpolate(image, size=(round(h / 2), round(w / 2)), mode="area")
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def test_coarse_to_fine_feeds_the_full_size_pass_the_enlarged_coarse_result():
    x = torch.rand(2, 3, 96, 80)
    out = coarse_to_fine(_Identity(), x)
    assert torch.allclose(out, _down_up(x), atol=1e-6)
    assert not torch.allclose(out, x, atol=1e-2)  # the reduction is real: detail at 1 px is gone


class _Tint(_Identity):
    """A 'generator' that tints its input, as a briefly trained model does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tensor([0.1, -0.06, 0.08]).view(1, 3, 1, 1)


def test_coarse_to_fine_keeps_the_inputs_colours():
    x = torch.from_numpy(_texture(5, size=128)).permute(2, 0, 1)[None] * 0.6 + 0.2
    tinted = coarse_to_fine(_Tint(), x)
    fixed = coarse_to_fine(_Tint(), x, color_fix=True)
    shift = lambda out: (out - x).mean(dim=(0, 2, 3)).abs().max().item()
    assert shift(tinted) > 0.05  # both passes tinted: the cast is there without the fix
    assert shift(fixed) < 0.003


def test_coarse_to_fine_refuses_a_scale_outside_0_1():
    with pytest.raises(ValueError, match="between 0 and 1"):
        coarse_to_fine(_Identity(), torch.rand(1, 3, 64, 64), scale=1.0)


def test_the_card_says_from_which_niqe_on():
    assert card_coarse_pass(_Identity({"coarse_pass": {"niqe_at_least": 9.5}})) == 9.5
    assert card_coarse_pass(_Identity()) is None
    assert card_coarse_pass(object()) is None  # no card at all (e.g. a bare callable)


def test_only_crops_at_or_above_the_cards_niqe_get_two_passes():
    sharp, blurred = _texture(0), _texture(1, blur=1)
    scores = niqe(sharp), niqe(blurred)
    assert scores[0] != scores[1]
    threshold = sum(scores) / 2
    model = _Identity({"coarse_pass": {"niqe_at_least": threshold}})
    out = restore_faces(model, [sharp, blurred], precision="fp32")
    for crop, restored, score in zip([sharp, blurred], out, scores, strict=True):
        changed = not np.allclose(restored, crop, atol=1e-5)
        assert changed == (score >= threshold), (score, threshold)
        assert heavily_degraded(crop, threshold) == (score >= threshold)


def test_the_caller_overrides_the_card():
    crop = _texture(2)
    never = _Identity({"coarse_pass": {"niqe_at_least": -1e9}})  # the card would take every crop
    assert np.allclose(restore_faces(never, [crop], precision="fp32", coarse_pass=False)[0], crop, atol=1e-5)
    no_rule = _Identity()
    forced = restore_faces(no_rule, [crop], precision="fp32", coarse_pass=True)[0]
    expected = _down_up(torch.from_numpy(crop).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.allclose(forced, expected, atol=1e-5)


def test_crops_niqe_cannot_measure_get_one_pass():
    tiny = _texture(3, size=64)  # under NIQE's two 96-px blocks
    flat = np.full((256, 256, 3), 0.5, dtype=np.float32)
    model = _Identity({"coarse_pass": {"niqe_at_least": -1e9}})
    assert not heavily_degraded(tiny, -1e9) and not heavily_degraded(flat, -1e9)
    for crop, restored in zip([tiny, flat], restore_faces(model, [tiny, flat], precision="fp32"), strict=True):
        assert np.allclose(restored, crop, atol=1e-5)


def test_output_order_holds_when_only_some_crops_take_two_passes():
    crops = [_texture(s, blur=s % 2) for s in range(4)]
    threshold = float(np.median([niqe(c) for c in crops]))
    model = _Identity({"coarse_pass": {"niqe_at_least": threshold}})
    out = restore_faces(model, crops, precision="fp32")
    single = restore_faces(model, crops, precision="fp32", coarse_pass=False)
    double = restore_faces(model, crops, precision="fp32", coarse_pass=True)
    for k, crop in enumerate(crops):
        want = double[k] if heavily_degraded(crop, threshold) else single[k]
        assert np.allclose(out[k], want, atol=1e-6)


def test_a_model_background_never_takes_the_coarse_pass(monkeypatch):
    from hifacegan import restorer as restorer_module
    from hifacegan.jobs.options import ModelSettings

    model = _Identity({"coarse_pass": {"niqe_at_least": -1e9}})
    monkeypatch.setattr(restorer_module, "_load", lambda *a, **k: model)
    restorer = ModelSettings(runtime="torch", device="cpu", background="model", background_tile=0).build()
    tile = _texture(4)
    assert np.allclose(restorer.background_upsampler.restore([tile])[0], tile, atol=1e-5)
    assert not np.allclose(restorer.restore_faces([tile])[0], tile, atol=1e-3)  # a face would take it


def test_restore_and_realness_take_the_flag():
    from hifacegan.cli import build_parser
    from hifacegan.cli.restore import _settings

    parser = build_parser()
    for command in (["restore", "in.jpg", "-o", "out"], ["realness", "faces", "-o", "out"]):
        assert parser.parse_args(command).coarse_pass is None
        assert parser.parse_args([*command, "--no-coarse-pass"]).coarse_pass is False
    _, model, _ = _settings(parser.parse_args(["restore", "in.jpg", "-o", "out", "--coarse-pass"]))
    assert model.coarse_pass is True


def test_video_frames_take_it_only_when_asked(monkeypatch):
    # Decided per face and frame from NIQE, it would flicker on a face near the threshold.
    from hifacegan import restorer as restorer_module
    from hifacegan.restorer import Restorer
    from hifacegan.video.pipeline import _frame_restorer

    monkeypatch.setattr(restorer_module, "_load", lambda *a, **k: _Identity({"coarse_pass": {"niqe_at_least": -1e9}}))
    tracker = object()
    for asked, frames in ((None, False), (False, False), (True, True)):
        restorer = Restorer(runtime="torch", device="cpu", coarse_pass=asked)
        frame_restorer = _frame_restorer(restorer, tracker)  # type: ignore[arg-type]
        assert frame_restorer.coarse_pass is frames and frame_restorer._detector is tracker
        assert restorer.coarse_pass is asked and frame_restorer.model is restorer.model


def test_the_gate_holds_only_at_the_cards_size():
    # The threshold was measured on crops of the card's size; NIQE of a smaller crop is on another scale.
    model = _Identity({"size": 256, "coarse_pass": {"niqe_at_least": -1e9}})
    at_size, other = _texture(6, size=256), _texture(7, size=224)
    out = restore_faces(model, [at_size, other], precision="fp32")
    assert not np.allclose(out[0], at_size, atol=1e-3)
    assert np.allclose(out[1], other, atol=1e-5)
    assert not np.allclose(restore_faces(model, [other], precision="fp32", coarse_pass=True)[0], other, atol=1e-3)
    # The benchmarks' count of two-pass faces asks the same function restore_faces does.
    assert [takes_coarse_pass(model, c) for c in (at_size, other)] == [True, False]
    assert takes_coarse_pass(model, other, True) and not takes_coarse_pass(model, at_size, False)
