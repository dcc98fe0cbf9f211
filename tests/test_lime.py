"""LIME: weights by hand, the system, PCG against spsolve, ADMM, the enhancer, full runs."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

import llebench_lime.hierarchy as hierarchy
import llebench_lime.lime as lime_module
from llebench.cli import main
from llebench.errors import LLEBenchError
from llebench_lime.admm import admm_illumination
from llebench_lime.enhancer import Lime
from llebench_lime.hierarchy import GridOperator, HierarchicalPreconditioner, pcg
from llebench_lime.lime import LimeOptions, SolverDidNotConverge, lime_enhance
from llebench_lime.system import lime_matrix
from llebench_lime.weights import initial_illumination, sped_up_weights, strategy_weights

EPS = 1e-3


def low_light_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A dark HxWx3 image with smooth shading, a sharp bright square, noise and a black patch."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    shade = 0.05 + 0.15 * (rows / height) * (cols / width)
    shade[height // 4: height // 2, width // 4: width // 2] += 0.3
    image = shade[..., None] * np.array([1.0, 0.8, 0.6]) + rng.normal(0, 0.01, (height, width, 3))
    image[-height // 4:, : width // 4] = 0.0
    return np.clip(image, 0.0, 1.0)


# -- weights by hand ---------------------------------------------------------------------

T_HAT = np.array([[0.10, 0.20, 0.20, 0.50],
                  [0.10, 0.10, 0.40, 0.50],
                  [0.30, 0.10, 0.40, 0.45]])


def hand_gradients(t):
    height, width = t.shape
    grad_h = np.zeros_like(t)
    grad_v = np.zeros_like(t)
    for i in range(height):
        for j in range(width):
            if j + 1 < width:
                grad_h[i, j] = t[i, j + 1] - t[i, j]
            if i + 1 < height:
                grad_v[i, j] = t[i + 1, j] - t[i, j]
    return grad_h, grad_v


def hand_gaussian_sum(grad, sigma):
    """sum_y G(x, y) grad(y) over the 2-D window |dy|,|dx| <= r, mirrored borders, G summing to 1."""
    radius = int(3.0 * sigma + 0.5)
    height, width = grad.shape

    def mirror(k, n):
        while k < 0 or k >= n:
            k = -k - 1 if k < 0 else 2 * n - k - 1
        return k

    kernel = {(dy, dx): math.exp(-(dy * dy + dx * dx) / (2 * sigma * sigma))
              for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)}
    total = sum(kernel.values())
    out = np.zeros_like(grad)
    for i in range(height):
        for j in range(width):
            out[i, j] = sum(g * grad[mirror(i + dy, height), mirror(j + dx, width)]
                            for (dy, dx), g in kernel.items()) / total
    return out


def test_initial_illumination_is_the_max_over_rgb():
    image = np.stack([T_HAT, T_HAT * 0.5, np.full_like(T_HAT, 0.3)], axis=2)
    assert np.array_equal(initial_illumination(image), np.maximum(T_HAT, 0.3))


def test_strategy_one_and_two_by_hand():
    grad_h, grad_v = hand_gradients(T_HAT)
    ones_h, ones_v = strategy_weights(T_HAT, 1, 2.0, EPS)
    assert np.array_equal(ones_h, np.ones_like(T_HAT)) and np.array_equal(ones_v, np.ones_like(T_HAT))
    w_h, w_v = strategy_weights(T_HAT, 2, 2.0, EPS)
    np.testing.assert_allclose(w_h, 1.0 / (np.abs(grad_h) + EPS), rtol=1e-12)
    np.testing.assert_allclose(w_v, 1.0 / (np.abs(grad_v) + EPS), rtol=1e-12)
    assert w_h[0, 0] == pytest.approx(1.0 / (0.1 + EPS)) and w_h[0, 1] == pytest.approx(1.0 / EPS)


@pytest.mark.parametrize("sigma", [0.7, 2.0])
def test_strategy_three_by_hand(sigma):
    grad_h, grad_v = hand_gradients(T_HAT)
    w_h, w_v = strategy_weights(T_HAT, 3, sigma, EPS)
    np.testing.assert_allclose(w_h, 1.0 / (np.abs(hand_gaussian_sum(grad_h, sigma)) + EPS), rtol=1e-10)
    np.testing.assert_allclose(w_v, 1.0 / (np.abs(hand_gaussian_sum(grad_v, sigma)) + EPS), rtol=1e-10)


@pytest.mark.parametrize("strategy", [1, 2, 3])
def test_sped_up_weights_divide_by_the_gradient(strategy):
    grad_h, grad_v = hand_gradients(T_HAT)
    big_w_h, big_w_v = strategy_weights(T_HAT, strategy, 2.0, EPS)
    w_h, w_v = sped_up_weights(T_HAT, 0.15, strategy, 2.0, EPS)
    np.testing.assert_allclose(w_h[:, :-1], (0.15 * big_w_h / (np.abs(grad_h) + EPS))[:, :-1], rtol=1e-12)
    np.testing.assert_allclose(w_v[:-1], (0.15 * big_w_v / (np.abs(grad_v) + EPS))[:-1], rtol=1e-12)
    assert not w_h[:, -1].any() and not w_v[-1].any()  # no edge leaves the image


def test_bad_strategy_is_refused():
    with pytest.raises(ValueError, match="strategy"):
        strategy_weights(T_HAT, 4, 2.0, EPS)


# -- the linear system and the solvers -------------------------------------------------------

def difference_matrices(height, width):
    """D_h, D_v as explicit sparse matrices (forward differences, 0 at the last column/row)."""
    def one_d(n):
        d = sp.diags([-np.ones(n), np.ones(n - 1)], [0, 1], format="lil")
        d[n - 1, n - 1] = 0.0
        return d.tocsr()
    return sp.kron(sp.eye(height), one_d(width)), sp.kron(one_d(height), sp.eye(width))


def test_lime_matrix_is_identity_plus_weighted_laplacian():
    w_h, w_v = sped_up_weights(T_HAT, 0.15, 3, 2.0, EPS)
    d_h, d_v = difference_matrices(*T_HAT.shape)
    expected = sp.eye(T_HAT.size) + d_h.T @ sp.diags(w_h.ravel()) @ d_h + d_v.T @ sp.diags(w_v.ravel()) @ d_v
    np.testing.assert_allclose(lime_matrix(w_h, w_v).toarray(), expected.toarray(), rtol=1e-12, atol=1e-9)


def lime_operator(height: int, width: int, strategy: int = 3, seed: int = 0):
    t_hat = initial_illumination(low_light_image(height, width, seed))
    w_h, w_v = sped_up_weights(t_hat, 0.15, strategy, 2.0, EPS)
    return t_hat, w_h, w_v, GridOperator.lime(w_h, w_v)


def test_grid_operator_is_the_lime_matrix():
    t_hat, w_h, w_v, operator = lime_operator(23, 31)
    matrix = lime_matrix(w_h, w_v)
    x = np.random.default_rng(0).standard_normal(t_hat.shape)
    np.testing.assert_allclose(operator(x).ravel(), matrix @ x.ravel(), rtol=1e-12, atol=1e-6)
    assert abs(operator.to_sparse() - matrix).max() == 0


def test_preconditioner_is_symmetric_positive_definite_and_exact_without_levels():
    _, _, _, operator = lime_operator(81, 97)
    preconditioner = HierarchicalPreconditioner(operator, dtype=np.float64, coarsest=60)
    assert len(preconditioner.sizes) >= 4
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, *operator.shape))
    assert abs(np.vdot(preconditioner(x), y) - np.vdot(x, preconditioner(y))) < 1e-9 * abs(np.vdot(x, y)) + 1e-12
    assert np.vdot(preconditioner(x), x) > 0
    exact = HierarchicalPreconditioner(operator, dtype=np.float64, coarsest=10**6)
    assert exact.levels == []
    np.testing.assert_allclose(operator(exact(x)), x, atol=1e-8)


def test_compensation_keeps_a_constant_coefficient_poisson_problem_fast():
    """Dropping the long fill edges without compensation takes ~60 iterations here; compensated, < 25."""
    size = 129
    operator = GridOperator(np.full((size, size), 1e-4), np.ones((size, size - 1)), np.ones((size - 1, size)))
    preconditioner = HierarchicalPreconditioner(operator, dtype=np.float64)
    b = np.random.default_rng(2).standard_normal((size, size))
    solution, info = pcg(operator, b, preconditioner, tol=1e-8)
    assert info.converged and info.iterations < 25, info
    assert np.linalg.norm(operator(solution) - b) <= 1e-8 * np.linalg.norm(b)


@pytest.mark.parametrize("strategy", [2, 3])
@pytest.mark.parametrize("shape", [(56, 72), (37, 53), (3, 5), (1, 4000), (4000, 1), (2, 2500), (64, 64)])
def test_pcg_matches_spsolve(strategy, shape, monkeypatch):
    monkeypatch.setattr(hierarchy, "COARSEST_UNKNOWNS", 60)  # several levels on a small image
    t_hat, w_h, w_v, operator = lime_operator(*shape, strategy=strategy)
    preconditioner = HierarchicalPreconditioner(operator, dtype=np.float64)
    if min(shape) >= 2 * hierarchy.MIN_SIDE:
        assert len(preconditioner.sizes) >= 3
    ours, info = pcg(operator, t_hat, preconditioner, tol=1e-10)  # float64 round-off is ~1e-11 here
    direct = spla.spsolve(lime_matrix(w_h, w_v).tocsc(), t_hat.ravel()).reshape(shape)
    assert info.converged and info.relative_residual <= 1e-10
    np.testing.assert_allclose(ours, direct, rtol=0, atol=1e-8)


def test_float32_iteration_reaches_the_tolerance_in_float64():
    t_hat, w_h, w_v, operator = lime_operator(90, 120, seed=4)
    ours, info = pcg(operator, t_hat, HierarchicalPreconditioner(operator), tol=0.05)
    assert ours.dtype == np.float64 and info.converged
    true = np.linalg.norm(t_hat - operator(ours)) / np.linalg.norm(t_hat)
    assert true == pytest.approx(info.relative_residual) and true <= 0.05
    direct = spla.spsolve(lime_matrix(w_h, w_v).tocsc(), t_hat.ravel()).reshape(t_hat.shape)
    assert np.abs(ours - direct).max() < 0.05


def test_a_solve_that_does_not_converge_is_an_error(monkeypatch):
    t_hat, _, _, operator = lime_operator(90, 120)
    _, info = pcg(operator, t_hat, HierarchicalPreconditioner(operator, dtype=np.float64), tol=1e-12, max_iter=1)
    assert not info.converged and info.iterations == 1 and info.relative_residual > 1e-12
    monkeypatch.setattr(lime_module, "pcg", lambda *args, **kwargs: pcg(*args, **{**kwargs, "max_iter": 1}))
    with pytest.raises(SolverDidNotConverge, match="solver='direct'"):
        lime_enhance(low_light_image(90, 120), LimeOptions(tol=1e-9))


def test_admm_lowers_the_exact_objective():
    t_hat = initial_illumination(low_light_image(32, 40))
    weight_h, weight_v = strategy_weights(t_hat, 3, 2.0, EPS)

    def objective(t):  # Eq. (3) with the circular differences the FFT step assumes
        grad_h, grad_v = np.roll(t, -1, 1) - t, np.roll(t, -1, 0) - t
        return np.sum((t_hat - t) ** 2) + 0.15 * np.sum(weight_h * np.abs(grad_h) + weight_v * np.abs(grad_v))

    refined, iterations = admm_illumination(t_hat, weight_h, weight_v, 0.15)
    assert iterations > 1
    assert objective(refined) < 0.5 * objective(t_hat)
    rng = np.random.default_rng(1)
    for _ in range(3):
        assert objective(refined) <= objective(refined + rng.normal(0, 1e-3, refined.shape))


@pytest.mark.parametrize("solver", ["pcg", "direct", "admm"])
def test_lime_enhance_brightens_and_keeps_black(solver):
    image = low_light_image(40, 48)
    enhanced, illumination = lime_enhance(image, LimeOptions(solver=solver))
    assert enhanced.shape == image.shape and illumination.shape == image.shape[:2]
    assert np.isfinite(enhanced).all() and enhanced.min() >= 0
    assert enhanced.mean() > 2 * image.mean()
    assert not enhanced[-5:, :5].any()  # black pixels stay black


def test_pcg_and_direct_give_the_same_enhancement():
    image = low_light_image(60, 80, seed=3)
    ours, _ = lime_enhance(image, LimeOptions())
    direct, _ = lime_enhance(image, LimeOptions(solver="direct"))
    mse = np.mean((np.clip(ours, 0, 1) - np.clip(direct, 0, 1)) ** 2)
    assert mse == 0 or 10 * np.log10(1 / mse) > 50


# -- the enhancer ---------------------------------------------------------------------------

def test_enhancer_output_shape_and_range():
    image = torch.from_numpy(low_light_image(37, 53)).permute(2, 0, 1).unsqueeze(0).float()
    output = Lime().enhance(image)
    assert output.shape == image.shape and output.dtype == torch.float32
    assert float(output.min()) >= 0.0 and float(output.max()) <= 1.0
    assert float(output.mean()) > 2 * float(image.mean())


def test_enhancer_variant_and_settings():
    assert Lime().variant == ""
    lime = Lime(gamma=0.7, solver="admm", strategy=2)
    assert lime.variant == "admm,strategy=2,gamma=0.7"
    settings = lime.settings()
    assert settings["gamma"] == 0.7 and settings["solver"] == "admm" and settings["strategy"] == 2
    assert set(Lime().settings()) >= {"alpha", "sigma", "gamma", "eps", "strategy", "solver", "tol",
                                      "denoise", "denoise_sigma"}
    json.dumps(Lime().settings())  # goes into manifest.json


def test_official_compat_uses_the_demo_settings(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)
    with pytest.raises(LLEBenchError, match="bm3d"):
        Lime(compat="official")  # the demo denoises with BM3D
    lime = Lime(compat="official", denoise=False)
    assert lime.options.gamma == 0.7 and lime.variant == "official,no-denoise"
    assert lime.settings()["compat"] == "official"
    assert Lime(gamma=0.8, compat="official", denoise=False).variant == "official,gamma=0.8,no-denoise"
    with pytest.raises(LLEBenchError, match="compat"):
        Lime(compat="matlab")


def test_enhancer_option_errors():
    with pytest.raises(TypeError):
        Lime(gama=0.7)
    with pytest.raises(LLEBenchError, match="solver"):
        Lime(solver="cg")
    with pytest.raises(LLEBenchError, match="alpha"):
        Lime(alpha=-1)
    with pytest.raises(LLEBenchError, match="strategy"):
        Lime(strategy=5)


def test_denoise_without_bm3d_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # import bm3d now raises ImportError
    with pytest.raises(LLEBenchError, match=r"pip install 'llebench\[lime-denoise\]'"):
        Lime(denoise=True)


def test_denoise_with_bm3d_when_installed():
    pytest.importorskip("bm3d")
    image = torch.from_numpy(low_light_image(32, 32)).permute(2, 0, 1).unsqueeze(0).float()
    plain = Lime().enhance(image)
    denoised = Lime(denoise=True).enhance(image)
    assert denoised.shape == image.shape and not torch.equal(plain, denoised)
    assert float(denoised.min()) >= 0.0 and float(denoised.max()) <= 1.0


# -- full runs through the CLI ----------------------------------------------------------------

def test_cli_run_input_and_lime_on_sample(tmp_path):
    out = tmp_path / "run"
    code = main(["run", "--methods", "input,lime", "--datasets", "sample", "--metrics", "psnr",
                 "--limit", "1", "--out", str(out), "--no-progress", "--no-report", "-o", "lime.gamma=0.7"])
    assert code == 0
    scores = pd.read_csv(out / "scores.csv")
    assert (scores.status == "ok").all() and set(scores.method) == {"input", "lime"}
    psnr = scores.set_index("method").value
    assert psnr["lime"] > psnr["input"]  # LIME brings the dark sample closer to its reference
    assert scores.set_index("method").variant.fillna("")["lime"] == "gamma=0.7"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["methods"]["lime"]["settings"]["gamma"] == 0.7


def test_cli_run_lime_on_dicm_with_niqe(shared_data, shared_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("LLEBENCH_OFFLINE", "1")
    out = tmp_path / "run"
    code = main(["run", "--methods", "input,lime", "--datasets", "dicm", "--metrics", "niqe", "--limit", "2",
                 "--out", str(out), "--data-root", str(shared_data), "--no-progress", "--no-report"])
    assert code == 0
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 4 and (scores.status == "ok").all()
    assert scores.value.between(0, 100).all()
    assert len(list((out).rglob("*.png"))) >= 2  # the LIME outputs were saved
