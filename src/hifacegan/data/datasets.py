"""Datasets that feed training and evaluation: torch map-style datasets of degraded/target pairs.

Every item is ``{"degraded": FloatTensor (3, H, W) in [0, 1], "target": same, "name": str}``.

* :class:`DegradedFolderDataset`: a folder of high-quality faces, degraded on the fly by
  :func:`hifacegan.degradations.degrade`.
* :class:`PairedFolderDataset`: two folders with the same file stems (degraded, original).
* :class:`StackedPairDataset`: the official Face-Renovation layout, one file per pair with the
  degraded face on top of the original.

Randomness of item ``i`` in epoch ``e`` comes only from ``rng_for(seed, f"{e}/{i}")``, so an item
is the same whatever the DataLoader worker count, batch size or order. Unreadable files are found
when the dataset is built (their headers are opened) and skipped with one warning; a file that
turns out broken later is reported once per process and replaced by the next readable item, so an
epoch never stops on a bad file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hifacegan.data.transforms import (
    fit_square,
    random_flip,
    random_square_crop,
    random_square_offset,
    random_square_offset_containing,
    resize_to,
    split_stacked,
)
from hifacegan.degradations import TASKS, DegradationConfig, degrade, rng_for
from hifacegan.faces.align import COMPONENT_BOXES
from hifacegan.io import ImageReadError, list_images, read_image
from hifacegan.pixels import uint8_to_chw_tensor

__all__ = ["DegradedFolderDataset", "PairedFolderDataset", "StackedPairDataset"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike
_MAX_LISTED = 10
# Files already reported by this process: a broken file is announced once, not once per epoch.
_REPORTED: set[str] = set()


def _probe(path: Path) -> str | None:
    """Why ``path`` cannot be an image (by its header), or None when it looks readable."""
    from PIL import Image

    if not path.is_file():
        return "no such file"
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "not usable", reported below
        return f"{type(exc).__name__}: {exc}"
    if width < 1 or height < 1:
        return f"empty image ({width}x{height})"
    return None


def _describe(bad: list[tuple[Path, str]]) -> str:
    listed = "; ".join(f"{p.name} ({why})" for p, why in bad[:_MAX_LISTED])
    more = f"; and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
    return listed + more


def _image_paths(root: PathLike | Sequence[PathLike], what: str) -> list[Path]:
    roots = [root] if isinstance(root, (str, os.PathLike)) else list(root)
    for r in roots:
        if not Path(r).exists():
            raise FileNotFoundError(f"{what} {r} does not exist")
    return list_images(roots)


def _keep_readable(paths: list[Path], where: str) -> list[Path]:
    bad = [(p, why) for p in paths if (why := _probe(p)) is not None]
    if bad:
        _REPORTED.update(str(p) for p, _ in bad)
        logger.warning("skipping %d unreadable image(s) in %s: %s", len(bad), where, _describe(bad))
        rejected = {p for p, _ in bad}
        paths = [p for p in paths if p not in rejected]
    return paths


def _report_once(path: Path, error: Exception) -> None:
    if str(path) not in _REPORTED:
        _REPORTED.add(str(path))
        message = str(error) if str(path) in str(error) else f"{path}: {error}"
        logger.warning("skipping unreadable image %s; another item is used in its place", message)


def _check_size(size: int | None, optional: bool) -> None:
    if size is None and optional:
        return
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer{' or None' if optional else ''}, got {size!r}")


class _FallbackDataset(Dataset):
    """Shared machinery: epoch, per-item generators, and replacing items whose files fail to load."""

    seed: int
    epoch: int

    def __len__(self) -> int:
        raise NotImplementedError

    def _load(self, index: int) -> tuple[str, np.ndarray, np.ndarray | None]:
        """``(name, first, second)`` arrays of item ``index``; raises on unreadable files."""
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random crops, flips and degradations the items will use."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch (depends only on seed, epoch, index)."""
        return rng_for(self.seed, f"{self.epoch}/{index}")

    def _load_or_replace(self, index: int) -> tuple[str, np.ndarray, np.ndarray | None]:
        n = len(self)
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} items")
        for step in range(n):
            candidate = (index + step) % n
            try:
                return self._load(candidate)
            except (ImageReadError, ValueError) as exc:
                _report_once(self._path_of(candidate), exc)
        raise RuntimeError(f"none of the {n} images of this dataset could be read; see the warnings above")

    def _path_of(self, index: int) -> Path:
        raise NotImplementedError


