"""Parameter ranges of the degradations, with the official HiFaceGAN values as defaults.

The official scripts (Face-Renovation ``degrade.py``; BasicSR
``scripts/data_preparation/prepare_hifacegan_dataset.py``) describe the degradations with imgaug
augmenters. :class:`DegradationConfig` holds the same ranges with imgaug's meaning (a ``(low, high)``
pair is a uniform range sampled once per image; integer ranges include both ends); the
implementations in this package use NumPy/OpenCV only. The ``realworld_*`` fields are the
GFPGAN training defaults (``options/train_gfpgan_v1.yml``), see :mod:`hifacegan.degradations.realworld`.

All official values were chosen for 512x512 faces. :meth:`DegradationConfig.scaled_for_size` gives
the equivalent spatial extents for another training size (e.g. 128).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

__all__ = ["REFERENCE_SIZE", "DegradationConfig"]

#: Face size (pixels) the official parameter ranges were made for.
REFERENCE_SIZE = 512

_INTERPOLATIONS = ("nearest", "linear", "cubic", "area", "lanczos")
_NOISE_KINDS = ("gaussian", "laplace", "poisson")
_BLUR_KINDS = ("motion", "gaussian")
_RENOVATION_OPS = ("blur", "noise", "jpeg", "down")
_KERNEL_KINDS = ("iso", "aniso")
# Fields holding a (low, high) range sampled uniformly per image.
_RANGE_FIELDS = (
    "down_scale", "noise_gaussian_sigma", "noise_laplace_scale", "noise_poisson_lam", "motion_blur_kernel",
    "motion_blur_angle", "motion_blur_direction", "gaussian_blur_sigma", "jpeg_compression", "realworld_blur_sigma",
    "realworld_downsample", "realworld_noise_sigma", "realworld_jpeg_quality", "realworld2_blur_sigma",
    "realworld2_resize", "realworld2_noise_sigma", "realworld2_jpeg_quality",
)


@dataclass(frozen=True)
class DegradationConfig:
    """Ranges the degradations sample from (official values by default, DESIGN.md section 2).

    Attributes:
        down_scale: ``sr4x`` and the ``down`` step of ``renovation``: scale factor range of the
            downsampling (official ``ia.Resize((0.125, 0.25))``: 4x to 8x smaller). BasicSR's exact 4x
            preset is ``down_scale=(0.25, 0.25)``, ``down_interpolation="area"``.
        down_interpolation: interpolation of the downsampling (imgaug's default ``"cubic"``).
        up_interpolation: interpolation back to the original size (``"cubic"``).
        mosaic_block: ``sr16x``: side of the blocks replaced by their mean (16 px at 512).
        noise_kinds: ``denoise``/``noise``: the noise types, one picked uniformly per image (imgaug ``OneOf``).
        noise_gaussian_sigma: standard deviation range of Gaussian noise, in 8-bit levels.
        noise_laplace_scale: scale ``b`` range of Laplace noise (standard deviation ``sqrt(2) b``).
        noise_poisson_lam: ``lambda`` range of Poisson noise; each sample gets a random sign, so
            its standard deviation is ``sqrt(lambda + lambda**2)``.
        noise_per_channel: independent noise per colour channel (imgaug ``per_channel=True``);
            ``False`` adds the same noise to all three channels.
        blur_kinds: ``deblur``/``blur``: blur types, one picked uniformly per image.
        motion_blur_kernel: kernel size range ``[low, high]`` of motion blur (even sizes become the
            next odd size, as in imgaug, so 10..20 gives 11..21).
        motion_blur_angle: direction range of the motion, degrees.
        motion_blur_direction: imgaug ``direction``: -1 puts all weight at one end of the streak,
            0 spreads it evenly, 1 at the other end.
        gaussian_blur_sigma: sigma range of Gaussian blur (pixels).
        jpeg_compression: imgaug ``JpegCompression`` strength range; quality =
            ``round(1 + 99 (1 - c / 101))``, so (50, 85) is quality 51 down to 17.
        renovation_ops: the steps of ``renovation``, applied all, in a random order per image.
        realworld_kernel_size: side of the ``realworld`` blur kernel (GFPGAN 41).
        realworld_kernel_kinds: isotropic and/or anisotropic Gaussian kernels.
        realworld_kernel_probs: probability of each kind in ``realworld_kernel_kinds``.
        realworld_blur_sigma: sigma range of the ``realworld`` kernels (pixels).
        realworld_downsample: downsampling factor range of ``realworld`` (GFPGAN 0.8 to 8).
        realworld_noise_sigma: Gaussian noise sigma range of ``realworld``, 8-bit levels.
        realworld_jpeg_quality: JPEG quality range of ``realworld`` (GFPGAN 60 to 100).
        realworld_color_jitter_prob: probability of a random per-channel colour shift (GFPGAN 0.3).
        realworld_color_jitter_shift: largest colour shift, 8-bit levels (GFPGAN 20).
        realworld_gray_prob: probability that the degraded image becomes grayscale (GFPGAN 0.01).
        realworld_second_order_prob: probability of a second, milder blur/resize/noise/JPEG round
            before returning to full size (Real-ESRGAN's "second order"; 0 = GFPGAN's recipe).
        realworld2_blur_sigma: sigma range of the second round's isotropic/anisotropic blur.
        realworld2_resize: extra resize factor range of the second round (<1 shrinks further).
        realworld2_noise_sigma: Gaussian noise sigma range of the second round.
        realworld2_jpeg_quality: JPEG quality range of the second round.
    """

    down_scale: tuple[float, float] = (0.125, 0.25)
    down_interpolation: str = "cubic"
    up_interpolation: str = "cubic"
    mosaic_block: int = 16
    noise_kinds: tuple[str, ...] = _NOISE_KINDS
    noise_gaussian_sigma: tuple[float, float] = (20.0, 40.0)
    noise_laplace_scale: tuple[float, float] = (20.0, 40.0)
    noise_poisson_lam: tuple[float, float] = (15.0, 30.0)
    noise_per_channel: bool = True
    blur_kinds: tuple[str, ...] = _BLUR_KINDS
    motion_blur_kernel: tuple[int, int] = (10, 20)
    motion_blur_angle: tuple[float, float] = (0.0, 360.0)
    motion_blur_direction: tuple[float, float] = (-1.0, 1.0)
    gaussian_blur_sigma: tuple[float, float] = (3.0, 8.0)
    jpeg_compression: tuple[float, float] = (50.0, 85.0)
    renovation_ops: tuple[str, ...] = _RENOVATION_OPS
    realworld_kernel_size: int = 41
    realworld_kernel_kinds: tuple[str, ...] = _KERNEL_KINDS
    realworld_kernel_probs: tuple[float, ...] = (0.5, 0.5)
    realworld_blur_sigma: tuple[float, float] = (0.1, 10.0)
    realworld_downsample: tuple[float, float] = (0.8, 8.0)
    realworld_noise_sigma: tuple[float, float] = (0.0, 20.0)
    realworld_jpeg_quality: tuple[float, float] = (60.0, 100.0)
    realworld_color_jitter_prob: float = 0.3
    realworld_color_jitter_shift: float = 20.0
    realworld_gray_prob: float = 0.01
    realworld_second_order_prob: float = 0.0
    realworld2_blur_sigma: tuple[float, float] = (0.2, 1.5)
    realworld2_resize: tuple[float, float] = (0.3, 1.2)
    realworld2_noise_sigma: tuple[float, float] = (1.0, 25.0)
    realworld2_jpeg_quality: tuple[float, float] = (30.0, 95.0)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # YAML gives lists; keep the dataclass hashable and immutable
                object.__setattr__(self, f.name, tuple(value))
        self._validate()

    def _validate(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"DegradationConfig.{name}={getattr(self, name)!r}: {why}")

        for name in _RANGE_FIELDS:
            value = getattr(self, name)
            if not (isinstance(value, tuple) and len(value) == 2
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
                raise bad(name, "expected a (low, high) pair of numbers")
            if value[0] > value[1]:
                raise bad(name, "low must not exceed high")
            if value[0] < 0 and name not in ("motion_blur_angle", "motion_blur_direction"):
                raise bad(name, "must not be negative")
        for name in ("mosaic_block", "realworld_kernel_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad(name, "expected an integer")
        if not all(isinstance(v, int) for v in self.motion_blur_kernel):
            raise bad("motion_blur_kernel", "expected integer kernel sizes")
        if not isinstance(self.noise_per_channel, bool):
            raise bad("noise_per_channel", "expected true or false")
        for name in ("down_interpolation", "up_interpolation"):
            if getattr(self, name) not in _INTERPOLATIONS:
                raise bad(name, f"choose one of {', '.join(_INTERPOLATIONS)}")
        for name, valid in (("noise_kinds", _NOISE_KINDS), ("blur_kinds", _BLUR_KINDS),
                            ("renovation_ops", _RENOVATION_OPS), ("realworld_kernel_kinds", _KERNEL_KINDS)):
            kinds = getattr(self, name)
            if not kinds or any(k not in valid for k in kinds):
                raise bad(name, f"expected a non-empty list drawn from {', '.join(valid)}")
        if len(self.realworld_kernel_probs) != len(self.realworld_kernel_kinds) \
                or any(p < 0 for p in self.realworld_kernel_probs) or sum(self.realworld_kernel_probs) <= 0:
            raise bad("realworld_kernel_probs", "expected one non-negative probability per kernel kind")
        if not -1.0 <= self.motion_blur_direction[0] <= self.motion_blur_direction[1] <= 1.0:
            raise bad("motion_blur_direction", "must lie in [-1, 1]")
        if not (0 < self.down_scale[0] and self.down_scale[1] <= 1):
            raise bad("down_scale", "scale factors must lie in (0, 1]")
        if self.mosaic_block < 1:
            raise bad("mosaic_block", "must be at least 1")
        if self.motion_blur_kernel[0] < 1:
            raise bad("motion_blur_kernel", "kernel sizes must be at least 1")
        if self.realworld_kernel_size < 1 or self.realworld_kernel_size % 2 == 0:
            raise bad("realworld_kernel_size", "must be a positive odd number")
        for name in ("gaussian_blur_sigma", "realworld_blur_sigma", "realworld2_blur_sigma", "realworld_downsample",
                     "realworld2_resize"):
            if getattr(self, name)[0] <= 0:
                raise bad(name, "must be positive")
        for name in ("jpeg_compression", "realworld_jpeg_quality", "realworld2_jpeg_quality"):
            if getattr(self, name)[1] > 100:
                raise bad(name, "must lie in [0, 100]")
        for name in ("realworld_color_jitter_prob", "realworld_gray_prob", "realworld_second_order_prob",
                     "realworld_color_jitter_shift"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise bad(name, "expected a number")
            if name.endswith("_prob") and not 0.0 <= value <= 1.0:
                raise bad(name, "a probability must lie in [0, 1]")

    # --- conversions ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-friendly dict of every field (tuples become lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DegradationConfig:
        """Build a config from a (YAML) mapping; missing keys keep their official defaults.

        Raises:
            ValueError: an unknown key (the message lists close matches) or an invalid value.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else f"; valid keys: {', '.join(names)}"
                raise ValueError(f"unknown degradation setting {key!r}{hint}")
        return cls(**values)

    def replace(self, **changes: Any) -> DegradationConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def scaled_for_size(self, size: int, reference: int = REFERENCE_SIZE) -> DegradationConfig:
        """The same degradations for faces of ``size`` pixels instead of ``reference`` (512).

        The official ranges were made for 512x512 faces; applied unchanged to a 128x128 face, a
        sigma-8 blur or 16-pixel mosaic destroys four times more of the face than in the paper.
        This scales the spatial extents (blur sigmas and kernel sizes, the mosaic block) by
        ``size / reference``. Relative factors (downsampling), noise levels and JPEG qualities are
        per-pixel or relative already and stay as they are.

        Args:
            size: face size the degradations will be applied at.
            reference: face size the current ranges are meant for.

        Returns:
            A new config.
        """
        if size <= 0 or reference <= 0:
            raise ValueError(f"sizes must be positive, got size={size}, reference={reference}")
        f = size / reference

        def odd(n: float) -> int:
            n = max(1, round(n))
            return n if n % 2 else n + 1

        return self.replace(
            mosaic_block=max(1, round(self.mosaic_block * f)),
            motion_blur_kernel=(max(1, round(self.motion_blur_kernel[0] * f)),
                                max(1, round(self.motion_blur_kernel[1] * f))),
            gaussian_blur_sigma=(self.gaussian_blur_sigma[0] * f, self.gaussian_blur_sigma[1] * f),
            realworld_kernel_size=odd(self.realworld_kernel_size * f),
            realworld_blur_sigma=(self.realworld_blur_sigma[0] * f, self.realworld_blur_sigma[1] * f),
            realworld2_blur_sigma=(self.realworld2_blur_sigma[0] * f, self.realworld2_blur_sigma[1] * f),
        )
