"""BRISQUE (Mittal, Moorthy and Bovik, IEEE TIP 2012), the 'original' LIVE release: 36
natural-scene statistics and an RBF support-vector regression, vectorised in torch.

The steps and their arithmetic are those of pyiqa's ``brisque`` (version 'original', the
project's reference; it is not imported here), which computes in float32 throughout:

1. Y of YIQ from the 8-bit RGB image, rounded to levels 0..255 (float32);
2. at two scales (the image, then MATLAB ``imresize(Y, 0.5)``, bicubic with antialiasing):
   MSCN coefficients (7x7 Gaussian, sigma 7/6, zero borders) and 18 statistics of the whole
   image: the GGD fit of the coefficients (alpha, sigma^2) and the AGGD fit of their products
   with the right, lower, lower-right and upper-right neighbours (wrapping around the image):
   alpha, eta, left and right sigma^2;
3. each statistic scaled to [-1, 1] by the LIVE release's ranges, then
   ``sum_k coef_k exp(-0.05 |f - sv_k|^2) + 153.591``.

The building blocks are :mod:`llebench_metrics.nss`'s (float32 here). The Gaussian filter
sums in another order than pyiqa's float32 ``conv2d`` (OpenCV's on the CPU), so the
statistics differ from pyiqa's by float32 rounding (relative 1e-6; the eta statistics,
differences of two sigmas, 1e-4), also on images of large flat regions (tested).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from llebench.sdk import LLEBenchError

from llebench_metrics.nss import (
    gaussian_window, grid_fit, helper_thread, imresize, in_pieces, mscn, neighbour_moments, y_levels,
)

#: (row, column) shifts of the neighbour products: right, lower, lower-right, upper-right
NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (-1, 1))
#: the SVR's RBF gamma and bias of the LIVE release ('original')
GAMMA = 0.05
RHO = -153.591
#: the range of each of the 36 statistics in the LIVE training set (scaled to [-1, 1])
FEATURE_RANGES = (
    (0.338, 10), (0.017204, 0.806612), (0.236, 1.642), (-0.123884, 0.20293), (0.000155, 0.712298),
    (0.001122, 0.470257), (0.244, 1.641), (-0.123586, 0.179083), (0.000152, 0.710456), (0.000975, 0.470984),
    (0.249, 1.555), (-0.135687, 0.100858), (0.000174, 0.684173), (0.000913, 0.534174), (0.258, 1.561),
    (-0.143408, 0.100486), (0.000179, 0.685696), (0.000888, 0.536508), (0.471, 3.264), (0.012809, 0.703171),
    (0.218, 1.046), (-0.094876, 0.187459), (1.5e-005, 0.442057), (0.001272, 0.40803), (0.222, 1.042),
    (-0.115772, 0.162604), (1.6e-005, 0.444362), (0.001374, 0.40243), (0.227, 0.996),
    (-0.117188, 0.09832299999999999), (3e-005, 0.531903), (0.001122, 0.369589), (0.228, 0.99),
    (-0.12243, 0.098658), (2.8e-005, 0.530092), (0.001118, 0.370399),
)
#: the smallest side whose second scale (half the side, rounded up) holds the 7x7 window
#: (pyiqa gives NaN for 7-8 px and fails with an IndexError below)
MIN_SIDE = 13


def load_svr(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients K, support vectors K x 36) of a pyiqa/piq BRISQUE file (``(sv_coef, sv)``), float32."""
    try:
        coef, vectors = torch.load(str(path), map_location="cpu", weights_only=True)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise LLEBenchError(f"{path}: not a BRISQUE SVR file (a pair of tensors sv_coef, sv): {exc}") from exc
    coef, vectors = torch.as_tensor(coef).float().flatten(), torch.as_tensor(vectors).float()
    if vectors.ndim != 2 or vectors.shape[1] != 36 or vectors.shape[0] != coef.numel():
        raise LLEBenchError(f"{path}: expected sv_coef (K) and sv (K x 36), got {tuple(coef.shape)} "
                            f"and {tuple(vectors.shape)}")
    return coef.numpy(), vectors.numpy()


