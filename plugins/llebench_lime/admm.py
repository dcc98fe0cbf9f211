"""The exact solver of LIME's problem (3) by ADMM (Algorithm 1 of the paper).

    min_T ||T^ - T||_F^2 + alpha ||W o grad T||_1

split as G = grad T with multiplier Z and penalty mu:

    T <- F^-1[ F(2 T^ + mu D^T (G - Z/mu)) / (2 + mu sum_d conj(F(D_d)) F(D_d)) ]   (Eq. 7)
    G <- S_{alpha W / mu}[grad T + Z/mu]     (S: soft shrinkage)
    Z <- Z + mu (grad T - G);   mu <- rho mu

As in the paper the T-step is solved with the FFT, i.e. D_h, D_v are *circular* forward
differences. It stops when ||grad T - G||_F <= delta ||T^||_F (delta = 1e-5) or after
``MAX_ITERATIONS``. The paper leaves mu(0) and rho open; we use 1 and 1.5.
"""

from __future__ import annotations

import numpy as np

MU_START = 1.0
RHO = 1.5
DELTA = 1e-5
MAX_ITERATIONS = 100


def _grad(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.roll(t, -1, axis=1) - t, np.roll(t, -1, axis=0) - t


def _grad_transpose(g_h: np.ndarray, g_v: np.ndarray) -> np.ndarray:
    return (np.roll(g_h, 1, axis=1) - g_h) + (np.roll(g_v, 1, axis=0) - g_v)


def _shrink(x: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.maximum(np.abs(x) - threshold, 0.0)


def admm_illumination(t_hat: np.ndarray, weight_h: np.ndarray, weight_v: np.ndarray,
                      alpha: float) -> tuple[np.ndarray, int]:
    """Refined illumination and the number of iterations run."""
    height, width = t_hat.shape
    freq_h = 2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(width) / width)
    freq_v = 2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(height) / height)
    laplacian_eigen = freq_v[:, None] + freq_h[None, :]  # |F(D_h)|^2 + |F(D_v)|^2
    g_h = np.zeros_like(t_hat)
    g_v = np.zeros_like(t_hat)
    z_h = np.zeros_like(t_hat)
    z_v = np.zeros_like(t_hat)
    mu = MU_START
    stop = DELTA * np.linalg.norm(t_hat)
    t = t_hat
    for iteration in range(1, MAX_ITERATIONS + 1):
        rhs = 2.0 * t_hat + mu * _grad_transpose(g_h - z_h / mu, g_v - z_v / mu)
        t = np.real(np.fft.ifft2(np.fft.fft2(rhs) / (2.0 + mu * laplacian_eigen)))
        grad_h, grad_v = _grad(t)
        g_h = _shrink(grad_h + z_h / mu, alpha * weight_h / mu)
        g_v = _shrink(grad_v + z_v / mu, alpha * weight_v / mu)
        gap_h, gap_v = grad_h - g_h, grad_v - g_v
        z_h += mu * gap_h
        z_v += mu * gap_v
        mu *= RHO
        if np.sqrt(np.sum(gap_h**2) + np.sum(gap_v**2)) <= stop:
            return t, iteration
    return t, MAX_ITERATIONS
