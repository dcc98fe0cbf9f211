"""PairLIE inference: llebench's ``pairlie`` enhancer vs the official eval.py forward.

The reference does what PairLIE's ``eval.py`` does with ``net/net.py``: the three
``nn.Sequential`` branches of ``ReflectionPad2d(1)`` / ``Conv2d(.., 3, 1, 0)`` / ``ReLU``
(sigmoid at the end), the official state_dict exactly as ``torch.load`` gives it, an NCHW
float32 tensor, ``torch.no_grad()``, I = ``torch.pow(L, 0.2) * R``, saved by ToPILImage
(uint8 truncation). Ours is ``Enhancer.enhance`` under ``torch.inference_mode()``, as the
runner calls it. Same DICM images, same run, interleaved; the 8-bit outputs are compared.

Half precision (opt-in ``precision=bf16`` / ``fp16``): its PSNR against fp32 is always
measured; its speed only where the CPU computes it natively (oneDNN emulates bf16/fp16 on
AVX2-only CPUs, where it is slower than fp32 and says nothing about the mode) or on CUDA.

Full run: ``python bench/zoo_pairlie.py`` (6 DICM images x 2 repeats); quick run:
``python bench/zoo_pairlie.py --images 1 --repeats 1``.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import torch
from torch import nn

from _common import Result, at_most, data_dir, report, weights_dir
from llebench.sdk import native_cpu_support, read_image
from llebench_pairlie.enhancer import PairLIE


def official_branch(out_channels: int) -> nn.Sequential:
    """One of net/net.py's three branches, with its own ops (pad, conv, ReLU, ..., pad, conv)."""
    layers: list[nn.Module] = []
    channels = 3
    for i in range(5):
        out = 64 if i < 4 else out_channels
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, out, 3, 1, 0)]
        if i < 4:
            layers.append(nn.ReLU())
        channels = out
    return nn.Sequential(*layers)


class OfficialNet(nn.Module):
    """net/net.py's ``net``: the same attribute names, so the raw state_dict loads unchanged."""

    def __init__(self) -> None:
        super().__init__()
        for name, out in (("L_net", 1), ("R_net", 3), ("N_net", 3)):
            holder = nn.Module()
            holder.add_module(name, official_branch(out))
            self.add_module(name, holder)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = torch.sigmoid(self.N_net.N_net(x))
        return torch.sigmoid(self.L_net.L_net(x)), torch.sigmoid(self.R_net.R_net(x)), x


def official_eval(net: OfficialNet, image: torch.Tensor) -> torch.Tensor:
    """eval.py's output as the 8-bit levels ToPILImage saves (0..255, float)."""
    with torch.no_grad():
        L, R, _ = net(image)
        I = torch.pow(L, 0.2) * R  # eval.py's names
    return I.mul(255).byte().float()


def psnr_levels(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean()) / 255 ** 2
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def run(images: int = 6, repeats: int = 2) -> list[Result]:
    official = OfficialNet().eval()
    official.load_state_dict(torch.load(weights_dir() / "pairlie.pth", map_location="cpu", weights_only=True))
    ours = PairLIE(weights=weights_dir() / "pairlie.pth")
    paths = sorted((data_dir() / "DICM").glob("*.jpg"))[:images]
    inputs = [read_image(p) for p in paths]

    totals = {"official": 0.0, "ours": 0.0}
    cpu = {"official": 0.0, "ours": 0.0}  # CPU seconds of all threads: steadier on a loaded machine
    worst_levels, differing, pixels = 0.0, 0, 0
    for image in inputs * repeats:
        start, start_cpu = time.perf_counter(), time.process_time()
        reference = official_eval(official, image)
        totals["official"] += time.perf_counter() - start
        cpu["official"] += time.process_time() - start_cpu
        with torch.inference_mode():
            start, start_cpu = time.perf_counter(), time.process_time()
            output = ours.enhance(image)
            totals["ours"] += time.perf_counter() - start
            cpu["ours"] += time.process_time() - start_cpu
        levels = output * 255  # k / 255: exact levels
        diff = (levels - reference).abs()
        worst_levels = max(worst_levels, float(diff.max()))
        differing += int((diff > 0.5).sum())
        pixels += diff.numel()

    size = f"{len(inputs)} DICM images x {repeats}"
    per_image = totals["ours"] / len(inputs) / repeats
    results = [at_most("pairlie fp32 vs official forward", totals["ours"] / totals["official"], 1.0,
                       f"{size}; 8-bit max |diff| {worst_levels:.0f} level(s), {differing / pixels:.1e} of values "
                       f"differ; official {totals['official']:.1f}s, ours {totals['ours']:.1f}s "
                       f"({per_image:.2f} s/image); CPU time ratio {cpu['ours'] / cpu['official']:.3f} "
                       f"({cpu['official']:.1f} vs {cpu['ours']:.1f} CPU s)")]
    results += [half_precision(precision, ours, inputs) for precision in ("bf16", "fp16")]
    return results


def half_precision(precision: str, ours: PairLIE, inputs: list[torch.Tensor]) -> Result:
    """PSNR of the opt-in half-precision variant against fp32, and its speed where it is native."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the line says whether this CPU has native support
        half = PairLIE(weights=ours.weights_path, precision=precision)
    native = native_cpu_support(precision)
    # emulated half precision is ~10x slower than fp32 here: its numerics on a crop of each image
    samples = inputs if native else [image[..., :128, :160] for image in inputs]
    worst_psnr, seconds_half, seconds_full = math.inf, 0.0, 0.0
    for image in samples:
        with torch.inference_mode():
            start = time.perf_counter()
            full = ours.enhance(image)
            seconds_full += time.perf_counter() - start
            start = time.perf_counter()
            reduced = half.enhance(image)
            seconds_half += time.perf_counter() - start
        worst_psnr = min(worst_psnr, psnr_levels(reduced * 255, full * 255))
    where = f"this CPU: {torch.backends.cpu.get_cpu_capability()}, native {precision} {'yes' if native else 'no'}"
    name = f"pairlie {precision} vs fp32"
    if not native:
        return Result(name, math.nan, "<= 1.0", worst_psnr >= 45,
                      f"speed not measurable here (emulated); PSNR vs fp32 >= {worst_psnr:.1f} dB "
                      f"(target >= 45, on 128x160 crops); {where}")
    return Result(name, seconds_half / seconds_full, "<= 1.0", seconds_half <= seconds_full and worst_psnr >= 45,
                  f"PSNR vs fp32 >= {worst_psnr:.1f} dB (target >= 45); {where}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6, help="first N DICM images (default 6)")
    parser.add_argument("--repeats", type=int, default=2, help="passes over them (default 2)")
    args = parser.parse_args()
    report(run(args.images, args.repeats))
