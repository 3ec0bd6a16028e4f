"""Checkpoint reading, adapting, converting and the errors users see."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest
import torch

import hifacegan
from hifacegan.cli import main as cli_main
from hifacegan.models import CheckpointError, create_model, read_weights, save_model
from hifacegan.models.adapters import adapt_official, clean_state_dict, detect_layout, infer_architecture
from hifacegan.models.checkpoint import model_card_for


class NotATensor:  # a pickled object that weights_only loading must refuse
    def __init__(self):
        self.payload = "anything"


def _tiny_state():
    return create_model("test_hifacegan").state_dict()


def test_pickled_non_tensor_object_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": _tiny_state(), "extra": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="refused.*not tensors"):
        hifacegan.load_model(path)


def test_wrong_shape_names_the_first_mismatching_key(tmp_path):
    state = collections.OrderedDict(_tiny_state())
    first = next(iter(state))
    state[first] = torch.zeros(7, 7)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=f"wrong shape for key '{first}'"):
        hifacegan.load_model(path, arch="hifacegan", ngf=8)


def test_missing_keys_are_listed(tmp_path):
    state = _tiny_state()
    removed = "to_rgbs.0.bias"
    del state[removed]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=removed):
        hifacegan.load_model(path)


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "photo.pth"
    path.write_bytes(b"\x89PNG not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        hifacegan.load_model(path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        hifacegan.load_model(tmp_path / "missing.pth")


def test_clean_state_dict_unwraps_and_strips_prefixes():
    state = {"module._orig_mod.fc.weight": torch.zeros(1)}
    assert list(clean_state_dict({"params_ema": state, "params": {"x": torch.zeros(1)}})) == ["fc.weight"]


def test_a_training_checkpoint_gives_its_ema_generator(tmp_path):
    # hifacegan convert / load_model on a trainer's last.pt: the averaged weights, as the trainer exports.
    torch.manual_seed(0)
    raw, averaged = (create_model("lipspade", ngf=8) for _ in range(2))  # two random initialisations
    path = tmp_path / "last.pt"
    torch.save({"step": 7, "generator": raw.state_dict(), "ema": averaged.state_dict(),
                "discriminator": {"d.weight": torch.zeros(1)}}, path)
    loaded = hifacegan.load_model(path).state_dict()
    key = next(k for k in loaded if k.endswith("weight") and loaded[k].ndim == 4)
    assert torch.equal(loaded[key], averaged.state_dict()[key]) and not torch.equal(loaded[key], raw.state_dict()[key])
    torch.save({"step": 7, "generator": raw.state_dict(), "ema": None}, path)  # EMA off: the raw generator
    assert torch.equal(hifacegan.load_model(path).state_dict()[key], raw.state_dict()[key])


def test_layout_detection_and_inference():
    official = {"G_middle_0.conv_0.bias": torch.zeros(1)}
    assert detect_layout(official) == "official"
    assert detect_layout({"lip_encoder.model.0.weight": torch.zeros(1)}) == "basicsr"
    for variant, ngf in (("hifacegan", 8), ("lipspade", 8), ("spade", 8)):
        assert infer_architecture(create_model(variant, ngf=ngf).state_dict()) == (variant, ngf)
    with pytest.raises(ValueError, match="not a HiFaceGAN generator"):
        infer_architecture({"conv.weight": torch.zeros(1)})


def test_official_and_basicsr_files_give_identical_models(reference_dir):
    official, _ = read_weights(reference_dir / "lipspade_ngf8_official.pth")
    basicsr, _ = read_weights(reference_dir / "lipspade_ngf8_basicsr.pth")
    assert detect_layout(official) == "official" and detect_layout(basicsr) == "basicsr"
    a, b = adapt_official(official), adapt_official(basicsr)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_convert_cli_round_trip(reference_dir, tmp_path):
    out = tmp_path / "lipspade8.safetensors"
    assert cli_main(["convert", str(reference_dir / "lipspade_ngf8_official.pth"), str(out), "--task", "test"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["variant"] == "lipspade" and card["ngf"] == 8 and card["task"] == "test"
    io = np.load(reference_dir / "lipspade_ngf8_io.npz")
    x = torch.from_numpy(io["face128_input"])
    with torch.no_grad():
        converted = hifacegan.load_model(out)(x)
    assert (converted - torch.from_numpy(io["face128_output"])).abs().max().item() <= 1e-4
    assert cli_main(["convert", str(out), str(out)]) == 2  # never overwrites its input


def test_save_model_half_precision_round_trip(tmp_path):
    model = create_model("test_hifacegan")
    path = save_model(tmp_path / "m.safetensors", model, model_card_for(model, "hifacegan", 8), dtype=torch.float16)
    state, card = read_weights(path)
    assert card["dtype"] == "float16" and card["variant"] == "hifacegan"
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    loaded = hifacegan.load_model(path, for_inference=False)
    for key, value in model.state_dict().items():
        assert torch.allclose(loaded.state_dict()[key], value.half().float())


def test_unknown_variant_suggests_close_names():
    with pytest.raises(ValueError, match="Did you mean 'lipspade'"):
        create_model("lipspad")


def test_restore_tensor_handles_sizes_not_multiple_of_32():
    model = hifacegan.prepare_for_inference(create_model("test_hifacegan"))
    for h, w in ((50, 70), (20, 33), (64, 64), (16, 16), (1, 40)):
        out = hifacegan.restore_tensor(model, torch.rand(2, 3, h, w))
        assert out.shape == (2, 3, h, w)
        assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.rand(1, 3, 50, 64))


def test_padding_is_reflect_and_cropped_back():
    """A 96x96 image padded to 128 and cropped back equals running the model on the reflect-padded image."""
    model = hifacegan.prepare_for_inference(create_model("test_hifacegan"))
    x = torch.rand(1, 3, 100, 96)
    padded = torch.nn.functional.pad(x, (0, 0, 0, 28), mode="reflect")
    with torch.no_grad():
        expected = model(padded)[..., :100, :].clamp(0, 1)
    assert torch.allclose(hifacegan.restore_tensor(model, x), expected, atol=1e-6)


def test_progressive_phase_output_sizes():
    model = create_model("test_hifacegan")
    x = torch.rand(1, 3, 64, 64)
    assert [model(x, phase=p).shape[-1] for p in (1, 2, 3, 4)] == [8, 16, 32, 64]


# --- issue 21: the corpus of bad inputs (tests/_bad_inputs.py) --------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_weights_are_refused_naming_the_file(tmp_path, value):
    from _bad_inputs import tiny_checkpoint

    path = tiny_checkpoint(tmp_path / "bad.safetensors", poison=value)
    with pytest.raises(CheckpointError, match=r"bad.safetensors: tensor 'to_rgbs.3.weight' holds 1 non-finite"):
        hifacegan.load_model(path)
    state = create_model("test_hifacegan").state_dict()
    state["to_rgbs.0.bias"][0] = value
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"bad.pth: tensor 'to_rgbs.0.bias'"):
        hifacegan.load_model(tmp_path / "bad.pth")


def test_card_ngf_is_checked_against_the_tensors_before_building(tmp_path, monkeypatch):
    from _bad_inputs import tiny_checkpoint

    import hifacegan.models.checkpoint as checkpoint_module

    path = tiny_checkpoint(tmp_path / "huge.safetensors", card={"variant": "hifacegan", "ngf": 400, "size": 64})
    monkeypatch.setattr(checkpoint_module, "create_model", lambda *a, **k: pytest.fail("built before the check"))
    with pytest.raises(CheckpointError, match=r"huge.safetensors: ngf 400 .*'ngf' field.* tensors, which are ngf 8"):
        hifacegan.load_model(path)


@pytest.mark.parametrize(("card", "message"), [
    ("{not json", r"the model card \(metadata field 'model_card'\) is not valid JSON"),
    ("[1, 2]", r"the model card \(metadata field 'model_card'\) must be a JSON object"),
    ({"variant": "bogus", "ngf": 8}, r"model card field 'variant' is 'bogus'; expected one of .*lipspade"),
    ({"variant": "hifacegan", "ngf": "8"}, r"model card field 'ngf' is '8'; expected a positive whole number"),
    ({"variant": "hifacegan", "ngf": 8, "size": -64}, r"model card field 'size' is -64"),
], ids=["not-json", "not-object", "bogus-variant", "string-ngf", "negative-size"])
def test_a_malformed_card_names_the_file_and_the_field(tmp_path, card, message):
    from _bad_inputs import tiny_checkpoint

    path = tiny_checkpoint(tmp_path / "card.safetensors", card=card)
    with pytest.raises(CheckpointError, match="card.safetensors: " + message):
        hifacegan.load_model(path)


def test_a_pickle_that_would_run_code_is_refused_for_safety(tmp_path):
    from _bad_inputs import code_running_pickle

    marker = tmp_path / "ran"
    path = code_running_pickle(tmp_path / "evil.pth", marker)
    with pytest.raises(CheckpointError) as raised:
        hifacegan.load_model(path)
    message = str(raised.value)
    assert "evil.pth: refused for safety" in message and "objects other than tensors" in message
    assert "corrupt" not in message
    assert not marker.exists()  # and nothing ran
