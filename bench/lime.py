"""LIME speed benchmark: our multigrid-preconditioned CG against a direct sparse solve.

For each size (600x400 and 1200x900) and each test image it builds LIME's sped-up system
``(I + sum_d D_d^T diag(w~_d) D_d) t = t^`` once, solves it with
``scipy.sparse.linalg.spsolve`` and with ours (multigrid setup + PCG), and prints both
times, their ratio, and the PSNR between the two enhanced outputs (8-bit, as the runner
saves them). Images: the first ``--images`` DICM photos under $LLEBENCH_DATA, resized
with bicubic interpolation, or the built-in ``sample`` photos when $LLEBENCH_DATA is not
set. Run it with ``nice`` on a shared machine and read the load averages it prints.

    python bench/lime.py [--images N] [--tol T]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse.linalg as spla
from PIL import Image

from llebench_lime.lime import LimeOptions
from llebench_lime.multigrid import MultigridPreconditioner, pcg
from llebench_lime.system import lime_matrix
from llebench_lime.weights import initial_illumination, sped_up_weights

SIZES = ((600, 400), (1200, 900))  # width x height


def test_images(count: int) -> list[tuple[str, np.ndarray]]:
    """(name, HxWx3 uint8) of the first ``count`` DICM images, else the sample photos."""
    data = os.environ.get("LLEBENCH_DATA")
    if data and (Path(data) / "DICM").is_dir():
        paths = sorted((Path(data) / "DICM").glob("*.jpg"))[:count]
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
    preconditioner = MultigridPreconditioner(matrix, t_hat.shape)
    setup_seconds = time.perf_counter() - start
    ours, info = pcg(matrix, t_hat.ravel(), preconditioner, tol=options.tol)
    ours_seconds = time.perf_counter() - start
    ours = ours.reshape(t_hat.shape)
    return {
        "direct": direct_seconds, "ours": ours_seconds, "setup": setup_seconds, "iterations": info.iterations,
        "psnr": psnr_8bit(enhanced_8bit(image, ours, options), enhanced_8bit(image, direct, options)),
        "max_dt": float(np.abs(ours - direct).max()),
    }


def main() -> None:
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
    for width, height in SIZES:
        for name, array in test_images(args.images):
            image = np.asarray(Image.fromarray(array).resize((width, height), Image.BICUBIC), dtype=np.float64) / 255.0
            r = run_one(image, options)
            print(f"{name:<16} {width}x{height:<5} {r['direct']:>10.2f} {r['ours']:>8.2f} {r['setup']:>8.2f} "
                  f"{r['iterations']:>6d} {r['direct'] / r['ours']:>8.1f}x {r['psnr']:>8.1f} {r['max_dt']:>8.1e}")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at end")


if __name__ == "__main__":
    main()
