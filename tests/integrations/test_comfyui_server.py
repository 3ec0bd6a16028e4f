"""The node pack in a real ComfyUI: started headless on the CPU, driven through its HTTP API and in Chromium.

ComfyUI (the commit in ``../shared/vendor``) is unpacked into a temporary folder with ``integrations/comfyui``
linked into its ``custom_nodes/``, and runs on a free localhost port from its own environment, ``.venv-comfyui``
(``.ci/run`` installs it from integrations/comfyui/ci-environment.txt; ``HIFACEGAN_COMFYUI_VENV`` names another).
A workflow LoadImage -> HiFaceGAN -> SaveImage posted to ``/prompt`` must save what ``Restorer.enhance`` gives
for the same photo. Set ``HIFACEGAN_COMFYUI_SCREENSHOT=docs/comfyui_graph.png`` to keep the graph's screenshot.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from _web_server import CHROMEDRIVER, CHROMIUM, headless_chromium
from PIL import Image

from hifacegan.io import read_image
from hifacegan.restorer import Restorer

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
COMFYUI_ARCHIVE = SHARED / "vendor" / "ComfyUI-a125cd84.tar.gz"
# A PNG: both sides decode the very same pixels (JPEG decoders may differ between Pillow builds).
PHOTO = SHARED / "data" / "realworld" / "whole_imgs" / "10045.png"
PACK = REPO_ROOT / "integrations" / "comfyui"
COMFYUI_VENV = Path(os.environ.get("HIFACEGAN_COMFYUI_VENV") or REPO_ROOT / ".venv-comfyui")
pytestmark = pytest.mark.slow


def _workflow(photo_name: str) -> dict:
    """LoadImage -> HiFaceGAN Model Loader + HiFaceGAN Restore Faces -> SaveImage, in ComfyUI's API format."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": photo_name}},
        "2": {"class_type": "HiFaceGANModelLoader", "inputs": {"model_name": "renovation", "precision": "fp32"}},
        "3": {"class_type": "HiFaceGANRestoreFaces",
              "inputs": {"image": ["1", 0], "model": ["2", 0], "fidelity_weight": 0.0, "upscale": 1.0,
                         "only_center_face": False, "max_faces": 0}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "hifacegan"}},
    }


def _require_comfyui() -> Path:
    for path in (COMFYUI_ARCHIVE, PHOTO):
        if not path.exists():
            pytest.skip(f"needs {path} (../shared is absent)")
    python = COMFYUI_VENV / "bin" / "python"
    if not python.exists():
        message = (f"needs ComfyUI's environment {COMFYUI_VENV} (torch 2.14.1 + torchvision 0.29.1, ~5.4 GB): "
                   "python3 -m venv .venv-comfyui && .venv-comfyui/bin/pip install --no-deps -r "
                   "integrations/comfyui/ci-environment.txt && .venv-comfyui/bin/pip install --no-deps -e .")
        if os.environ.get("CI"):  # .ci/run installs it: missing there is a failure, not a skip
            pytest.fail(message)
        pytest.skip(message)
    return python


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class ComfyUI:
    """A running ComfyUI: its URL, its folder and its log."""

    def __init__(self, url: str, folder: Path, log: Path, process: subprocess.Popen) -> None:
        self.url, self.folder, self.log_path, self.process = url, folder, log, process

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def run(self, workflow: dict, timeout: float = 900) -> dict:
        """Post a workflow to ``/prompt`` and poll ``/history/<id>`` until it is done; returns its outputs."""
        prompt_id = _get_json(f"{self.url}/prompt", {"prompt": workflow, "client_id": "hifacegan-test"})["prompt_id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = _get_json(f"{self.url}/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed"):
                return entry["outputs"]
            if entry and entry.get("status", {}).get("status_str") == "error":
                raise AssertionError(f"ComfyUI failed the workflow: {entry['status']}\n{self.log[-4000:]}")
            assert self.process.poll() is None, f"ComfyUI exited\n{self.log[-4000:]}"
            time.sleep(1)
        raise AssertionError(f"the workflow did not finish within {timeout:.0f} s\n{self.log[-4000:]}")


@contextlib.contextmanager
def _running_comfyui(python: Path, root: Path):
    with tarfile.open(COMFYUI_ARCHIVE) as archive:
        archive.extractall(root, filter="data")
    folder = root / "ComfyUI"
    (folder / "custom_nodes" / "hifacegan").symlink_to(PACK, target_is_directory=True)
    shutil.copy(PHOTO, folder / "input" / PHOTO.name)
    # A first start would greet the page with the template gallery over the graph; the minimap would hide a node.
    settings = folder / "user" / "default" / "comfy.settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False}))
    (root / "home").mkdir()
    port = _free_port()
    # PyTorch runs the model, fp32 in the workflow: exactly what the Restorer below computes (the CPU default
    # would first export the model to ONNX, half a minute). HOME apart: nothing lands in the user's folders.
    env = {**os.environ, "HIFACEGAN_RUNTIME": "torch", "HOME": str(root / "home"), "PYTHONUNBUFFERED": "1"}
    log_path = root / "comfyui.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(python), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
                                    "--disable-auto-launch", "--disable-api-nodes"], cwd=folder, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        server = ComfyUI(f"http://127.0.0.1:{port}", folder, log_path, process)
        try:
            deadline = time.monotonic() + 300
            while True:
                assert process.poll() is None, f"ComfyUI exited with {process.returncode}\n{server.log[-4000:]}"
                with contextlib.suppress(OSError):
                    _get_json(f"{server.url}/system_stats")
                    break
                assert time.monotonic() < deadline, f"ComfyUI did not answer within 300 s\n{server.log[-4000:]}"
                time.sleep(1)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def comfyui(tmp_path_factory):
    python = _require_comfyui()
    with _running_comfyui(python, tmp_path_factory.mktemp("comfyui")) as server:
        yield server