class DegradedFolderDataset(_FallbackDataset):
    """High-quality faces from a folder, degraded on the fly.

    Per item: read the face (any format :func:`hifacegan.io.read_image` reads; gray and 16-bit become
    8-bit RGB), take the centred square resized to ``size`` (area averaging; or a random
    ``size x size`` crop), mirror it with probability 1/2, pick a task uniformly from ``tasks`` and
    degrade it. Items hold ``degraded``, ``target``, ``name`` and ``face_frame``: where the item lies on
    the aligned face (its side in item pixels, the item's left and top on it, 1 if mirrored; side 0 for
    ``random_crop`` items), for :mod:`hifacegan.training.components`.

    Args:
        root: folder (or list of folders/files) of high-quality images.
        size: side of the square training images, pixels.
        tasks: degradation tasks, one drawn uniformly per item (see :data:`hifacegan.degradations.TASKS`).
        seed: seed of every random choice.
        random_crop: random ``size`` crops instead of resizing the whole face.
        flip: random horizontal mirroring.
        face_size: resize the whole face to ``face_size`` first, then cut a random ``size`` patch
            (offsets on a 16-px grid, so mosaic and JPEG blocks fall where they fall on the whole
            face); degradations are applied to the patch. ``None``: no patches.
        whole_face_prob: with ``face_size``, the share of items that are the whole face reduced to ``size``.
        component_patch_prob: with ``face_size``, the share of patches placed to hold an eye or the mouth
            (template boxes, :data:`~hifacegan.faces.align.COMPONENT_BOXES`) wholly: random patches seldom
            do (an 82-px eye box lies inside a random 160-px patch of a 512-px face 5% of the time), and
            the eye/mouth discriminators only judge boxes inside the item.
        config: degradation ranges (``None`` = official, made for 512 px faces; see
            :meth:`~hifacegan.degradations.DegradationConfig.scaled_for_size`).
        max_items: keep only the first N readable images (sorted by path).
        validate: open every header when building (skips unreadable files up front).

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: unknown task, bad size, or no readable image.
    """

    def __init__(self, root: PathLike | Sequence[PathLike], size: int, tasks: Sequence[str] = ("renovation",),
                 seed: int = 0, random_crop: bool = False, flip: bool = True,
                 config: DegradationConfig | None = None, max_items: int | None = None,
                 validate: bool = True, face_size: int | None = None, whole_face_prob: float = 0.0,
                 component_patch_prob: float = 0.0) -> None:
        _check_size(size, optional=False)
        if face_size is not None and face_size < size:
            raise ValueError(f"face_size ({face_size}) must be at least the patch size ({size})")
        if not 0.0 <= whole_face_prob <= 1.0 or (whole_face_prob and face_size is None):
            raise ValueError(f"whole_face_prob must be in [0, 1] and needs face_size, got {whole_face_prob}")
        if not 0.0 <= component_patch_prob <= 1.0 or (component_patch_prob and face_size is None):
            raise ValueError(f"component_patch_prob must be in [0, 1] and needs face_size, got {component_patch_prob}")
        tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
        unknown = [t for t in tasks if t not in TASKS]
        if not tasks or unknown:
            raise ValueError(f"unknown degradation task(s) {unknown or tasks!r}; choose from {', '.join(TASKS)}")
        paths = _image_paths(root, "image folder")
        if validate:
            paths = _keep_readable(paths, str(root))
        if max_items is not None:
            paths = paths[:max_items]
        if not paths:
            raise ValueError(f"no readable images found in {root}")
        self.paths = paths
        self.size = size
        self.tasks = tasks
        self.seed = int(seed)
        self.random_crop = random_crop
        self.face_size = face_size
        self.whole_face_prob = float(whole_face_prob)
        self.component_patch_prob = float(component_patch_prob)
        self.flip = flip
        self.config = config
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.paths)

    def _path_of(self, index: int) -> Path:
        return self.paths[index]

    def _load(self, index: int) -> tuple[str, np.ndarray, None]:
        path = self.paths[index]
        return path.stem, read_image(path).to_uint8(), None

    def sample(self, index: int) -> tuple[dict[str, torch.Tensor | str], dict]:
        """Item ``index`` and the parameters that made it: ``(item, {"task", "steps", "flip", "name"})``."""
        name, image, _ = self._load_or_replace(index)
        rng = self.rng(index)
        config = self.config
        # Where the item's pixels lie on the aligned face: its side in item pixels, the item's left and top
        # on it, mirrored or not (the eye/mouth discriminators find the template's boxes from it; a side of
        # 0: not a whole aligned face).
        face_side, left, top = 0, 0, 0
        if self.face_size is not None and self.whole_face_prob and rng.random() < self.whole_face_prob:
            target = fit_square(image, self.size)
            face_side = self.size
            # The ranges were scaled for face_size; the whole face is now `size` pixels wide.
            config = (DegradationConfig().scaled_for_size(self.size) if config is None
                      else config.scaled_for_size(self.size, reference=self.face_size))
        elif self.face_size is not None:
            face = fit_square(image, self.face_size)
            if self.component_patch_prob and rng.random() < self.component_patch_prob:
                box = COMPONENT_BOXES[int(rng.integers(len(COMPONENT_BOXES)))]
                x, y, half = box.centre[0] * self.face_size, box.centre[1] * self.face_size, box.side * self.face_size / 2
                top, left = random_square_offset_containing(self.face_size, self.size, (x - half, y - half, x + half, y + half),
                                                            rng, grid=16)
            else:
                top, left = random_square_offset(self.face_size, self.face_size, self.size, rng, grid=16)
            target, face_side = face[top:top + self.size, left:left + self.size], self.face_size
        elif self.random_crop:
            target = random_square_crop(image, self.size, rng)
        else:
            target = fit_square(image, self.size)
            face_side = self.size
        flipped = False
        if self.flip:
            target, flipped = random_flip(target, rng)
        target = np.ascontiguousarray(target)
        task = self.tasks[int(rng.integers(len(self.tasks)))]
        degraded, params = degrade(target, task, rng, config)
        params.update(flip=flipped, name=name)
        frame = torch.tensor([face_side, left, top, float(flipped)], dtype=torch.float32)
        return {"degraded": uint8_to_chw_tensor(degraded), "target": uint8_to_chw_tensor(target), "name": name,
                "face_frame": frame}, params

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        return self.sample(index)[0]


