"""The frozen VGG-19 both terms compare images in, and how layers are named in configs."""

from __future__ import annotations

from typing import Sequence

import torch

from llebench.sdk import RunConfigError
from llebench.sdk.nets import VGGFeatures, vgg_layer_names

VGG19_LAYERS = vgg_layer_names(19)


def layer_list(layers: Sequence[str], option: str = "layers") -> tuple[str, ...]:
    """Layer names (``relu3_1``) checked against VGG-19.

    Numbers are refused on purpose: the papers count convolutions ("the 1st, 3rd, 5th, 9th
    and 13th layers") while torchvision counts modules (``features[20]``), and a silent
    mix-up would train against the wrong features.
    """
    if isinstance(layers, str) or not layers:
        raise RunConfigError(f"{option} must be a non-empty list of VGG-19 layer names, e.g. [\"relu1_1\", \"relu2_1\"]")
    names = []
    for layer in layers:
        if not isinstance(layer, str) or layer not in VGG19_LAYERS:
            raise RunConfigError(f"{option}: {layer!r} is not a VGG-19 layer name (e.g. relu1_1, relu3_1, relu5_1; "
                                 "numbers are ambiguous between papers and torchvision, so names are required)")
        names.append(layer)
    return tuple(names)


def vgg19(feature_nets: str, normalize: bool, layers: tuple[str, ...], weights: str, device: torch.device,
          seed: int = 0) -> VGGFeatures:
    """VGG-19 up to the deepest of ``layers``: the published file, or random for smoke tests."""
    if feature_nets not in ("pretrained", "random"):
        raise RunConfigError(f"feature_nets must be 'pretrained' or 'random', got {feature_nets!r}")
    deepest = max(layers, key=VGG19_LAYERS.__getitem__)
    net = VGGFeatures.for_training(feature_nets, 19, normalize, deepest, weights or None, seed)
    return net.to(device)
