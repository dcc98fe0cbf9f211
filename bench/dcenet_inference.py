"""DCE-Net inference (zero_dce, scl_lle): llebench's enhancer vs the official test script's forward.

The reference does what Zero-DCE's ``lowlight_test.py`` does: the official state_dict as
``torch.load`` gives it, an NCHW float32 tensor, ``torch.no_grad()``. Ours is
``Enhancer.enhance`` under ``torch.inference_mode()`` as the runner calls it. A second
reference uses the same network with subnormal weights flushed, to show how much comes
from that alone. Same DICM images, same run, interleaved.

The bf16 line depends on the hardware: on a CPU without native bf16 (oneDNN emulates it,
e.g. AVX2-only CPUs) bf16 is slower than fp32, which the line says; the mode is meant for
CUDA and for CPUs with AVX512-BF16 or AMX.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from _common import Result, at_most, data_dir, report, weights_dir
from llebench.images import read_image
from llebench_dcenet.dcenet import DCENet
from llebench.statedict import flush_subnormals, load_state_dict
from llebench.precision import native_cpu_support
from llebench_dcenet.enhancers import ZeroDCE


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(1.0 / mse)).item()


def run(images: int = 6, repeats: int = 3) -> list[Result]:
    weights = weights_dir() / "zero_dce_epoch99.pth"
    official = DCENet().eval()
    official.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    flushed = DCENet().eval()
    flushed.load_state_dict(flush_subnormals(load_state_dict(weights)[0]))
    ours = ZeroDCE(weights=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bf16 line below says whether this CPU has native bf16
        ours_bf16 = ZeroDCE(weights=weights, precision="bf16")
    paths = sorted((data_dir() / "DICM").glob("*.jpg"))[:images]
    inputs = [read_image(p) for p in paths]

    totals = {"official": 0.0, "flushed": 0.0, "ours": 0.0, "bf16": 0.0}
    worst_diff, worst_psnr = 0.0, float("inf")
    bf16_ratios = []  # one per pass over the images: the target asks for three consecutive runs
    for number, image in enumerate(inputs * repeats):
        if number % len(inputs) == 0:
            pass_start = (totals["official"], totals["bf16"])
        with torch.no_grad():
            start = time.perf_counter()
            reference = official(image)[0]
            totals["official"] += time.perf_counter() - start
            start = time.perf_counter()
            flushed(image)
            totals["flushed"] += time.perf_counter() - start
        with torch.inference_mode():
            start = time.perf_counter()
            output = ours.enhance(image)
            totals["ours"] += time.perf_counter() - start
            start = time.perf_counter()
            half = ours_bf16.enhance(image)
            totals["bf16"] += time.perf_counter() - start
        worst_diff = max(worst_diff, float((output - reference).abs().max()))
        worst_psnr = min(worst_psnr, psnr(half, output))
        if number % len(inputs) == len(inputs) - 1:
            bf16_ratios.append((totals["bf16"] - pass_start[1]) / (totals["official"] - pass_start[0]))

    size = f"{len(inputs)} DICM images x {repeats}"
    return [
        at_most("dcenet fp32 vs official forward", totals["ours"] / totals["official"], 0.7,
                f"{size}; max |diff| {worst_diff:.1e}; official {totals['official']:.1f}s, ours {totals['ours']:.1f}s"),
        at_most("dcenet fp32 vs flushed NCHW", totals["ours"] / totals["flushed"], 1.0,
                f"same weights without subnormals: {totals['flushed']:.1f}s (channels_last + inference_mode only)"),
        bf16_line(bf16_ratios, worst_psnr, totals["bf16"]),
    ]


def bf16_line(ratios: list[float], worst_psnr: float, seconds: float) -> Result:
    """The worst of the passes' ratios; the target needs native bf16 and three consecutive passes."""
    native = native_cpu_support("bf16")
    cpu = f"this CPU: {torch.backends.cpu.get_cpu_capability()}, native bf16 {'yes' if native else 'no'}"
    passes = ", ".join(f"{r:.3f}" for r in ratios)
    detail = f"passes {passes}; PSNR vs fp32 >= {worst_psnr:.1f} dB (target >= 45); bf16 {seconds:.1f}s; {cpu}"
    if not native:
        return Result("dcenet bf16 vs official forward", max(ratios), "<= 0.35", False,
                      detail + " (oneDNN emulates bf16, slower than fp32: not measurable here)", measurable=False)
    passed = len(ratios) >= 3 and max(ratios) <= 0.35 and worst_psnr >= 45
    if len(ratios) < 3:
        detail += " (needs --repeats 3: three consecutive passes)"
    return Result("dcenet bf16 vs official forward", max(ratios), "<= 0.35", passed, detail)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3, help="passes over the images (bf16: 3 consecutive)")
    args = parser.parse_args()
    report(run(args.images, args.repeats))
