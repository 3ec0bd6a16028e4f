"""The Gradio page of ``hifacegan serve``: upload photos, compare before/after with a slider, download.

Offline and private by construction: analytics off, no share link, no MCP server, fonts from the
Gradio wheel; every file (uploads, Gradio's cache, results) lives in one temporary folder that is
removed when the server stops. One queue with one worker: requests wait their turn instead of
loading a second copy of the model's working memory.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hifacegan.models.pretrained import MODEL_ALIASES
from hifacegan.web.session import (
    DEFAULT_MODEL_LABEL,
    DEFAULT_UPLOAD_MB,
    PhotoResult,
    RestoreOptions,
    RestorerPool,
    ServeLimits,
    UploadReport,
    prune_runs,
    restore_uploads,
)
from hifacegan.web.upload_guard import (
    DEFAULT_DISK_MB,
    DEFAULT_MAX_FILES,
    DEFAULT_REQUEST_MB,
    DiskBudget,
    UploadBounds,
    UploadGuard,
)

__all__ = ["ServeConfig", "build_app", "disk_budget", "model_choices", "offline_environment", "serve"]

logger = logging.getLogger(__name__)

# Results of a request stay downloadable this long, then their folder is deleted.
RUN_LIFETIME_S = 3600
MAX_UPSCALE = 4


@dataclass(frozen=True)
class ServeConfig:
    """Options of ``hifacegan serve``.

    Attributes:
        host: interface to bind; the default, 127.0.0.1, is reachable from this machine only.
        port: TCP port.
        model: the model preselected in the page (a shipped name or a checkpoint path); ``None``: the
            shipped default. Only this path and the shipped names can be chosen in the page.
        max_upload_mb: largest accepted file, in MB.
        max_megapixels: largest accepted image, from its header (``None``: 25 MP, 4 MP for aligned crops).
        device: where the model runs (``auto``, ``cpu``, ``cuda``, ``mps``).
        max_request_mb: largest upload request (all its files together), in MB.
        max_files: most files in one upload request.
        max_disk_mb: most the server's uploads, Gradio cache and results may hold at once, in MB (the
            oldest are deleted to make room; an upload that cannot get room is refused).
    """

    host: str = "127.0.0.1"
    port: int = 7860
    model: str | None = None
    max_upload_mb: float = DEFAULT_UPLOAD_MB
    max_megapixels: float | None = None
    device: str = "auto"
    max_request_mb: float = DEFAULT_REQUEST_MB
    max_files: int = DEFAULT_MAX_FILES
    max_disk_mb: float = DEFAULT_DISK_MB

    @property
    def limits(self) -> ServeLimits:
        return ServeLimits(max_upload_mb=self.max_upload_mb, max_megapixels=self.max_megapixels)

    @property
    def bounds(self) -> UploadBounds:
        return UploadBounds(max_request_mb=self.max_request_mb, max_files=self.max_files,
                            max_disk_mb=self.max_disk_mb)


def offline_environment(workdir: Path) -> dict[str, str]:
    """Environment variables that keep Gradio and the Hugging Face hub offline and inside ``workdir``.

    They are read when Gradio is imported, so set them before that (``serve`` does).
    """
    from hifacegan.cache import CACHE_DIR_ENV, cache_dir

    return {
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(workdir / "gradio"),
        "GRADIO_SHARE": "False",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        # onnxruntime (under the face detector) leaves a ".ses" file in $TMPDIR and a device id and
        # database in $XDG_CACHE_HOME/Microsoft/DeveloperTools: keep both inside workdir, telemetry off.
        "ORT_DISABLE_TELEMETRY": "1",
        "TMPDIR": str(workdir / "tmp"),
        "XDG_CACHE_HOME": str(workdir / "cache"),
        # ...but the package's own cache (the ONNX export of each model, hifacegan.onnx_runtime) stays where it
        # was: exporting again at every server start would cost each model's first visitor half a minute.
        CACHE_DIR_ENV: str(cache_dir()),
    }


def model_choices(config_model: str | None) -> list[str]:
    """The model menu: the server's ``--model`` (or the default), then every shipped name.

    Arbitrary paths typed into the page are not offered: a page reachable over a network must not
    open files of the server's choosing by a visitor's.
    """
    first = config_model or DEFAULT_MODEL_LABEL
    return [first, *(name for name in MODEL_ALIASES if name != first)]


def disk_budget(config: ServeConfig, workdir: Path) -> DiskBudget:
    """The budget of the folders visitors fill: Gradio's uploads and cache, and the results."""
    return DiskBudget((workdir / "gradio", workdir / "runs"), config.bounds.max_disk_bytes)


