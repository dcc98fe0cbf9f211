"""DeepLabV3+ with a MobileNetV2 backbone, laid out like VainF/DeepLabV3Plus-Pytorch.

The module tree (``backbone.low_level_features.0``..``3``,
``backbone.high_level_features.4``..``17``, ``classifier.project``, ``classifier.aspp``,
``classifier.classifier``) reproduces VainF's ``deeplabv3plus_mobilenet`` so that its
released checkpoints (``{"model_state": state_dict}``) load with strict key matching.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from llebench.nets.mobilenetv2 import mobilenet_v2_features

LOW_LEVEL_CHANNELS = 24
HIGH_LEVEL_CHANNELS = 320
ASPP_CHANNELS = 256


class ASPPPooling(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(super().forward(x), size=x.shape[-2:], mode="bilinear", align_corners=False)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> nn.Sequential:
    padding = 0 if kernel_size == 1 else dilation
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3, image pooling; then a 1x1 projection."""

    def __init__(self, in_channels: int, rates: tuple[int, int, int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList([
            _conv_bn_relu(in_channels, ASPP_CHANNELS, 1),
            *(_conv_bn_relu(in_channels, ASPP_CHANNELS, 3, rate) for rate in rates),
            ASPPPooling(in_channels, ASPP_CHANNELS),
        ])
        self.project = nn.Sequential(
            nn.Conv2d(5 * ASPP_CHANNELS, ASPP_CHANNELS, 1, bias=False),
            nn.BatchNorm2d(ASPP_CHANNELS),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


class DeepLabHeadV3Plus(nn.Module):
    """Decoder: ASPP on stride-16 features, upsampled and fused with projected stride-4 features."""

    def __init__(self, num_classes: int, rates: tuple[int, int, int]) -> None:
        super().__init__()
        self.project = _conv_bn_relu(LOW_LEVEL_CHANNELS, 48, 1)
        self.aspp = ASPP(HIGH_LEVEL_CHANNELS, rates)
        self.classifier = nn.Sequential(
            nn.Conv2d(48 + ASPP_CHANNELS, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, num_classes, 1),
        )

    def forward(self, low_level: torch.Tensor, high_level: torch.Tensor) -> torch.Tensor:
        low = self.project(low_level)
        high = F.interpolate(self.aspp(high_level), size=low.shape[2:], mode="bilinear", align_corners=False)
        return self.classifier(torch.cat([low, high], dim=1))


class MobileNetV2Backbone(nn.Module):
    """MobileNetV2 split into stride-4 (layers 0-3) and stride-16 (layers 4-17) parts.

    Layer indices are kept (``high_level_features.4`` ...) because VainF slices an
    ``nn.Sequential``, which keeps the original child names in the state_dict.
    """

    def __init__(self, output_stride: int) -> None:
        super().__init__()
        layers = mobilenet_v2_features(output_stride)[:-1]  # the last 1x1 conv is unused
        self.low_level_features = nn.Sequential(OrderedDict((str(i), layers[i]) for i in range(4)))
        self.high_level_features = nn.Sequential(OrderedDict((str(i), layers[i]) for i in range(4, len(layers))))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.low_level_features(x)
        return low, self.high_level_features(low)


class DeepLabV3PlusMobileNet(nn.Module):
    """Input: ImageNet-normalised RGB, NCHW. Output: class logits at the input resolution."""

    def __init__(self, num_classes: int = 19, output_stride: int = 16) -> None:
        super().__init__()
        if output_stride not in (8, 16):
            raise ValueError(f"output_stride must be 8 or 16, not {output_stride}")
        rates = (12, 24, 36) if output_stride == 8 else (6, 12, 18)
        self.num_classes = num_classes
        self.output_stride = output_stride
        self.backbone = MobileNetV2Backbone(output_stride)
        self.classifier = DeepLabHeadV3Plus(num_classes, rates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.backbone(x)
        logits = self.classifier(low, high)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
