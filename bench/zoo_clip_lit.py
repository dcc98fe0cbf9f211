"""CLIP-LIT inference: llebench's ``clip_lit`` enhancer vs the official test script's forward.

The reference does what CLIP-LIT's ``test.py`` does with ``UNet_emb_oneBranch_symmetry(3, 1)``
(written out here with plain functional ops: reflect-padded convolutions, the pyramid's
zero-padded fusion, PReLU, LeakyReLU 0.2): the state_dict exactly as ``torch.load`` gives it
(``module.`` stripped), a float32 NCHW tensor, ``torch.no_grad()``, ``clamp(x / l, 0, 1)``.
Ours is ``Enhancer.enhance`` under ``torch.inference_mode()`` as the runner calls it. Same
DICM images, same run, interleaved; the line prints the largest output difference.

The bf16 line depends on the hardware: on a CPU without native bf16 (oneDNN emulates it,
e.g. AVX2-only CPUs) bf16 is slower than fp32, so its speed is "not measurable here" and only
its accuracy (PSNR against fp32, target >= 45 dB) is checked.

Full run: ``python bench/zoo_clip_lit.py`` (8 DICM images x 2, bf16 on the first).
Quick: ``python bench/zoo_clip_lit.py --images 2 --repeats 1``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
import torch.nn.functional as F

from _common import Result, at_most, data_dir, report, weights_dir
from llebench.sdk import native_cpu_support, read_image
from llebench_clip_lit.enhancer import CLIPLIT


def official_light_map(w: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """test.py's ``U_net(x)``: the official ops in the official order, NCHW float32."""

    def conv(name: str, t: torch.Tensor, reflect: bool = True) -> torch.Tensor:
        bias = w.get(f"{name}.bias")
        if reflect:
            return F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), w[f"{name}.weight"], bias)
        return F.conv2d(t, w[f"{name}.weight"], bias, padding=1)

    def residual(name: str, t: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(conv(f"{name}.conv1", t), 0.2, inplace=True)
        out = conv(f"{name}.conv2", out)
        out += t
        return F.leaky_relu(out, 0.2, inplace=True)

    def pyramid(t: torch.Tensor) -> torch.Tensor:
        parts = [t]
        for k, b in enumerate((1, 2, 3, 6)):
            pooled = F.adaptive_avg_pool2d(t, b)
            branch = F.prelu(F.conv2d(pooled, w[f"PPM1.features.{k}.1.weight"]), w[f"PPM1.features.{k}.2.weight"])
            parts.append(F.interpolate(branch, t.shape[-2:], mode="bilinear", align_corners=True))
        fused = F.conv2d(torch.cat(parts, 1), w["PPM1.fuse.0.weight"], padding=1)
        return F.prelu(fused, w["PPM1.fuse.1.weight"])

    t = F.leaky_relu(conv("cond1", x), 0.2, inplace=True)
    t = residual("ResidualBlock2", residual("ResidualBlock1", t))
    t = conv("condx", pyramid(t))
    t = residual("ResidualBlock4", residual("ResidualBlock3", t))
    t = conv("condy", t)
    t = residual("ResidualBlock6", residual("ResidualBlock5", t))
    return F.relu(conv("cond_add1", t), inplace=True)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(1.0 / mse)).item()


def run(images: int = 8, repeats: int = 2, bf16_images: int = 1) -> list[Result]:
    path = weights_dir() / "clip_lit_enhancement.pth"
    raw = torch.load(path, map_location="cpu", weights_only=True)
    weights = {key[len("module."):]: value for key, value in raw.items()}  # test.py: k[7:]
    ours = CLIPLIT(weights=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bf16 line says whether this CPU has native bf16
        ours_bf16 = CLIPLIT(weights=path, precision="bf16")
    paths = sorted((data_dir() / "DICM").glob("*.jpg"))[:images]
    inputs = [read_image(p) for p in paths]

    # bf16 is emulated (slow) on most CPUs: it runs on the first ``bf16_images`` images only and
    # is compared with the official forward's time on those same images
    totals = {"official": 0.0, "ours": 0.0, "bf16": 0.0, "official_bf16_images": 0.0}
    worst_diff, worst_psnr = 0.0, float("inf")
    for _ in range(repeats):
        for index, image in enumerate(inputs):
            with torch.no_grad():
                start = time.perf_counter()
                reference = torch.clamp(image / official_light_map(weights, image), 0, 1)
                seconds = time.perf_counter() - start
            totals["official"] += seconds
            with torch.inference_mode():
                start = time.perf_counter()
                output = ours.enhance(image)
                totals["ours"] += time.perf_counter() - start
                if index < bf16_images:
                    totals["official_bf16_images"] += seconds
                    start = time.perf_counter()
                    half = ours_bf16.enhance(image)
                    totals["bf16"] += time.perf_counter() - start
                    worst_psnr = min(worst_psnr, psnr(half, output))
            worst_diff = max(worst_diff, float((output - reference).abs().max()))

    count = len(inputs) * repeats
    size = f"{len(inputs)} DICM images x {repeats}"
    native = native_cpu_support("bf16")
    bf16_count = min(bf16_images, len(inputs)) * repeats
    bf16_ratio = totals["bf16"] / totals["official_bf16_images"] if bf16_count else float("nan")
    if native:
        bf16 = Result("clip_lit bf16 vs official forward", bf16_ratio, "<= 1.0",
                      bf16_ratio <= 1.0 and worst_psnr >= 45,
                      f"{bf16_count} images; PSNR vs fp32 >= {worst_psnr:.1f} dB (target >= 45); "
                      f"bf16 {totals['bf16'] / bf16_count:.2f} s/image")
    else:
        bf16 = Result("clip_lit bf16 vs official forward", bf16_ratio, "n/a", worst_psnr >= 45,
                      f"speed not measurable here (this CPU, {torch.backends.cpu.get_cpu_capability()}, has no "
                      f"native bf16: oneDNN emulates it, {totals['bf16'] / max(bf16_count, 1):.1f} s/image); "
                      f"{bf16_count} images: PSNR vs fp32 >= {worst_psnr:.1f} dB (target >= 45)")
    return [
        at_most("clip_lit fp32 vs official forward", totals["ours"] / totals["official"], 1.0,
                f"{size}; max |diff| {worst_diff:.1e}; official {totals['official'] / count:.2f} s/image, "
                f"ours {totals['ours'] / count:.2f} s/image"),
        bf16,
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8, help="DICM images (sorted by name)")
    parser.add_argument("--repeats", type=int, default=2, help="passes over them (interleaved)")
    parser.add_argument("--bf16-images", type=int, default=1,
                        help="of those, how many also run in bf16 (slow where emulated)")
    args = parser.parse_args()
    report(run(args.images, args.repeats, args.bf16_images))
