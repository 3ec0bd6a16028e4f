"""The validation faces, their degraded inputs and the model's restore function exactly as ``hifacegan
benchmark-tasks --size S --face-size S --seed N`` makes them (shared by the benchmark scripts, imported from
their own folder), so that a script's mean rows match that command's table on the same faces."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VAL = ROOT.parent / "shared" / "data" / "utkface" / "val"


def load_faces(data: Path, limit: int, size: int) -> tuple[list[str], list[np.ndarray]]:
    """The first ``limit`` images of ``data`` (sorted by name) as ``size``-px uint8 faces, with their stems."""
    from hifacegan.data.transforms import resize_to
    from hifacegan.io import list_images, read_image

    paths = list_images(data)[:limit]
    return [p.stem for p in paths], [resize_to(read_image(p).to_uint8(), size, size) for p in paths]


def degrade_faces(stems: list[str], truths: list[np.ndarray], task: str, seed: int, size: int) -> list[np.ndarray]:
    """Each face degraded for ``task`` with the official ranges scaled to ``size`` px, seeded by its stem."""
    from hifacegan.degradations import DegradationConfig, degrade, rng_for

    config = DegradationConfig().scaled_for_size(size)
    return [degrade(t, task, rng_for(seed, stem), config)[0] for t, stem in zip(truths, stems)]


def add_face_arguments(parser: argparse.ArgumentParser, limit: int) -> None:
    """``--model --data --limit --size --seed``, with the defaults of the README's validation table."""
    parser.add_argument("--model", type=Path, help="checkpoint (default: the shipped model)")
    parser.add_argument("--data", type=Path, default=DEFAULT_VAL)
    parser.add_argument("--limit", type=int, default=limit, help=f"first K faces of --data (default: {limit})")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)


def model_restorer(model: Path | None, precision: str = "fp32") -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """The exact restore path of hifacegan benchmark-tasks (uint8 in and out, the card's colour fix), on CPU."""
    from hifacegan import load_model, restore_faces
    from hifacegan.models.pretrained import default_model_path

    generator = load_model(model or default_model_path(), device="cpu")
    return lambda faces: restore_faces(generator, faces, batch_size=8, precision=precision)
