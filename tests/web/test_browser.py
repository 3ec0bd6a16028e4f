"""``hifacegan serve`` in a real browser: Debian's headless Chromium, driven by Selenium, uploads photos.

The server runs as a subprocess (as users start it) on a free localhost port, with its own empty
TMPDIR, HOME and working folder, so the test can check that it wrote nothing outside its temporary
folder and removed that folder on SIGTERM. Set ``HIFACEGAN_WEB_SCREENSHOT=docs/web_demo.png`` to
keep the page's screenshot (how the README's picture was taken).
"""

from __future__ import annotations

import io
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from _web_server import CHROMEDRIVER, CHROMIUM, assert_nothing_left, headless_chromium, running_server
from PIL import Image

from hifacegan.io import read_image

REPO_ROOT = Path(__file__).resolve().parents[2]
PHOTOS = REPO_ROOT.parent / "shared" / "data" / "realworld" / "whole_imgs"
pytestmark = pytest.mark.slow


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"needs Debian's headless Chromium ({', '.join(missing)} missing): "
                    "apt-get install chromium chromium-driver")
    if not os.environ.get("CI"):  # in CI (.ci/run installs everything) a missing part is a failure, not a skip
        pytest.importorskip("gradio", reason="needs the [web] extra: pip install 'hifacegan[web]'")
        pytest.importorskip("selenium", reason="needs selenium: pip install 'hifacegan[test]'")


@pytest.fixture
def browser(tmp_path):
    _require_browser()
    driver = headless_chromium(tmp_path, "1280,1300")
    try:
        yield driver
    finally:
        driver.quit()


def _photo(tmp_path: Path) -> Path:
    """A real photo with faces from ../shared (a photo without a face is copied through unchanged, so the
    check that the page restored it needs faces)."""
    if not PHOTOS.is_dir():
        pytest.skip(f"needs the real photos in {PHOTOS} (../shared is absent)")
    return PHOTOS / "Blake_Lively.jpg" if (PHOTOS / "Blake_Lively.jpg").exists() else min(PHOTOS.iterdir())


def _fetch_image(url: str) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=30) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))


def test_upload_restore_and_compare_in_a_real_browser(browser, tmp_path):
    with running_server(tmp_path, "--max-upload-mb", "2") as (url, sandbox):
        _upload_restore_and_compare(browser, url, tmp_path)
    assert_nothing_left(sandbox)


def _upload_restore_and_compare(browser, url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    photo = _photo(tmp_path)
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not a photo\n")
    oversized = tmp_path / "huge.png"
    oversized.write_bytes(os.urandom(3_000_000))  # over --max-upload-mb 2, under Gradio's transport cap

    browser.get(url)
    upload = WebDriverWait(browser, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "#uploads input[type=file]"))
    upload.send_keys("\n".join(str(p) for p in (photo, not_image, oversized)))
    # The file list shows the three names (stem and suffix apart) once the upload has finished.
    WebDriverWait(browser, 60).until(
        lambda d: all(p.stem in d.find_element(By.ID, "uploads").text for p in (photo, not_image, oversized)))
    browser.find_element(By.ID, "restore-button").click()
    status = WebDriverWait(browser, 600).until(
        lambda d: d.find_element(By.ID, "status") if "Restored" in d.find_element(By.ID, "status").text
        or "Nothing" in d.find_element(By.ID, "status").text else None)
    text = status.text
    assert "Restored 1 of 3 file(s)" in text, text
    assert "notes.jpg: " in text and "not a readable image" in text
    assert "huge.png: 3.0 MB is over this page's upload limit of 2 MB" in text

    sources = WebDriverWait(browser, 60).until(
        lambda d: [img.get_attribute("src") for img in d.find_elements(By.CSS_SELECTOR, "#photo-slider img")
                   if img.get_attribute("src")] or None)
    assert len(sources) == 2, sources
    before, after = (_fetch_image(src) for src in sources)
    original = read_image(photo).to_uint8()
    assert after.shape == before.shape == original.shape
    assert np.array_equal(before, original)
    assert np.abs(after.astype(int) - original).mean() > 0.1, "the restored photo must differ from the input"
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#downloads a")]
    assert any(h and h.endswith(".zip") for h in links), links

    screenshot = tmp_path / "page.png"
    assert browser.save_screenshot(str(screenshot))
    assert Image.open(screenshot).size[0] >= 1000
    if os.environ.get("HIFACEGAN_WEB_SCREENSHOT"):
        # 256 colours keep the README's picture small (< 300 KB) and still legible.
        Image.open(screenshot).convert("RGB").quantize(256).save(os.environ["HIFACEGAN_WEB_SCREENSHOT"], optimize=True)


def test_the_server_stays_offline_and_inside_its_temporary_folder(tmp_path):
    if not os.environ.get("CI"):
        pytest.importorskip("gradio", reason="needs the [web] extra: pip install 'hifacegan[web]'")
    with running_server(tmp_path) as (url, sandbox):
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode()
        assert "hifacegan: restore faces" in page
        assert "fonts.googleapis.com" not in page
        assert "127.0.0.1" in url
        secret = tmp_path / "secret.txt"
        secret.write_text("not for visitors")
        with pytest.raises(urllib.error.HTTPError) as refused:  # Gradio's file route serves only its own files
            urllib.request.urlopen(f"{url}gradio_api/file={secret}", timeout=30)
        assert refused.value.code == 403
    assert_nothing_left(sandbox)
    assert "api.gradio.app" not in sandbox["log"]
