"""The background of a restored photo: Lanczos, or the model over overlapping tiles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import hifacegan
from hifacegan.background import ModelBackground, lanczos_upscale, tile_starts, tiled_restore
from hifacegan.restorer import Restorer


def _photo(h: int = 150, w: int = 230) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x / w, y / h, 0.5 + 0.4 * np.sin(x / 7.0) * np.cos(y / 5.0)], 2).astype(np.float32)


@pytest.mark.parametrize(("length", "tile", "overlap"), [(1000, 256, 32), (256, 256, 32), (100, 256, 32), (300, 64, 0)])
def test_tiles_cover_the_side_with_the_overlap_asked_and_end_flush(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    side = min(tile, length)
    assert starts[0] == 0 and starts[-1] + side == length
    assert all(b - a <= side - overlap for a, b in itertools.pairwise(starts))  # neighbours share >= overlap px
    assert starts == sorted(set(starts))


@pytest.mark.parametrize("tile", [32, 64, 1000])
def test_blending_tiles_of_a_pointwise_model_gives_the_whole_image_result(tile):
    image = _photo()
    # A pointwise "model" gives the same pixel whatever tile it is in, so any seam or weighting error shows.
    out = tiled_restore(image, lambda tiles: [np.sqrt(t) for t in tiles], tile=tile, overlap=12)
    np.testing.assert_allclose(out, np.sqrt(image), atol=1e-6)


def test_tiles_all_have_one_size_and_go_in_small_batches():
    seen = []

    def model(tiles):
        seen.append([t.shape for t in tiles])
        return tiles

    tiled_restore(_photo(150, 230), model, tile=64, overlap=16, tiles_per_batch=2)
    shapes = {shape for batch in seen for shape in batch}
    assert shapes == {(64, 64, 3)} and max(len(batch) for batch in seen) == 2
    assert sum(len(batch) for batch in seen) == len(tile_starts(150, 64, 16)) * len(tile_starts(230, 64, 16))


def test_lanczos_keeps_the_restorers_output_size_and_range():
    image = _photo(77, 101)
    assert lanczos_upscale(image, 1.5).shape == (116, 152, 3)  # round(), as the default bicubic path
    big = lanczos_upscale(np.clip(image * 3 - 1, 0, 1), 3)  # hard edges make Lanczos ring past [0, 1]
    assert big.min() >= 0 and big.max() <= 1
    np.testing.assert_array_equal(lanczos_upscale(image, 1), image)


def test_the_restorer_uses_the_background_upsampler(one_torch_thread):
    torch.manual_seed(0)
    model = hifacegan.prepare_for_inference(hifacegan.create_model("test_hifacegan"))
    no_faces = lambda image: []
    photo = _photo(96, 128)
    plain = Restorer(model, device="cpu", detector=no_faces, face_size=64)
    lanczos = Restorer(model, device="cpu", detector=no_faces, face_size=64, background_upsampler=lanczos_upscale)
    modelled = Restorer(model, device="cpu", detector=no_faces, face_size=64)
    modelled.background_upsampler = ModelBackground(modelled.restore_faces, tile=64, overlap=16)

    np.testing.assert_array_equal(lanczos.enhance(photo, upscale=2).image, lanczos_upscale(photo, 2))
    by_model = modelled.enhance(photo, upscale=2).image
    assert by_model.shape == plain.enhance(photo, upscale=2).image.shape == (192, 256, 3)
    np.testing.assert_allclose(by_model, tiled_restore(lanczos_upscale(photo, 2), modelled.restore_faces, 64, 16),
                               atol=1e-5)
    assert np.abs(by_model - lanczos_upscale(photo, 2)).mean() > 0.01  # the model redrew the background
