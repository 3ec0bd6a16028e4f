"""NIQE, the no-reference "naturalness" score (Mittal, Soundararajan and Bovik, 2013), MATLAB-compatible.

Lower is better. The score compares natural-scene statistics of the image, pooled over 96x96 blocks
at two scales, with a multivariate Gaussian fitted to pristine images. Two pristine models ship with
the package (``data/NOTICE.md`` says where each comes from):

* ``standard``: the authors' model (``mu_prisparam``/``cov_prisparam`` of MATLAB's
  ``modelparameters.mat``, fitted on 125 natural scenes, as BasicSR distributes it in
  ``niqe_pris_params.npz``): the scale of every published NIQE figure, and the default;
* ``faces`` (``hifacegan-faces-v1``): the same fit (``scripts/fit_niqe_params.py``) on 244 studio face
  portraits (webmorphR.stim, CC BY 4.0), for comparisons within one table.

:func:`find_niqe_params` takes a model name or a file, and without either looks at

1. ``$HIFACEGAN_NIQE_PARAMS`` (a name or a file);
2. ``~/.cache/hifacegan/niqe_pris_params.npz`` (``$XDG_CACHE_HOME/hifacegan/...``), or
   ``modelparameters.mat`` in that folder (reading ``.mat`` needs SciPy);
3. an installed BasicSR's ``basicsr/metrics/niqe_pris_params.npz``;
4. else the standard model shipped in this package, so a fresh install gives standard NIQE.

Scores depend on the model: :attr:`NiqeParams.name` says which one was used (``"standard"`` for a file
without a ``name`` entry, as MATLAB's and BasicSR's files are), and reports carry it. Only the standard
model gives values comparable with published NIQE; the faces model is for comparisons within a table.

What makes it MATLAB-compatible (the details that move the score): the image is the BT.601 Y channel
rounded to integers; local mean and deviation use the 7x7 Gaussian (sigma 7/6) with replicated
borders; the image is cut to whole blocks; the generalized-Gaussian shape is chosen on MATLAB's grid
0.2:0.001:10; the second scale comes from MATLAB's ``imresize(0.5)`` (bicubic, antialiased,
symmetric borders); the distance uses the pseudo-inverse of the mean of the two covariances.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hifacegan.metrics._common import crop, rgb_to_y
from hifacegan.metrics._paths import MissingFileError, cache_dir, find_file, installed_package_dir
from hifacegan.pixels import to_float255

__all__ = [
    "FACES_NIQE_PARAMS",
    "NIQE_MODELS",
    "NIQE_PARAMS_ENV",
    "PACKAGED_NIQE_PARAMS",
    "MissingFileError",
    "NiqeParams",
    "find_niqe_params",
    "gaussian_window",
    "load_niqe_params",
    "matlab_imresize",
    "niqe",
    "niqe_block_features",
]

logger = logging.getLogger(__name__)

NIQE_PARAMS_ENV = "HIFACEGAN_NIQE_PARAMS"
NIQE_PARAMS_FILE = "niqe_pris_params.npz"
_DATA = Path(__file__).resolve().parent / "data"
#: The standard pristine model shipped with the package (the default; see data/NOTICE.md).
PACKAGED_NIQE_PARAMS = _DATA / "niqe_pris_params.npz"
#: The project's faces model (``hifacegan-faces-v1``), chosen by name.
FACES_NIQE_PARAMS = _DATA / "niqe_pristine_faces.npz"
#: The name of a model file that carries none: MATLAB's and BasicSR's standard files.
STANDARD_NAME = "standard"
#: Shipped models by the names ``--niqe-params`` accepts.
NIQE_MODELS = {STANDARD_NAME: PACKAGED_NIQE_PARAMS, "faces": FACES_NIQE_PARAMS, "hifacegan-faces-v1": FACES_NIQE_PARAMS}
_HINT = ("It is the standard NIQE pristine model: MATLAB's modelparameters.mat, or BasicSR's "
         "basicsr/metrics/niqe_pris_params.npz (keys mu_pris_param, cov_pris_param, gaussian_window). "
         "On the command line, --niqe-params FILE names it; --niqe-params standard or faces picks a shipped model.")


@dataclass(frozen=True)
class NiqeParams:
    """The pristine model NIQE compares against.

    Attributes:
        mu: ``(36,)`` mean of the pristine features.
        cov: ``(36, 36)`` covariance of the pristine features.
        window: ``(7, 7)`` Gaussian weighting window for local statistics (sums to 1).
        source: the file it was read from.
        name: which model: ``"standard"`` (MATLAB's, comparable with published NIQE) or the ``name``
            stored in the file, e.g. ``"hifacegan-faces-v1"`` for the packaged one.
    """

    mu: np.ndarray
    cov: np.ndarray
    window: np.ndarray
    source: Path
    name: str = STANDARD_NAME


def _niqe_candidates() -> list[Path]:
    candidates = [cache_dir() / NIQE_PARAMS_FILE, cache_dir() / "modelparameters.mat"]
    basicsr = installed_package_dir("basicsr")
    if basicsr is not None:
        candidates.append(basicsr / "metrics" / NIQE_PARAMS_FILE)
    candidates.append(PACKAGED_NIQE_PARAMS)
    return candidates


def find_niqe_params(path: str | os.PathLike | None = None) -> Path:
    """Locate the NIQE pristine-model file (see the module docstring for the search order).

    Args:
        path: a shipped model's name (:data:`NIQE_MODELS`: ``standard``, ``faces``), a file, or None.

    Returns:
        The file; without a name, a file or a user's standard file, :data:`PACKAGED_NIQE_PARAMS`.

    Raises:
        MissingFileError: an explicit path (or none at all, in a broken install) does not exist; the message
            lists where it looked and where to put the file.
    """
    if path is None and os.environ.get(NIQE_PARAMS_ENV, "") in NIQE_MODELS:
        path = os.environ[NIQE_PARAMS_ENV]
    if path is not None and str(path) in NIQE_MODELS:
        path = NIQE_MODELS[str(path)]
    return find_file("NIQE pristine-model parameters", path, NIQE_PARAMS_ENV, _niqe_candidates(), _HINT)


def gaussian_window(size: int = 7, sigma: float = 7.0 / 6.0) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: the window NIQE's reference code uses."""
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    window = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2.0 * sigma**2))
    return window / window.sum()


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path) -> NiqeParams:
    if path.suffix.lower() == ".mat":
        try:
            from scipy.io import loadmat
        except ImportError as exc:
            raise ImportError(f"reading {path} (a MATLAB .mat file) needs SciPy: pip install scipy") from exc
        data = loadmat(str(path))
        mu, cov, window = data.get("mu_prisparam"), data.get("cov_prisparam"), None
        name = STANDARD_NAME
    else:
        with np.load(path) as data:
            mu, cov, window = data.get("mu_pris_param"), data.get("cov_pris_param"), data.get("gaussian_window")
            name = str(data["name"]) if "name" in data.files else STANDARD_NAME
    if mu is None or cov is None:
        raise ValueError(f"{path} holds no NIQE pristine model (expected mu_pris_param/cov_pris_param "
                         "or MATLAB's mu_prisparam/cov_prisparam)")
    mu = np.asarray(mu, dtype=np.float64).reshape(-1)
    cov = np.asarray(cov, dtype=np.float64)
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise ValueError(f"{path}: expected a 36-feature model, got mean {mu.shape} and covariance {cov.shape}")
    window = gaussian_window() if window is None else np.asarray(window, dtype=np.float64)
    logger.debug("NIQE pristine model %s from %s", name, path)
    return NiqeParams(mu=mu, cov=cov, window=window, source=path, name=name)


