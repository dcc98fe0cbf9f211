"""Zero-DCE++'s curve estimator and the curve it applies (Li, Guo, Loy, TPAMI 2021).

The network is seven depthwise-separable convolutions (a 3x3 depthwise convolution with
bias and zero padding 1, then a 1x1 pointwise convolution with bias), with ReLU after the
first six and tanh after the last; the last three read the concatenation of two earlier
feature maps (a U-shape without pooling). It maps an RGB image to a 3-channel curve map
``r`` in (-1, 1), and the enhanced image is the light-enhancement curve
``LE(x) = x + r * (x^2 - x)`` applied eight times with the same ``r``.

Parameter names follow the official checkpoint (``e_conv{1..7}.{depth_conv,point_conv}``),
so ``Epoch99.pth`` loads unchanged: 10,561 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

#: width of every hidden feature map
FEATURES = 32
#: how many times the curve is applied
ITERATIONS = 8
#: receptive-field radius of the curve estimator, in pixels of its input (7 stacked 3x3 convolutions)
ESTIMATOR_RADIUS = 7


class SeparableConv(nn.Module):
    """3x3 depthwise convolution (one filter per channel, bias) followed by a 1x1 convolution (bias)."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.depth_conv = nn.Conv2d(channels_in, channels_in, kernel_size=3, padding=1, groups=channels_in)
        self.point_conv = nn.Conv2d(channels_in, channels_out, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.point_conv(self.depth_conv(features))


class CurveEstimator(nn.Module):
    """Image (Nx3xhxw, [0, 1]) -> curve map (Nx3xhxw, tanh range), at whatever resolution it is given."""

    def __init__(self) -> None:
        super().__init__()
        width = FEATURES
        self.e_conv1 = SeparableConv(3, width)
        self.e_conv2 = SeparableConv(width, width)
        self.e_conv3 = SeparableConv(width, width)
        self.e_conv4 = SeparableConv(width, width)
        self.e_conv5 = SeparableConv(2 * width, width)
        self.e_conv6 = SeparableConv(2 * width, width)
        self.e_conv7 = SeparableConv(2 * width, 3)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        relu = torch.relu
        f1 = relu(self.e_conv1(image))
        f2 = relu(self.e_conv2(f1))
        f3 = relu(self.e_conv3(f2))
        f4 = relu(self.e_conv4(f3))
        f5 = relu(self.e_conv5(torch.cat((f3, f4), dim=1)))
        f6 = relu(self.e_conv6(torch.cat((f2, f5), dim=1)))
        return torch.tanh(self.e_conv7(torch.cat((f1, f6), dim=1)))


def apply_curve_(image: torch.Tensor, curve: torch.Tensor, scratch: torch.Tensor,
                 iterations: int = ITERATIONS) -> torch.Tensor:
    """``image <- image + curve * (image^2 - image)``, ``iterations`` times, in place.

    Each step is evaluated as the official model writes it: the square, minus the image,
    times the curve, plus the image, each rounded to float32 in that order, so the result
    is bit-identical to the out-of-place expression. ``scratch`` (the image's shape) holds
    the intermediate; nothing else is allocated.
    """
    for _ in range(iterations):
        torch.mul(image, image, out=scratch)
        scratch.sub_(image)
        scratch.mul_(curve)
        image.add_(scratch)
    return image
