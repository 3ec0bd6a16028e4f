"""Eye and mouth discriminators at the template's boxes (``loss.component``; issue 28).

Severely degraded faces came back with eye lines in the wrong place and smeared mouths, and the
whole-image discriminator spends little of its capacity there. GFPGAN adds discriminators on eye and
mouth crops for that reason. Here they cost less: training faces are aligned to the FFHQ template
(``scripts/align_faces.py``), so the eyes and mouth sit at fixed places of the face, and each training
item states where its pixels lie on that face (``face_frame``, written by
:class:`~hifacegan.data.datasets.DegradedFolderDataset`: a patch cut from the face, or the whole face
reduced, maybe mirrored). No landmarks are detected during training.

Two small unconditional patch discriminators: one for eyes (the eye on the image's right is mirrored, so
all eyes face the same way) and one for mouths. A box is used when it lies wholly inside the item; a
patch without eyes or mouth simply contributes nothing. Crops are resized to 64 px.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hifacegan.faces.align import COMPONENT_BOXES, ComponentBox
from hifacegan.models.discriminator import PatchDiscriminator
from hifacegan.training.losses import LSGANLoss

__all__ = ["COMPONENT_BOXES", "ComponentAdversary", "ComponentBox", "component_boxes"]

logger = logging.getLogger(__name__)

CROP_SIZE = 64


KINDS = ("eye", "mouth")


def component_boxes(frames: torch.Tensor, item_size: int) -> list[tuple[int, str, int, int, int, bool]]:
    """The boxes wholly inside each item: ``(item, kind, top, left, side, mirror)`` in item pixels.

    Args:
        frames: ``N x 4``: the face's side in item pixels, the item's left and top on that face, and
            1 when the item was mirrored (see ``DegradedFolderDataset``).
        item_size: the items' side in pixels.
    """
    boxes = []
    for index, (face_side, left, top, flipped) in enumerate(frames.tolist()):
        for box in COMPONENT_BOXES:
            side = round(box.side * face_side)
            x = box.centre[0] * face_side - left
            y = box.centre[1] * face_side - top
            if flipped:
                x = item_size - x
            x0, y0 = round(x - side / 2), round(y - side / 2)
            if side >= 8 and x0 >= 0 and y0 >= 0 and x0 + side <= item_size and y0 + side <= item_size:
                # Mirror the eye on the image's right: every eye crop then looks like a left eye.
                boxes.append((index, box.kind, y0, x0, side, box.kind == "eye" and x > item_size / 2))
    return boxes


def _crops(images: torch.Tensor, boxes: list[tuple[int, str, int, int, int, bool]], kind: str) -> torch.Tensor | None:
    picked = [b for b in boxes if b[1] == kind]
    if not picked:
        return None
    crops = []
    for index, _, top, left, side, mirror in picked:
        crop = images[index:index + 1, :, top:top + side, left:left + side]
        crop = F.interpolate(crop.float(), size=(CROP_SIZE, CROP_SIZE), mode="bilinear", align_corners=False,
                             antialias=side > CROP_SIZE)
        crops.append(crop.flip(-1) if mirror else crop)
    return torch.cat(crops)


class ComponentAdversary(nn.Module):
    """The eye and mouth discriminators with their optimiser and its schedule.

    Args:
        weight: weight of their generator term (``loss.component``).
        lr, betas: Adam settings (the whole-image discriminator's).
        lr_factor: the learning-rate schedule (the trainer's).
    """

    def __init__(self, weight: float, lr: float, betas: tuple[float, float], lr_factor: Any,
                 ndf: int = 32, n_layers: int = 3) -> None:
        super().__init__()
        self.weight = weight
        self.discriminators = nn.ModuleDict({kind: PatchDiscriminator(in_channels=3, ndf=ndf, n_layers=n_layers)
                                             for kind in KINDS})
        self.gan_loss = LSGANLoss()
        self.optimizer = torch.optim.Adam(self.discriminators.parameters(), lr=lr, betas=betas)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor)

    def generator_terms(self, fake: torch.Tensor, boxes: list) -> dict[str, torch.Tensor]:
        """``g_component``: LSGAN "real" target on the fake crops, weighted (D frozen meanwhile)."""
        total = fake.new_zeros((), dtype=torch.float32)
        self.discriminators.requires_grad_(False)
        for kind in KINDS:
            crops = _crops(fake, boxes, kind)
            if crops is not None:
                total = total + self.gan_loss([self.discriminators[kind](crops)], True)
        self.discriminators.requires_grad_(True)
        return {"g_component": total * self.weight}

    def discriminator_terms(self, fake: torch.Tensor, target: torch.Tensor, boxes: list) -> dict[str, torch.Tensor]:
        """``d_component``: real crops towards 1, fake (detached) towards 0, summed over kinds."""
        total = target.new_zeros((), dtype=torch.float32)
        for kind in KINDS:
            real_crops, fake_crops = _crops(target, boxes, kind), _crops(fake.detach(), boxes, kind)
            if real_crops is not None and fake_crops is not None:
                d = self.discriminators[kind]
                total = total + 0.5 * (self.gan_loss([d(real_crops)], True) + self.gan_loss([d(fake_crops)], False))
        if total.grad_fn is None:
            # No box in this batch: a zero that still reaches every weight, so every process of a distributed
            # run makes the same gradient exchange.
            total = total + sum(p.sum() * 0.0 for p in self.discriminators.parameters())
        return {"d_component": total}

    def average_gradients(self, world_size: int) -> None:
        """Average the gradients over the processes of a distributed run (no DDP wrapper: the number of
        crops differs per process and per step)."""
        if world_size <= 1:
            return
        import torch.distributed as dist

        for p in self.discriminators.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
            p.grad /= world_size

    def step(self, update: bool) -> None:
        if update:
            self.optimizer.step()
        with warnings.catch_warnings():
            # During the warm-up the optimiser does not step but the schedule follows the global step.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            self.scheduler.step()

    def training_state(self) -> dict[str, Any]:
        return {"discriminators": self.discriminators.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict()}

    def load_training_state(self, state: dict[str, Any] | None) -> None:
        if state is None:
            logger.warning("the checkpoint has no eye/mouth discriminators: they start afresh")
            return
        self.discriminators.load_state_dict(state["discriminators"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
