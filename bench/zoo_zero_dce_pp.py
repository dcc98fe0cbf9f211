"""Zero-DCE++ inference (zero_dce_pp): llebench's enhancer vs the official test script's forward.

The reference does what Zero-DCE++'s ``lowlight_test.py`` does with ``model.enhance_net_nopool``:
the image as ``np.asarray(PIL) / 255.0`` cast to float32, cropped to a multiple of 12 in HxWx3
and permuted to 1x3xHxW (a strided view, as the script makes it), the state_dict as
``torch.load`` gives it (subnormal weights included), ``torch.no_grad()``, and the model's
own ops: ``F.interpolate(scale_factor=1/12, mode="bilinear")``, seven depthwise-separable
convolutions, ``nn.UpsamplingBilinear2d(scale_factor=12)``, and eight out-of-place curve
steps ``x + r * (torch.pow(x, 2) - x)``. Ours is ``Enhancer.enhance`` under
``torch.inference_mode()`` as the runner calls it (crop included). Same DICM images, same
run, interleaved; the outputs must be identical (max |diff| is printed).

The reduced-precision line autocasts only the curve estimator (1/12 of the resolution in
each direction), so it cannot be faster anywhere by more than that part's share; on a CPU
without native bf16 it is "not measurable here".

Full run: ``python bench/zoo_zero_dce_pp.py --images 64 --repeats 1 --large``;
quick run: ``python bench/zoo_zero_dce_pp.py --images 6 --repeats 1``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from _common import Result, at_most, data_dir, report, weights_dir
from llebench.images import read_image
from llebench_zero_dce_pp.enhancer import ZeroDCEPlusPlus

SCALE = 12


class OfficialSeparable(nn.Module):
    """model.py's CSDN_Tem: depthwise 3x3 (bias, pad 1) then pointwise 1x1 (bias)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depth_conv = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin)
        self.point_conv = nn.Conv2d(cin, cout, 1, 1, 0, groups=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_conv(self.depth_conv(x))


class OfficialZeroDCEpp(nn.Module):
    """model.py's enhance_net_nopool(scale_factor=12), forward as written there."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.upsample = nn.UpsamplingBilinear2d(scale_factor=SCALE)
        self.e_conv1 = OfficialSeparable(3, 32)
        self.e_conv2 = OfficialSeparable(32, 32)
        self.e_conv3 = OfficialSeparable(32, 32)
        self.e_conv4 = OfficialSeparable(32, 32)
        self.e_conv5 = OfficialSeparable(64, 32)
        self.e_conv6 = OfficialSeparable(64, 32)
        self.e_conv7 = OfficialSeparable(64, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_down = F.interpolate(x, scale_factor=1 / SCALE, mode="bilinear")
        x1 = self.relu(self.e_conv1(x_down))
        x2 = self.relu(self.e_conv2(x1))
        x3 = self.relu(self.e_conv3(x2))
        x4 = self.relu(self.e_conv4(x3))
        x5 = self.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = self.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        x_r = self.upsample(torch.tanh(self.e_conv7(torch.cat([x1, x6], 1))))
        for _ in range(8):  # the eight curve steps, written out in model.py
            x = x + x_r * (torch.pow(x, 2) - x)
        return x, x_r


def official_input(path) -> torch.Tensor:
    """lowlight_test.py's tensor: HxWx3 / 255.0 (float64) -> float32, cropped, permuted, batched."""
    array = torch.from_numpy(np.asarray(Image.open(path)) / 255.0).float()
    height, width = array.shape[0] // SCALE * SCALE, array.shape[1] // SCALE * SCALE
    return array[0:height, 0:width, :].permute(2, 0, 1).unsqueeze(0)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * float(np.log10(1.0 / mse))


def native_bf16() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def run(images: int = 6, repeats: int = 1, large: bool = False) -> list[Result]:
    weights = weights_dir() / "zero_dce_pp_epoch99.pth"
    official = OfficialZeroDCEpp().eval()
    official.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    ours = ZeroDCEPlusPlus(weights=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bf16 line says what this CPU can do
        ours_bf16 = ZeroDCEPlusPlus(weights=weights, precision="bf16")
    paths = sorted((data_dir() / "DICM").glob("*.jpg"))[:images]
    pairs = [(official_input(p), read_image(p)) for p in paths]

    totals = {"official": 0.0, "ours": 0.0, "bf16": 0.0}
    worst_diff, worst_psnr = 0.0, float("inf")
    for theirs_in, ours_in in pairs * repeats:
        with torch.no_grad():
            start = time.perf_counter()
            reference = official(theirs_in)[0]
            totals["official"] += time.perf_counter() - start
        with torch.inference_mode():
            start = time.perf_counter()
            output = ours.enhance(ours_in)
            totals["ours"] += time.perf_counter() - start
            start = time.perf_counter()
            half = ours_bf16.enhance(ours_in)
            totals["bf16"] += time.perf_counter() - start
        worst_diff = max(worst_diff, float((output - reference).abs().max()))
        worst_psnr = min(worst_psnr, psnr(half, output))

    size = f"{len(pairs)} DICM images x {repeats}"
    per_image = totals["ours"] / (len(pairs) * repeats)
    results = [
        at_most("zero_dce_pp fp32 vs official forward", totals["ours"] / totals["official"], 1.0,
                f"{size}; max |diff| {worst_diff:.1e}; official {totals['official']:.2f}s, ours {totals['ours']:.2f}s "
                f"({per_image:.3f} s/image)"),
    ]
    bf16_ratio = totals["bf16"] / totals["ours"]
    if native_bf16():
        results.append(Result("zero_dce_pp bf16 vs fp32", bf16_ratio, "<= 1.0", bf16_ratio <= 1.0 and worst_psnr >= 45,
                              f"PSNR vs fp32 >= {worst_psnr:.1f} dB (target >= 45); bf16 {totals['bf16']:.2f}s"))
    else:
        results.append(Result("zero_dce_pp bf16 vs fp32", bf16_ratio, "n/a", worst_psnr >= 45,
                              f"speed not measurable here (no native bf16: {torch.backends.cpu.get_cpu_capability()}, "
                              f"oneDNN emulates it); PSNR vs fp32 >= {worst_psnr:.1f} dB (target >= 45)"))
    if large:
        image = torch.rand(1, 3, 3000, 4000, generator=torch.Generator().manual_seed(0)).mul_(0.4)
        cropped = image[..., :, :3996]
        with torch.no_grad():
            start = time.perf_counter()
            reference = official(cropped)[0]
            official_seconds = time.perf_counter() - start
        with torch.inference_mode():
            start = time.perf_counter()
            output = ours.enhance(image)
            ours_seconds = time.perf_counter() - start
        diff = float((output - reference).abs().max())
        results.append(at_most("zero_dce_pp fp32 4000x3000", ours_seconds / official_seconds, 1.0,
                               f"max |diff| {diff:.1e}; official {official_seconds:.2f}s, ours {ours_seconds:.2f}s"))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6, help="first N DICM images (64: all)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--large", action="store_true", help="also one synthetic 4000x3000 image")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report(run(args.images, args.repeats, args.large))
