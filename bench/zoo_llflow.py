"""LLFlow inference: llebench's ``llflow`` enhancer vs a plain re-implementation of the
official test forward (``test_unpaired.py`` -> ``LLFlowModel.get_sr`` -> ``LLFlow.reverse_flow``).

The reference does what the official code does, op for op, in float32 NCHW under
``torch.no_grad()`` with the state_dict exactly as ``torch.load`` gives it: the encoder
with its growing ``torch.cat`` dense blocks, the colour map's 1x1 conv at full size, the
block features concatenated to all five feature maps, and in every flow step the
log-determinant bookkeeping (``slogdet`` of each 1x1 conv, ``sum log scale``) and the
inverse of each 1x1 conv computed in float64 on every call. Pre- and post-processing
(padding, histogram equalisation, cropping, truncation) are the same code for both.
Ours is ``Enhancer.enhance`` under ``torch.inference_mode()`` as the runner calls it.

There are no official LLFlow weights here (Google Drive only), so both sides run seeded
weights: the small network with the golden ``../shared/golden/llflow/llflow_small_seed0_perturbed.pth``
(every path of the network active) on the two 96x128 golden crops and on DICM images, and
the standard network (the default variant, ``LOL-pc.yml``) with seeded weights made here the
same way (seed 0, every zero-initialised tensor replaced by N(0, 0.02) noise) on the crops and DICM images;
interleaved, same inputs, same outputs (max |diff| printed).

    python bench/zoo_llflow.py      # full: small and standard on 2 crops x 2, small on 4 DICM images x 2,
                                    # standard on 1 DICM image, fp16 on 2 crops
    python bench/zoo_llflow.py --images 1 --repeats 1 --standard-images 0 --half-crops 1   # quick
    (add --threads 1 on a busy shared machine)

The fp16 line (``precision=fp16``, the official GPU autocast; bf16 is not offered, it is too
coarse for the flow): on a CPU without native fp16 (oneDNN emulates it) it says so and is
not a speed target; the numerics (PSNR vs fp32 >= 45 dB, on the crops) are checked all the same.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from _common import SHARED, Result, at_most, data_dir, report
from llebench.images import read_image
from llebench.sdk import native_cpu_support, truncate_to_8_bits
from llebench_llflow.enhancer import LLFlow
from llebench_llflow.network import STANDARD, LLFlowNet
from llebench_llflow.procedures import unpaired_input

GOLDEN = SHARED / "golden" / "llflow"
WEIGHTS = GOLDEN / "llflow_small_seed0_perturbed.pth"


class OfficialForward:
    """The official reverse pass of the small network (``LOL_smallNet.yml``) on a state_dict."""

    def __init__(self, state: dict[str, torch.Tensor], nb: int = 4, blocks: tuple[int, ...] = (1,), K: int = 4) -> None:
        self.s, self.nb, self.blocks, self.K = state, nb, blocks, K

    def conv(self, name: str, x: torch.Tensor, padding: int = 1) -> torch.Tensor:
        return F.conv2d(x, self.s[name + ".weight"], self.s.get(name + ".bias"), padding=padding)

    def rdb(self, p: str, x: torch.Tensor) -> torch.Tensor:
        x1 = F.leaky_relu(self.conv(p + ".conv1", x), 0.2, inplace=True)
        x2 = F.leaky_relu(self.conv(p + ".conv2", torch.cat((x, x1), 1)), 0.2, inplace=True)
        x3 = F.leaky_relu(self.conv(p + ".conv3", torch.cat((x, x1, x2), 1)), 0.2, inplace=True)
        x4 = F.leaky_relu(self.conv(p + ".conv4", torch.cat((x, x1, x2, x3), 1)), 0.2, inplace=True)
        x5 = self.conv(p + ".conv5", torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x

    @staticmethod
    def gradient(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def sub(x):
            left, right = torch.zeros_like(x), torch.zeros_like(x)
            left[:, :, 0:-1] = x[:, :, 1:]
            right[:, :, 1:] = x[:, :, 0:-1]
            return 0.5 * (left - right)
        return sub(x), sub(torch.transpose(x, 2, 3)).transpose(2, 3)

    def encoder(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raw = x[:, 0:3].exp()
        color = raw / (raw.sum(dim=1, keepdims=True) + 1e-4)
        dx, dy = self.gradient(color)
        noise = torch.max(torch.stack([dx.abs(), dy.abs()], dim=0), dim=0)[0]
        fea = F.leaky_relu(self.conv("RRDB.conv_first", torch.cat([x, color, noise], dim=1)), 0.2, inplace=True)
        fea_head = F.max_pool2d(self.conv("RRDB.conv_second", fea), 2)
        fea, kept = fea_head, {}
        for i in range(self.nb):
            p = f"RRDB.RRDB_trunk.{i}"
            fea = self.rdb(p + ".RDB3", self.rdb(p + ".RDB2", self.rdb(p + ".RDB1", fea))) * 0.2 + fea
            if i in self.blocks:
                kept[i] = fea
        down2 = fea_head + self.conv("RRDB.trunk_conv", fea)
        down4 = self.conv("RRDB.downconv1", F.interpolate(down2, scale_factor=0.5, mode="bilinear",
                                                          align_corners=False, recompute_scale_factor=True))
        fea = F.leaky_relu(down4, 0.2, inplace=True)  # in place: down4 is activated too
        down8 = self.conv("RRDB.downconv2", F.interpolate(fea, scale_factor=0.5, mode="bilinear",
                                                          align_corners=False, recompute_scale_factor=True))
        color_map = torch.sigmoid(self.conv("RRDB.fine_tune_color_map.0", F.interpolate(down2, scale_factor=2), 0))
        results = {"fea_up0": down8, "fea_up1": down4, "fea_up2": down2, "fea_up4": fea_head, "last_lr_fea": down4}
        concat = torch.cat([kept[i] for i in self.blocks], dim=1)
        for k in ("last_lr_fea", "fea_up1", "fea_up2", "fea_up4", "fea_up0"):
            results[k] = torch.cat([results[k], F.interpolate(concat, results[k].shape[2:])], dim=1)
        results["color_map"] = color_map
        return results

    def f_net(self, p: str, x: torch.Tensor) -> torch.Tensor:
        for i, pad in ((0, 1), (2, 0)):
            x = F.conv2d(x, self.s[f"{p}.{i}.weight"], padding=pad)
            x = (x + self.s[f"{p}.{i}.actnorm.bias"]) * torch.exp(self.s[f"{p}.{i}.actnorm.logs"])
            x = F.relu(x)
        x = F.conv2d(x, self.s[f"{p}.4.weight"], self.s[f"{p}.4.bias"], padding=1)
        return x * torch.exp(self.s[f"{p}.4.logs"] * 3)

    def step_reverse(self, i: int, z: torch.Tensor, logdet: torch.Tensor, ft: torch.Tensor, coupling: bool):
        p = f"flowUpsamplerNet.layers.{i}"
        pixels = z.shape[2] * z.shape[3]
        if coupling:
            half = z.shape[1] // 2
            z1, z2 = z[:, :half], z[:, half:]
            h = self.f_net(p + ".affine.fAffine", torch.cat([z1, ft], dim=1))
            shift, scale = h[:, 0::2], torch.sigmoid(h[:, 1::2] + 2.0) + 1e-4
            z2 = z2 / scale
            z2 = z2 - shift
            z = torch.cat((z1, z2), dim=1)
            logdet = logdet - torch.log(scale).sum(dim=[1, 2, 3])
            h = self.f_net(p + ".affine.fFeatures", ft)
            shift, scale = h[:, 0::2], torch.sigmoid(h[:, 1::2] + 2.0) + 1e-4
            z = z / scale
            z = z - shift
            logdet = logdet - torch.log(scale).sum(dim=[1, 2, 3])
        weight = self.s[p + ".invconv.weight"]
        dlogdet = torch.slogdet(weight)[1] * pixels
        inverse = torch.inverse(weight.double()).float().view(*weight.shape, 1, 1)
        z = F.conv2d(z, inverse)
        logdet = logdet - dlogdet
        logs = self.s[p + ".actnorm.logs"]
        z = z * torch.exp(-logs)
        logdet = logdet - torch.sum(logs) * pixels
        z = z - self.s[p + ".actnorm.bias"]
        return z, logdet

    @staticmethod
    def squeeze(x: torch.Tensor, f: int) -> torch.Tensor:
        b, c, h, w = x.size()
        x = x.view(b, c, h // f, f, w // f, f).permute(0, 1, 3, 5, 2, 4).contiguous()
        return x.view(b, c * f * f, h // f, w // f)

    @staticmethod
    def unsqueeze(x: torch.Tensor, f: int) -> torch.Tensor:
        b, c, h, w = x.size()
        x = x.view(b, c // (f * f), f, f, h, w).permute(0, 1, 4, 2, 5, 3).contiguous()
        return x.view(b, c // (f * f), h * f, w * f)

    def __call__(self, lq: torch.Tensor) -> torch.Tensor:
        enc = self.encoder(lq)
        z = self.squeeze(enc["color_map"], 8)
        logdet = torch.zeros_like(lq[:, 0, 0, 0])
        per_level = 1 + 2 + self.K
        names = {1: "fea_up2", 2: "fea_up1", 3: "fea_up0"}
        for i in reversed(range(3 * per_level)):
            level, offset = i // per_level + 1, i % per_level
            if offset == 0:
                z = self.unsqueeze(z, 2)
            else:
                z, logdet = self.step_reverse(i, z, logdet, enc[names[level]], coupling=offset > 2)
        return z


def official_enhance(forward: OfficialForward, image: torch.Tensor) -> torch.Tensor:
    lq, (top, bottom, left, right) = unpaired_input(image)
    with torch.no_grad():
        out = forward(lq)
    return truncate_to_8_bits(out[:, :, top:out.shape[2] - bottom, left:out.shape[3] - right])


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def seeded_standard(path: Path) -> dict[str, torch.Tensor]:
    """Standard-network weights (seed 0) with every all-zero tensor made N(0, 0.02), saved to ``path``."""
    state = LLFlowNet(STANDARD, seed=0).state_dict()
    generator = torch.Generator().manual_seed(1234)
    for key, value in state.items():
        if not bool(value.any()):
            state[key] = torch.randn(value.shape, generator=generator) * 0.02
    torch.save(state, path)
    return state


def compare(label: str, official: OfficialForward, ours: LLFlow, inputs: list[torch.Tensor], repeats: int) -> Result:
    totals = {"official": 0.0, "ours": 0.0}
    worst_diff = 0.0
    warm = inputs[0][:, :, :32, :32]  # one untimed call each first (the runner warms up too): lazy set-up
    official_enhance(official, warm)
    with torch.inference_mode():
        ours.enhance(warm)
    for image in inputs * repeats:
        start = time.perf_counter()
        reference = official_enhance(official, image)
        totals["official"] += time.perf_counter() - start
        with torch.inference_mode():
            start = time.perf_counter()
            output = ours.enhance(image)
            totals["ours"] += time.perf_counter() - start
        worst_diff = max(worst_diff, float((output - reference).abs().max()) * 255)
    per_image = totals["ours"] / (len(inputs) * repeats)
    return at_most(label, totals["ours"] / totals["official"], 1.0,
                   f"{len(inputs)} x {repeats}; max |diff| {worst_diff:.0f}/255; official {totals['official']:.2f}s, "
                   f"ours {totals['ours']:.2f}s ({per_image:.2f}s per image)")


def run(images: int = 4, repeats: int = 2, standard_images: int = 1, half_crops: int = 2) -> list[Result]:
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    ours = LLFlow(weights=WEIGHTS)
    crops = [read_image(GOLDEN / f"input_{name}_low.png") for name in ("tl", "mid")]
    dicm = [read_image(p) for p in sorted((data_dir() / "DICM").glob("*.jpg"))]

    lines = [compare("llflow small fp32 vs official (crops)", OfficialForward(state), ours, crops, repeats),
             compare("llflow small fp32 vs official (DICM)", OfficialForward(state), ours, dicm[:images], repeats)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "llflow_standard_seeded.pth"
        standard = seeded_standard(path)
        official = OfficialForward(standard, nb=STANDARD.nb, blocks=STANDARD.blocks, K=STANDARD.K)
        ours_standard = LLFlow(weights=path)
        lines.append(compare("llflow standard vs official (crops)", official, ours_standard, crops, repeats))
        if standard_images:
            lines.append(compare("llflow standard vs official (DICM)", official, ours_standard,
                                 dicm[:standard_images], 1))

    # fp16 (the official GPU autocast) on the crops: emulated, hence slow, on most CPUs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the line below says whether this CPU has native fp16
        ours_fp16 = LLFlow(weights=WEIGHTS, precision="fp16")
    fp32_seconds = fp16_seconds = 0.0
    worst_psnr = float("inf")
    with torch.inference_mode():
        for image in crops[::-1][:half_crops]:  # the textured crop first
            start = time.perf_counter()
            output = ours.enhance(image)
            fp32_seconds += time.perf_counter() - start
            start = time.perf_counter()
            half = ours_fp16.enhance(image)
            fp16_seconds += time.perf_counter() - start
            worst_psnr = min(worst_psnr, psnr(half, output))
    native = native_cpu_support("fp16")
    ratio = fp16_seconds / fp32_seconds
    lines.append(Result(
        "llflow small fp16 vs fp32", ratio, "<= 1.0" if native else "n/a", worst_psnr >= 45 and (ratio <= 1.0 or not native),
        f"{half_crops} 96x128 crop(s): PSNR vs fp32 {worst_psnr:.1f} dB (target >= 45); fp16 {fp16_seconds:.1f}s, "
        f"fp32 {fp32_seconds:.1f}s; "
        + ("native fp16" if native else "speed not measurable here: fp16 is emulated on this CPU "
           f"({torch.backends.cpu.get_cpu_capability()})")))
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4, help="DICM images for the small network (default 4)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--standard-images", type=int, default=1,
                        help="DICM images for the standard network (default 1; 0 = the crops only)")
    parser.add_argument("--half-crops", type=int, default=2, choices=(1, 2), help="crops for the fp16 line")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (default: torch's); 1 on a busy shared machine")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report(run(args.images, args.repeats, args.standard_images, args.half_crops))
