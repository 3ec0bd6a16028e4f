"""Image reading/writing at the package boundary: every awkward kind of file."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from hifacegan.io import ImageReadError, file_sha256, list_images, read_image, write_image


def _gradient(h=24, w=32):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 128)], axis=2).astype(np.uint8)


def test_rgb_png_round_trip_is_exact(tmp_path):
    rgb = _gradient()
    write_image(tmp_path / "a.png", rgb)
    assert np.array_equal(read_image(tmp_path / "a.png").to_uint8(), rgb)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    Image.fromarray(_gradient()[..., 0]).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.was_gray and image.rgb.shape == (24, 32, 3)
    assert np.array_equal(image.rgb[..., 0], image.rgb[..., 2])


def test_rgba_keeps_alpha_and_writes_it_back(tmp_path):
    rgba = np.dstack([_gradient(), np.linspace(0, 255, 24 * 32).reshape(24, 32).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    image = read_image(tmp_path / "t.png")
    assert image.alpha is not None and abs(image.alpha.max() - 1.0) < 1e-6
    write_image(tmp_path / "out.png", image.rgb, alpha=image.alpha)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), rgba)


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    Image.fromarray(_gradient()).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    image = read_image(tmp_path / "c.jpg")
    assert image.mode == "CMYK" and image.rgb.shape == (24, 32, 3)
    assert np.abs(image.to_uint8().astype(int) - _gradient().astype(int)).mean() < 12


def test_sixteen_bit_png_keeps_precision(tmp_path):
    import cv2

    values = (np.arange(24 * 32 * 3).reshape(24, 32, 3) * 37 % 65536).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), values[..., ::-1])
    image = read_image(tmp_path / "d.png")
    assert image.bit_depth == 16
    assert np.allclose(image.rgb * 65535, values, atol=0.5)
    write_image(tmp_path / "e.png", image.rgb, bit_depth=16)
    assert np.array_equal(cv2.imread(str(tmp_path / "e.png"), cv2.IMREAD_UNCHANGED)[..., ::-1], values)


def test_exif_orientation_is_applied(tmp_path):
    rgb = _gradient(20, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW when displayed
    Image.fromarray(rgb).save(tmp_path / "r.jpg", exif=exif, quality=95)
    assert read_image(tmp_path / "r.jpg").size == (40, 20)


def test_truncated_and_non_image_files_give_clear_errors(tmp_path):
    Image.fromarray(_gradient(200, 200)).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(tmp_path / "cut.jpg")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="not a readable image"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "missing.png")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    Image.new("L", (4000, 4000)).save(tmp_path / "big.png")  # compresses to a few KB
    with pytest.raises(ImageReadError, match="decompression-bomb"):
        read_image(tmp_path / "big.png", max_pixels=1_000_000)


def test_list_images_expands_folders_and_globs(tmp_path):
    for name in ("b.png", "a.jpg", "skip.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.png"]
    assert [p.name for p in list_images(str(tmp_path / "*.png"))] == ["b.png"]
    assert [p.name for p in list_images([tmp_path / "skip.txt"])] == ["skip.txt"]  # explicit files are kept


# --- issue 21: the corpus of bad inputs (tests/_bad_inputs.py) --------------------------------------


def test_pixel_bound_is_read_from_the_header_and_names_the_option(tmp_path, monkeypatch):
    from _bad_inputs import big_jpeg

    path = big_jpeg(tmp_path / "big.jpg")  # 3000x3000, a valid photo
    with pytest.raises(ImageReadError, match=r"big.jpg: 3000x3000 = 9.0 MP exceeds the limit of 1 MP") as raised:
        read_image(path, max_pixels=1_000_000)
    assert "--max-megapixels" in str(raised.value) and "HIFACEGAN_MAX_MEGAPIXELS" in str(raised.value)
    monkeypatch.setenv("HIFACEGAN_MAX_MEGAPIXELS", "2")  # the default bound of every command
    with pytest.raises(ImageReadError, match="limit of 2 MP"):
        read_image(path)
    monkeypatch.setenv("HIFACEGAN_MAX_MEGAPIXELS", "10")
    assert read_image(path).size == (3000, 3000)
    monkeypatch.setenv("HIFACEGAN_MAX_MEGAPIXELS", "lots")
    with pytest.raises(ValueError, match="HIFACEGAN_MAX_MEGAPIXELS must be a positive number"):
        read_image(path)


@pytest.mark.parametrize("gray", [False, True], ids=["rgb", "gray"])
def test_float_tiffs_are_read_as_zero_to_one(tmp_path, gray):
    from _bad_inputs import float_tiff

    rgb = _gradient()
    image = read_image(float_tiff(tmp_path / "f.tif", rgb, gray=gray))
    expected = np.repeat(rgb[..., :1], 3, axis=2) if gray else rgb
    assert np.abs(image.to_uint8().astype(int) - expected).max() <= 1  # not divided by 255 (black)
    assert image.bit_depth == 16 and image.was_gray == gray


def test_dark_sixteen_bit_image_is_scaled_by_its_bit_depth_not_its_values(tmp_path):
    from _bad_inputs import dark_sixteen_bit

    path, values = dark_sixteen_bit(tmp_path / "dark.pgm")  # every sample < 256 of 65535
    image = read_image(path)
    assert image.bit_depth == 16
    assert np.allclose(image.rgb[..., 0] * 65535, values, atol=0.5)


def test_long_file_names_can_be_written(tmp_path):
    from _bad_inputs import long_name

    path = long_name(tmp_path)
    write_image(path, _gradient())  # the temporary name must not add to the 250 bytes
    assert np.array_equal(read_image(path).to_uint8(), _gradient())


def test_a_group_of_files_is_written_all_or_nothing(tmp_path):
    from hifacegan.io import atomic_write_files

    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(OSError):
        atomic_write_files({tmp_path / "a.png": b"first", tmp_path / "blocker" / "b.png": b"second"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]  # no a.png, no temporary file
    written = atomic_write_files({tmp_path / "a.png": b"1", tmp_path / "sub" / "b.png": b"2"})
    assert [p.read_bytes() for p in written] == [b"1", b"2"]


def test_output_folder_check(tmp_path):
    from hifacegan.io import OutputPathError, check_output_dir

    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "file")
    with pytest.raises(OutputPathError, match="cannot be written"):
        check_output_dir(tmp_path / "file" / "below")
    assert check_output_dir(tmp_path / "new" / "out").is_dir()


def test_file_sha256_hashes_every_block_and_raises_for_a_missing_file(tmp_path):
    data = bytes(range(256)) * 40000  # 10 MB: more than two of the 4-MiB blocks it reads
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + b"x")
    assert file_sha256(path) != hashlib.sha256(data).hexdigest()
    with pytest.raises(OSError):
        file_sha256(tmp_path / "missing.bin")
