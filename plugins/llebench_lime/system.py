"""The sped-up solver's linear system ``(I + sum_d D_d^T diag(w~_d) D_d) t = t^``.

D_h, D_v are forward differences with a Neumann boundary, so the matrix is a 5-point
stencil: pixel (i, j) couples to (i, j+1) with weight ``w_h[i, j]`` and to (i+1, j) with
``w_v[i, j]``. Unknowns are in row-major pixel order. Built with whole-array numpy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def lime_matrix(w_h: np.ndarray, w_v: np.ndarray) -> sp.csr_matrix:
    """The sparse SPD matrix ``I + D_h^T diag(w_h) D_h + D_v^T diag(w_v) D_v`` for HxW weights."""
    height, width = w_h.shape
    n = height * width
    index = np.arange(n).reshape(height, width)
    edge_h = w_h[:, :-1]
    edge_v = w_v[:-1, :]
    diagonal = np.ones((height, width))
    diagonal[:, :-1] += edge_h
    diagonal[:, 1:] += edge_h
    diagonal[:-1, :] += edge_v
    diagonal[1:, :] += edge_v
    rows = np.concatenate([index[:, :-1].ravel(), index[:, 1:].ravel(),
                           index[:-1, :].ravel(), index[1:, :].ravel(), index.ravel()])
    cols = np.concatenate([index[:, 1:].ravel(), index[:, :-1].ravel(),
                           index[1:, :].ravel(), index[:-1, :].ravel(), index.ravel()])
    values = np.concatenate([-edge_h.ravel(), -edge_h.ravel(), -edge_v.ravel(), -edge_v.ravel(), diagonal.ravel()])
    return sp.csr_matrix((values, (rows, cols)), shape=(n, n))
