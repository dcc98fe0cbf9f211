"""The CLIP-LIT enhancement network: a light-map U-Net with a pyramid pooling module.

CLIP-LIT (Liang et al., ICCV 2023) learns prompts with CLIP only to *train* this small
network; at test time the network alone predicts a one-channel light map ``l`` and the
enhanced image is ``clamp(x / l, 0, 1)``. The attribute names below are those of the
authors' ``UNet_emb_oneBranch_symmetry`` so that ``enhancement_model.pth`` loads unchanged
(after its ``module.`` prefix is stripped): 278,790 parameters.

Layout (every 3x3 convolution reflect-padded, except the pyramid's fusion convolution,
which is zero-padded as in the authors' test network; their training script builds the same
network with zero padding everywhere, ``padding="zeros"`` here)::

    cond1 3->32 (+bias) -> LeakyReLU 0.2 -> ResidualBlock1, 2 (32)          "stem"
    PPM1: [x, up(PReLU(conv1x1 32->8 (avgpool_b(x)))) for b in 1,2,3,6]
          -> conv3x3 64->32 (zero pad) -> PReLU                               "pyramid"
    condx 32->64 (+bias) -> ResidualBlock3, 4 (64) -> condy 64->32 (+bias)
    -> ResidualBlock5, 6 (32) -> cond_add1 32->1 (+bias) -> ReLU              "tail"

The pooled branches are global statistics of the whole image, so plain overlapping tiles
do not reproduce the output. :func:`light_map_tiled` computes them once from the whole
image (a first pass over tiles that only sums the stem's features per pooling cell), then
runs everything else on tiles with :data:`HALO` px of context: the result equals the
untiled light map up to float rounding, with memory bounded by the tile size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: the pyramid's pooling grid sizes
BINS = (1, 2, 3, 6)
#: receptive radius of the stem (cond1 + two residual blocks of two 3x3 convs)
STEM_HALO = 5
#: receptive radius of the whole network, pooled branches excepted: 17 stacked 3x3 convolutions
#: (stem 5; fuse, condx 1 each; RB3-4 4; condy 1; RB5-6 4; cond_add1 1)
HALO = STEM_HALO + 1 + 1 + 4 + 1 + 4 + 1
LEAKY_SLOPE = 0.2


#: padding of the 3x3 convolutions outside the pyramid: "reflect" in test.py's network,
#: "zeros" in ``UNet_emb_oneBranch_symmetry_noreflect``, the network train.py builds
PADDINGS = ("reflect", "zeros")


def conv3x3(cin: int, cout: int, bias: bool, padding: str) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=bias, padding_mode=padding)


class ResidualBlock(nn.Module):
    """``lrelu(conv2(lrelu(conv1(x))) + x)`` with bias-free 3x3 convolutions."""

    def __init__(self, channels: int, padding: str = "reflect") -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels, bias=False, padding=padding)
        self.conv2 = conv3x3(channels, channels, bias=False, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv1(x), LEAKY_SLOPE, inplace=True)
        y = self.conv2(y)
        y += x
        return F.leaky_relu(y, LEAKY_SLOPE, inplace=True)


class PyramidPooling(nn.Module):
    """PSPNet-style pyramid: ``features[k]`` = (avg-pool to b x b, 1x1 conv, PReLU) per bin b;
    the branches are resized back (bilinear, corners aligned), concatenated with the input
    and fused by a zero-padded 3x3 convolution and a PReLU."""

    def __init__(self, channels: int = 32, reduced: int = 8, bins: Sequence[int] = BINS) -> None:
        super().__init__()
        self.bins = tuple(bins)
        self.features = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(channels, reduced, 1, bias=False), nn.PReLU())
            for b in self.bins
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(channels + reduced * len(self.bins), channels, 3, padding=1, bias=False), nn.PReLU())

    def branches_from_means(self, means: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The small b x b branch maps from the pooled means (one 1xCxbxb tensor per bin)."""
        return [branch[2](branch[1](mean)) for branch, mean in zip(self.features, means, strict=True)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        parts = [x]
        for branch in self.features:
            parts.append(F.interpolate(branch(x), size, mode="bilinear", align_corners=True))
        return self.fuse(torch.cat(parts, 1))

    def fuse_with(self, x: torch.Tensor, upsampled: Sequence[torch.Tensor]) -> torch.Tensor:
        """The fusion given the branches already resized to ``x``'s size (tiled inference)."""
        return self.fuse(torch.cat([x, *upsampled], 1))


class LightMapNet(nn.Module):
    """``UNet_emb_oneBranch_symmetry(3, 1)``: an RGB image -> a one-channel light map (>= 0).

    ``padding="zeros"`` gives ``UNet_emb_oneBranch_symmetry_noreflect`` (same parameters).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, padding: str = "reflect") -> None:
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        self.padding = padding
        self.cond1 = conv3x3(in_channels, 32, bias=True, padding=padding)
        self.ResidualBlock1 = ResidualBlock(32, padding)
        self.ResidualBlock2 = ResidualBlock(32, padding)
        self.PPM1 = PyramidPooling(32, 8, BINS)
        self.condx = conv3x3(32, 64, bias=True, padding=padding)
        self.ResidualBlock3 = ResidualBlock(64, padding)
        self.ResidualBlock4 = ResidualBlock(64, padding)
        self.condy = conv3x3(64, 32, bias=True, padding=padding)
        self.ResidualBlock5 = ResidualBlock(32, padding)
        self.ResidualBlock6 = ResidualBlock(32, padding)
        self.cond_add1 = conv3x3(32, out_channels, bias=True, padding=padding)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.cond1(x), LEAKY_SLOPE, inplace=True)
        return self.ResidualBlock2(self.ResidualBlock1(x))

    def tail(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ResidualBlock4(self.ResidualBlock3(self.condx(x)))
        x = self.ResidualBlock6(self.ResidualBlock5(self.condy(x)))
        return F.relu(self.cond_add1(x), inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.PPM1(self.stem(x)))


# --- exact tiled inference ------------------------------------------------------------------

def tile_spans(length: int, tile: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive cores of at most ``tile`` px covering ``0..length``."""
    for start in range(0, length, tile):
        yield start, min(start + tile, length)


def pooling_cells(length: int, bins: int) -> list[tuple[int, int]]:
    """The rows (or columns) each ``AdaptiveAvgPool2d`` cell averages: floor(i L / b) .. ceil((i+1) L / b)."""
    return [((i * length) // bins, -((-(i + 1) * length) // bins)) for i in range(bins)]


def corner_aligned_weights(out_length: int, in_length: int, start: int, stop: int,
                           dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Rows ``start..stop`` of the (out_length x in_length) matrix of 1-D bilinear resizing with
    aligned corners (``F.interpolate(..., align_corners=True)``): output i samples input
    position i (in - 1) / (out - 1)."""
    positions = torch.arange(start, stop, dtype=torch.float64)  # built on the CPU (float64 everywhere)
    scale = (in_length - 1) / (out_length - 1) if out_length > 1 else 0.0
    source = positions * scale
    low = source.floor().clamp(max=in_length - 1)
    frac = source - low
    low = low.long()
    high = (low + 1).clamp(max=in_length - 1)
    weights = torch.zeros(stop - start, in_length, dtype=torch.float64)
    rows = torch.arange(stop - start)
    weights.index_put_((rows, low), 1 - frac, accumulate=True)
    weights.index_put_((rows, high), frac, accumulate=True)
    return weights.to(device=device, dtype=dtype)


def resize_crop(small: torch.Tensor, height: int, width: int, rows: tuple[int, int],
                cols: tuple[int, int]) -> torch.Tensor:
    """``F.interpolate(small, (height, width), bilinear, align_corners=True)[..., rows, cols]``
    without making the full-size map (equal up to float rounding)."""
    along_y = corner_aligned_weights(height, small.shape[-2], *rows, small.dtype, small.device)
    along_x = corner_aligned_weights(width, small.shape[-1], *cols, small.dtype, small.device)
    return along_y @ small @ along_x.T


def layout_of(image: torch.Tensor, memory_format: torch.memory_format | None) -> torch.memory_format:
    if memory_format is not None:
        return memory_format
    return torch.channels_last if image.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


@torch.no_grad()
def pooled_means(net: LightMapNet, image: torch.Tensor, tile: int,
                 memory_format: torch.memory_format | None = None) -> list[torch.Tensor]:
    """The pyramid's average-pooled stem features of the whole image, from tiles of the stem.

    Each core's stem features (computed with :data:`STEM_HALO` px of context, so exact) are
    summed per pooling cell in float64; the means are the sums over the cells' areas.
    """
    height, width = image.shape[-2:]
    bins = net.PPM1.bins
    cells = {b: (pooling_cells(height, b), pooling_cells(width, b)) for b in bins}
    channels = net.cond1.out_channels
    exact = torch.float64 if image.device.type in ("cpu", "cuda") else torch.float32  # (MPS has no float64)
    layout = layout_of(image, memory_format)
    sums = {b: torch.zeros(image.shape[0], channels, b, b, dtype=exact, device=image.device) for b in bins}
    for y0, y1 in tile_spans(height, tile):
        top, bottom = max(0, y0 - STEM_HALO), min(height, y1 + STEM_HALO)
        for x0, x1 in tile_spans(width, tile):
            left, right = max(0, x0 - STEM_HALO), min(width, x1 + STEM_HALO)
            features = net.stem(image[..., top:bottom, left:right].contiguous(memory_format=layout))
            core = features[..., y0 - top:y1 - top, x0 - left:x1 - left]
            for b in bins:
                row_cells, col_cells = cells[b]
                for i, (r0, r1) in enumerate(row_cells):
                    r0, r1 = max(r0, y0), min(r1, y1)
                    if r0 >= r1:
                        continue
                    band = core[..., r0 - y0:r1 - y0, :].sum(dim=-2, dtype=exact)
                    for j, (c0, c1) in enumerate(col_cells):
                        c0, c1 = max(c0, x0), min(c1, x1)
                        if c0 < c1:
                            sums[b][..., i, j] += band[..., c0 - x0:c1 - x0].sum(dim=-1)
    means = []
    for b in bins:
        row_cells, col_cells = cells[b]
        rows = torch.tensor([r1 - r0 for r0, r1 in row_cells], dtype=exact, device=image.device)
        cols = torch.tensor([c1 - c0 for c0, c1 in col_cells], dtype=exact, device=image.device)
        means.append((sums[b] / (rows[:, None] * cols[None, :])).to(image.dtype))
    return means


@torch.no_grad()
def light_map_tiled(net: LightMapNet, image: torch.Tensor, tile: int,
                    memory_format: torch.memory_format | None = None) -> torch.Tensor:
    """``net(image)`` computed on ``tile`` x ``tile`` cores (equal up to float rounding).

    Each window is copied in ``memory_format`` (default: the image's own), so the whole
    image need not be converted.

    Pass 1 (:func:`pooled_means`) gives the pyramid's global branches; pass 2 recomputes the
    stem on each core plus :data:`HALO` px of context, adds the branches resized for exactly
    that window, and runs the fusion and the tail. At the image border a window's edge is the
    image's edge, so reflect and zero padding act as on the whole image.
    """
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    height, width = image.shape[-2:]
    layout = layout_of(image, memory_format)
    branches = net.PPM1.branches_from_means(pooled_means(net, image, tile, layout))
    light = image.new_empty((image.shape[0], net.cond_add1.out_channels, height, width))
    for y0, y1 in tile_spans(height, tile):
        top, bottom = max(0, y0 - HALO), min(height, y1 + HALO)
        for x0, x1 in tile_spans(width, tile):
            left, right = max(0, x0 - HALO), min(width, x1 + HALO)
            features = net.stem(image[..., top:bottom, left:right].contiguous(memory_format=layout))
            upsampled = [resize_crop(small, height, width, (top, bottom), (left, right))
                         .to(features.dtype).contiguous(memory_format=layout) for small in branches]
            piece = net.tail(net.PPM1.fuse_with(features, upsampled))
            light[..., y0:y1, x0:x1] = piece[..., y0 - top:y1 - top, x0 - left:x1 - left]
    return light
