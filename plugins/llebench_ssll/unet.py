"""The UNet backbone of SSLL's experiments, with a configurable width.

Layout (the authors' ``models/unet``): a double 3x3 conv at full resolution, four
max-pool + double-conv stages (``width`` x 1, 2, 4, 8, 16 channels: 64..1024 for the
paper's width 64), four 2x2 transposed-conv up-sampling stages whose output is padded to
the skip connection's size before concatenation, and a 1x1 output conv *added to the
input* (global residual). Every conv is followed by a channel-wise LayerNorm (not
BatchNorm: statistics of a batch of 3 crops would be noise) and ReLU. There is no output
activation; callers clamp to [0, 1].

Module and parameter names follow the authors' code (``inc``, ``down1``..``down4``,
``up1``..``up4``, ``outc``, ``double_conv``, ``maxpool_conv``, LayerNorm ``body``), so a
state_dict of theirs has the same keys as ours.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelNorm(nn.Module):
    """Normalises each pixel's channel vector (LayerNorm over C), with weight and bias."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # F.layer_norm over the last dim of the NHWC view: one fused kernel, several times
        # faster on CPU than mean/var reductions over the strided channel dim
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class LayerNorm2d(nn.Module):
    """Holds :class:`ChannelNorm` as ``body`` so the parameter names match the authors'."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = ChannelNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class DoubleConv(nn.Module):
    """(3x3 conv -> LayerNorm -> ReLU) x 2."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            LayerNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
            LayerNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool_conv(x)


class Up(nn.Module):
    """2x2 transposed conv, zero-pad to the skip's size (odd sizes), concatenate, double conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        dy = skip.shape[2] - x.shape[2]
        dx = skip.shape[3] - x.shape[3]
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UNet(nn.Module):
    """``width`` = channels of the first stage (64 in the paper); 3 channels in and out."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        if width < 2 or width % 2:
            raise ValueError(f"UNet width must be an even number >= 2, got {width}")
        w = width
        self.inc = DoubleConv(3, w)
        self.down1 = Down(w, 2 * w)
        self.down2 = Down(2 * w, 4 * w)
        self.down3 = Down(4 * w, 8 * w)
        self.down4 = Down(8 * w, 16 * w)
        self.up1 = Up(16 * w, 8 * w)
        self.up2 = Up(8 * w, 4 * w)
        self.up3 = Up(4 * w, 2 * w)
        self.up4 = Up(2 * w, w)
        self.outc = OutConv(w, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] < 16 or x.shape[-1] < 16:
            raise ValueError(f"UNet needs images of at least 16x16 pixels (4 poolings), got {tuple(x.shape[-2:])}")
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        y = self.up1(x5, x4)
        y = self.up2(y, x3)
        y = self.up3(y, x2)
        y = self.up4(y, x1)
        return self.outc(y) + x
