"""DCE-Net (Guo et al., CVPR 2020), the enhancer shared by Zero-DCE and SCL-LLE.

Parameter names match the official ``enhance_net_nopool`` so the released state_dicts
load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ITERATIONS = 8
#: seven stacked 3x3 convolutions: an output pixel sees the input within 7 px (15x15)
RECEPTIVE_RADIUS = 7


class DCENet(nn.Module):
    """Seven 3x3 convolutions (32 channels) with symmetric skip concatenations.

    The last layer predicts 8 RGB curve maps (24 channels, tanh); the image is enhanced
    by iterating the quadratic curve x <- x + r_n (x^2 - x) eight times.
    """

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.e_conv1 = nn.Conv2d(3, channels, 3, 1, 1, bias=True)
        self.e_conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=True)
        self.e_conv3 = nn.Conv2d(channels, channels, 3, 1, 1, bias=True)
        self.e_conv4 = nn.Conv2d(channels, channels, 3, 1, 1, bias=True)
        self.e_conv5 = nn.Conv2d(channels * 2, channels, 3, 1, 1, bias=True)
        self.e_conv6 = nn.Conv2d(channels * 2, channels, 3, 1, 1, bias=True)
        self.e_conv7 = nn.Conv2d(channels * 2, 3 * ITERATIONS, 3, 1, 1, bias=True)

    def curves(self, x: torch.Tensor) -> torch.Tensor:
        """The 24 curve-parameter maps A (in [-1, 1])."""
        x1 = F.relu(self.e_conv1(x))
        x2 = F.relu(self.e_conv2(x1))
        x3 = F.relu(self.e_conv3(x2))
        x4 = F.relu(self.e_conv4(x3))
        x5 = F.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        return torch.tanh(self.e_conv7(torch.cat([x1, x6], 1)))

    @staticmethod
    def apply_curves(x: torch.Tensor, curves: torch.Tensor) -> torch.Tensor:
        for r in torch.split(curves, 3, dim=1):
            x = x + r * (x * x - x)
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (enhanced image after 8 iterations, curve maps A)."""
        curves = self.curves(x)
        return self.apply_curves(x, curves), curves
