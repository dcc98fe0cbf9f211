"""LIME's initial illumination, its gradients and the three weighting strategies.

Notation of Guo, Li and Ling (TIP 2017). ``T^`` is the initial illumination (Eq. 2, the
maximum over R, G, B). Gradients are forward differences with a Neumann boundary: the
difference leaving the last column (horizontal) or the last row (vertical) is 0, so every
array here is HxW and the last column of a horizontal array (last row of a vertical one)
is 0 and never used.

Strategy I:   W_d(x) = 1
Strategy II:  W_d(x) = 1 / (|grad_d T^(x)| + eps)
Strategy III: W_d(x) = sum_y G(x,y) / (|sum_y G(x,y) grad_d T^(y)| + eps)
              G a 2-D Gaussian of standard deviation sigma, normalised to sum 1 and
              truncated at 3 sigma, borders mirrored (so the numerator is 1 everywhere)

The sped-up solver (Eq. 9-12) replaces ``alpha * ||W o grad T||_1`` by the quadratic
``sum_d sum_x w~_d(x) (grad_d T(x))^2`` with
``w~_d = alpha W_d / (|grad_d T^| + eps)``; :func:`sped_up_weights` returns w~.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

STRATEGIES = (1, 2, 3)
GAUSSIAN_TRUNCATE = 3.0  # kernel radius in standard deviations


def initial_illumination(image: np.ndarray) -> np.ndarray:
    """Eq. (2): T^(x) = max over c in {R, G, B} of L^c(x), for an HxWx3 image."""
    return image.max(axis=2)


def forward_gradients(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical forward differences (0 across the last column / row)."""
    grad_h = np.zeros_like(t)
    grad_v = np.zeros_like(t)
    grad_h[:, :-1] = t[:, 1:] - t[:, :-1]
    grad_v[:-1, :] = t[1:, :] - t[:-1, :]
    return grad_h, grad_v


def strategy_weights(t_hat: np.ndarray, strategy: int, sigma: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """W_h, W_v of weighting strategy I, II or III (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"LIME strategy must be 1, 2 or 3 (got {strategy!r})")
    grad_h, grad_v = forward_gradients(t_hat)
    if strategy == 1:
        return np.ones_like(t_hat), np.ones_like(t_hat)
    if strategy == 2:
        return 1.0 / (np.abs(grad_h) + eps), 1.0 / (np.abs(grad_v) + eps)
    if sigma <= 0:
        raise ValueError(f"LIME sigma must be positive (got {sigma!r})")
    smooth_h = gaussian_filter(grad_h, sigma, mode="reflect", truncate=GAUSSIAN_TRUNCATE)
    smooth_v = gaussian_filter(grad_v, sigma, mode="reflect", truncate=GAUSSIAN_TRUNCATE)
    return 1.0 / (np.abs(smooth_h) + eps), 1.0 / (np.abs(smooth_v) + eps)


def sped_up_weights(
    t_hat: np.ndarray, alpha: float, strategy: int, sigma: float, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """w~_d = alpha W_d / (|grad_d T^| + eps), 0 across the last column / row."""
    grad_h, grad_v = forward_gradients(t_hat)
    weight_h, weight_v = strategy_weights(t_hat, strategy, sigma, eps)
    w_h = alpha * weight_h / (np.abs(grad_h) + eps)
    w_v = alpha * weight_v / (np.abs(grad_v) + eps)
    w_h[:, -1] = 0.0
    w_v[-1, :] = 0.0
    return w_h, w_v
