"""The colour fix: low frequencies from the input, details from the model."""

from __future__ import annotations

import pytest
import torch

import hifacegan
from hifacegan.inference import keep_input_colors


def _smooth(seed: int, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=g) * 0.6 + 0.2
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def test_a_colour_cast_is_removed_exactly():
    reference = _smooth(0)
    cast = torch.tensor([0.08, -0.05, 0.1]).view(1, 3, 1, 1)
    assert torch.allclose(keep_input_colors(reference + cast, reference), reference, atol=1e-5)


def test_fine_detail_of_the_restored_image_is_kept():
    # A 2-px checkerboard has no low frequencies at sigma 1.5 px: it survives, on the reference's level.
    size = 64
    checker = ((torch.arange(size).view(-1, 1) + torch.arange(size).view(1, -1)) % 2).float()
    restored = (0.5 + 0.2 * (checker - 0.5)).expand(1, 3, size, size)
    reference = torch.full((1, 3, size, size), 0.3)
    out = keep_input_colors(restored, reference)
    assert torch.allclose(out, restored - 0.2, atol=1e-3)


def test_noise_in_the_reference_stays_out():
    g = torch.Generator().manual_seed(1)
    clean = _smooth(2)
    noisy = (clean + 0.15 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    out = keep_input_colors(clean, noisy)
    assert (out - clean).abs().mean() < 0.25 * (noisy - clean).abs().mean()


def test_restore_tensor_applies_it_against_its_input():
    model = hifacegan.prepare_for_inference(hifacegan.create_model("test_hifacegan"))
    x = torch.rand(2, 3, 50, 70)
    expected = keep_input_colors(hifacegan.restore_tensor(model, x), x)
    assert torch.allclose(hifacegan.restore_tensor(model, x, color_fix=True), expected, atol=1e-6)


def test_small_images_and_shape_mismatch():
    tiny = torch.rand(1, 3, 3, 5)
    assert keep_input_colors(tiny, tiny).shape == tiny.shape  # blur radius beyond the image: replicate
    with pytest.raises(ValueError, match="equal shapes"):
        keep_input_colors(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))


def test_coloured_glints_lose_their_colour_but_not_their_luma():
    from hifacegan.inference import smooth_chroma

    size = 256  # chroma sigma 2 px
    grey = torch.full((1, 3, size, size), 0.5)
    glint = grey.clone()
    glint[:, :, 100:102, 100:102] = torch.tensor([0.2, 0.9, 0.9]).view(1, 3, 1, 1)  # a 2-px cyan dot
    out = keep_input_colors(glint, grey)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    chroma = lambda x: x - (x * luma).sum(1, keepdim=True)
    dot = (slice(None), slice(None), slice(100, 102), slice(100, 102))
    assert chroma(out)[dot].abs().max() < 0.35 * chroma(glint)[dot].abs().max()
    # The luma detail is the restored image's (minus its low frequencies, as before).
    no_chroma = keep_input_colors(glint, grey, chroma_sigma=0)
    assert torch.allclose((out * luma).sum(1), (no_chroma * luma).sum(1), atol=1e-5)
    assert torch.allclose(smooth_chroma(glint, 2.0).mul(luma).sum(1), glint.mul(luma).sum(1), atol=1e-6)
