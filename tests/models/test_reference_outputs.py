"""Our networks reproduce the official code's outputs and layouts (../shared/reference/official)."""

from __future__ import annotations

import ast

import numpy as np
import pytest
import torch

import hifacegan
from hifacegan.models import MultiscaleDiscriminator
from hifacegan.models.adapters import adapt_official

VARIANTS = ("lipspade", "hifacegan", "spade")
INPUTS = ("face128", "face96x160")
TOLERANCE = 1e-4


def _checkpoints():
    for variant in VARIANTS:
        yield variant, f"{variant}_ngf8_official.pth"
    yield "lipspade", "lipspade_ngf8_basicsr.pth"


@pytest.mark.parametrize(("variant", "filename"), list(_checkpoints()))
def test_generator_reproduces_official_test_time_output(reference_dir, variant, filename):
    model = hifacegan.load_model(reference_dir / filename)
    assert model.model_card["variant"] == variant and model.model_card["ngf"] == 8
    io = np.load(reference_dir / f"{variant}_ngf8_io.npz")
    for name in INPUTS:
        with torch.no_grad():
            out = model(torch.from_numpy(io[f"{name}_input"]))
        expected = torch.from_numpy(io[f"{name}_output"])
        assert out.shape == expected.shape
        err = (out - expected).abs().max().item()
        assert err <= TOLERANCE, f"{filename}/{name}: max abs error {err:.2e}"
        # The eval-mode output (running stats) is far away: we really reproduce the train-mode semantics.
        assert (out - torch.from_numpy(io[f"{name}_output_evalmode"])).abs().max().item() > 1e-2


def test_unfolded_model_matches_folded(reference_dir):
    """Folding spectral norm once equals running the spectral-norm hook (one power iteration) per forward."""
    from hifacegan.models.checkpoint import build_from_state_dict, read_weights

    state, _ = read_weights(reference_dir / "hifacegan_ngf8_official.pth")
    hooked, _, _ = build_from_state_dict(state)
    x = torch.from_numpy(np.load(reference_dir / "hifacegan_ngf8_io.npz")["face128_input"])
    with torch.no_grad():
        training_form = hooked.train()(x)  # the hook updates u in place, so fold a fresh copy below
    folded = hifacegan.prepare_for_inference(build_from_state_dict(state)[0])
    with torch.no_grad():
        assert (folded(x) - training_form).abs().max().item() < 1e-5
    assert not any(name.endswith("weight_orig") for name, _ in folded.named_parameters())


def test_discriminator_reproduces_official_features(reference_dir):
    disc = MultiscaleDiscriminator(in_channels=6, ndf=8, n_layers=4, num_d=2)
    disc.load_state_dict(torch.load(reference_dir / "discriminator_ndf8_official.pth", weights_only=True))
    io = np.load(reference_dir / "discriminator_ndf8_io.npz")
    with torch.no_grad():
        features = disc.train()(torch.from_numpy(io["input"]))
    assert len(features) == 2
    for scale, layers in enumerate(features):
        assert len(layers) == 5
        for layer, feature in enumerate(layers):
            expected = torch.from_numpy(io[f"scale{scale}_layer{layer}"])
            assert feature.shape == expected.shape
            assert (feature - expected).abs().max().item() <= TOLERANCE


def _read_keys(path):
    keys = {}
    for line in path.read_text().splitlines():
        key, shape, _dtype = line.split("\t")
        keys[key] = tuple(ast.literal_eval(shape))
    return keys


@pytest.mark.parametrize(
    ("variant", "ngf"), [("lipspade", 48), ("lipspade", 64), ("hifacegan", 48), ("hifacegan", 64), ("spade", 64)]
)
def test_full_size_models_match_official_keys_and_shapes(reference_dir, variant, ngf):
    official = _read_keys(reference_dir / f"keys_{variant}_{ngf}.tsv")
    with torch.device("meta"):
        model = hifacegan.create_model(variant, ngf=ngf)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    adapted = adapt_official({k: torch.empty(s, device="meta") for k, s in official.items()})
    assert {k: tuple(v.shape) for k, v in adapted.items()} == ours
    dropped = set(official) - {k for k in official if not k.split(".")[-1] in ("running_mean", "running_var",
                                                                                "num_batches_tracked")}
    assert len(official) - len(adapted) == len(dropped)
    assert all(".param_free_norm." in k for k in dropped)


@pytest.mark.parametrize(("variant", "ngf", "count"), [("lipspade", 48, 72_223_660), ("hifacegan", 64, 130_568_012)])
def test_parameter_counts_match_the_official_networks(variant, ngf, count):
    with torch.device("meta"):
        model = hifacegan.create_model(variant, ngf=ngf)
    assert sum(p.numel() for p in model.parameters()) == count
