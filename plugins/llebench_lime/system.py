"""The sped-up solver's linear system ``(I + sum_d D_d^T diag(w~_d) D_d) t = t^``.

D_h, D_v are forward differences with a Neumann boundary, so the matrix is a 5-point
stencil: pixel (i, j) couples to (i, j+1) with weight ``w_h[i, j]`` and to (i+1, j) with
``w_v[i, j]``. Unknowns are in row-major pixel order. The matrix is the sparse form of
:class:`llebench_lime.hierarchy.GridOperator`, the operator the PCG solver applies.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from llebench_lime.hierarchy import GridOperator


def lime_matrix(w_h: np.ndarray, w_v: np.ndarray) -> sp.csc_matrix:
    """The sparse SPD matrix ``I + D_h^T diag(w_h) D_h + D_v^T diag(w_v) D_v`` for HxW weights."""
    return GridOperator.lime(w_h, w_v).to_sparse()
