"""Loss values on hand-made inputs (official semantics: LSGAN over scales, feature matching x10/num_D)."""

from __future__ import annotations

import math

import pytest
import torch
from _tiny import TinyPerceptual

from hifacegan.training.losses import (
    SPECTRUM_ANGLES,
    SPECTRUM_RING,
    SPECTRUM_RINGS,
    FeatureMatchingLoss,
    GeneratorObjective,
    LSGANLoss,
    PerceptualLoss,
    band_spectrum,
    band_spectrum_loss,
    discriminator_loss,
    lowfreq_l1,
    mild_input_l1,
    mildness,
    total,
)


def _scales(values, n_layers=3):
    """Two scales; each layer a constant map, the last (logits) filled with ``values[scale]``."""
    return [[torch.full((2, 4, 5, 5), float(i)) for i in range(n_layers - 1)] + [torch.full((2, 1, 3, 3), v)]
            for v in values]


def test_lsgan_averages_scales():
    gan = LSGANLoss()
    out = _scales([1.0, 0.0])
    assert gan(out, True).item() == pytest.approx((0.0 + 1.0) / 2)
    assert gan(out, False).item() == pytest.approx((1.0 + 0.0) / 2)
    assert gan(_scales([3.0, 3.0]), True).item() == pytest.approx(4.0)
    d = discriminator_loss(gan, _scales([0.5, 0.5]), _scales([1.0, 1.0]))
    assert d["d_fake"].item() == pytest.approx(0.25) and d["d_real"].item() == 0.0
    assert d["d_total"].item() == pytest.approx(0.25)


def test_feature_matching_weights_layers_by_weight_over_num_d():
    fake = _scales([5.0, 5.0])
    real = [[f + 0.5 for f in scale[:-1]] + [scale[-1] - 7] for scale in _scales([5.0, 5.0])]
    # 2 scales x 2 intermediate layers, each L1 = 0.5, weight 10 / 2 per scale; logits ignored.
    assert FeatureMatchingLoss(10.0)(fake, real).item() == pytest.approx(4 * 0.5 * 10 / 2)


def test_feature_matching_treats_real_features_as_constants():
    fake = [[torch.zeros(1, 2, 2, 2, requires_grad=True), torch.zeros(1, 1, 1, 1)]]
    real = [[torch.ones(1, 2, 2, 2, requires_grad=True), torch.zeros(1, 1, 1, 1)]]
    FeatureMatchingLoss(10.0)(fake, real).backward()
    assert fake[0][0].grad is not None and real[0][0].grad is None


def test_perceptual_loss_zero_for_equal_images_and_gradient_only_to_output():
    loss = PerceptualLoss(TinyPerceptual(), weight=10.0)
    target = torch.rand(1, 3, 32, 32)
    assert loss(target, target).item() == 0.0
    output = torch.rand(1, 3, 32, 32, requires_grad=True)
    value = loss(output, target)
    value.backward()
    assert value.item() > 0 and output.grad is not None and output.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.network.parameters())


def test_generator_objective_terms_and_weights():
    objective = GeneratorObjective(TinyPerceptual(), gan=2.0, feat=10.0, perceptual_weight=10.0, l1=0.5)
    out, target = torch.zeros(1, 3, 32, 32), torch.full((1, 3, 32, 32), 0.25)
    rec = objective.reconstruction(out, target)
    assert set(rec) == {"g_perceptual", "g_l1"} and rec["g_l1"].item() == pytest.approx(0.5 * 0.25)
    assert objective.reconstruction(out, target, l1=0.0).keys() == {"g_perceptual"}
    adv = objective.adversarial(_scales([0.0, 0.0]), _scales([0.0, 0.0]))
    assert adv["g_gan"].item() == pytest.approx(2.0) and adv["g_feat"].item() == 0.0
    assert total({**rec, **adv}).item() == pytest.approx(sum(v.item() for v in {**rec, **adv}.values()))
    with pytest.raises(ValueError, match="no loss terms"):
        total({})


def test_lowfreq_loss_sees_colour_and_shading_but_not_fine_texture():
    target = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    # A +-0.2 checkerboard: zero mean over every 8x8 block, so only texture differs.
    checker = ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).float() * 0.4 - 0.2
    assert lowfreq_l1(target + checker, target).item() == pytest.approx(0.0, abs=1e-6)
    assert torch.nn.functional.l1_loss(target + checker, target).item() == pytest.approx(0.2, abs=1e-6)
    tinted = target.clone()
    tinted[:, 0] += 0.03  # a red cast of ~8 grey levels
    assert lowfreq_l1(tinted, target).item() == pytest.approx(0.01, abs=1e-6)  # 0.03 on one channel of three
    assert lowfreq_l1(torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 20)).item() > 0  # sizes not multiples of 8


def test_generator_objective_adds_the_lowfreq_term_only_when_weighted():
    out, target = torch.zeros(1, 3, 32, 32), torch.full((1, 3, 32, 32), 0.25)
    assert "g_lowfreq" not in GeneratorObjective(None, l1=0.0).reconstruction(out, target)
    terms = GeneratorObjective(None, l1=0.0, lowfreq=2.0).reconstruction(out, target)
    assert terms.keys() == {"g_lowfreq"} and terms["g_lowfreq"].item() == pytest.approx(2.0 * 0.25)


def _with_psnr(target: torch.Tensor, psnr_db: float) -> torch.Tensor:
    """``target`` plus a checkerboard of amplitude ``a``: MSE ``a**2``, so PSNR ``-20 log10(a)``."""
    a = 10 ** (-psnr_db / 20)
    checker = (torch.arange(target.shape[-1]) % 2 * 2 - 1).float().view(1, 1, 1, -1) * a
    return target + checker


