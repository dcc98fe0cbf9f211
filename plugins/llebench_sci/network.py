"""SCI's test-time network: the illumination estimator alone (Ma et al., CVPR 2022).

At training time SCI stacks stages of an illumination estimator and a self-calibration
module; at test time only the estimator runs, once. It is three 3x3 convolutions with
three channels each:

    f = relu(conv_in(x))
    f = f + relu(bn(conv_mid(f)))          # one residual block, BatchNorm with running statistics
    s = sigmoid(conv_out(f))
    i = clamp(s + x, 1e-4, 1)              # illumination
    r = clamp(x / i, 0, 1)                 # reflectance: the enhanced image

Module and parameter names follow the official checkpoints (``enhance.in_conv.0``,
``enhance.conv.{0,1}``, ``enhance.blocks.0.{0,1}``, ``enhance.out_conv.0``) so that the
``enhance.*`` part of a released file loads unchanged. ``blocks[0]`` *is* ``conv`` (the
official code appends the same module), so its parameters exist once and are stored twice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: three stacked 3x3 convolutions (BatchNorm, the residual sum and the final division are
#: per pixel): an output pixel depends on the input within 3 px of it
RECEPTIVE_RADIUS = 3
#: the illumination is kept in [ILLUMINATION_FLOOR, 1] before dividing by it
ILLUMINATION_FLOOR = 1e-4


def _conv3x3(channels_in: int, channels_out: int) -> nn.Conv2d:
    return nn.Conv2d(channels_in, channels_out, kernel_size=3, stride=1, padding=1, bias=True)


class IlluminationEstimator(nn.Module):
    """The official ``EnhanceNetwork(layers=1, channels=3)``, parameter for parameter.

    ``forward`` returns ``(illumination, reflectance)``; the reflectance is the enhanced image.
    """

    def __init__(self, channels: int = 3, residual_blocks: int = 1) -> None:
        super().__init__()
        # the Sequential containers and their indices fix the checkpoint key names
        self.in_conv = nn.Sequential(_conv3x3(3, channels), nn.ReLU())
        self.conv = nn.Sequential(_conv3x3(channels, channels), nn.BatchNorm2d(channels), nn.ReLU())
        # the same block module repeated (never a copy): one set of weights, saved under both names
        self.blocks = nn.ModuleList([self.conv] * residual_blocks)
        self.out_conv = nn.Sequential(_conv3x3(channels, 3), nn.Sigmoid())

    def illumination(self, x: torch.Tensor) -> torch.Tensor:
        features = F.relu(self.in_conv[0](x))
        for block in self.blocks:
            conv, norm = block[0], block[1]
            features = features + F.relu(norm(conv(features)))
        # s + x, clamped: the official ops, in that order
        return torch.clamp(torch.sigmoid(self.out_conv[0](features)) + x, ILLUMINATION_FLOOR, 1.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        illumination = self.illumination(x)
        return illumination, torch.clamp(x / illumination, 0.0, 1.0)


class SCITestModel(nn.Module):
    """The estimator under the attribute name ``enhance``, so checkpoint keys start with ``enhance.``."""

    def __init__(self) -> None:
        super().__init__()
        self.enhance = IlluminationEstimator()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.enhance(x)
