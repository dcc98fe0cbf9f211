"""URetinex-Net inference: llebench's ``uretinex`` enhancer vs the official test script's forward.

The reference below re-implements what URetinex-Net's ``test.py`` (class ``Inference``) runs,
op for op: the four nets as separate modules with the official layer order, the
squeeze-excitation as ``AdaptiveAvgPool2d(1)`` -> MLP -> multiply, the concatenations, the
closed-form P/Q updates with the official channel order, the ratio map ``ones * 5``, NCHW
float32 under ``torch.no_grad()``, weights exactly as ``torch.load`` gives them. Ours is
``Enhancer.enhance`` under ``torch.inference_mode()`` as the runner calls it. The reference's
output is truncated to 8 bits like ``np_save_TensorImg``; ``max |diff|`` compares that with
ours (in 1/255 levels; 1 = a truncation boundary crossed by float noise) and the float outputs
before truncation. Same DICM images, same run, interleaved.

The low-precision line needs native bf16 to be worth anything: on a CPU without it (AVX2
only; oneDNN emulates it) the time is not measurable here, and only the PSNR against fp32 is
reported.

Full run:  python bench/zoo_uretinex.py                                (8 full DICM images x 2 repeats)
Quick run: python bench/zoo_uretinex.py --images 2 --repeats 1 --crop 256
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from torch import nn

from _common import Result, at_most, data_dir, report, weights_dir
from llebench.sdk import load_checkpoint, native_cpu_support, read_image
from llebench_uretinex.enhancer import URetinexNet


# ---------------------------------------------------------------------------- the reference
def conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, 1, k // 2)


class RefDecom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.decom = nn.Sequential(conv(3, 32, 3), nn.LeakyReLU(0.2, True), conv(32, 32, 3), nn.LeakyReLU(0.2, True),
                                   conv(32, 32, 3), nn.LeakyReLU(0.2, True), conv(32, 4, 3), nn.ReLU())

    def forward(self, x):
        y = self.decom(x)
        return y[:, 0:3], y[:, 3:4]


class RefSE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(64, 4, bias=False), nn.ReLU(True), nn.Linear(4, 64, bias=False), nn.Sigmoid())

    def forward(self, x):
        n, c = x.shape[:2]
        return x * self.fc(self.pool(x).view(n, c)).view(n, c, 1, 1).expand_as(x)


class RefRestore(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv(3, 32, 3), conv(1, 32, 3)
        self.se_layer = RefSE()
        self.conv3, self.conv4, self.conv5, self.conv6, self.conv7 = (conv(64, 64, 3) for _ in range(5))
        self.conv8 = conv(64, 3, 3)

    def forward(self, r, l):
        x = self.se_layer(torch.cat([torch.relu(self.conv1(r)), torch.relu(self.conv2(l))], 1))
        for c in (self.conv3, self.conv4, self.conv5, self.conv6, self.conv7):
            x = torch.relu(c(x))
        return r + self.conv8(x)


class RefIllumination(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3, self.conv4 = conv(1, 32, 5), conv(32, 32, 5), conv(32, 32, 5), conv(32, 32, 5)
        self.conv5 = conv(32, 1, 1)
        self.act = nn.LeakyReLU(0.2, True)

    def forward(self, l):
        for c in (self.conv1, self.conv2, self.conv3, self.conv4):
            l = self.act(c(l))
        return torch.relu(self.conv5(l))


class RefAdjust(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3, self.conv4 = conv(2, 32, 5), conv(32, 32, 5), conv(32, 32, 5), conv(32, 1, 5)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, l, alpha):
        x = self.conv1(torch.cat([l, alpha], 1))
        x = self.conv2(self.act(x))
        x = self.conv3(self.act(x))
        x = self.conv4(self.act(x))
        return torch.relu(x)


class OfficialForward(nn.Module):
    """test.py's ``Inference.forward`` (unfolding, adjustment, Â·R) with the official checkpoints."""

    def __init__(self, ratio: int = 5) -> None:
        super().__init__()
        folder = weights_dir()

        def load(name):  # the official utils.py uses a plain torch.load; the pickled opts are an argparse.Namespace
            return load_checkpoint(folder / name)

        low, unfolding, adjust = load("uretinex_init_low.pth"), load("uretinex_unfolding.pth"), load("uretinex_L_adjust.pth")
        self.opts = unfolding["opts"]
        self.decom, self.model_R, self.model_L, self.model_A = RefDecom(), RefRestore(), RefIllumination(), RefAdjust()
        self.decom.load_state_dict(low["state_dict"]["model_R"])
        self.model_R.load_state_dict(unfolding["state_dict"]["model_R"])
        self.model_L.load_state_dict(unfolding["state_dict"]["model_L"])
        self.model_A.load_state_dict(adjust["state_dict"]["model_A"])
        self.ratio = ratio
        self.eval()

    def forward(self, image):
        o = self.opts
        r = l = image  # replaced in round 0
        for t in range(o.round):
            if t == 0:
                p, q = self.decom(image)
            else:
                wp, wq = o.gamma + o.Roffset * t, o.lamda + o.Loffset * t
                p = (image * q + wp * r) / (wp + q * q)
                q = ((image[:, 0:1] * p[:, 0:1] + image[:, 1:2] * p[:, 1:2] + image[:, 2:3] * p[:, 2:3] + wq * l)
                     / ((p[:, 0:1] * p[:, 0:1] + p[:, 1:2] * p[:, 1:2] + p[:, 2:3] * p[:, 2:3]) + wq))
            r = self.model_R(p, q)
            l = self.model_L(q)
        return self.model_A(l, torch.ones(l.shape) * self.ratio) * r


