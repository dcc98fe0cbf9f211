"""MobileNetV2 backbone exactly as in VainF/DeepLabV3Plus-Pytorch (``network/backbone/mobilenetv2.py``).

Two details differ from torchvision's MobileNetV2 and change the numbers, so they are
kept: convolutions have no padding of their own, and every inverted-residual block pads
its *input* (before the 1x1 expansion) with the "fixed padding" of a dilated 3x3 kernel;
the stem convolution (3x3, stride 2) is not padded at all. Output stride 8/16 is reached
by replacing strides with dilation. Module names match VainF's so its state_dicts load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: (expansion t, channels c, repeats n, stride s) of MobileNetV2
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


class ConvBNReLU(nn.Sequential):
    """Conv (no padding, no bias) + BatchNorm + ReLU6."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1,
                 dilation: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, 0, dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(out_planes),
            nn.ReLU6(inplace=True),
        )


def fixed_padding(kernel_size: int, dilation: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding that keeps a dilated kernel 'same'-sized."""
    effective = kernel_size + (kernel_size - 1) * (dilation - 1)
    total = effective - 1
    begin = total // 2
    return (begin, total - begin, begin, total - begin)


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, dilation: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden, kernel_size=1))
        layers.extend([
            ConvBNReLU(hidden, hidden, stride=stride, dilation=dilation, groups=hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ])
        self.conv = nn.Sequential(*layers)
        self.input_padding = fixed_padding(3, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(F.pad(x, self.input_padding))
        return x + out if self.use_res_connect else out


def mobilenet_v2_features(output_stride: int = 16) -> list[nn.Module]:
    """The 19 feature layers of MobileNetV2 (stem, 17 blocks, final 1x1), dilated to ``output_stride``."""
    features: list[nn.Module] = [ConvBNReLU(3, STEM_CHANNELS, stride=2)]
    current_stride, dilation = 2, 1
    in_channels = STEM_CHANNELS
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        previous_dilation = dilation
        if current_stride == output_stride:
            stride = 1
            dilation *= s
        else:
            stride = s
            current_stride *= s
        for i in range(n):
            if i == 0:
                features.append(InvertedResidual(in_channels, c, stride, previous_dilation, t))
            else:
                features.append(InvertedResidual(in_channels, c, 1, dilation, t))
            in_channels = c
    features.append(ConvBNReLU(in_channels, LAST_CHANNELS, kernel_size=1))
    return features
