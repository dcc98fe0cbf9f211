"""Conjugate gradients preconditioned by hierarchical red-black elimination on the pixel grid.

Why this solver: LIME's matrix ``I + sum_d D_d^T diag(w~_d) D_d`` is a weighted 5-point
Laplacian plus the identity whose edge weights run from ~1 (across image edges) to
``alpha / eps^2`` = 1.5e5 (in flat or black regions), a nearly singular system. A direct
sparse solve of a 1200x900 image takes tens of seconds and point smoothers stall.

The preconditioner is an approximate LDL^T factorisation built level by level on the
grid itself, after Szeliski's locally adapted hierarchical basis (SIGGRAPH 2006) and
Krishnan, Fattal and Szeliski's sparsify-and-compensate hierarchy (SIGGRAPH 2013), with
every step a whole-array numpy operation on strided views (no Python loop over pixels,
no sparse matrix above the coarsest level):

1. On an axis-aligned grid (odd height and width; padded with decoupled unknowns), the
   "red" pixels (row + column odd) touch only "black" ones, so eliminating them is exact:
   the Schur complement on the black pixels is again a weighted Laplacian plus a mass
   term, with fill ``w_ra w_rb / d_r`` between every pair of a red pixel's neighbours and
   mass ``w_rb m_r / d_r`` moved to each neighbour.
2. The black pixels form a diagonal lattice: (even, even) "EE" and (odd, odd) "OO" nodes.
   The fill between two EE nodes two pixels apart is kept exactly: it becomes an edge of
   the next, twice coarser grid. The fill between two OO nodes is dropped, and its weight
   *compensated* on the two paths through the EE nodes that join them (the four edges of
   the rhombus): every path edge grows by the factor ``1 + s / (2 G)``, where ``s`` is
   the dropped weight and ``G`` the sum of the two paths' series conductances. The factor
   1/2 makes the compensation exact for constant coefficients (the coarse operator then has
   the fine one's energy on smooth functions), and scaling the paths by their conductance
   routes a strong connection through strong paths and leaves image edges weak.
3. The OO nodes now touch only EE nodes: eliminating them is exact again. The fill between
   adjacent corners of their cell is the next grid's horizontal and vertical edges; the
   fill between opposite corners is compensated on the cell's edges the same way.
4. Repeat on the EE grid (a quarter of the unknowns) down to ``COARSEST_UNKNOWNS``, which
   is factorised once (SuperLU).

Applying it is a forward elimination down the levels, the coarsest solve, and back
substitution: the exact inverse of a symmetric positive definite approximation of the
matrix, as conjugate gradients requires. The factorisation is computed in float64 and
stored as ratios in [0, 1] in the working dtype: float32, or float64 below a tolerance of
1e-4. The iteration runs in that dtype and is checked against the float64 residual
before it stops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

COARSEST_UNKNOWNS = 3000  # factorise directly at or below this size
#: ... or when a side is shorter: a thin grid is banded, so its factorisation is cheap, while
#: eliminating it further would route most of its connections through the padding
MIN_SIDE = 16
#: a compensation factor never exceeds this, so that weights stay finite over many levels
MAX_COMPENSATION = 1e8
#: below this relative tolerance the conjugate gradient iteration runs in float64
FLOAT32_TOLERANCE = 1e-4


@dataclass
class SolveInfo:
    """How a conjugate gradient solve ended; ``relative_residual`` is computed in float64."""

    iterations: int
    relative_residual: float
    converged: bool


class GridOperator:
    """``diag(mass) + L`` on an HxW grid: L the Laplacian of horizontal and vertical edge weights.

    ``edge_h[i, j]`` joins pixel (i, j) to (i, j+1), ``edge_v[i, j]`` joins (i, j) to (i+1, j).
    Calling it multiplies an HxW array by the matrix with a 5-point stencil.
    """

    def __init__(self, mass: np.ndarray, edge_h: np.ndarray, edge_v: np.ndarray) -> None:
        height, width = mass.shape
        if edge_h.shape != (height, width - 1) or edge_v.shape != (height - 1, width):
            raise ValueError(f"edge weights {edge_h.shape}, {edge_v.shape} do not fit a {height}x{width} grid")
        self.mass, self.edge_h, self.edge_v = mass, edge_h, edge_v
        diagonal = mass.copy()
        diagonal[:, :-1] += edge_h
        diagonal[:, 1:] += edge_h
        diagonal[:-1, :] += edge_v
        diagonal[1:, :] += edge_v
        self.diagonal = diagonal

    @classmethod
    def lime(cls, w_h: np.ndarray, w_v: np.ndarray) -> GridOperator:
        """LIME's ``I + sum_d D_d^T diag(w~_d) D_d`` from HxW weights (last column / row unused)."""
        return cls(np.ones_like(w_h), w_h[:, :-1].copy(), w_v[:-1, :].copy())

    @property
    def shape(self) -> tuple[int, int]:
        return self.mass.shape

    def astype(self, dtype: np.dtype) -> GridOperator:
        """This operator in ``dtype`` (itself when it already is: solves ask for both dtypes)."""
        if self.mass.dtype == dtype:
            return self
        return GridOperator(self.mass.astype(dtype), self.edge_h.astype(dtype), self.edge_v.astype(dtype))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self.diagonal * x
        y[:, :-1] -= self.edge_h * x[:, 1:]
        y[:, 1:] -= self.edge_h * x[:, :-1]
        y[:-1, :] -= self.edge_v * x[1:, :]
        y[1:, :] -= self.edge_v * x[:-1, :]
        return y

    def to_sparse(self) -> sp.csc_matrix:
        """The same matrix as a scipy sparse matrix (row-major unknowns)."""
        height, width = self.shape
        index = np.arange(height * width).reshape(height, width)
        rows = np.concatenate([index[:, :-1].ravel(), index[:, 1:].ravel(), index[:-1].ravel(),
                               index[1:].ravel(), index.ravel()])
        cols = np.concatenate([index[:, 1:].ravel(), index[:, :-1].ravel(), index[1:].ravel(),
                               index[:-1].ravel(), index.ravel()])
        values = np.concatenate([-self.edge_h.ravel(), -self.edge_h.ravel(), -self.edge_v.ravel(),
                                 -self.edge_v.ravel(), self.diagonal.ravel()])
        return sp.csc_matrix((values, (rows, cols)), shape=(height * width,) * 2)


