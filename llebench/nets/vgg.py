"""Frozen VGG-16 / VGG-19 feature extractors (torchvision architecture, ImageNet weights).

Used by training terms that compare images in a pretrained feature space: SCL-LLE's Gram
and feature-retention losses (VGG-16), AECR-Net's contrastive regularisation (VGG-19).
Only ``features`` up to the deepest layer asked for is built (the 120M-parameter
classifier would only cost memory). Layer indices are torchvision's ``vggNN().features``
indices, so the published files load key for key; names like ``relu4_3`` map to them.

Pretrained weights are resolved like every pretrained file (explicit path,
``$LLEBENCH_WEIGHTS``, cache, verified download). ``VGGFeatures.random(...)`` builds an
untrained extractor: for smoke tests only, and whoever uses it must say so (checkpoints
and report rows are marked ``untrained``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from llebench.errors import LLEBenchError
from llebench.statedict import load_state_dict
from llebench.weights import WeightsFile, resolve, sha256sum

VGG16_IMAGENET_WEIGHTS = WeightsFile(
    filename="vgg16-397923af.pth",
    url="https://download.pytorch.org/models/vgg16-397923af.pth",
    # torchvision names files after the first 8 hex digits of their sha256 ("397923af");
    # the full digest is the one pinned by public training scripts that check this file
    sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    description="torchvision VGG-16 ImageNet weights (IMAGENET1K_V1)",
    licence="BSD-3-Clause (torchvision)",
)
VGG19_IMAGENET_WEIGHTS = WeightsFile(
    filename="vgg19-dcbb9e9d.pth",
    url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    sha256=None,  # checked by the sha256 prefix its name carries (dcbb9e9d)
    description="torchvision VGG-19 ImageNet weights (IMAGENET1K_V1)",
    licence="BSD-3-Clause (torchvision)",
)
WEIGHTS = {16: VGG16_IMAGENET_WEIGHTS, 19: VGG19_IMAGENET_WEIGHTS}
CONFIGS = {16: "D", 19: "E"}


def layer_names(depth: int) -> dict[str, int]:
    """``{"conv1_1": 0, "relu1_1": 1, ..., "pool5": N}``: names of torchvision's ``features`` indices
    (each conv is followed by its ReLU; a max-pool ends each block)."""
    names, index, block, conv = {}, 0, 1, 0
    for entry in cfgs[CONFIGS[depth]]:
        if entry == "M":
            names[f"pool{block}"] = index
            index, block, conv = index + 1, block + 1, 0
        else:
            conv += 1
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
    return names


#: VGG-16 layers SCL-LLE uses: relu1_2, relu2_2 (Gram matrices), relu4_3 (feature retention)
LAYERS = {name: index for name, index in layer_names(16).items() if name in ("relu1_2", "relu2_2", "relu3_3", "relu4_3")}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    """``features(x, layers)`` -> the outputs after the given ``features`` indices (or names), in order.

    ``normalize`` applies the ImageNet mean/std the weights were trained with; some
    official code (SCL-LLE) feeds raw [0,1] images instead. Always frozen and in eval mode.
    """

    def __init__(self, depth: int = 16, normalize: bool = True, last: int | str = "relu4_3",
                 weights_path: Path | None = None) -> None:
        super().__init__()
        if depth not in CONFIGS:
            raise LLEBenchError(f"VGG depth must be 16 or 19, got {depth!r}")
        self.depth = depth
        self.names = layer_names(depth)
        last_index = self.index(last)
        self.layers = make_layers(cfgs[CONFIGS[depth]], batch_norm=False)[: last_index + 1]
        for module in self.layers:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # intermediate outputs are kept for the losses
        self.normalize = normalize
        self.weights_path = weights_path
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def index(self, layer: int | str) -> int:
        """A ``features`` index from an index or a name (``relu4_3``)."""
        if isinstance(layer, str):
            if layer not in self.names:
                raise LLEBenchError(f"VGG-{self.depth} has no layer {layer!r} (e.g. {', '.join(list(self.names)[:4])})")
            return self.names[layer]
        if not 0 <= int(layer) <= max(self.names.values()):
            raise LLEBenchError(f"VGG-{self.depth} features have indices 0..{max(self.names.values())}, got {layer}")
        return int(layer)

    def channels(self, layer: int | str) -> int:
        """How many channels the output after ``layer`` has (that of the last convolution up to it)."""
        index = self.index(layer)
        convs = [m for m in self.layers[: index + 1] if isinstance(m, nn.Conv2d)]
        return convs[-1].out_channels if convs else 3

    @classmethod
    def pretrained(cls, depth: int = 16, normalize: bool = True, last: int | str = "relu4_3",
                   weights: str | os.PathLike[str] | None = None) -> VGGFeatures:
        """Load the published torchvision file (or an explicit one) resolved through :func:`llebench.weights.resolve`."""
        path = resolve(WEIGHTS[depth], weights)
        state, _ = load_state_dict(path)
        net = cls(depth, normalize, last, path)
        prefix = "features."
        wanted = {key.removeprefix(prefix): value for key, value in state.items()
                  if key.startswith(prefix) and int(key[len(prefix):].split(".")[0]) < len(net.layers)}
        try:
            net.layers.load_state_dict(wanted)
        except RuntimeError as exc:
            raise LLEBenchError(f"{path}: not a torchvision VGG-{depth} state_dict ({exc})") from exc
        return net

    @classmethod
    def random(cls, depth: int = 16, normalize: bool = True, last: int | str = "relu4_3", seed: int = 0) -> VGGFeatures:
        """An untrained extractor (PyTorch's default initialisation), seeded (the global RNG is
        left untouched): smoke tests only; whoever uses it marks its results untrained."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(depth, normalize, last)

    @classmethod
    def for_training(cls, feature_nets: str, depth: int = 16, normalize: bool = True, last: int | str = "relu4_3",
                     weights: str | os.PathLike[str] | None = None, seed: int = 0) -> VGGFeatures:
        """``feature_nets = "pretrained"`` (the published file) or ``"random"`` (:meth:`random`)."""
        if feature_nets == "random":
            return cls.random(depth, normalize, last, seed)
        if feature_nets != "pretrained":
            raise LLEBenchError(f"feature_nets must be 'pretrained' or 'random', got {feature_nets!r}")
        return cls.pretrained(depth, normalize, last, weights)

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always in eval mode: the network is frozen."""
        return super().train(False)

    def weights_used(self) -> dict[str, str]:
        return {} if self.weights_path is None else {self.weights_path.name: sha256sum(self.weights_path)}

    def forward(self, images: torch.Tensor, layers: tuple[int | str, ...]) -> list[torch.Tensor]:
        x = (images - self.mean) / self.std if self.normalize else images
        wanted = [self.index(layer) for layer in layers]
        outputs: dict[int, torch.Tensor] = {}
        last = max(wanted)
        for index, module in enumerate(self.layers):
            x = module(x)
            if index in wanted:
                outputs[index] = x
            if index == last:
                break
        return [outputs[index] for index in wanted]
