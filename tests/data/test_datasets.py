"""Datasets: item format, determinism across epochs/workers, pairing, stacked layout, unreadable files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from hifacegan.data import DegradedFolderDataset, PairedFolderDataset, StackedPairDataset, stack_pair
from hifacegan.data.transforms import fit_square

SHARED_VAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "utkface" / "val"


def _write_faces(folder: Path, count: int = 6, size: int = 40, suffix: str = ".png") -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    faces = {}
    for i in range(count):
        y, x = np.mgrid[0:size, 0:size]
        image = np.stack([x * 255 // size, y * 255 // size, (x + y) * 127 // size], axis=2).astype(np.uint8)
        image = np.clip(image.astype(int) + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"f{i}{suffix}")
        faces[f"f{i}"] = image
    return faces


def _target_of(item) -> np.ndarray:
    return (item["target"].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)


def _check_item(item, size, framed=False):
    """``framed``: a DegradedFolderDataset item, which also says where it lies on the aligned face."""
    assert set(item) == {"degraded", "target", "name"} | ({"face_frame"} if framed else set())
    if framed:
        assert item["face_frame"].dtype == torch.float32 and tuple(item["face_frame"].shape) == (4,)
    for key in ("degraded", "target"):
        t = item[key]
        assert t.dtype == torch.float32 and tuple(t.shape) == (3, size, size)
        assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0
    assert isinstance(item["name"], str)


# --- DegradedFolderDataset ---------------------------------------------------------------------------------

def test_degraded_folder_items(tmp_path):
    faces = _write_faces(tmp_path / "hq")
    ds = DegradedFolderDataset(tmp_path / "hq", 32, tasks=("jpeg", "sr16x"), flip=False)
    assert len(ds) == len(faces)
    item = ds[0]
    _check_item(item, 32, framed=True)
    assert item["face_frame"].tolist() == [32, 0, 0, 0]  # the whole face, not mirrored
    expected = fit_square(faces[item["name"]], 32)
    assert torch.equal(item["target"], torch.from_numpy(expected.transpose(2, 0, 1).astype(np.float32) / 255))
    assert not torch.equal(item["degraded"], item["target"])


def test_degraded_folder_is_a_function_of_seed_epoch_and_index(tmp_path):
    _write_faces(tmp_path / "hq")
    a = DegradedFolderDataset(tmp_path / "hq", 32, tasks=("renovation", "realworld"), seed=5)
    b = DegradedFolderDataset(tmp_path / "hq", 32, tasks=("renovation", "realworld"), seed=5)
    assert all(torch.equal(a[i]["degraded"], b[i]["degraded"]) for i in range(len(a)))
    assert torch.equal(a[3]["degraded"], a[3]["degraded"])  # no hidden state advances between calls
    first = a[2]["degraded"]
    a.set_epoch(1)
    assert not torch.equal(a[2]["degraded"], first)
    b.set_epoch(1)
    assert torch.equal(a[2]["degraded"], b[2]["degraded"])
    a.set_epoch(0)
    assert torch.equal(a[2]["degraded"], first)
    other_seed = DegradedFolderDataset(tmp_path / "hq", 32, tasks=("renovation", "realworld"), seed=6)
    assert not torch.equal(other_seed[2]["degraded"], first)


def test_degraded_folder_same_batches_with_any_worker_count(tmp_path):
    _write_faces(tmp_path / "hq", count=8)
    ds = DegradedFolderDataset(tmp_path / "hq", 24, tasks=("denoise", "deblur", "jpeg"), seed=3, random_crop=True)
    batches = {}
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=3, num_workers=workers, shuffle=False)
        batches[workers] = [b["degraded"] for b in loader]
    assert all(torch.equal(x, y) for x, y in zip(batches[0], batches[2], strict=True))


def test_random_crop_and_flip(tmp_path):
    faces = _write_faces(tmp_path / "hq", count=1, size=40)
    face = faces["f0"]
    cropped = DegradedFolderDataset(tmp_path / "hq", 16, tasks=("jpeg",), random_crop=True, flip=False)
    targets = set()
    for epoch in range(6):
        cropped.set_epoch(epoch)
        target = (cropped[0]["target"].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
        # every crop is a 16x16 window of the original
        found = [(t, l) for t in range(25) for l in range(25) if np.array_equal(face[t:t + 16, l:l + 16], target)]
        assert found
        targets.add(found[0])
    assert len(targets) > 1
    flipped = DegradedFolderDataset(tmp_path / "hq", 40, tasks=("jpeg",), flip=True)
    seen = set()
    for epoch in range(10):
        flipped.set_epoch(epoch)
        target = (flipped[0]["target"].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
        seen.add("mirrored" if np.array_equal(target, face[:, ::-1]) else "same" if np.array_equal(target, face)
                 else "other")
    assert seen == {"mirrored", "same"}


def test_sample_reports_the_parameters(tmp_path):
    _write_faces(tmp_path / "hq", count=2)
    ds = DegradedFolderDataset(tmp_path / "hq", 32, tasks=("sr4x",))
    item, params = ds.sample(1)
    assert params["task"] == "sr4x" and params["name"] == item["name"] and "flip" in params


def test_unreadable_files_are_reported_once_and_skipped(tmp_path, caplog):
    _write_faces(tmp_path / "hq", count=3)
    (tmp_path / "hq" / "junk.jpg").write_bytes(b"\x00" * 100)
    with caplog.at_level(logging.WARNING):
        ds = DegradedFolderDataset(tmp_path / "hq", 16, tasks=("jpeg",))
    assert len(ds) == 3 and "junk.jpg" in caplog.text
    # A file whose header is fine but whose data is cut off only fails when loaded: the item is replaced.
    good = (tmp_path / "hq" / "f1.png").read_bytes()
    (tmp_path / "hq" / "f1.png").write_bytes(good[: len(good) // 2])
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        names = [ds[i]["name"] for i in range(len(ds))] + [ds[1]["name"]]
    assert names == ["f0", "f2", "f2", "f2"]
    assert sum("f1.png" in r.getMessage() for r in caplog.records) == 1


def test_constructor_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        DegradedFolderDataset(tmp_path / "missing", 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no readable images"):
        DegradedFolderDataset(tmp_path / "empty", 32)
    _write_faces(tmp_path / "hq", count=1)
    with pytest.raises(ValueError, match="choose from"):
        DegradedFolderDataset(tmp_path / "hq", 32, tasks=("sr8x",))
    with pytest.raises(ValueError):
        DegradedFolderDataset(tmp_path / "hq", 0)
    assert len(DegradedFolderDataset(tmp_path / "hq", 8, max_items=5)) == 1


# --- PairedFolderDataset -----------------------------------------------------------------------------------

def test_paired_folders_match_by_stem(tmp_path, caplog):
    hq = _write_faces(tmp_path / "hq", count=4)
    lq = _write_faces(tmp_path / "lq", count=3, size=20, suffix=".jpg")  # smaller, other format
    with caplog.at_level(logging.WARNING):
        ds = PairedFolderDataset(tmp_path / "lq", tmp_path / "hq")
    assert len(ds) == 3 and "f3" in caplog.text
    item = ds[1]
    assert item["name"] == "f1"
    assert tuple(item["degraded"].shape) == tuple(item["target"].shape) == (3, 40, 40)  # lq brought to hq size
    assert torch.equal(item["target"], torch.from_numpy(hq["f1"].transpose(2, 0, 1).astype(np.float32) / 255))
    sized = PairedFolderDataset(tmp_path / "lq", tmp_path / "hq", size=16)
    _check_item(sized[0], 16)
    assert len(lq) == 3


def test_paired_folders_without_matches(tmp_path):
    _write_faces(tmp_path / "hq", count=2)
    (tmp_path / "lq").mkdir()
    with pytest.raises(ValueError, match="no readable pairs"):
        PairedFolderDataset(tmp_path / "lq", tmp_path / "hq")


# --- StackedPairDataset ------------------------------------------------------------------------------------

def test_stacked_pairs_read_degraded_from_the_top(tmp_path, caplog):
    hq = _write_faces(tmp_path / "hq", count=2, size=24)
    (tmp_path / "pairs").mkdir()
    for stem, image in hq.items():
        Image.fromarray(stack_pair(255 - image, image)).save(tmp_path / "pairs" / f"{stem}.png")
    side_by_side = np.concatenate([255 - hq["f0"], hq["f0"]], axis=1)
    Image.fromarray(side_by_side).save(tmp_path / "pairs" / "wide.png")
    Image.fromarray(hq["f1"]).save(tmp_path / "pairs" / "single.png")  # not a pair
    with caplog.at_level(logging.WARNING):
        ds = StackedPairDataset(tmp_path / "pairs")
    assert len(ds) == 3 and "single.png" in caplog.text
    for i in range(len(ds)):
        item = ds[i]
        stem = "f0" if item["name"] == "wide" else item["name"]
        target = torch.from_numpy(hq[stem].transpose(2, 0, 1).astype(np.float32) / 255)
        assert torch.equal(item["target"], target)
        assert torch.allclose(item["degraded"], 1 - target, atol=1e-6)
    _check_item(StackedPairDataset(tmp_path / "pairs", size=16)[0], 16)


# --- real faces (shared data) ------------------------------------------------------------------------------

def test_utkface_validation_faces():
    if not SHARED_VAL.is_dir():
        pytest.skip(f"needs the project's shared data at {SHARED_VAL} (present in CI, absent on user machines)")
    ds = DegradedFolderDataset(SHARED_VAL, 128, tasks=("renovation", "realworld"), max_items=4)
    assert len(ds) == 4
    for i in range(4):
        _check_item(ds[i], 128, framed=True)


def test_patches_are_cut_from_the_whole_face_on_a_16px_grid(tmp_path):
    faces = _write_faces(tmp_path / "hq", count=1, size=40)
    whole = fit_square(faces["f0"], 64)
    ds = DegradedFolderDataset(tmp_path / "hq", 32, tasks=("jpeg",), flip=False, face_size=64)
    offsets = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        item = ds[0]
        _check_item(item, 32, framed=True)
        target = (item["target"].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
        found = [(t, l) for t in range(33) for l in range(33) if np.array_equal(whole[t:t + 32, l:l + 32], target)]
        assert found and all(v % 16 == 0 for v in found[0])
        face_side, left, top, _ = item["face_frame"].tolist()
        assert (face_side, (top, left)) == (64, found[0])  # the frame states where the patch was cut
        offsets.add(found[0])
    assert len(offsets) > 1
    with pytest.raises(ValueError, match="face_size"):
        DegradedFolderDataset(tmp_path / "hq", 64, face_size=32)


def test_whole_face_items_show_the_whole_face_at_patch_size(tmp_path):
    faces = _write_faces(tmp_path / "hq", count=1, size=40)
    whole = fit_square(faces["f0"], 32)
    always = DegradedFolderDataset(tmp_path / "hq", 32, tasks=("jpeg",), flip=False, face_size=64, whole_face_prob=1.0)
    kinds = []
    mixed = DegradedFolderDataset(tmp_path / "hq", 32, tasks=("jpeg",), flip=False, face_size=64, whole_face_prob=0.5)
    for epoch in range(12):
        always.set_epoch(epoch)
        mixed.set_epoch(epoch)
        assert np.array_equal(_target_of(always[0]), whole)
        kinds.append(np.array_equal(_target_of(mixed[0]), whole))
    assert 0 < sum(kinds) < len(kinds)  # both whole faces and patches
    with pytest.raises(ValueError, match="whole_face_prob"):
        DegradedFolderDataset(tmp_path / "hq", 32, whole_face_prob=0.5)  # needs face_size


def test_whole_face_items_get_degradations_scaled_to_their_size(tmp_path):
    from hifacegan.degradations import DegradationConfig

    _write_faces(tmp_path / "hq", count=1, size=40)
    patch_ranges = DegradationConfig().scaled_for_size(512)  # as the trainer passes them for face_size 512
    ds = DegradedFolderDataset(tmp_path / "hq", 128, tasks=("deblur",), flip=False, face_size=512,
                               whole_face_prob=1.0, config=patch_ranges)
    sizes = []
    for epoch in range(16):
        ds.set_epoch(epoch)
        blur = ds.sample(0)[1]["steps"][0]
        sizes.append(blur["sigma"] / 0.75 if blur["kind"] == "gaussian" else blur["k"] / 2.0)
    # The official sigma 3-8 (motion 10-20 px) of a 512-px face is sigma 0.75-2 (2-5 px) at 128 px.
    assert 1.0 <= min(sizes) and max(sizes) <= 2.67


def test_component_patches_hold_an_eye_or_the_mouth_wholly(tmp_path):
    from hifacegan.training.components import component_boxes

    _write_faces(tmp_path / "hq", count=1, size=40)
    # 160-px patches of a 512-px face, the renovation model's training items: a random patch holds an eye
    # or the mouth about one time in ten, a component patch always does.
    kinds = {}
    for prob in (0.0, 1.0):
        ds = DegradedFolderDataset(tmp_path / "hq", 160, tasks=("jpeg",), face_size=512, component_patch_prob=prob)
        held = []
        for epoch in range(40):
            ds.set_epoch(epoch)
            frame = ds[0]["face_frame"]
            assert frame[1] % 16 == 0 and frame[2] % 16 == 0  # still on the 16-px grid
            held.append({kind for _, kind, *_ in component_boxes(frame[None], 160)})
        kinds[prob] = held
    assert all(held for held in kinds[1.0])
    assert {"eye", "mouth"} <= set().union(*kinds[1.0])
    assert sum(bool(held) for held in kinds[0.0]) < 20
    with pytest.raises(ValueError, match="component_patch_prob"):
        DegradedFolderDataset(tmp_path / "hq", 32, component_patch_prob=0.5)  # needs face_size