def _pad_rows(a: np.ndarray, top: int = 0, bottom: int = 0, value: float = 0.0) -> np.ndarray:
    return np.pad(a, ((top, bottom), (0, 0)), constant_values=value)


def _pad_cols(a: np.ndarray, left: int = 0, right: int = 0, value: float = 0.0) -> np.ndarray:
    return np.pad(a, ((0, 0), (left, right)), constant_values=value)


def _odd_sized(op: GridOperator) -> GridOperator:
    """Append a decoupled row / column (mass 1, no edges) to make both sizes odd."""
    mass, edge_h, edge_v = op.mass, op.edge_h, op.edge_v
    if mass.shape[0] % 2 == 0:
        mass, edge_h, edge_v = _pad_rows(mass, bottom=1, value=1.0), _pad_rows(edge_h, bottom=1), _pad_rows(edge_v, bottom=1)
    if mass.shape[1] % 2 == 0:
        mass, edge_h, edge_v = _pad_cols(mass, right=1, value=1.0), _pad_cols(edge_h, right=1), _pad_cols(edge_v, right=1)
    return GridOperator(mass, edge_h, edge_v) if mass is not op.mass else op


def _series(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Conductance of two edges in series (0 when both are 0)."""
    total = a + b
    return np.divide(a * b, total, out=np.zeros_like(total), where=total > 0)


def _compensation(dropped: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """The relative growth of the path edges that carry a dropped edge's weight."""
    factor = np.divide(0.5 * dropped, paths, out=np.zeros_like(paths), where=paths > 0)
    return np.minimum(factor, MAX_COMPENSATION)


@dataclass
class _Level:
    """The elimination factors of one level: each ratio is an edge weight over the diagonal of the
    node it eliminates (so in [0, 1]); a ``*_t`` array lacks the row or column without that edge."""

    shape: tuple[int, int]     # the level's grid before padding
    padded: tuple[int, int]
    eo: tuple[np.ndarray, ...]  # red (even, odd) pixels: west, east, north_t, south_t, 1/d
    oe: tuple[np.ndarray, ...]  # red (odd, even) pixels: north, south, west_t, east_t, 1/d
    oo: tuple[np.ndarray, ...]  # OO nodes: corners (a,b), (a,b+1), (a+1,b), (a+1,b+1), 1/d


class HierarchicalPreconditioner:
    """An approximate inverse of a :class:`GridOperator` (see the module docstring)."""

    def __init__(self, operator: GridOperator, dtype: np.dtype = np.float32, coarsest: int | None = None) -> None:
        coarsest = COARSEST_UNKNOWNS if coarsest is None else coarsest
        self.dtype = np.dtype(dtype)
        self.levels: list[_Level] = []
        current = operator.astype(np.float64)
        while current.mass.size > coarsest and min(current.shape) >= MIN_SIDE:
            shape = current.shape
            current = _odd_sized(current)
            level, current = self._reduce(shape, current)
            self.levels.append(level)
        self.coarsest_shape = current.shape
        self.coarsest = spla.splu(current.to_sparse())

    @property
    def sizes(self) -> list[int]:
        """Unknowns per level, finest first, the factorised coarsest last."""
        return [level.shape[0] * level.shape[1] for level in self.levels] + [int(np.prod(self.coarsest_shape))]

    def _reduce(self, shape: tuple[int, int], op: GridOperator) -> tuple[_Level, GridOperator]:
        """Eliminate the red pixels, then the OO nodes, of an odd-sized grid: the factors and the EE grid.

        With K, L the halves of the (odd) sizes: red (2a, 2b+1) pixels are (K+1) x L, red
        (2a+1, 2b) ones K x (L+1), EE nodes (2a, 2b) (K+1) x (L+1), OO nodes (2a+1, 2b+1) K x L.
        """
        m, eh, ev = op.mass, op.edge_h, op.edge_v
        ew, ee = eh[0::2, 0::2], eh[0::2, 1::2]     # (K+1) x L
        en, es = ev[1::2, 1::2], ev[0::2, 1::2]     # K x L: rows 1..K, rows 0..K-1 of the EO pixels
        m_eo = m[0::2, 1::2]
        d_eo = m_eo + ew + ee
        d_eo[1:] += en
        d_eo[:-1] += es
        i_eo = 1.0 / d_eo
        on, os_ = ev[0::2, 0::2], ev[1::2, 0::2]    # K x (L+1)
        ow, oe = eh[1::2, 1::2], eh[1::2, 0::2]     # K x L: columns 1..L, columns 0..L-1 of the OE pixels
        m_oe = m[1::2, 0::2]
        d_oe = m_oe + on + os_
        d_oe[:, 1:] += ow
        d_oe[:, :-1] += oe
        i_oe = 1.0 / d_oe

        # the diagonal lattice: OO (a, b) to its corners EE (a,b), (a,b+1), (a+1,b), (a+1,b+1)
        c00 = ew[:-1] * es * i_eo[:-1] + on[:, :-1] * oe * i_oe[:, :-1]
        c01 = ee[:-1] * es * i_eo[:-1] + on[:, 1:] * ow * i_oe[:, 1:]
        c10 = ew[1:] * en * i_eo[1:] + os_[:, :-1] * oe * i_oe[:, :-1]
        c11 = ee[1:] * en * i_eo[1:] + os_[:, 1:] * ow * i_oe[:, 1:]
        g_eo, g_oe = m_eo * i_eo, m_oe * i_oe
        m_ee = m[0::2, 0::2].copy()
        m_ee[:, :-1] += ew * g_eo
        m_ee[:, 1:] += ee * g_eo
        m_ee[:-1, :] += on * g_oe
        m_ee[1:, :] += os_ * g_oe
        m_oo = m[1::2, 1::2] + es * g_eo[:-1] + en * g_eo[1:] + oe * g_oe[:, :-1] + ow * g_oe[:, 1:]
        # EE-EE fill two pixels apart: exact edges of the next grid
        next_h = ew * ee * i_eo      # (K+1) x L: EE (a,b) - EE (a,b+1)
        next_v = on * os_ * i_oe     # K x (L+1): EE (a,b) - EE (a+1,b)
        # OO-OO fill two pixels apart: dropped, compensated through the EE nodes between them
        drop_v = en[:-1] * es[1:] * i_eo[1:-1]      # OO (a-1,b) - OO (a,b), via EE (a,b) and EE (a,b+1)
        drop_h = ow[:, :-1] * oe[:, 1:] * i_oe[:, 1:-1]  # OO (a,b-1) - OO (a,b), via EE (a,b) and EE (a+1,b)
        grow = [np.zeros_like(c00) for _ in range(4)]
        t = _compensation(drop_v, _series(c10[:-1], c00[1:]) + _series(c11[:-1], c01[1:]))
        grow[2][:-1] += t
        grow[0][1:] += t
        grow[3][:-1] += t
        grow[1][1:] += t
        t = _compensation(drop_h, _series(c01[:, :-1], c00[:, 1:]) + _series(c11[:, :-1], c10[:, 1:]))
        grow[1][:, :-1] += t
        grow[0][:, 1:] += t
        grow[3][:, :-1] += t
        grow[2][:, 1:] += t
        c00, c01, c10, c11 = (c * (1.0 + g) for c, g in zip((c00, c01, c10, c11), grow))

        # eliminate OO: the next grid on EE, (K+1) x (L+1)
        i_oo = 1.0 / (m_oo + c00 + c01 + c10 + c11)
        g_oo = m_oo * i_oo
        m_ee[:-1, :-1] += c00 * g_oo
        m_ee[:-1, 1:] += c01 * g_oo
        m_ee[1:, :-1] += c10 * g_oo
        m_ee[1:, 1:] += c11 * g_oo
        next_h[:-1] += c00 * c01 * i_oo
        next_h[1:] += c10 * c11 * i_oo
        next_v[:, :-1] += c00 * c10 * i_oo
        next_v[:, 1:] += c01 * c11 * i_oo
        # opposite corners of a cell: dropped, compensated on the cell's four edges
        top, bottom, left, right = next_h[:-1], next_h[1:], next_v[:, :-1], next_v[:, 1:]
        t = (_compensation(c00 * c11 * i_oo, _series(top, right) + _series(left, bottom))
             + _compensation(c01 * c10 * i_oo, _series(top, left) + _series(right, bottom)))
        grow_h, grow_v = np.ones_like(next_h), np.ones_like(next_v)
        grow_h[:-1] += t
        grow_h[1:] += t
        grow_v[:, :-1] += t
        grow_v[:, 1:] += t

        dtype = self.dtype
        level = _Level(shape=shape, padded=op.shape,
                       eo=tuple(a.astype(dtype) for a in (ew * i_eo, ee * i_eo, en * i_eo[1:], es * i_eo[:-1], i_eo)),
                       oe=tuple(a.astype(dtype) for a in (on * i_oe, os_ * i_oe, ow * i_oe[:, 1:], oe * i_oe[:, :-1],
                                                          i_oe)),
                       oo=tuple(a.astype(dtype) for a in (c00 * i_oo, c01 * i_oo, c10 * i_oo, c11 * i_oo, i_oo)))
        return level, GridOperator(m_ee, next_h * grow_h, next_v * grow_v)

    def __call__(self, residual: np.ndarray) -> np.ndarray:
        """An approximate solution of ``operator z = residual`` (HxW, in the preconditioner's dtype)."""
        return self._apply(0, residual.astype(self.dtype, copy=False))

    def _apply(self, depth: int, b: np.ndarray) -> np.ndarray:
        if depth == len(self.levels):
            solution = self.coarsest.solve(b.astype(np.float64).ravel())
            return solution.reshape(b.shape).astype(self.dtype)
        level = self.levels[depth]
        height, width = level.shape
        if level.padded != level.shape:
            padded = np.zeros(level.padded, dtype=self.dtype)
            padded[:height, :width] = b
            b = padded
        ew, ee, en, es, i_eo = level.eo
        on, os_, ow, oe, i_oe = level.oe
        c00, c01, c10, c11, i_oo = level.oo
        # forward: fold the red pixels, then the OO nodes, into the EE right-hand side
        # (on contiguous copies: arithmetic on stride-2 views is several times slower)
        b_eo, b_oe = np.ascontiguousarray(b[0::2, 1::2]), np.ascontiguousarray(b[1::2, 0::2])
        b_ee = b[0::2, 0::2].copy()
        b_ee[:, :-1] += ew * b_eo
        b_ee[:, 1:] += ee * b_eo
        b_ee[:-1, :] += on * b_oe
        b_ee[1:, :] += os_ * b_oe
        b_oo = b[1::2, 1::2].copy()
        b_oo += es * b_eo[:-1]
        b_oo += en * b_eo[1:]
        b_oo += oe * b_oe[:, :-1]
        b_oo += ow * b_oe[:, 1:]
        b_ee[:-1, :-1] += c00 * b_oo
        b_ee[:-1, 1:] += c01 * b_oo
        b_ee[1:, :-1] += c10 * b_oo
        b_ee[1:, 1:] += c11 * b_oo
        x_ee = self._apply(depth + 1, b_ee)
        # back substitution
        x_oo = b_oo * i_oo
        x_oo += c00 * x_ee[:-1, :-1]
        x_oo += c01 * x_ee[:-1, 1:]
        x_oo += c10 * x_ee[1:, :-1]
        x_oo += c11 * x_ee[1:, 1:]
        x_eo = b_eo * i_eo
        x_eo += ew * x_ee[:, :-1]
        x_eo += ee * x_ee[:, 1:]
        x_eo[1:] += en * x_oo
        x_eo[:-1] += es * x_oo
        x_oe = b_oe * i_oe
        x_oe += on * x_ee[:-1, :]
        x_oe += os_ * x_ee[1:, :]
        x_oe[:, 1:] += ow * x_oo
        x_oe[:, :-1] += oe * x_oo
        x = np.empty(level.padded, dtype=self.dtype)
        x[0::2, 0::2] = x_ee
        x[1::2, 1::2] = x_oo
        x[0::2, 1::2] = x_eo
        x[1::2, 0::2] = x_oe
        return x[:height, :width]


def working_dtype(tol: float) -> np.dtype:
    """float32 (half the memory traffic) unless the tolerance is below what float32 reaches."""
    return np.dtype(np.float32 if tol >= FLOAT32_TOLERANCE else np.float64)


def pcg(operator: GridOperator, b: np.ndarray, preconditioner: HierarchicalPreconditioner,
        tol: float = 5e-2, max_iter: int = 500) -> tuple[np.ndarray, SolveInfo]:
    """Solve ``operator x = b`` (HxW) until ``||b - A x|| <= tol ||b||``, the residual checked in float64.

    The iteration runs in the preconditioner's dtype (:func:`working_dtype` picks it for a
    tolerance); when its recurrence residual reaches ``tol``, the true residual is computed
    in float64, and the iteration goes on from it if it is not yet there.
    """
    exact = operator.astype(np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    dtype = preconditioner.dtype
    matrix = operator.astype(dtype)
    b_norm = float(np.linalg.norm(b64)) or 1.0

    def true_residual(x: np.ndarray) -> tuple[np.ndarray, float]:
        r64 = b64 - exact(x.astype(np.float64))
        return r64.astype(dtype), float(np.linalg.norm(r64)) / b_norm

    x = preconditioner(b64).astype(dtype)
    r, rel = true_residual(x)
    iterations = 0
    while rel > tol and iterations < max_iter:
        z = preconditioner(r).astype(dtype, copy=False)
        p = z.copy()
        rz = float(np.vdot(r, z))
        while iterations < max_iter:
            ap = matrix(p)
            step = rz / float(np.vdot(p, ap))
            x += step * p
            r -= step * ap
            iterations += 1
            if float(np.linalg.norm(r)) <= tol * b_norm:
                break
            z = preconditioner(r).astype(dtype, copy=False)
            rz_new = float(np.vdot(r, z))
            p = z + (rz_new / rz) * p
            rz = rz_new
        r, rel = true_residual(x)  # replace the recurrence residual by the true one
    return x.astype(np.float64), SolveInfo(iterations, rel, rel <= tol)