def load_niqe_params(path: str | os.PathLike | None = None) -> NiqeParams:
    """Find (see :func:`find_niqe_params`) and read the pristine model; cached per file.

    Raises:
        MissingFileError: no file found.
        ValueError: the file does not hold a 36-feature NIQE model.
    """
    return _load_cached(find_niqe_params(path).resolve())


# ---- MATLAB imresize (bicubic, antialiased) --------------------------------------------------------


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, as MATLAB's imresize uses."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return ((1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2)))


def _resize_matrix(in_length: int, out_length: int, scale: float) -> np.ndarray:
    """``(out, in)`` matrix applying MATLAB's 1-D bicubic resampling with antialiasing and symmetric borders."""
    width = 4.0 / scale if scale < 1 else 4.0  # antialiasing widens the kernel when shrinking
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(distance * scale) if scale < 1 else _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    # MATLAB mirrors out-of-range taps: ..., 2, 1, [1, 2, ..., n], n, n-1, ...
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])
    mapped = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    matrix = np.zeros((out_length, in_length))
    np.add.at(matrix, (np.repeat(np.arange(out_length), taps), mapped.reshape(-1)), weights.reshape(-1))
    return matrix


def matlab_imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize a 2-D float array like MATLAB's ``imresize(image, scale)`` (bicubic, antialiased).

    Args:
        image: ``(H, W)`` float array, any range (no clipping or rounding).
        scale: factor applied to both sides; the output is ``ceil(H * scale) x ceil(W * scale)``.

    Returns:
        ``(ceil(H * scale), ceil(W * scale))`` float64 array.
    """
    if image.ndim != 2:
        raise ValueError(f"matlab_imresize takes a 2-D array, got shape {image.shape}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    h, w = image.shape
    rows = _resize_matrix(h, math.ceil(h * scale), scale)
    cols = _resize_matrix(w, math.ceil(w * scale), scale)
    return rows @ np.asarray(image, dtype=np.float64) @ cols.T


# ---- Features ---------------------------------------------------------------------------------------

_GAMMA_GRID = np.arange(0.2, 10.001, 0.001)  # MATLAB's gam = 0.2:0.001:10


@functools.cache
def _ratio_table() -> np.ndarray:
    # r(gam) = Gamma(2/gam)^2 / (Gamma(1/gam) Gamma(3/gam)), the moment ratio of a generalized Gaussian.
    lg = np.vectorize(math.lgamma)
    inv = 1.0 / _GAMMA_GRID
    return np.exp(2.0 * lg(2.0 * inv) - lg(inv) - lg(3.0 * inv))


def _aggd(values: np.ndarray) -> tuple[float, float, float]:
    """Fit an asymmetric generalized Gaussian: ``(alpha, beta_left, beta_right)``; NaN where undefined."""
    values = values.reshape(-1)
    negative, positive = values[values < 0], values[values > 0]
    left_std = math.sqrt(float(np.mean(negative**2))) if negative.size else math.nan
    right_std = math.sqrt(float(np.mean(positive**2))) if positive.size else math.nan
    gamma_hat = left_std / right_std if right_std else math.nan
    mean_sq = float(np.mean(values**2))
    r_hat = float(np.mean(np.abs(values))) ** 2 / mean_sq if mean_sq else math.nan
    r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    if math.isnan(r_hat_norm):
        # The reference's argmin over an all-NaN distance picks the first grid point; its betas are NaN anyway.
        alpha = float(_GAMMA_GRID[0])
    else:
        alpha = float(_GAMMA_GRID[np.argmin((_ratio_table() - r_hat_norm) ** 2)])
    factor = math.sqrt(math.gamma(1.0 / alpha) / math.gamma(3.0 / alpha))
    return alpha, left_std * factor, right_std * factor


# The reference implementation (BasicSR's port of MATLAB's niqe.m, which produced the project's reference
# values) works in float32. With the few 96x96 blocks of a small face the feature covariance is nearly
# singular, so float64 arithmetic moves scores by up to 0.08; float32 reproduces them within 0.005.
_DTYPE = np.float32

_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical and both diagonal neighbours


def _block_features(block: np.ndarray) -> list[float]:
    alpha, beta_l, beta_r = _aggd(block)
    features = [alpha, (beta_l + beta_r) / 2.0]
    for shift in _SHIFTS:
        product = block * np.roll(block, shift, axis=(0, 1))
        alpha, beta_l, beta_r = _aggd(product)
        mean = (beta_r - beta_l) * math.gamma(2.0 / alpha) / math.gamma(1.0 / alpha)
        features.extend([alpha, mean, beta_l, beta_r])
    return features


def _mscn(image: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted, contrast-normalised coefficients and the local deviation (float32), replicated borders."""
    # Filtered in float64 and stored in float32, as the reference does (SciPy filters a float32 image in
    # double precision and returns float32); see _DTYPE for why float32 matters.
    mu = cv2.filter2D(image.astype(np.float64), cv2.CV_64F, window, borderType=cv2.BORDER_REPLICATE).astype(_DTYPE)
    second = cv2.filter2D(np.square(image).astype(np.float64), cv2.CV_64F, window,
                          borderType=cv2.BORDER_REPLICATE).astype(_DTYPE)
    sigma = np.sqrt(np.abs(second - np.square(mu)))
    return (image - mu) / (sigma + _DTYPE(1.0)), sigma