def build_app(config: ServeConfig, pool: RestorerPool, workdir: Path, budget: DiskBudget | None = None) -> Any:
    """The page as a ``gradio.Blocks`` (not launched). Results are written under ``workdir/runs``."""
    import gradio as gr

    limits = config.limits
    runs_dir = workdir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    budget = budget or disk_budget(config, workdir)
    choices = model_choices(config.model)

    def on_restore(files: list[str] | None, model: str, aligned: bool, only_center_face: bool, upscale: float,
                   weight: float) -> tuple[Any, ...]:
        prune_runs(runs_dir, RUN_LIFETIME_S)
        budget.make_room(0)  # results count against the same budget as uploads
        run_dir = runs_dir / uuid.uuid4().hex
        run_dir.mkdir()
        # The menu's first entry is the server's --model (the pool's default); the others are shipped names.
        spec = model if model in choices[1:] else DEFAULT_MODEL_LABEL
        options = RestoreOptions(model=spec, aligned=bool(aligned), only_center_face=bool(only_center_face),
                                 upscale=float(upscale), weight=float(weight))
        report = restore_uploads(list(files or []), options, pool, run_dir, limits)
        photos = [_photo_state(p) for p in report.photos]
        names = [p["name"] for p in photos]
        first = photos[0] if photos else None
        return (
            _status_markdown(report),
            gr.update(choices=names, value=names[0] if names else None, visible=bool(photos)),
            _photo_pair(first),
            _face_menu(first),
            _face_pair(first, 0),
            [str(p) for p in report.downloads] or None,
            photos,
        )

    def on_photo(name: str | None, photos: list[dict]) -> tuple[Any, ...]:
        photo = next((p for p in photos or [] if p["name"] == name), None)
        return _photo_pair(photo), _face_menu(photo), _face_pair(photo, 0)

    def on_face(label: str | None, name: str | None, photos: list[dict]) -> Any:
        photo = next((p for p in photos or [] if p["name"] == name), None)
        index = int(label.split()[-1]) - 1 if label else 0
        return _face_pair(photo, index)

    with gr.Blocks(title="hifacegan: restore faces", analytics_enabled=False,
                   delete_cache=(600, RUN_LIFETIME_S)) as app:
        gr.Markdown("# hifacegan: restore faces\nUpload photos, restore their faces, compare before and after "
                    f"with the slider, download the results. Limits: {limits.max_upload_mb:g} MB and "
                    f"{limits.max_pixels(False) / 1e6:g} MP per photo ({limits.max_pixels(True) / 1e6:g} MP "
                    "for aligned crops). Everything runs on this server; nothing is sent elsewhere.")
        state = gr.State([])
        with gr.Row():
            with gr.Column(scale=2):
                uploads = gr.File(label="Photos", file_count="multiple", elem_id="uploads")
                restore = gr.Button("Restore", variant="primary", elem_id="restore-button")
            with gr.Column(scale=1):
                model = gr.Dropdown(choices, value=choices[0], label="Model", elem_id="model",
                                    info="renovation: sharp, realistic; fidelity: closest to the input, softer")
                aligned = gr.Checkbox(label="Inputs are aligned face crops", elem_id="aligned")
                center = gr.Checkbox(label="Only the center face", elem_id="only-center-face")
                upscale = gr.Slider(1, MAX_UPSCALE, value=1, step=0.5, label="Upscale the whole photo",
                                    elem_id="upscale")
                weight = gr.Slider(0, 1, value=0, step=0.05, label="Fidelity weight (mix in the fidelity model)",
                                   elem_id="weight")
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            photo_menu = gr.Dropdown(label="Photo", visible=False, elem_id="photo-menu")
            face_menu = gr.Dropdown(label="Face", visible=False, elem_id="face-menu")
        with gr.Row():
            photo_slider = gr.ImageSlider(label="Whole photo: before | after", type="filepath", format="png",
                                          interactive=False, max_height=420, elem_id="photo-slider")
            face_slider = gr.ImageSlider(label="Face: before | after", type="filepath", format="png",
                                         interactive=False, max_height=420, elem_id="face-slider")
        downloads = gr.File(label="Download: restored photos and a zip of every output", file_count="multiple",
                            interactive=False, elem_id="downloads")

        restore.click(on_restore, [uploads, model, aligned, center, upscale, weight],
                      [status, photo_menu, photo_slider, face_menu, face_slider, downloads, state],
                      concurrency_limit=1)
        photo_menu.input(on_photo, [photo_menu, state], [photo_slider, face_menu, face_slider])
        face_menu.input(on_face, [face_menu, photo_menu, state], face_slider)
    # One worker for every event: two visitors never hold two models' working memory at once.
    app.queue(default_concurrency_limit=1)
    return app


