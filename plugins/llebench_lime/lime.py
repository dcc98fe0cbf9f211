"""LIME on numpy arrays: illumination estimation, refinement, gamma, Retinex division.

    T^ = max_c L^c                                 (Eq. 2)
    T  = refine(T^)                                (sped-up Eq. 12, or exact ADMM)
    T  <- T^gamma;  R^c = L^c / max(T, eps)        (Eq. 1 with the gamma of Sec. III-C)

The floor ``max(T, eps)`` only matters where T^ is 0 (pure black stays black).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg as spla

from llebench_lime.admm import admm_illumination
from llebench_lime.hierarchy import GridOperator, HierarchicalPreconditioner, pcg, working_dtype
from llebench_lime.system import lime_matrix
from llebench_lime.weights import initial_illumination, sped_up_weights, strategy_weights

SOLVERS = ("pcg", "admm", "direct")


@dataclass(frozen=True)
class LimeOptions:
    """The method's parameters (defaults: the paper's figures; the demo uses gamma 0.7)."""

    alpha: float = 0.15
    sigma: float = 2.0
    gamma: float = 0.8
    eps: float = 1e-3
    strategy: int = 3
    solver: str = "pcg"
    tol: float = 5e-2

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ValueError(f"LIME solver must be one of {', '.join(SOLVERS)} (got {self.solver!r})")
        if self.strategy not in (1, 2, 3) or isinstance(self.strategy, bool):
            raise ValueError(f"LIME strategy must be 1, 2 or 3 (got {self.strategy!r})")
        for name in ("alpha", "sigma", "gamma", "eps", "tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"LIME {name} must be a positive number (got {value!r})")


class SolverDidNotConverge(ValueError):
    """The conjugate gradient iteration stopped at its iteration limit above the tolerance."""


def solve_sped_up(t_hat: np.ndarray, options: LimeOptions) -> np.ndarray:
    """Solve (I + sum_d D_d^T diag(w~_d) D_d) t = t^ with the chosen solver ('pcg' or 'direct')."""
    w_h, w_v = sped_up_weights(t_hat, options.alpha, options.strategy, options.sigma, options.eps)
    if options.solver == "direct":
        return spla.spsolve(lime_matrix(w_h, w_v).tocsc(), t_hat.ravel()).reshape(t_hat.shape)
    operator = GridOperator.lime(w_h, w_v)
    preconditioner = HierarchicalPreconditioner(operator, dtype=working_dtype(options.tol))
    solution, info = pcg(operator, t_hat, preconditioner, tol=options.tol)
    if not info.converged:
        raise SolverDidNotConverge(
            f"LIME's conjugate gradient solve stopped after {info.iterations} iterations at relative residual "
            f"{info.relative_residual:.2e} (tol {options.tol:g}); use solver='direct' for this image")
    return solution


def refine_illumination(t_hat: np.ndarray, options: LimeOptions) -> np.ndarray:
    """The refined illumination map T (before the gamma correction)."""
    if options.solver == "admm":
        weight_h, weight_v = strategy_weights(t_hat, options.strategy, options.sigma, options.eps)
        refined, _ = admm_illumination(t_hat, weight_h, weight_v, options.alpha)
        return refined
    return solve_sped_up(t_hat, options)


def lime_enhance(image: np.ndarray, options: LimeOptions) -> tuple[np.ndarray, np.ndarray]:
    """HxWx3 float image in [0, 1] -> (enhanced R, unclipped; gamma-corrected illumination T)."""
    t_hat = initial_illumination(image)
    illumination = np.clip(refine_illumination(t_hat, options), 0.0, 1.0) ** options.gamma
    enhanced = image / np.maximum(illumination, options.eps)[..., None]
    return enhanced, illumination
