"""``hifacegan serve`` as users start it: a subprocess on a free localhost port, with its own empty TMPDIR,
HOME and working folder, so a test can check what it wrote and that it removed its folder on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def headless_chromium(tmp_path: Path, window_size: str):
    """Debian's headless Chromium under Selenium, kept off the network (no Google services) and off the GPU."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                 f"--window-size={window_size}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    # Selenium's HTTP read timeout (120 s by default) must outlast the longest script timeout a test sets
    # (300 s): else a slow page on a loaded machine fails on the transport before the script's own limit
    # (seen once in the ComfyUI graph test, with training beside it).
    driver.command_executor.client_config.timeout = 330
    return driver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"hifacegan serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"hifacegan serve did not answer at {url} within {timeout:.0f} s")


@contextlib.contextmanager
def running_server(tmp_path: Path, *options: str):
    """``hifacegan serve`` on a free port; yields (url, sandbox); stops it with SIGTERM on exit, then records
    its exit status and log in the sandbox."""
    sandbox: dict = {name: tmp_path / name for name in ("tmp", "home", "cwd")}
    for folder in sandbox.values():
        folder.mkdir()
    port = free_port()
    env = {**os.environ, "TMPDIR": str(sandbox["tmp"]), "HOME": str(sandbox["home"]),
           "PYTHONPATH": str(REPO_ROOT / "src")}
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "hifacegan", "serve", "--port", str(port), "--device",
                                    "cpu", *options], cwd=sandbox["cwd"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            wait_for_server(f"http://127.0.0.1:{port}/", process, timeout=180)
            yield f"http://127.0.0.1:{port}/", sandbox
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    sandbox["returncode"] = process.returncode
    sandbox["log"] = log_path.read_text()


def assert_nothing_left(sandbox: dict) -> None:
    """The server exited cleanly and left nothing in its TMPDIR, HOME or working folder."""
    assert sandbox["returncode"] == 0, sandbox["log"]
    for name in ("tmp", "home", "cwd"):
        left = sorted(str(p.relative_to(sandbox[name])) for p in sandbox[name].rglob("*"))
        assert left == [], f"the server left files in its {name} folder: {left}"