def _photo_state(photo: PhotoResult) -> dict:
    """A JSON-friendly copy for ``gr.State``."""
    return {"name": photo.name, "before": str(photo.before), "after": str(photo.after),
            "faces": [[str(a), str(b)] for a, b in photo.faces]}


def _photo_pair(photo: dict | None) -> tuple[str, str] | None:
    return (photo["before"], photo["after"]) if photo else None


def _face_menu(photo: dict | None) -> Any:
    import gradio as gr

    labels = [f"face {k + 1}" for k in range(len(photo["faces"]))] if photo else []
    return gr.update(choices=labels, value=labels[0] if labels else None, visible=len(labels) > 1)


def _face_pair(photo: dict | None, index: int) -> tuple[str, str] | None:
    if not photo or not 0 <= index < len(photo["faces"]):
        return None
    return tuple(photo["faces"][index])


def _status_markdown(report: UploadReport) -> str:
    done = len(report.photos)
    lines = [f"**Restored {done} of {max(len(report.messages), done)} file(s).**" if report.photos
             else "**Nothing was restored.**"]
    # File names come from visitors: escape Markdown so a name cannot turn into a link or markup.
    lines += ["- " + re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", message) for message in report.messages]
    return "\n".join(lines)


def serve(config: ServeConfig, ready: threading.Event | None = None, stop: threading.Event | None = None) -> None:
    """Run the page until SIGINT/SIGTERM (or ``stop``), then remove its temporary folder.

    Args:
        config: server options.
        ready: set once the server accepts connections (for callers that start it in a thread).
        stop: set it to shut the server down; ``None``: wait for a signal.
    """
    workdir = Path(tempfile.mkdtemp(prefix="hifacegan-serve-"))
    os.environ.update(offline_environment(workdir))
    (workdir / "tmp").mkdir()
    # Gradio polls its own server through httpx at start-up; those requests are not worth an INFO line each.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = stop or threading.Event()
    previous = _install_stop_handlers(stop)
    try:
        from starlette.middleware import Middleware

        budget = disk_budget(config, workdir)
        app = build_app(config, RestorerPool(config.model, device=config.device), workdir, budget)
        # Gradio's own transport cap: a bound on what a request can write to disk at all. It is set above
        # the page's per-file limit, so a file just over the limit still reaches restore_uploads and gets
        # its message there while the other photos of the upload are restored.
        transport_cap = f"{max(4 * config.max_upload_mb, config.max_upload_mb + 64):.0f}mb"
        app.launch(server_name=config.host, server_port=config.port, share=False, inbrowser=False,
                   prevent_thread_lock=True, show_error=True, quiet=False, max_file_size=transport_cap,
                   mcp_server=False, ssr_mode=False, enable_monitoring=False,
                   pwa=False,
                   app_kwargs={"middleware": [Middleware(UploadGuard, bounds=config.bounds, budget=budget)]})
        logger.info("serving on http://%s:%d (temporary files in %s); Ctrl+C stops", config.host, config.port,
                    workdir)
        if ready is not None:
            ready.set()
        stop.wait()
        app.close()
    finally:
        _restore_handlers(previous)
        shutil.rmtree(workdir, ignore_errors=True)
        logger.info("stopped; removed %s", workdir)


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    """SIGINT/SIGTERM end the wait so the temporary folder is removed (only possible in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