def scale_statistics(moments: np.ndarray, size: int) -> np.ndarray:
    """The 18 statistics of one scale from :func:`neighbour_moments` of whole images (5 x N x 1 x 5): N x 18."""
    from scipy.special import gammaln

    fit = grid_fit(torch.float32)
    alpha, sigma = fit.ggd(moments[0, :, 0], size)
    statistics = [alpha, sigma * sigma]
    alpha, left, right = fit.aggd(moments[1:, :, 0], size)
    alpha = alpha.astype(np.float32)
    eta = (right - left) * np.exp(gammaln(2.0 / alpha) - (gammaln(1.0 / alpha) + gammaln(3.0 / alpha)) / 2)
    for k in range(4):
        statistics += [alpha[k], eta[k], left[k] * left[k], right[k] * right[k]]
    return np.stack(statistics, axis=-1).astype(np.float32)


def check_size(height: int, width: int) -> None:
    if height < MIN_SIDE or width < MIN_SIDE:
        raise LLEBenchError(f"BRISQUE needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels (a 7x7 window at half "
                            f"size), got {height}x{width} (HxW)")


def brisque_features(images: torch.Tensor) -> np.ndarray:
    """The 36 statistics of each of Nx3xHxW [0,1] images: N x 36 (float32).

    On the CPU a helper thread (:func:`llebench_metrics.nss.helper_thread`) computes the
    half-size scale and then the last ~third of the full-size rows' moments, while the
    calling thread computes the full-size coefficients and the first rows' moments.
    """
    check_size(*images.shape[-2:])
    window = gaussian_window(7, 7.0 / 6)

    def coefficients(y: torch.Tensor) -> torch.Tensor:
        return mscn(y, window, "zero")[:, 0]

    def moments(coefficients: torch.Tensor, rows: tuple[int, int] | None = None) -> torch.Tensor:
        return neighbour_moments(coefficients, tuple(coefficients.shape[-2:]), NEIGHBOURS, rows)

    def statistics(moments: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        return scale_statistics(moments.cpu().numpy(), y.shape[-2] * y.shape[-1])

    def half_size() -> np.ndarray:
        small = imresize(y, scale=0.5)
        return statistics(moments(coefficients(small)), small)

    y = y_levels(images, dtype=torch.float32)
    if not in_pieces(images):
        return np.concatenate([statistics(moments(coefficients(y)), y), half_size()], axis=-1)
    helper = helper_thread()
    pending_half = helper.submit(half_size)
    full = coefficients(y)
    split = (y.shape[-2] * 2) // 3
    pending_rows = helper.submit(moments, full, (split, y.shape[-2]))
    first = moments(full, (0, split))
    return np.concatenate([statistics(first + pending_rows.result(), y), pending_half.result()], axis=-1)


class BRISQUEModel:
    """BRISQUE of Nx3xHxW [0,1] images with an SVR (the LIVE release's, or any of that form)."""

    def __init__(self, coef: np.ndarray, vectors: np.ndarray) -> None:
        self.coef = np.asarray(coef, dtype=np.float32)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        ranges = np.asarray(FEATURE_RANGES, dtype=np.float32)
        self.low, self.span = ranges[:, 0], ranges[:, 1] - ranges[:, 0]

    @classmethod
    def from_file(cls, path: str | Path) -> BRISQUEModel:
        return cls(*load_svr(path))

    def score_features(self, features: np.ndarray) -> np.ndarray:
        scaled = np.float32(-1) + np.float32(2) * (features - self.low) / self.span
        distance = ((scaled[:, :, None] - self.vectors.T[None]) ** 2).sum(axis=1)
        return np.exp(-distance * np.float32(GAMMA)) @ self.coef - np.float32(RHO)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """BRISQUE of every image: shape N, float32, on the CPU."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise LLEBenchError(f"BRISQUE expects Nx3xHxW RGB images, got shape {tuple(images.shape)}")
        with torch.inference_mode():
            features = brisque_features(images)
        return torch.from_numpy(self.score_features(features))
