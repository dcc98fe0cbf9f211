"""NIQE (Mittal, Soundararajan and Bovik, IEEE SPL 2013) with the LIVE/MATLAB pristine model,
vectorised in torch over the patches of one or N images, on any device.

The steps and their arithmetic are those of pyiqa's ``niqe`` (the project's reference; it
is not imported here):

1. Y of YIQ from the 8-bit RGB image, rounded to levels 0..255, then float64;
2. crop to whole 96x96 patches (top-left; at least one patch is needed);
3. at two scales (the image, then ``imresize(Y / 255, 0.5) * 255``, MATLAB bicubic with
   antialiasing, float32): MSCN coefficients (7x7 Gaussian, sigma 7/6, replicated borders)
   and, per patch (96x96, then 48x48), 18 features: the AGGD fit of the coefficients
   (alpha, mean of the two betas) and of their products with the right, lower, lower-right
   and lower-left neighbours (alpha, mean, left and right beta; neighbours wrap around
   inside the patch);
4. the 36 features of every patch: mean (NaN-skipping, per feature) and covariance (patches
   with a NaN dropped), and the distance to the pristine model
   ``sqrt((mu_p - mu)^T pinv((C_p + C) / 2) (mu_p - mu))``.

An independent implementation (pyiqa's code is not copied): each patch's five
distributions are reduced to five sums each (:func:`llebench_metrics.nss.neighbour_moments`:
two counts, two sums of squares, a sum of magnitudes), from which the AGGD fits follow by a
binary search in the gamma table (:class:`llebench_metrics.nss.GridFit`); pyiqa fits every
patch against all 9,801 table entries. See :mod:`llebench_metrics.nss` for what keeps the
values equal and the CPU path fast.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from llebench.sdk import LLEBenchError

from llebench_metrics.nss import (
    gaussian_window, grid_fit, helper_thread, imresize, in_pieces, mscn, neighbour_moments, y_levels,
)

PATCH = 96
#: (row, column) shifts of the neighbour products: right, lower, lower-right, lower-left
NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))


def load_pristine_model(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``mu_prisparam`` (36) and ``cov_prisparam`` (36x36) of a NIQE parameter ``.mat`` file, float64."""
    import scipy.io

    params = scipy.io.loadmat(str(path))
    mu = torch.from_numpy(params["mu_prisparam"].ravel().astype("float64"))
    cov = torch.from_numpy(params["cov_prisparam"].astype("float64"))
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise LLEBenchError(f"{path}: expected a NIQE model (mu_prisparam 1x36, cov_prisparam 36x36), "
                            f"got {tuple(params['mu_prisparam'].shape)} and {tuple(params['cov_prisparam'].shape)}")
    return mu, cov


def check_size(height: int, width: int) -> None:
    if height < PATCH or width < PATCH:
        raise LLEBenchError(f"NIQE needs images of at least {PATCH}x{PATCH} pixels (one {PATCH}x{PATCH} patch), "
                            f"got {height}x{width} (HxW)")


def patch_features(moments: np.ndarray, size: int) -> np.ndarray:
    """The 18 features of every ``size`` x ``size`` patch from its :func:`neighbour_moments`
    (5 x N x P x 5): N x P x 18."""
    from scipy.special import gammaln

    alpha, left_std, right_std = grid_fit(torch.float64).aggd(moments, size * size)
    scale = np.sqrt(np.exp(gammaln(1 / alpha) - gammaln(3 / alpha)))
    beta_left, beta_right = left_std * scale, right_std * scale
    mean = (beta_right - beta_left) * np.exp(gammaln(2 / alpha) - gammaln(1 / alpha))
    features = [alpha[0], (beta_left[0] + beta_right[0]) / 2]
    for k in range(1, 5):
        features += [alpha[k], mean[k], beta_left[k], beta_right[k]]
    return np.stack(features, axis=-1)