class PairedFolderDataset(_FallbackDataset):
    """Pre-made pairs: ``lq_root/NAME.*`` is the degraded version of ``hq_root/NAME.*``.

    Files are matched by stem (extensions may differ); stems present in only one folder are reported
    and left out. When the two images of a pair differ in size (e.g. a small low-resolution input),
    the degraded one is resized to the original's size, as the network needs equal sizes.

    Args:
        lq_root: folder of degraded images.
        hq_root: folder of original images.
        size: if given, both are centre-cropped to a square and resized to ``size``; ``None`` keeps
            the file size (batching then needs equal-size files).
        flip: random horizontal mirroring of both (for training).
        seed: seed of the flips.
        validate: open every header when building.

    Raises:
        FileNotFoundError: a folder does not exist.
        ValueError: no pair found.
    """

    def __init__(self, lq_root: PathLike, hq_root: PathLike, size: int | None = None, flip: bool = False,
                 seed: int = 0, validate: bool = True) -> None:
        _check_size(size, optional=True)
        lq = self._by_stem(_image_paths(lq_root, "degraded-image folder"), lq_root)
        hq = self._by_stem(_image_paths(hq_root, "original-image folder"), hq_root)
        only_lq = sorted(set(lq) - set(hq))
        only_hq = sorted(set(hq) - set(lq))
        if only_lq or only_hq:
            logger.warning("%d degraded image(s) without an original (%s) and %d original(s) without a degraded "
                           "image (%s) are left out", len(only_lq), ", ".join(only_lq[:_MAX_LISTED]),
                           len(only_hq), ", ".join(only_hq[:_MAX_LISTED]))
        stems = sorted(set(lq) & set(hq))
        if validate:
            ok_lq = set(_keep_readable([lq[s] for s in stems], str(lq_root)))
            ok_hq = set(_keep_readable([hq[s] for s in stems], str(hq_root)))
            stems = [s for s in stems if lq[s] in ok_lq and hq[s] in ok_hq]
        if not stems:
            raise ValueError(f"no readable pairs with matching file names in {lq_root} and {hq_root}")
        self.pairs = [(s, lq[s], hq[s]) for s in stems]
        self.size = size
        self.flip = flip
        self.seed = int(seed)
        self.epoch = 0

    @staticmethod
    def _by_stem(paths: list[Path], root: PathLike) -> dict[str, Path]:
        by_stem: dict[str, Path] = {}
        for p in paths:
            if p.stem in by_stem:
                logger.warning("%s: %s and %s share the name %r; using the first", root, by_stem[p.stem].name,
                               p.name, p.stem)
                continue
            by_stem[p.stem] = p
        return by_stem

    def __len__(self) -> int:
        return len(self.pairs)

    def _path_of(self, index: int) -> Path:
        return self.pairs[index][2]

    def _load(self, index: int) -> tuple[str, np.ndarray, np.ndarray]:
        stem, lq_path, hq_path = self.pairs[index]
        return stem, read_image(lq_path).to_uint8(), read_image(hq_path).to_uint8()

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        name, degraded, target = self._load_or_replace(index)
        assert target is not None  # a pair's _load always gives both images
        return _finish_pair(name, degraded, target, self.size, self.flip, self.rng(index))


