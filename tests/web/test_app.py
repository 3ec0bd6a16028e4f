"""The Gradio page's handlers without a browser: one queue, the model menu, messages in the status area."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hifacegan.web.app import ServeConfig, build_app, model_choices, offline_environment
from hifacegan.web.session import DEFAULT_MODEL_LABEL, RestorerPool

pytest.importorskip("gradio", reason="needs the [web] extra: pip install 'hifacegan[web]'")

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def _handler(app, name: str):
    return next(block_fn for block_fn in app.fns.values() if getattr(block_fn.fn, "__name__", "") == name)


def test_one_queue_of_one_and_the_restore_handler_reports_per_file(tmp_path, tiny_model_file, monkeypatch):
    config = ServeConfig(model=str(tiny_model_file), max_upload_mb=1)
    app = build_app(config, RestorerPool(config.model, device="cpu"), tmp_path / "work")
    restore = _handler(app, "on_restore")
    assert restore.concurrency_limit == 1, "two visitors must not run the model at once"
    assert all(fn.concurrency_limit in (1, "default") for fn in app.fns.values())

    crop = tmp_path / "crop.png"
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(crop)
    text = tmp_path / "readme.png"
    text.write_text("not an image")
    status, photo_menu, photo_pair, _, face_pair, downloads, state = restore.fn(
        [str(crop), str(text)], str(tiny_model_file), True, False, 1, 0)
    assert "Restored 1 of 2 file(s)" in status and "readme.png: not a readable image" in status
    assert photo_menu["choices"] == ["crop.png"]
    assert all(Path(p).is_file() and (tmp_path / "work") in Path(p).parents for p in photo_pair + face_pair)
    assert any(p.endswith(".zip") for p in downloads) and state[0]["name"] == "crop.png"

    from hifacegan.models import pretrained

    monkeypatch.setitem(pretrained.MODEL_ALIASES, "renovation", None)  # as in a version without its weights
    status, *_ = restore.fn([str(crop)], "renovation", False, False, 1, 0)
    assert "Nothing was restored" in status and "'renovation' model is not shipped" in status


def test_model_menu_and_offline_environment(tmp_path):
    assert model_choices(None) == [DEFAULT_MODEL_LABEL, "renovation", "fidelity"]
    assert model_choices("fidelity") == ["fidelity", "renovation"]
    assert model_choices("/models/mine.pth")[0] == "/models/mine.pth"
    env = offline_environment(tmp_path)
    assert env["GRADIO_ANALYTICS_ENABLED"] == "False" and env["HF_HUB_OFFLINE"] == "1"
    assert all(Path(env[k]).is_relative_to(tmp_path) for k in ("GRADIO_TEMP_DIR", "TMPDIR", "XDG_CACHE_HOME"))
    assert ServeConfig().host == "127.0.0.1"


def test_the_servers_model_exports_outlive_its_temporary_folder(tmp_path, monkeypatch):
    from hifacegan.cache import cache_dir

    monkeypatch.delenv("HIFACEGAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    env = offline_environment(tmp_path / "server")
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])  # as serve sets it
    monkeypatch.setenv("HIFACEGAN_CACHE_DIR", env["HIFACEGAN_CACHE_DIR"])
    assert cache_dir() == tmp_path / "user-cache" / "hifacegan"


def test_serve_command_line(capsys):
    from hifacegan.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.max_upload_mb, args.max_megapixels) == ("127.0.0.1", 7860, 20.0, None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--port", "70000"])
    assert "between 1 and 65535" in capsys.readouterr().err
    assert (args.max_request_mb, args.max_files, args.max_disk_mb) == (200.0, 20, 2000.0)


def test_serve_refuses_a_disk_budget_smaller_than_two_uploads(caplog):
    pytest.importorskip("gradio", reason="needs the [web] extra: pip install 'hifacegan[web]'")
    from hifacegan.cli import main

    assert main(["serve", "--max-request-mb", "300", "--max-disk-mb", "500"]) == 2
    assert "at least twice the largest request (300 MB)" in caplog.text


def test_serve_without_gradio_names_the_extra(monkeypatch, caplog):
    import importlib.util

    from hifacegan.cli import main

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else
                        real_find_spec(name, *a))
    assert main(["serve"]) == 2
    assert "pip install 'hifacegan[web]'" in caplog.text


def test_file_names_cannot_inject_markdown():
    from hifacegan.web.app import _status_markdown
    from hifacegan.web.session import UploadReport

    text = _status_markdown(UploadReport(messages=["[click](http://evil) <b>x</b>.png: not a readable image"]))
    assert "\\[click\\](http://evil) \\<b\\>x\\</b\\>.png" in text
