"""SCI inference: llebench's ``sci`` enhancer vs the official test script's forward.

The reference does what SCI's ``test.py`` does with ``Finetunemodel``: the checkpoint as
``torch.load`` gives it, only its ``enhance.*`` entries, the illumination estimator written out
here with plain functional ops in the official order (conv-ReLU; f + ReLU(BN(conv f)) with the
running statistics, eps 1e-5; sigmoid(conv f); i = clamp(s + x, 1e-4, 1); r = clamp(x / i, 0, 1)),
a float32 NCHW tensor, ``torch.no_grad()``. It stops at r: the numpy truncation test.py applies
when saving is not timed, while ours includes it (``Enhancer.enhance`` returns floor(255 r) / 255,
under ``torch.inference_mode()`` as the runner calls it; channels_last with the BatchNorm
folded, which moves r by float32 rounding only). The three checkpoints, the same DICM images,
interleaved (the order alternates); the line prints the largest difference between our output
and the official r truncated the official way, how many 8-bit values differ (each by one
level, where 255 r is within float noise of an integer), and the largest difference between
the float reflectances.

The bf16 line depends on the hardware: on a CPU without native bf16 (oneDNN emulates it,
e.g. AVX2-only CPUs) bf16 is slower than fp32, so its speed is "not measurable here" and only
its accuracy (PSNR against fp32, target >= 45 dB) is checked.

The ratio compares the fastest of ``repeats`` interleaved calls per image and checkpoint
(timeit's rule: on a shared CPU, slower calls measure the other processes; here two OpenMP
threads on two busy cores stall at every parallel region); the mean over all calls is printed
beside it.

Full run: ``python bench/zoo_sci.py`` (all 64 DICM images x 3 checkpoints x 3 calls, bf16 on the
first 4). Quick: ``python bench/zoo_sci.py --images 4 --repeats 2 --bf16-images 1``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
import torch.nn.functional as F

from _common import Result, at_most, data_dir, report, weights_dir
from llebench.sdk import native_cpu_support, read_image
from llebench_sci.enhancer import SCI, WEIGHTS


def official_forward(w: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``Finetunemodel(x)[1]``: the official ops in the official order, NCHW float32."""

    def conv(name: str, t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w[f"enhance.{name}.weight"], w[f"enhance.{name}.bias"], stride=1, padding=1)

    fea = F.relu(conv("in_conv.0", x))
    # blocks.0 is the module saved as conv as well: test.py's load_state_dict writes blocks.0 last
    norm = "blocks.0.1"
    bn = F.batch_norm(conv("blocks.0.0", fea), w[f"enhance.{norm}.running_mean"], w[f"enhance.{norm}.running_var"],
                      w[f"enhance.{norm}.weight"], w[f"enhance.{norm}.bias"], training=False, momentum=0.1, eps=1e-5)
    fea = fea + F.relu(bn)
    fea = torch.sigmoid(conv("out_conv.0", fea))
    illu = torch.clamp(fea + x, 0.0001, 1)
    return torch.clamp(x / illu, 0, 1)


def truncated(r: torch.Tensor) -> torch.Tensor:
    """test.py's ``save_images`` levels, np.clip(r * 255, 0, 255).astype('uint8'), as k / 255."""
    return torch.floor(torch.clamp(r * 255.0, 0, 255.0)) / 255.0


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(1.0 / mse)).item()


