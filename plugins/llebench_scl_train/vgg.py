"""Frozen VGG-16 feature extractor (torchvision architecture, ImageNet weights via llebench.weights).

Only ``features[:23]`` (up to relu4_3) is built: SCL-LLE uses relu1_2 and relu2_2 for the
Gram matrices and relu4_3 for the feature-retention loss, and the 120M-parameter
classifier would only cost memory. Layer indices match torchvision's ``vgg16().features``
so the published ``vgg16-397923af.pth`` loads key for key.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from llebench.errors import LLEBenchError
from llebench.weights import WeightsFile, resolve, sha256sum

VGG16_IMAGENET_WEIGHTS = WeightsFile(
    filename="vgg16-397923af.pth",
    url="https://download.pytorch.org/models/vgg16-397923af.pth",
    # torchvision names files after the first 8 hex digits of their sha256 ("397923af");
    # the full digest is the one pinned by public training scripts that check this file
    sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    description="torchvision VGG-16 ImageNet weights (IMAGENET1K_V1)",
)

#: index (in ``features``) of the ReLU that ends each named layer
LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    """``features(x, names)`` -> the requested ReLU outputs, in order, for [0,1] RGB input.

    ``normalize`` applies the ImageNet mean/std the weights were trained with (the
    llebench paper-mode choice); the official SCL-LLE code feeds raw [0,1] images.
    """

    def __init__(self, normalize: bool, weights_path: Path | None = None) -> None:
        super().__init__()
        self.layers = make_layers(cfgs["D"], batch_norm=False)[: LAYERS["relu4_3"] + 1]
        for module in self.layers:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # intermediate outputs are kept for the losses
        self.normalize = normalize
        self.weights_path = weights_path
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def pretrained(cls, normalize: bool, weights: str | os.PathLike[str] | None = None) -> "VGG16Features":
        """Load ``vgg16-397923af.pth`` (or an explicit file) resolved through :func:`llebench.weights.resolve`."""
        path = resolve(VGG16_IMAGENET_WEIGHTS, weights)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise LLEBenchError(f"{path}: not a loadable weights-only PyTorch checkpoint ({exc})") from exc
        net = cls(normalize, path)
        prefix = "features."
        wanted = {key.removeprefix(prefix): value for key, value in (state.items() if isinstance(state, dict) else ())
                  if key.startswith(prefix) and int(key[len(prefix):].split(".")[0]) <= LAYERS["relu4_3"]}
        try:
            net.layers.load_state_dict(wanted)
        except RuntimeError as exc:
            raise LLEBenchError(f"{path}: not a torchvision VGG-16 state_dict ({exc})") from exc
        return net

    def train(self, mode: bool = True) -> "VGG16Features":
        """Always in eval mode: the network is frozen."""
        return super().train(False)

    def weights_used(self) -> dict[str, str]:
        return {} if self.weights_path is None else {self.weights_path.name: sha256sum(self.weights_path)}

    def forward(self, images: torch.Tensor, names: tuple[str, ...]) -> list[torch.Tensor]:
        x = (images - self.mean) / self.std if self.normalize else images
        wanted = {LAYERS[name]: name for name in names}
        outputs: dict[str, torch.Tensor] = {}
        last = max(wanted)
        for index, module in enumerate(self.layers):
            x = module(x)
            if index in wanted:
                outputs[wanted[index]] = x
            if index == last:
                break
        return [outputs[name] for name in names]