def niqe_block_features(image: np.ndarray, window: np.ndarray, block_size: int = 96,
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The 36 NIQE features of every whole block of a luminance image, and each block's sharpness.

    Shared by scoring (:func:`niqe_gray`) and by fitting a pristine model (``scripts/fit_niqe_params.py``),
    so both see exactly the same features.

    Args:
        image: ``(H, W)`` luminance in ``[0, 255]`` (rounded for MATLAB compatibility).
        window: ``(7, 7)`` weighting window of the local statistics.
        block_size: side of the square blocks at the first scale (half that at the second).

    Returns:
        ``(features, sharpness)``: ``(n_blocks, 36)`` float64 (18 features per scale, first scale first;
        NaN where a block has no texture) and ``(n_blocks,)`` mean local deviation of each block at the
        first scale (the block selection criterion of the pristine-model fit). Blocks in row-major order.

    Raises:
        ValueError: not a single whole block fits.
    """
    h, w = image.shape
    blocks_h, blocks_w = h // block_size, w // block_size
    if blocks_h * blocks_w < 1:
        raise ValueError(f"NIQE needs {block_size}x{block_size} blocks, got a {h}x{w} image")
    image = np.asarray(image[:blocks_h * block_size, :blocks_w * block_size], dtype=_DTYPE)
    per_scale, sharpness = [], None
    for scale in (1, 2):
        normalized, sigma = _mscn(image, window)
        size = block_size // scale
        per_scale.append(np.array([
            _block_features(normalized[i * size:(i + 1) * size, j * size:(j + 1) * size])
            for i in range(blocks_h) for j in range(blocks_w)
        ]))
        if scale == 1:
            sharpness = sigma.reshape(blocks_h, size, blocks_w, size).mean(axis=(1, 3), dtype=np.float64).reshape(-1)
            image = matlab_imresize(image, 0.5).astype(_DTYPE)
    assert sharpness is not None  # set at scale 1
    return np.concatenate(per_scale, axis=1), sharpness


def niqe_gray(image: np.ndarray, params: NiqeParams, block_size: int = 96) -> float:
    """NIQE of a 2-D luminance array in ``[0, 255]`` (already rounded for MATLAB compatibility).

    Raises:
        ValueError: fewer than two whole blocks fit in the image, or fewer than two have texture.
    """
    h, w = image.shape
    if (h // block_size) * (w // block_size) < 2:
        raise ValueError(f"NIQE needs at least two {block_size}x{block_size} blocks, got a {h}x{w} image")
    features, _ = niqe_block_features(image, params.window, block_size)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        # Blocks without texture (flat, saturated) give undefined features; the reference would return NaN.
        raise ValueError(f"NIQE is undefined for this image: fewer than two of its {len(features)} blocks have "
                         "texture (flat or saturated regions)")
    mu = np.nanmean(features, axis=0)
    cov = np.cov(complete, rowvar=False)
    diff = params.mu - mu
    distance = diff @ np.linalg.pinv((params.cov + cov) / 2.0) @ diff
    return float(math.sqrt(distance))


def niqe(image: np.ndarray, *, params: NiqeParams | str | os.PathLike | None = None, crop_border: int = 0,
         block_size: int = 96) -> float:
    """MATLAB-compatible NIQE of one image (lower is more natural).

    Args:
        image: ``(H, W, 3)`` RGB, ``uint8`` in ``[0, 255]`` or float in ``[0, 1]``; needs room for two
            ``block_size`` blocks (e.g. 192x96). Measured on the BT.601 Y channel rounded to integers.
        params: the pristine model, a shipped model's name (``standard``, ``faces``) or a file; ``None``
            searches the default places (see :func:`find_niqe_params`), which end at the shipped
            standard model.
        crop_border: pixels removed from each side first.
        block_size: side of the square pooling blocks (96, as the reference).

    Returns:
        The NIQE score.

    Raises:
        MissingFileError: an explicit ``params`` path does not exist, or (a broken install) not even the
            shipped model is there; the message says where to put a file.
        ValueError: bad image shape/range, an image too small, or one without texture (e.g. flat).
    """
    if not isinstance(params, NiqeParams):
        params = load_niqe_params(params)
    luma = np.round(rgb_to_y(to_float255(image)))
    return niqe_gray(crop(luma, crop_border), params, block_size)