def test_the_pack_loads_without_errors(comfyui):
    log = comfyui.log
    loaded = re.search(r"^\s*[\d.]+ seconds(.*): \S*custom_nodes/hifacegan$", log, re.MULTILINE)
    assert loaded and "IMPORT FAILED" not in loaded.group(1), log[-4000:]
    assert not re.search(r"(Cannot import|Unable to parse pyproject|Skip) \S*custom_nodes/hifacegan", log), log
    nodes = _get_json(f"{comfyui.url}/object_info")
    assert {"HiFaceGANModelLoader", "HiFaceGANRestoreFaces", "HiFaceGANRestoreAlignedFaces"} <= set(nodes)
    loader = nodes["HiFaceGANModelLoader"]
    assert loader["display_name"] == "HiFaceGAN Model Loader"
    assert loader["input"]["required"]["model_name"][0][:2] == ["renovation", "fidelity"]


def test_a_workflow_posted_to_the_api_saves_what_restorer_gives(comfyui):
    outputs = comfyui.run(_workflow(PHOTO.name))
    (saved_entry,) = outputs["4"]["images"]
    saved_file = comfyui.folder / "output" / saved_entry["subfolder"] / saved_entry["filename"]
    saved = np.asarray(Image.open(saved_file).convert("RGB")).astype(int)
    photo = read_image(PHOTO).rgb
    expected = Restorer("renovation", "cpu", precision="fp32").enhance(photo)
    assert len(expected.restored_faces) >= 1
    # SaveImage truncates 255 * x where hifacegan rounds: up to 1 grey level from that alone.
    difference = np.abs(saved - expected.to_uint8().astype(int))
    print(f"ComfyUI vs Restorer.enhance: max {difference.max()} grey level(s), mean {difference.mean():.4f}, "
          f"{(difference > 0).mean():.1%} of values differ")
    assert saved.shape == photo.shape
    assert difference.max() <= 1
    assert np.abs(saved - np.asarray(Image.open(PHOTO).convert("RGB")).astype(int)).max() > 10  # faces changed


# Where the screenshot shows each node (graph units; the page draws them at 80 %): photo, loader, restore, result.
_LAYOUT = {1: ((0, 0), (360, 560)), 2: ((0, 610), (360, 100)), 3: ((440, 250), (340, 160)), 4: ((860, 0), (420, 620))}


def test_the_graph_in_a_real_browser(comfyui, tmp_path):
    browser = _browser(tmp_path)
    from selenium.webdriver.support.ui import WebDriverWait

    workflow = _workflow(PHOTO.name)
    # Another file name prefix: ComfyUI re-runs the save node (an unchanged graph would come from its cache
    # and send the page no picture), while the restored image itself comes from that cache.
    workflow["4"]["inputs"]["filename_prefix"] = "hifacegan_graph"
    try:
        # Loading the graph runs the page's own scripts: Selenium's 30 s default was too short on a loaded CI
        # machine (a script timeout once, with training beside it); the waits below bound the test as before.
        browser.set_script_timeout(300)
        browser.get(comfyui.url)
        WebDriverWait(browser, 120).until(lambda d: d.execute_script(
            "return !!(window.comfyAPI && window.comfyAPI.app && window.comfyAPI.app.app.graph)"))
        # The page's own loader for API-format workflows (as when a PNG with a prompt is dropped on it), laid
        # out for the picture, then Run: the page runs the graph and shows the photo and the result in it.
        browser.execute_async_script(
            "const [workflow, layout, done] = arguments; const app = window.comfyAPI.app.app;"
            "Promise.resolve(app.loadApiJson(workflow, 'hifacegan.json')).then(() => {"
            "  for (const [id, [pos, size]] of Object.entries(layout)) {"
            "    const node = app.graph.getNodeById(Number(id)); node.pos = pos; node.size = size; }"
            "  app.canvas.ds.scale = 0.8; app.canvas.ds.offset = [90, 110]; app.graph.setDirtyCanvas(true, true);"
            "  return app.queuePrompt(0); }).then(() => done(true));",
            workflow, {str(k): v for k, v in _LAYOUT.items()})
        WebDriverWait(browser, 600).until(lambda d: d.execute_script(
            "const node = window.comfyAPI.app.app.graph.getNodeById(4); return !!(node && node.imgs && "
            "node.imgs.length && node.imgs[0].complete);"))
        titles = browser.execute_script("return window.comfyAPI.app.app.graph._nodes.map(n => n.title);")
        assert {"HiFaceGAN Model Loader", "HiFaceGAN Restore Faces"} <= set(titles), titles
        time.sleep(2)  # the canvas draws the preview on its next frame
        screenshot = tmp_path / "graph.png"
        assert browser.save_screenshot(str(screenshot))
    finally:
        browser.quit()
    assert Image.open(screenshot).size[0] >= 1000
    if os.environ.get("HIFACEGAN_COMFYUI_SCREENSHOT"):
        # 256 colours keep the picture small and still legible, as docs/web_demo.png.
        Image.open(screenshot).convert("RGB").quantize(256).save(os.environ["HIFACEGAN_COMFYUI_SCREENSHOT"],
                                                                 optimize=True)


def _browser(tmp_path: Path):
    """Debian's headless Chromium under Selenium, kept off the network (as tests/web/test_browser.py)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"needs Debian's headless Chromium ({', '.join(missing)} missing): "
                    "apt-get install chromium chromium-driver")
    return headless_chromium(tmp_path, "1280,860")
