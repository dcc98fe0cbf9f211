"""Lightness order error (LOE): how much enhancement upsets the order of lightness.

Defined in NPE (Wang et al., TIP 2013) and used by LIME (Guo et al., TIP 2017)::

    L(x)  = max over R, G, B of the input at pixel x     (Le: the same for the output)
    RD(x) = sum over y of  U(L(x), L(y)) xor U(Le(x), Le(y)),   U(a, b) = 1 if a >= b else 0
    LOE   = mean over x of RD(x)

Comparing all pixel pairs is quadratic, so both papers compute it on down-sampled
lightness maps: NPE with ratio r = 50 / min(h, w) (maps of round(h r) x round(w r)),
LIME at 100 x 100. The maps are resized as MATLAB's ``imresize`` does (bicubic with
antialiasing, pyiqa's MATLAB-compatible port) from the 8-bit images and rounded to 8-bit
levels, as MATLAB returns for ``uint8`` input; ties (equal levels) count as ``>=``.
Lower is better; 0 means the lightness order is fully preserved.

``loe_npe_code`` follows the MATLAB LOE code circulated with NPE instead, which differs
from the paper: lightness is first replaced by its maximum over a 15 x 15 window
(borders mirrored), and the maps are sampled at every ``floor(min(h, w) / 50)``-th pixel
without interpolation.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from llebench.sdk import EnhanceRecord, LLEBenchError, Metric, Sample

def lightness(image: torch.Tensor) -> torch.Tensor:
    """8-bit lightness levels (0..255, float64) of a 1x3xHxW [0,1] image: max over channels.

    On the CPU in pieces of rows, rounded by numpy (:mod:`llebench_metrics.nss`: no thread
    team is woken), the same values as ``torch.round(image.clamp(0, 1) * 255).amax(dim=1)``.
    """
    from llebench_metrics.nss import in_pieces, round_, row_pieces

    n, _, height, width = image.shape
    out = torch.empty((n, 1, height, width), dtype=torch.float64, device=image.device)
    serial = in_pieces(image)
    for i in (range(n) if serial else [slice(None)]):
        for rows in row_pieces(height, 3 * width, serial):
            out[i, :, rows] = round_(image[i, :, rows].clamp(0, 1) * 255).amax(dim=-3, keepdim=True)
    return out


def matlab_round(value: float) -> int:
    """MATLAB's ``round`` for positive values (halves go up; Python's ``round`` goes to even)."""
    return math.floor(value + 0.5)


def npe_size(height: int, width: int) -> tuple[int, int]:
    """NPE's down-sampled size: ratio 50 / min(h, w), each side rounded."""
    ratio = 50 / min(height, width)
    return matlab_round(height * ratio), matlab_round(width * ratio)


