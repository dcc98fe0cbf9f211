"""A frozen DeepLabV3+ that takes [0,1] RGB images (the llebench image contract)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from llebench.weights import sha256sum

from llebench_deeplab.checkpoint import freeze, load_deeplab
from llebench_deeplab.cityscapes import NUM_CLASSES
from llebench_deeplab.deeplab import DeepLabV3PlusMobileNet

#: VainF trains (and so must be fed) ImageNet-normalised inputs
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
                   device: str | torch.device = "cpu") -> "Segmenter":
        """The published Cityscapes model (or ``weights``), resolved through llebench.weights."""
        model, path = load_deeplab(weights, num_classes=NUM_CLASSES, output_stride=16)
        return cls(model, path).to(device)

    def train(self, mode: bool = True) -> "Segmenter":
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
