"""A frozen DeepLabV3+ MobileNetV2 for Cityscapes that takes [0,1] RGB images.

The network of the SCL-LLE trainer's semantic loss and of the ``miou`` metric, in the
module layout of VainF/DeepLabV3Plus-Pytorch so its published checkpoint loads key for key.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from llebench.errors import LLEBenchError
from llebench.nets.cityscapes import NUM_CLASSES
from llebench.nets.deeplab import DeepLabV3PlusMobileNet
from llebench.statedict import load_state_dict
from llebench.weights import WeightsFile, resolve, sha256sum

#: VainF/DeepLabV3Plus-Pytorch, DeepLabV3Plus-MobileNet on Cityscapes, OS 16 (mIoU 0.721 on val).
#: No checksum is published, so none is enforced.
DEEPLAB_CITYSCAPES_WEIGHTS = WeightsFile(
    filename="best_deeplabv3plus_mobilenet_cityscapes_os16.pth",
    url="https://www.dropbox.com/s/753ojyvsh3vdjol/best_deeplabv3plus_mobilenet_cityscapes_os16.pth?dl=1",
    sha256=None,
    description="DeepLabV3+ MobileNetV2, Cityscapes 19 classes, output stride 16 (VainF/DeepLabV3Plus-Pytorch)",
    licence="MIT (VainF/DeepLabV3Plus-Pytorch)",
)

#: VainF trains (and so must be fed) ImageNet-normalised inputs
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode (BatchNorm uses its running statistics) and no parameter gradients."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def load_deeplab(weights: str | os.PathLike[str] | None = None, num_classes: int = NUM_CLASSES,
                 output_stride: int = 16) -> tuple[DeepLabV3PlusMobileNet, Path]:
    """The network with the published Cityscapes weights (or ``weights``), frozen, and the file used.

    VainF saves ``{"cur_itrs", "model_state", "optimizer_state", ...}``; a bare state_dict
    loads too. A missing file raises ``WeightsNotFound`` naming it, its URL and where to put it.
    """
    path = resolve(DEEPLAB_CITYSCAPES_WEIGHTS, weights)
    state, _ = load_state_dict(path)  # finds "model_state" among the usual keys
    model = DeepLabV3PlusMobileNet(num_classes=num_classes, output_stride=output_stride)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise LLEBenchError(
            f"{path}: not a DeepLabV3+ MobileNetV2 checkpoint with {num_classes} classes ({exc})"
        ) from exc
    return freeze(model), path


class Segmenter(nn.Module):
    """Normalises [0,1] RGB like VainF's training and returns logits or train-id labels.

    Gradients flow through :meth:`logits` to the *input* (SCL-LLE back-propagates the
    segmentation loss into the enhancer), never into the frozen network.
    """

    def __init__(self, model: DeepLabV3PlusMobileNet, weights_path: Path | None = None) -> None:
        super().__init__()
        self.model = freeze(model)
        self.weights_path = weights_path
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def pretrained(cls, weights: str | os.PathLike[str] | None = None,
                   device: str | torch.device = "cpu") -> Segmenter:
        """The published Cityscapes model (or ``weights``), resolved through llebench.weights."""
        model, path = load_deeplab(weights)
        return cls(model, path).to(device)

    def train(self, mode: bool = True) -> Segmenter:
        """Always stays in eval mode: the network is frozen, BatchNorm keeps its statistics."""
        return super().train(False)

    def weights_used(self) -> dict[str, str]:
        if self.weights_path is None:
            return {}
        return {self.weights_path.name: sha256sum(self.weights_path)}

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Nx3xHxW [0,1] RGB -> NxCxHxW class logits."""
        return self.model((images - self.mean) / self.std)

    forward = logits

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Nx3xHxW [0,1] RGB -> NxHxW int64 train ids (argmax)."""
        return self.logits(images).argmax(dim=1)
