"""RUAS inference (ruas, variants upe/lol/dark): llebench's enhancer vs the official test script's forward.

The reference re-implements what RUAS's ``test.py`` runs (KarelZhang/RUAS, commit f621bb1),
op for op: ``Network`` = 3 IEM stages (the max prior with ``ConstantPad2d(1, 0)`` + slicing
+ two ``torch.max``, the searched cell with out-of-place ops, sigmoid, clamps, division)
followed by the denoiser, which the official forward always runs, even for ``upe``/``dark``,
whose saved output is u3 (``u_list[-2]``); ``lol`` saves ``u_list[-1]`` = u3 - n. Float32
NCHW, ``torch.no_grad()``, the checkpoint exactly as ``torch.load`` gives it (the RUAS
files hold no subnormal floats). Ours is ``Enhancer.enhance`` under
``torch.inference_mode()``, as the runner calls it (it returns the truncated 8-bit levels,
so the comparison truncates the reference alike). Same DICM images, same run, interleaved.

The bf16/fp16 line depends on the hardware: on a CPU without native bf16/fp16 (oneDNN
emulates it, e.g. AVX2-only CPUs) it is much slower than fp32, and the line says "not
measurable here"; the PSNR against fp32 is measured anyway.

Full run: ``python bench/zoo_ruas.py`` (12 DICM images x 2, variants upe and lol, plus
bf16/fp16 on 2 images); quick run: ``python bench/zoo_ruas.py --images 3 --repeats 1 --half-images 1``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from torch import nn

from _common import Result, at_most, data_dir, report, weights_dir
from llebench.sdk import native_cpu_support, read_image
from llebench_ruas.enhancer import RUAS


# --- the official forward, re-implemented plainly (float32 NCHW, no in-place ops) ---------

class _Op(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.op = nn.Conv2d(channels, channels, kernel, 1, (kernel - 1) // 2 * dilation, dilation, bias=True)

    def forward(self, x):
        return self.op(x) + x if self.residual else self.op(x)


_SPACE = {"skip_connect": None, "conv_3x3": (3, 1, False), "resconv_1x1": (1, 1, True),
          "resdilconv_3x3": (3, 2, True)}
_IEM_GENOTYPE = ("skip_connect", "resconv_1x1", "resdilconv_3x3", "conv_3x3", "conv_3x3", "skip_connect", "conv_3x3")
_NRM_GENOTYPE = ("resconv_1x1", "resconv_1x1", "resdilconv_3x3", "skip_connect", "resconv_1x1", "resconv_1x1", "skip_connect")


class _Block(nn.Module):
    """The official ``SearchBlock``."""

    def __init__(self, channels: int, genotype: tuple[str, ...]) -> None:
        super().__init__()
        for slot, name in zip(("c1_d", "c1_r", "c2_d", "c2_r", "c3_d", "c3_r", "c4"), genotype):
            spec = _SPACE[name]
            setattr(self, slot, nn.Identity() if spec is None else _Op(channels, *spec))
        self.act = nn.LeakyReLU(negative_slope=0.05)
        self.c5 = nn.Conv2d(4 * channels, channels, 1, 1, 0, bias=True)

    def forward(self, x):
        d1 = self.act(self.c1_d(x))
        r1 = self.act(self.c1_r(x) + x)
        d2 = self.act(self.c2_d(r1))
        r2 = self.act(self.c2_r(r1) + r1)
        d3 = self.act(self.c3_d(r2))
        r3 = self.act(self.c3_r(r2) + r2)
        r4 = self.act(self.c4(r3))
        return self.c5(torch.cat([d1, d2, d3, r4], dim=1))


class _IEM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = _Block(3, _IEM_GENOTYPE)
        self.activate = nn.Sigmoid()

    @staticmethod
    def max_operation(x):
        x = nn.ConstantPad2d(1, 0)(x)[:, :, 1:, 1:]
        x = torch.max(x[:, :, :-1, :], x[:, :, 1:, :])
        return torch.max(x[:, :, :, :-1], x[:, :, :, 1:])

    def forward(self, y, u, k):
        t_hat = self.max_operation(y) if k == 0 else self.max_operation(u) - 0.5 * (u - y)
        t = torch.clamp(self.activate(self.cell(t_hat)), 0.001, 1.0)
        return torch.clamp(y / t, 0.0, 1.0), t


class _Enhance(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.iems = nn.ModuleList(_IEM() for _ in range(3))

    def forward(self, y):
        u, us = torch.ones_like(y), []
        for k, iem in enumerate(self.iems):
            u, _ = iem(y, u, k)
            us.append(u)
        return us


class _Denoise(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, 1, 1, bias=True)
        self.nrms = nn.ModuleList(_Block(6, _NRM_GENOTYPE) for _ in range(3))
        self.activate = nn.Sequential(nn.Conv2d(6, 3, 3, 1, 1, bias=True))

    def forward(self, u):
        feat = self.stem(u)
        for block in self.nrms:
            feat = block(feat)
        n = self.activate(feat)
        return u - n, n


class OfficialNetwork(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enhance_net = _Enhance()
        self.denoise_net = _Denoise()

    def forward(self, y):
        us = self.enhance_net(y)
        us.append(self.denoise_net(us[-1])[0])
        return us


def official_output(net: OfficialNetwork, image: torch.Tensor, variant: str) -> torch.Tensor:
    """What test.py saves, as the 8-bit levels / 255 (``np.clip(255 x).astype(uint8)``)."""
    us = net(image)
    chosen = us[-1] if variant == "lol" else us[-2]
    return torch.floor((chosen * 255.0).clamp(0, 255)) / 255


# --- the measurement ----------------------------------------------------------------------

def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(1.0 / mse)).item()


def compare_fp32(variant: str, inputs: list[torch.Tensor], repeats: int) -> Result:
    path = weights_dir() / f"ruas_{variant}.pt"
    official = OfficialNetwork().eval()
    official.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    ours = RUAS(variant=variant)
    totals = {"official": 0.0, "ours": 0.0}
    worst_diff, differing, pixels = 0.0, 0, 0
    with torch.no_grad():  # warm-up, untimed
        official_output(official, inputs[0], variant)
    with torch.inference_mode():
        ours.enhance(inputs[0])
    for image in inputs * repeats:
        with torch.no_grad():
            start = time.perf_counter()
            reference = official_output(official, image, variant)
            totals["official"] += time.perf_counter() - start
        with torch.inference_mode():
            start = time.perf_counter()
            output = ours.enhance(image)
            totals["ours"] += time.perf_counter() - start
        diff = (output - reference).abs()
        worst_diff = max(worst_diff, float(diff.max()) * 255)
        differing += int((diff > 0).sum())
        pixels += diff.numel()
    count = len(inputs) * repeats
    return at_most(f"ruas {variant} fp32 vs official", totals["ours"] / totals["official"], 1.0,
                   f"{len(inputs)} DICM x {repeats}; max |diff| {worst_diff:.0f}/255 on "
                   f"{differing / pixels:.1e} of values; official {totals['official'] / count:.3f}s/img, "
                   f"ours {totals['ours'] / count:.3f}s/img")


def compare_half(precision: str, inputs: list[torch.Tensor]) -> Result:
    full = RUAS(variant="lol")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the line below says whether this CPU has native support
        half = RUAS(variant="lol", precision=precision)
    t_full = t_half = 0.0
    worst = float("inf")
    with torch.inference_mode():
        for image in inputs:
            start = time.perf_counter()
            a = full.enhance(image)
            t_full += time.perf_counter() - start
            start = time.perf_counter()
            b = half.enhance(image)
            t_half += time.perf_counter() - start
            worst = min(worst, psnr(a, b))
    native = native_cpu_support(precision)
    ratio = t_half / t_full
    where = (f"native {precision} on this CPU" if native else
             f"not measurable here: no native {precision} on this CPU "
             f"({torch.backends.cpu.get_cpu_capability()}, oneDNN emulates it)")
    return Result(f"ruas lol {precision} vs ours fp32", ratio, "<= 1.0", worst >= 45 and (ratio <= 1.0 or not native),
                  f"PSNR vs fp32 >= {worst:.1f} dB (target >= 45); {precision} {t_half / len(inputs):.2f}s/img; {where}")


def run(images: int = 12, repeats: int = 2, half_images: int = 2, variants: tuple[str, ...] = ("upe", "lol")
        ) -> list[Result]:
    paths = sorted((data_dir() / "DICM").glob("*.jpg"))[:images]
    inputs = [read_image(p) for p in paths]
    results = [compare_fp32(variant, inputs, repeats) for variant in variants]
    if half_images > 0:
        results += [compare_half(precision, inputs[:half_images]) for precision in ("bf16", "fp16")]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=12, help="DICM images (sorted by name)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--half-images", type=int, default=2, help="images for the bf16/fp16 lines (0: skip)")
    parser.add_argument("--variants", default="upe,lol", help="comma-separated: upe, lol, dark")
    args = parser.parse_args()
    report(run(args.images, args.repeats, args.half_images, tuple(args.variants.split(","))))
