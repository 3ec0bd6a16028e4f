"""Issue 31, case 1: the page bounds the result of a request, not only the upload: a 24 MP PNG (under the
25 MP upload bound, 100s of KB on disk) upscaled 3x is refused with a message instead of taking ~10 GB."""

from __future__ import annotations

from _hostile_inputs import sparse_large_png

from hifacegan.web.session import RestoreOptions, RestorerPool, ServeLimits, restore_uploads


def test_an_upscaled_result_over_the_pages_bound_is_refused_before_any_work(tmp_path, tiny_model_file):
    photo = sparse_large_png(tmp_path / "huge.png")
    assert photo.stat().st_size < 2_000_000
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    report = restore_uploads([photo], RestoreOptions(upscale=3), RestorerPool(str(tiny_model_file), device="cpu"),
                             run_dir, ServeLimits())
    assert not report.photos
    assert report.messages == [("huge.png: 6000x4000 upscaled by 3 would be 216 MP, more than the 25 MP this tool "
                               "writes; use a smaller --upscale")], report.messages