def downsample(levels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """MATLAB ``imresize(uint8 map, size)``: bicubic with antialiasing, rounded and clipped to 8 bits.

    :func:`llebench_metrics.nss.imresize` gives the values of pyiqa's port bit for bit (the
    whole map in one reduction, as pyiqa sums it), without its one copy of the image per tap.
    """
    from llebench_metrics.nss import imresize, round_

    return round_(imresize(levels, sizes=size)).clamp_(0, 255)


def lightness_order_error(light_in: torch.Tensor, light_out: torch.Tensor) -> float:
    """Mean over pixels x of RD(x) for two maps of 8-bit levels (integers 0..255) of one shape.

    Counted without comparing all pairs: with A(i) = #{y: L(y) <= i}, B(j) = #{y: Le(y) <= j}
    and C(i, j) = #{y: L(y) <= i and Le(y) <= j} (a cumulative joint histogram),
    RD(x) = A(L(x)) + B(Le(x)) - 2 C(L(x), Le(x)), since an exclusive-or counts the pixels
    in exactly one of the two sets.
    """
    if light_in.shape != light_out.shape:
        raise LLEBenchError(f"LOE: lightness maps differ in shape: {tuple(light_in.shape)} vs {tuple(light_out.shape)}")
    # integer counting on the host, in numpy (small arrays: no torch thread team to wake)
    levels_in = light_in.detach().flatten().double().cpu().numpy()
    levels_out = light_out.detach().flatten().double().cpu().numpy()
    with np.errstate(invalid="ignore"):
        a, b = levels_in.astype(np.int64), levels_out.astype(np.int64)
    if not (np.array_equal(a, levels_in) and np.array_equal(b, levels_out)
            and a.min(initial=0) >= 0 and b.min(initial=0) >= 0 and a.max(initial=0) <= 255 and b.max(initial=0) <= 255):
        raise LLEBenchError("LOE: lightness maps must hold integer levels 0..255")
    joint = np.bincount(a * 256 + b, minlength=256 * 256).reshape(256, 256)
    below = joint.cumsum(0).cumsum(1)  # below[i, j] = #{y: a_y <= i and b_y <= j}
    rd = below[a, 255] + below[255, b] - 2 * below[a, b]
    return float(rd.sum()) / a.size


class LOE(Metric):
    """LOE between the low-light input and the output, on NPE's down-sampled maps."""

    name = "loe"
    kind = "no-reference"
    lower_better = True
    description = "lightness order error (NPE, Wang et al. 2013) vs the input, maps down-sampled to 50 px short side"
    #: "npe": ratio 50 / min(h, w); otherwise a fixed (height, width)
    size_rule: ClassVar[str | tuple[int, int]] = "npe"

    def settings(self) -> dict[str, Any]:
        size = ("ratio 50/min(h,w), each side rounded" if self.size_rule == "npe"
                else f"{self.size_rule[0]}x{self.size_rule[1]}")
        return {
            "definition": "mean_x sum_y [L(x)>=L(y)] xor [Le(x)>=Le(y)], L = max(R,G,B) of the input, Le of the output",
            "downsampled_to": size,
            "resize": "MATLAB imresize (bicubic, antialiasing; pyiqa port) of the 8-bit maps, rounded to 8 bits",
            "input": "8-bit input and 8-bit output",
        }

    def target_size(self, height: int, width: int) -> tuple[int, int]:
        return npe_size(height, width) if self.size_rule == "npe" else tuple(self.size_rule)

    def lightness_map(self, image: torch.Tensor) -> torch.Tensor:
        """The down-sampled 8-bit lightness map the order is compared on."""
        return downsample(lightness(image), self.target_size(*image.shape[-2:]))

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        if sample.input.shape != output.shape:
            raise LLEBenchError(f"LOE: input size {tuple(sample.input.shape[-2:])} differs from "
                                f"output size {tuple(output.shape[-2:])}")
        return lightness_order_error(self.lightness_map(sample.input.to(self.device)),
                                     self.lightness_map(output.to(self.device)))


class LOELIME(LOE):
    name = "loe_lime"
    description = "lightness order error as LIME (Guo et al. 2017) reports it: maps down-sampled to 100x100"
    size_rule = (100, 100)


def local_max(levels: torch.Tensor, radius: int) -> torch.Tensor:
    """Maximum over the (2r+1) x (2r+1) window, the image mirrored at its borders (edge not repeated)."""
    padded = F.pad(levels, (radius, radius, radius, radius), mode="reflect")
    return F.max_pool2d(padded, kernel_size=2 * radius + 1, stride=1)


def every_step(levels: torch.Tensor, blocks: int = 50) -> torch.Tensor:
    """Pixels (i*step, j*step), i, j >= 1 in MATLAB's 1-based indices, step = floor(min(h, w) / blocks)."""
    height, width = levels.shape[-2:]
    step = max(1, min(height, width) // blocks)
    return levels[..., step - 1:(height // step) * step:step, step - 1:(width // step) * step:step]


class LOENPECode(LOE):
    """LOE as the MATLAB code circulated with NPE computes it, not as the paper states it."""

    name = "loe_npe_code"
    description = "lightness order error as NPE's MATLAB code computes it: 15x15 local maximum, every step-th pixel"

    def settings(self) -> dict[str, Any]:
        return {
            "definition": "mean_x sum_y [L(x)>=L(y)] xor [Le(x)>=Le(y)] on the maps below",
            "lightness": "max(R,G,B) of the 8-bit image, then its maximum over a 15x15 window (mirrored borders)",
            "downsampled_to": "pixels (i*step, j*step), step = floor(min(h,w)/50) (no interpolation)",
            "input": "8-bit input and 8-bit output",
        }

    def lightness_map(self, image: torch.Tensor) -> torch.Tensor:
        if min(image.shape[-2:]) <= 7:
            raise LLEBenchError(f"loe_npe_code needs images larger than 7 pixels, got {tuple(image.shape[-2:])}")
        return every_step(local_max(lightness(image), radius=7))