def truncate(y: torch.Tensor) -> torch.Tensor:
    """np.clip(y * 255, 0, 255).astype('uint8') as 0..255 integers (float tensor)."""
    return torch.floor((y * 255).clamp(0, 255))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(1.0 / mse)).item()


def run(images: int = 8, repeats: int = 2, crop: int = 0) -> list[Result]:
    reference = OfficialForward()
    ours = URetinexNet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the low-precision lines say whether this CPU has native bf16/fp16
        halves = {precision: URetinexNet(precision=precision) for precision in ("bf16", "fp16")}
    native = {precision: native_cpu_support(precision) for precision in halves}
    paths = sorted((data_dir() / "DICM").glob("*.jpg"))[:images]
    inputs = [read_image(p) for p in paths]
    if crop:
        inputs = [image[..., :crop, :crop].contiguous() for image in inputs]

    totals = {"official": 0.0, "ours": 0.0, "bf16": 0.0, "fp16": 0.0}
    psnrs: dict[str, list[float]] = {"bf16": [], "fp16": []}
    worst_levels, worst_float, differing, values = 0.0, 0.0, 0, 0
    for index, image in enumerate(inputs * repeats):
        first_pass = index < len(inputs)
        with torch.no_grad():
            start = time.perf_counter()
            expected = reference(image)
            totals["official"] += time.perf_counter() - start
        with torch.inference_mode():
            start = time.perf_counter()
            output = ours.enhance(image)
            totals["ours"] += time.perf_counter() - start
            for precision, half in halves.items():
                # emulated low precision is slow: then 2 images are enough for the PSNR
                if first_pass and (native[precision] or index < 2):
                    start = time.perf_counter()
                    low = half.enhance(image)
                    totals[precision] += time.perf_counter() - start
                    psnrs[precision].append(psnr(low, output))
            unrounded = ours._pipeline(image, None, 0) if first_pass else None
        levels = (torch.round(output * 255) - truncate(expected)).abs()
        worst_levels = max(worst_levels, float(levels.max()))
        if unrounded is not None:
            worst_float = max(worst_float, float((unrounded - expected).abs().max()))
            differing += int((levels > 0).sum())
            values += levels.numel()

    size = f"{len(inputs)} DICM images{f' (top-left {crop} px)' if crop else ''} x {repeats}"
    results = [
        at_most("uretinex fp32 vs official forward", totals["ours"] / totals["official"], 1.0,
                f"{size}; max |diff| {worst_levels:.0f}/255 after truncation ({differing}/{values} values differ), "
                f"{worst_float:.1e} before; official {totals['official']:.1f}s, ours {totals['ours']:.1f}s "
                f"({totals['ours'] / (len(inputs) * repeats):.2f} s/image)"),
    ]
    for precision in halves:
        worst = min(psnrs[precision])
        if native[precision]:
            ratio = totals[precision] / (totals["official"] / repeats)
            results.append(Result(f"uretinex {precision} vs official forward", ratio, "<= 0.7",
                                  ratio <= 0.7 and worst >= 45, f"PSNR vs fp32 >= {worst:.1f} dB (target >= 45)"))
        else:
            results.append(Result(f"uretinex {precision} vs official forward", float("nan"), "n/a", worst >= 45,
                                  f"time not measurable here (CPU {torch.backends.cpu.get_cpu_capability()}, no "
                                  f"native {precision}: oneDNN emulates it); PSNR vs fp32 >= {worst:.1f} dB on "
                                  f"{len(psnrs[precision])} image(s) (target >= 45)"))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--crop", type=int, default=0, help="use the top-left N x N pixels only (0: full images)")
    args = parser.parse_args()
    report(run(args.images, args.repeats, args.crop))