def run(images: int = 64, repeats: int = 3, bf16_images: int = 4) -> list[Result]:
    variants = list(WEIGHTS)
    official = {}
    for variant in variants:
        raw = torch.load(weights_dir() / WEIGHTS[variant].filename, map_location="cpu", weights_only=True)
        official[variant] = {k: v for k, v in raw.items() if k.startswith("enhance.")}  # what Finetunemodel keeps
    ours = {variant: SCI(variant=variant) for variant in variants}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bf16 line below says whether this CPU has native bf16
        ours_bf16 = SCI(precision="bf16")
    paths = sorted((data_dir() / "DICM").glob("*.jpg"))[:images]
    inputs = [read_image(p) for p in paths]

    def time_official(variant: str, image: torch.Tensor) -> tuple[torch.Tensor, float]:
        with torch.no_grad():
            start = time.perf_counter()
            r = official_forward(official[variant], image)
            return r, time.perf_counter() - start

    def time_ours(variant: str, image: torch.Tensor) -> tuple[torch.Tensor, float]:
        with torch.inference_mode():
            start = time.perf_counter()
            output = ours[variant].enhance(image)
            return output, time.perf_counter() - start

    # per image and checkpoint: ``repeats`` interleaved calls of each (the order alternates), then
    # the fastest call of each side (timeit's rule: slower calls are other processes interfering;
    # on a shared CPU they dominate), and the mean, which keeps that interference
    fastest = {"official": 0.0, "ours": 0.0}
    totals = {"official": 0.0, "ours": 0.0, "bf16": 0.0, "official_bf16_images": 0.0}
    worst_levels, worst_float, worst_psnr, count, bf16_count = 0.0, 0.0, float("inf"), 0, 0
    differing, values = 0, 0
    for index, image in enumerate(inputs):
        for variant in variants:
            times: dict[str, list[float]] = {"official": [], "ours": []}
            for repeat in range(repeats):
                if (repeat + index) % 2:
                    output, ours_seconds = time_ours(variant, image)
                    reference, official_seconds = time_official(variant, image)
                else:
                    reference, official_seconds = time_official(variant, image)
                    output, ours_seconds = time_ours(variant, image)
                times["official"].append(official_seconds)
                times["ours"].append(ours_seconds)
            for side, seconds in times.items():
                fastest[side] += min(seconds)
                totals[side] += sum(seconds)
            count += repeats
            levels_diff = (output - truncated(reference)).abs()
            worst_levels = max(worst_levels, float(levels_diff.max()))
            differing += int((levels_diff > 0).sum())
            values += levels_diff.numel()
            with torch.inference_mode():
                worst_float = max(worst_float, float((ours[variant].reflectance(image) - reference).abs().max()))
        if index < bf16_images:
            with torch.inference_mode():
                start = time.perf_counter()
                half = ours_bf16.enhance(image)
                totals["bf16"] += time.perf_counter() - start
                full = ours["medium"].enhance(image)
            _, official_seconds = time_official("medium", image)
            totals["official_bf16_images"] += official_seconds
            worst_psnr = min(worst_psnr, psnr(half, full))
            bf16_count += 1

    size = f"{len(inputs)} DICM images x 3 checkpoints x {repeats}"
    pairs = len(inputs) * len(variants)
    bf16_ratio = totals["bf16"] / totals["official_bf16_images"] if bf16_count else float("nan")
    if native_cpu_support("bf16"):
        bf16 = Result("sci bf16 vs official forward", bf16_ratio, "<= 1.0", bf16_ratio <= 1.0 and worst_psnr >= 45,
                      f"{bf16_count} images x 1; PSNR vs fp32 >= {worst_psnr:.1f} dB (target >= 45); "
                      f"bf16 {totals['bf16'] / bf16_count:.3f} s/image")
    else:
        bf16 = Result("sci bf16 vs official forward", bf16_ratio, "n/a", worst_psnr >= 45,
                      f"speed not measurable here (this CPU, {torch.backends.cpu.get_cpu_capability()}, has no native "
                      f"bf16: oneDNN emulates it, {totals['bf16'] / max(bf16_count, 1):.2f} s/image); {bf16_count} "
                      f"images x 1: PSNR vs fp32 >= {worst_psnr:.1f} dB (target >= 45)")
    return [
        at_most("sci fp32 vs official forward", fastest["ours"] / fastest["official"], 1.0,
                f"{size}, fastest call of each; max |diff| {worst_levels * 255:.0f}/255 on {differing} of "
                f"{values} 8-bit values ({differing / max(values, 1):.1e}), {worst_float:.1e} on the float r; "
                f"official {fastest['official'] / pairs * 1000:.1f} ms/image, ours "
                f"{fastest['ours'] / pairs * 1000:.1f} ms/image (truncation included); mean of all calls: ratio "
                f"{totals['ours'] / totals['official']:.3f}, official {totals['official'] / count * 1000:.1f} ms, "
                f"ours {totals['ours'] / count * 1000:.1f} ms"),
        bf16,
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64, help="first N DICM images (default: all 64)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved calls per image and checkpoint")
    parser.add_argument("--bf16-images", type=int, default=4, help="images also run in bf16 (emulated: slow)")
    args = parser.parse_args()
    report(run(args.images, args.repeats, args.bf16_images))
