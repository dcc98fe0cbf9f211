"""LIME speed benchmark: our preconditioned CG against a direct sparse solve of the same system.

For each size (600x400 and 1200x900) and each test image it computes LIME's sped-up
weights once, then solves ``(I + sum_d D_d^T diag(w~_d) D_d) t = t^`` with
``scipy.sparse.linalg.spsolve`` (given the assembled sparse matrix) and with ours
(hierarchical preconditioner setup + PCG on the grid operator, at the method's default
tolerance), and prints both times, their ratio, and the PSNR between the two enhanced
outputs (8-bit, as the runner saves them). The 1200x900 rows are the target lines:
ours / spsolve <= 0.1 (>= 10x faster) with the outputs >= 40 dB apart. Images: the first
``--images`` DICM photos under $LLEBENCH_DATA (else ../shared/data), resized with bicubic
interpolation, or the built-in ``sample`` photos when there is no DICM folder.

    python bench/lime.py [--images N] [--tol T]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import scipy
import scipy.sparse.linalg as spla
from PIL import Image

from _common import Result, data_dir, report
from llebench_lime.hierarchy import GridOperator, HierarchicalPreconditioner, pcg, working_dtype
from llebench_lime.lime import LimeOptions
from llebench_lime.system import lime_matrix
from llebench_lime.weights import initial_illumination, sped_up_weights

SIZES = ((600, 400), (1200, 900))  # width x height


def test_images(count: int) -> list[tuple[str, np.ndarray]]:
    """(name, HxWx3 uint8) of the first ``count`` DICM images, else the sample photos."""
    if (data_dir() / "DICM").is_dir():
        paths = sorted((data_dir() / "DICM").glob("*.jpg"))[:count]
        return [(f"DICM/{p.name}", np.asarray(Image.open(p).convert("RGB"))) for p in paths]
    from llebench_datasets.sample import SampleDataset

    dataset = SampleDataset()
    images = []
    for sample_id in dataset.ids()[:count]:
        array = (dataset.load(sample_id).input[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        images.append((f"sample/{sample_id}", array))
    return images


def enhanced_8bit(image: np.ndarray, refined: np.ndarray, options: LimeOptions) -> np.ndarray:
    illumination = np.clip(refined, 0.0, 1.0) ** options.gamma
    output = np.clip(image / np.maximum(illumination, options.eps)[..., None], 0.0, 1.0)
    return np.floor(output * 255.0 + 0.5)


def psnr_8bit(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def run_one(image: np.ndarray, options: LimeOptions) -> dict[str, float]:
    t_hat = initial_illumination(image)
    w_h, w_v = sped_up_weights(t_hat, options.alpha, options.strategy, options.sigma, options.eps)
    matrix = lime_matrix(w_h, w_v)

    start = time.perf_counter()
    direct = spla.spsolve(matrix.tocsc(), t_hat.ravel()).reshape(t_hat.shape)
    direct_seconds = time.perf_counter() - start

    start = time.perf_counter()
    operator = GridOperator.lime(w_h, w_v)
    preconditioner = HierarchicalPreconditioner(operator, dtype=working_dtype(options.tol))
    setup_seconds = time.perf_counter() - start
    ours, info = pcg(operator, t_hat, preconditioner, tol=options.tol)
    ours_seconds = time.perf_counter() - start
    if not info.converged:
        raise SystemExit(f"PCG did not converge: {info}")
    return {
        "direct": direct_seconds, "ours": ours_seconds, "setup": setup_seconds, "iterations": info.iterations,
        "psnr": psnr_8bit(enhanced_8bit(image, ours, options), enhanced_8bit(image, direct, options)),
        "max_dt": float(np.abs(ours - direct).max()),
    }


def main() -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2, help="test images per size (default 2)")
    parser.add_argument("--tol", type=float, default=LimeOptions().tol, help="PCG relative residual")
    args = parser.parse_args()
    options = LimeOptions(tol=args.tol)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} (1 min) at start")
    print(f"numpy {np.__version__}, scipy {scipy.__version__}; LIME alpha={options.alpha} sigma={options.sigma} "
          f"eps={options.eps} strategy={options.strategy}; PCG tol={options.tol}")
    print(f"{'image':<16} {'size':>9} {'spsolve s':>10} {'ours s':>8} {'(setup)':>8} {'iters':>6} "
          f"{'speed-up':>9} {'PSNR dB':>8} {'max|dT|':>8}")
    results = []
    for width, height in SIZES:
        for name, array in test_images(args.images):
            image = np.asarray(Image.fromarray(array).resize((width, height), Image.BICUBIC), dtype=np.float64) / 255.0
            r = run_one(image, options)
            print(f"{name:<16} {width}x{height:<5} {r['direct']:>10.2f} {r['ours']:>8.2f} {r['setup']:>8.2f} "
                  f"{r['iterations']:>6d} {r['direct'] / r['ours']:>8.1f}x {r['psnr']:>8.1f} {r['max_dt']:>8.1e}",
                  flush=True)
            if (width, height) == SIZES[-1]:
                ratio = r["ours"] / r["direct"]
                results.append(Result(f"LIME {name} {width}x{height} vs spsolve", ratio, "<= 0.1", ratio <= 0.1
                                      and r["psnr"] >= 40,
                                      f"{r['direct'] / r['ours']:.1f}x faster ({r['ours']:.2f} s vs {r['direct']:.2f} s), "
                                      f"outputs {r['psnr']:.1f} dB apart (>= 40), {r['iterations']} iterations"))
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at end")
    return results


if __name__ == "__main__":
    report(main())