def test_mildness_is_the_logistic_of_the_input_psnr_around_the_midpoint():
    target = torch.full((3, 3, 8, 8), 0.5)
    degraded = torch.cat([_with_psnr(target[:1], 30.0), _with_psnr(target[:1], 36.0), _with_psnr(target[:1], 20.0)])
    weights = mildness(degraded, target, midpoint_db=30.0, width_db=1.5)
    assert weights.shape == (3,)
    assert weights[0].item() == pytest.approx(0.5, abs=1e-4)
    assert weights[1].item() == pytest.approx(torch.sigmoid(torch.tensor(4.0)).item(), abs=1e-4)
    assert weights[2].item() < 0.002  # heavy degradation: the GAN terms decide
    assert mildness(target, target, midpoint_db=30.0).tolist() == pytest.approx([1.0] * 3)  # identical: fully mild


def test_mild_input_l1_counts_each_item_by_its_mildness_and_passes_no_gradient_to_the_weights():
    target = torch.full((2, 3, 8, 8), 0.5)
    degraded = torch.cat([_with_psnr(target[:1], 40.0), _with_psnr(target[:1], 15.0)]).requires_grad_(True)
    output = torch.cat([torch.full((1, 3, 8, 8), 0.6), torch.full((1, 3, 8, 8), 0.9)]).requires_grad_(True)
    loss = mild_input_l1(output, target, degraded, midpoint_db=30.0)
    w = mildness(degraded, target, 30.0)
    assert loss.item() == pytest.approx(((w[0] * 0.1 + w[1] * 0.4) / 2).item(), abs=1e-6)
    assert loss.item() == pytest.approx(0.1 / 2, abs=2e-3)  # the mild item's error counts, the severe one's hardly
    loss.backward()
    assert degraded.grad is None and output.grad is not None


def test_generator_objective_adds_the_mild_term_only_when_weighted_and_given_the_input():
    target = torch.full((1, 3, 8, 8), 0.5)
    out, degraded = target + 0.1, _with_psnr(target, 45.0)
    objective = GeneratorObjective(None, l1=0.0, mild_l1=4.0, mild_psnr_db=30.0)
    assert "g_mild_l1" not in objective.reconstruction(out, target)  # no input, no term
    assert "g_mild_l1" not in GeneratorObjective(None, l1=1.0).reconstruction(out, target, degraded=degraded)
    terms = objective.reconstruction(out, target, degraded=degraded)
    assert terms.keys() == {"g_mild_l1"} and terms["g_mild_l1"].item() == pytest.approx(4.0 * 0.1, rel=1e-4)


def _diagonal_stripes(size: int, period: float, amplitude: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    return amplitude * torch.sin(2 * torch.pi * (xx + yy) / (period * 2 ** 0.5))


def test_band_spectrum_puts_diagonal_stripes_in_one_orientation_of_one_ring():
    base = torch.full((1, 3, 96, 96), 0.5)
    striped = base + _diagonal_stripes(96, period=3.0, amplitude=0.05)  # 1/3 cycle per px, along one diagonal
    rise = (band_spectrum(striped) - band_spectrum(base)).reshape(SPECTRUM_RINGS, SPECTRUM_ANGLES)
    ring, sector = divmod(int(rise.argmax()), SPECTRUM_ANGLES)
    assert ring == int(1 / 3 / SPECTRUM_RING) - 1  # the ring holding 0.33 cycles/px
    assert sector in (SPECTRUM_ANGLES // 4 - 1, SPECTRUM_ANGLES // 4, 3 * SPECTRUM_ANGLES // 4 - 1, 3 * SPECTRUM_ANGLES // 4)
    mirrored = SPECTRUM_ANGLES - 1 - sector  # the other diagonal holds almost nothing
    assert rise[ring, sector] > 5 and rise[ring, mirrored] < 0.5 * rise[ring, sector]


def test_band_spectrum_loss_leaves_where_texture_lies_free_but_not_how_much():
    torch.manual_seed(0)
    def texture() -> torch.Tensor:
        return 0.5 + 0.1 * torch.randn(2, 1, 256, 256).expand(2, 3, 256, 256)

    target = texture()
    assert band_spectrum_loss(target, target).item() == 0.0
    another_draw = band_spectrum_loss(texture(), target).item()  # only the estimation noise of each band
    half_as_much = band_spectrum_loss(0.5 + 0.5 * (target - 0.5), target).item()
    assert half_as_much == pytest.approx(math.log(4) ** 2, rel=0.05)  # power 4x lower in every band
    assert another_draw < 0.05 * half_as_much
    hatched = (target + _diagonal_stripes(256, period=2.8, amplitude=0.1)).clamp(0, 1)
    assert band_spectrum_loss(hatched, target).item() > 5 * another_draw  # one band in 108, many times too strong


def test_band_spectrum_loss_has_finite_gradients_on_a_flat_output():
    flat = torch.full((1, 3, 64, 64), 0.4, requires_grad=True)
    band_spectrum_loss(flat, torch.rand(1, 3, 64, 64)).backward()
    assert flat.grad is not None and torch.isfinite(flat.grad).all()


def test_generator_objective_adds_the_spectrum_term_only_when_weighted():
    out, target = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert "g_spectrum" not in GeneratorObjective(None, l1=1.0).reconstruction(out, target)
    terms = GeneratorObjective(None, l1=0.0, spectrum=2.0).reconstruction(out, target)
    assert terms.keys() == {"g_spectrum"}
    assert terms["g_spectrum"].item() == pytest.approx(2.0 * band_spectrum_loss(out, target).item())