def niqe_moments(images: torch.Tensor) -> list[torch.Tensor]:
    """The patch moments of Nx3xHxW [0,1] images at both scales (each 5 x N x P x 5, float64).

    On the CPU the work is split between the calling thread and a helper thread
    (:func:`llebench_metrics.nss.helper_thread`): the helper makes the half-size coefficients
    while the caller makes the full-size ones, then takes the half-size moments and the last
    rows of full-size patches (about half the work), the caller the other rows. Each piece
    of work is computed the same way wherever it runs.
    """
    height, width = images.shape[-2:]
    check_size(height, width)
    rows, cols = height // PATCH, width // PATCH
    y = y_levels(images[..., : rows * PATCH, : cols * PATCH])
    window = gaussian_window(7, 7.0 / 6)

    def half_size() -> torch.Tensor:
        return mscn(imresize(y, scale=0.5, divide_by=255.0, multiply_by=255.0), window, "replicate")[:, 0]

    def full_moments(first: int, last: int) -> torch.Tensor:
        return neighbour_moments(full[:, first * PATCH: last * PATCH], (PATCH, PATCH), NEIGHBOURS)

    if not in_pieces(images):
        full = mscn(y, window, "replicate")[:, 0]
        return [full_moments(0, rows), neighbour_moments(half_size(), (PATCH // 2, PATCH // 2), NEIGHBOURS)]
    helper = helper_thread()
    pending = helper.submit(half_size)
    full = mscn(y, window, "replicate")[:, 0]
    half = pending.result()
    # the half-size moments cost a quarter of the full-size ones: the helper also takes the
    # last ~3/8 of the full-size patch rows, the caller the first ~5/8
    split = max(1, min(rows, round(rows * 0.625)))
    pending = helper.submit(lambda: (neighbour_moments(half, (PATCH // 2, PATCH // 2), NEIGHBOURS),
                                     full_moments(split, rows) if split < rows else None))
    first = full_moments(0, split)
    half_moments, rest = pending.result()
    return [first if rest is None else torch.cat([first, rest], dim=2), half_moments]


def niqe_features(images: torch.Tensor) -> np.ndarray:
    """The 36 features of every patch of Nx3xHxW [0,1] images: N x P x 36 (float64)."""
    scale1, scale2 = (m.cpu().numpy() for m in niqe_moments(images))
    return np.concatenate([patch_features(scale1, PATCH), patch_features(scale2, PATCH // 2)], axis=-1)


def pinv(matrices: np.ndarray) -> np.ndarray:
    """``torch.linalg.pinv`` of a stack of matrices (SVD; singular values up to
    ``max(m, n) * eps * largest`` dropped), in numpy: LAPACK on 36x36 matrices needs no thread team."""
    u, s, vh = np.linalg.svd(matrices)
    cutoff = max(matrices.shape[-2:]) * np.finfo(matrices.dtype).eps * s[..., :1]
    inverse = np.where(s > cutoff, 1 / np.where(s > cutoff, s, 1), 0)
    return np.swapaxes(vh, -1, -2) @ (inverse[..., :, None] * np.swapaxes(u, -1, -2))


def distance(features: np.ndarray, mu_pristine: np.ndarray, cov_pristine: np.ndarray) -> np.ndarray:
    """NIQE of N images from their patch features (N x P x 36, float64): shape N.

    Mean per feature with NaNs skipped; covariance over the patches without a NaN (sample
    covariance, or 0 for one patch); ``sqrt(d^T pinv((C_p + C) / 2) d)``, d = mu_p - mu.
    """
    valid = ~np.isnan(features)
    mu = np.where(valid, features, 0).sum(axis=1) / valid.sum(axis=1)
    scores = np.empty(features.shape[0])
    for i, patch_rows in enumerate(features):
        complete = patch_rows[valid[i].all(axis=1)]
        count = complete.shape[0]
        if count == 0:
            scores[i] = math.nan
            continue
        centred = complete - complete.mean(axis=0)
        cov = centred.T @ centred / (count - 1 if count > 1 else 1)
        diff = mu_pristine - mu[i]
        scores[i] = math.sqrt(diff @ pinv((cov_pristine + cov) / 2) @ diff)
    return scores


class NIQEModel:
    """NIQE of Nx3xHxW [0,1] images against a pristine model: the patch features on the
    images' device, the final 36-dimensional Gaussian comparison on the CPU (tiny)."""

    def __init__(self, mu_pristine: torch.Tensor, cov_pristine: torch.Tensor) -> None:
        self.mu_pristine = np.asarray(mu_pristine, dtype=np.float64)
        self.cov_pristine = np.asarray(cov_pristine, dtype=np.float64)

    @classmethod
    def from_file(cls, path: str | Path) -> NIQEModel:
        return cls(*load_pristine_model(path))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """NIQE of every image: shape N, float64, on the CPU."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise LLEBenchError(f"NIQE expects Nx3xHxW RGB images, got shape {tuple(images.shape)}")
        with torch.inference_mode():
            features = niqe_features(images)
        return torch.from_numpy(distance(features, self.mu_pristine, self.cov_pristine))