class StackedPairDataset(_FallbackDataset):
    """The official Face-Renovation stacked layout: one file per pair, ``[degraded; original]``.

    Official ``degrade.py`` writes ``np.concatenate((lr, hr), axis=0)``: the degraded face is the top
    square, the original the bottom one (an image of 2S x S pixels). Like the official training
    loader, side-by-side files (S x 2S, degraded on the left) are accepted too. ``hifacegan degrade
    --pairs`` writes this layout.

    Args:
        root: folder of stacked pair images.
        size: if given, both halves are resized to ``size x size``; ``None`` keeps ``S``.
        flip: random horizontal mirroring of both halves (the official trainer flips).
        seed: seed of the flips.
        validate: open every header when building (also checks the 2:1 shape).

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: no usable file.
    """

    def __init__(self, root: PathLike, size: int | None = None, flip: bool = False, seed: int = 0,
                 validate: bool = True) -> None:
        _check_size(size, optional=True)
        paths = _image_paths(root, "stacked-pair folder")
        if validate:
            paths = _keep_readable(paths, str(root))
            paths = self._keep_stacked(paths, str(root))
        if not paths:
            raise ValueError(f"no readable stacked pairs (2S x S images) found in {root}")
        self.paths = paths
        self.size = size
        self.flip = flip
        self.seed = int(seed)
        self.epoch = 0

    @staticmethod
    def _keep_stacked(paths: list[Path], where: str) -> list[Path]:
        from PIL import Image

        kept, bad = [], []
        for p in paths:
            try:
                with Image.open(p) as image:
                    w, h = image.size
            except Exception as exc:  # noqa: BLE001 - changed since the first probe: report, do not crash
                bad.append((p, f"{type(exc).__name__}: {exc}"))
                continue
            if h == 2 * w or w == 2 * h:
                kept.append(p)
            else:
                bad.append((p, f"{w}x{h} is not two stacked squares"))
        if bad:
            _REPORTED.update(str(p) for p, _ in bad)
            logger.warning("skipping %d image(s) in %s that are not stacked pairs: %s", len(bad), where,
                           _describe(bad))
        return kept

    def __len__(self) -> int:
        return len(self.paths)

    def _path_of(self, index: int) -> Path:
        return self.paths[index]

    def _load(self, index: int) -> tuple[str, np.ndarray, np.ndarray]:
        path = self.paths[index]
        degraded, target = split_stacked(read_image(path).to_uint8())
        return path.stem, degraded, target

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        name, degraded, target = self._load_or_replace(index)
        assert target is not None  # a pair's _load always gives both images
        return _finish_pair(name, degraded, target, self.size, self.flip, self.rng(index))


def _finish_pair(name: str, degraded: np.ndarray, target: np.ndarray, size: int | None, flip: bool,
                 rng: np.random.Generator) -> dict[str, torch.Tensor | str]:
    if size is not None:
        degraded, target = fit_square(degraded, size), fit_square(target, size)
    elif degraded.shape != target.shape:
        degraded = resize_to(degraded, target.shape[0], target.shape[1])
    if flip and rng.random() < 0.5:
        degraded, target = degraded[:, ::-1], target[:, ::-1]
    return {"degraded": uint8_to_chw_tensor(degraded), "target": uint8_to_chw_tensor(target), "name": name}
