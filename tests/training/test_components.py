"""The eye and mouth discriminators (``loss.component``): boxes from each item's place on the aligned face,
found where the dataset's faces have their eyes and mouth, trained and resumed with the rest."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tiny import SIZE, TinyFaces, TinyPerceptual, tiny_config
from PIL import Image

from hifacegan.data.datasets import DegradedFolderDataset
from hifacegan.faces.align import FFHQ_TEMPLATE_512
from hifacegan.training import Trainer
from hifacegan.training.checkpoint import latest_checkpoint, load_checkpoint
from hifacegan.training.components import component_boxes


def test_a_whole_face_holds_both_eyes_and_the_mouth_and_mirroring_swaps_them():
    boxes = component_boxes(torch.tensor([[192.0, 0, 0, 0], [192.0, 0, 0, 1]]), 192)
    plain = [b for b in boxes if b[0] == 0]
    assert [(kind, mirror) for _, kind, _, _, _, mirror in plain] == [("eye", False), ("eye", True), ("mouth", False)]
    _, _, top, left, side, _ = plain[0]
    assert side == round(0.16 * 192)
    assert left + side / 2 == pytest.approx(FFHQ_TEMPLATE_512[0, 0] * 192 / 512, abs=1)
    assert top + side / 2 == pytest.approx(FFHQ_TEMPLATE_512[0, 1] * 192 / 512, abs=1)
    flipped = [b for b in boxes if b[0] == 1]
    # Mirrored: the template's left eye now sits on the image's right, so it is the one mirrored back.
    assert flipped[0][3] + side / 2 == pytest.approx(192 - FFHQ_TEMPLATE_512[0, 0] * 192 / 512, abs=1)
    assert [b[5] for b in flipped] == [True, False, False]


def test_a_patch_holds_only_the_boxes_wholly_inside_it():
    # A 192-px patch of a 512-px face, 128 px from its left and 160 from its top: the left eye only.
    assert [b[1] for b in component_boxes(torch.tensor([[512.0, 128, 160, 0]]), 192)] == ["eye"]
    assert component_boxes(torch.tensor([[512.0, 0, 0, 0]]), 192) == []  # the forehead corner
    assert component_boxes(torch.tensor([[0.0, 0, 0, 0]]), 192) == []  # not an aligned face


def test_the_boxes_fall_on_the_datasets_eyes_and_mouth(tmp_path):
    """A 512-px "face" with a white square at each eye and at the mouth's centre: through every item the
    dataset makes (patches, whole faces, mirrored or not), each box's centre is on a white square."""
    face = np.zeros((512, 512, 3), np.uint8)
    marks = [FFHQ_TEMPLATE_512[0], FFHQ_TEMPLATE_512[1], FFHQ_TEMPLATE_512[3:5].mean(0)]
    for x, y in marks:
        face[round(y) - 12:round(y) + 12, round(x) - 12:round(x) + 12] = 255
    Image.fromarray(face).save(tmp_path / "face.png")
    dataset = DegradedFolderDataset(tmp_path, size=192, face_size=512, whole_face_prob=0.4, tasks=("denoise",))
    seen = {"eye": 0, "mouth": 0}
    mirrored = 0
    for epoch in range(60):
        dataset.set_epoch(epoch)
        item = dataset[0]
        target = item["target"]
        for _, kind, top, left, side, mirror in component_boxes(item["face_frame"][None], 192):
            centre = target[:, top + side // 2, left + side // 2]
            assert centre.min() > 0.9, (epoch, kind, item["face_frame"])
            seen[kind] += 1
            mirrored += mirror
    assert seen["eye"] >= 20 and seen["mouth"] >= 10 and mirrored >= 5, (seen, mirrored)


class FramedTinyFaces(TinyFaces):
    """The tiny faces, each stated to be a whole aligned face (so every item has eye and mouth boxes)."""

    def __getitem__(self, index: int) -> dict:
        return {**super().__getitem__(index), "face_frame": torch.tensor([float(SIZE), 0.0, 0.0, 0.0])}


def _trainer(config, resume=None):
    return Trainer(config, FramedTinyFaces(), val_dataset=False, resume=resume, perceptual=TinyPerceptual())


def test_the_component_terms_train_and_resume_exactly(tmp_path):
    overrides = ("loss.component=1.0", "train.steps=5", "train.warmup_steps=1", "train.decay_steps=2",
                 "train.ckpt_every=3")
    reference = _trainer(tiny_config(tmp_path / "a", *overrides))
    before = {k: v.clone() for k, v in reference.components.discriminators.state_dict().items()}
    reference.fit()
    reference.close()
    after = reference.components.discriminators.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "the eye/mouth discriminators never moved"

    first = _trainer(tiny_config(tmp_path / "b", *overrides))
    first.fit(stop_at=3, save_on_stop=False)
    first.close()
    saved = load_checkpoint(latest_checkpoint(tmp_path / "b"))
    assert saved["components"]["optimizer"]["state"]
    second = _trainer(tiny_config(tmp_path / "b", *overrides), resume="auto")
    second.fit()
    second.close()
    for key, value in reference.components.discriminators.state_dict().items():
        assert torch.equal(value, second.components.discriminators.state_dict()[key]), key
    for key, value in reference.generator.state_dict().items():
        assert torch.equal(value, second.generator.state_dict()[key]), key


def test_the_component_terms_are_logged_and_reach_the_generator(tmp_path):
    trainer = _trainer(tiny_config(tmp_path / "a", "loss.component=1.0"))
    batch = [FramedTinyFaces()[k] for k in range(2)]
    degraded = torch.stack([b["degraded"] for b in batch])
    target = torch.stack([b["target"] for b in batch])
    frames = torch.stack([b["face_frame"] for b in batch])
    losses, _ = trainer.train_step(degraded, target, False, component_boxes(frames, SIZE))
    assert losses["g_component"] > 0 and losses["d_component"] > 0
    trainer.close()
    plain = _trainer(tiny_config(tmp_path / "b"))
    assert plain.components is None
    losses, _ = plain.train_step(degraded, target, False, None)
    assert "g_component" not in losses
    plain.close()


def test_a_checkpoint_without_them_resumes_with_fresh_ones(tmp_path, caplog):
    _trainer(tiny_config(tmp_path / "a", "train.steps=2", "train.ckpt_every=2")).fit()
    resumed = _trainer(tiny_config(tmp_path / "a", "train.steps=3", "loss.component=0.5"), resume="auto")
    assert resumed.step == 2
    assert "no eye/mouth discriminators: they start afresh" in caplog.text
    resumed.close()


def test_init_from_carries_the_eye_mouth_discriminators(tmp_path):
    first = _trainer(tiny_config(tmp_path / "a", "loss.component=1.0", "train.steps=2", "train.ckpt_every=2"))
    first.fit()
    first.close()
    checkpoint = latest_checkpoint(tmp_path / "a")
    started = _trainer(tiny_config(tmp_path / "b", "loss.component=1.0", f"model.init_from={checkpoint}"))
    for key, value in first.components.discriminators.state_dict().items():
        assert torch.equal(value, started.components.discriminators.state_dict()[key]), key
    assert started.step == 0
    started.close()
    # A checkpoint of a run without them: they start fresh, and the rest still loads.
    _trainer(tiny_config(tmp_path / "c", "train.steps=1", "train.ckpt_every=1")).fit()
    fresh = _trainer(tiny_config(tmp_path / "d", "loss.component=1.0",
                                 f"model.init_from={latest_checkpoint(tmp_path / 'c')}"))
    assert any(not torch.equal(value, fresh.components.discriminators.state_dict()[key])
               for key, value in first.components.discriminators.state_dict().items())
    fresh.close()
