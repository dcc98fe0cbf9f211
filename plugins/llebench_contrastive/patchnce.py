"""``patchnce``: CUT's multilayer, patchwise InfoNCE (Park et al., ECCV 2020, Eq. 3-5).

For each chosen layer, the same randomly sampled locations are read from the features of
the network's output (queries) and of a key image (the network's input by default, as in
CUT); each goes through that layer's 2-layer MLP head (trained with the network) and is
L2-normalised. A query's positive is the key at its own location; its negatives are the
keys at the layer's other sampled locations of the same image:

    loss = mean over locations of  -log( exp(q.k+ / tau) / (exp(q.k+ / tau) + sum_n exp(q.k_n / tau)) )

averaged over layers, with tau = 0.07 and 256 locations per layer. The encoder is a frozen
VGG-19 (CUT reuses its generator's encoder, which most LLE networks do not have); why, and
every other choice, is in this plugin's README.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from llebench.sdk import Context, FeatureNetLoss, LossInputs, RunConfigError
from llebench.sdk.nets import VGG19_IMAGENET_WEIGHTS

from llebench_contrastive.features import layer_list, vgg19

#: four depths, full resolution down to 1/8, as CUT's five encoder layers span pixels to 1/4
DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
#: CUT's defaults: --num_patches 256, --nce_T 0.07, --netF_nc 256, init normal(0, 0.02)
PATCHES = 256
TEMPERATURE = 0.07
HEAD_WIDTH = 256
HEAD_INIT_STD = 0.02
#: CUT's Normalize(2): x / (||x|| + 1e-7)
NORM_EPS = 1e-7
#: CUT fills a query's own position among the negatives with -10 (exp(-10/0.07) ~ 0)
SELF_LOGIT = -10.0
KEYS = ("input", "reference")


def projection_head(channels: int, width: int, generator: torch.Generator) -> nn.Sequential:
    """CUT's PatchSampleF MLP: Linear(C, width) - ReLU - Linear(width, width), weights N(0, 0.02), bias 0."""
    head = nn.Sequential(nn.Linear(channels, width), nn.ReLU(), nn.Linear(width, width))
    for layer in (head[0], head[2]):
        with torch.no_grad():
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * HEAD_INIT_STD)
            layer.bias.zero_()
    return head


def sample_locations(height: int, width: int, count: int) -> torch.Tensor:
    """``count`` distinct flat positions of an ``height x width`` map (all of them if fewer),
    from the global RNG (so a resumed run replays them)."""
    return torch.randperm(height * width)[:count]


def gather(features: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """``B x C x H x W`` features at flat ``locations`` -> ``B x P x C``."""
    flat = features.flatten(2)  # B x C x HW
    return flat[:, :, locations.to(flat.device)].transpose(1, 2)


def nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """PatchNCE of L2-normalised ``B x P x D`` queries and keys: mean over the B*P queries.

    Query (b, p)'s positive is key (b, p); its negatives are keys (b, n != p) of the same
    image. Keys carry no gradient (CUT detaches them).
    """
    keys = keys.detach()
    positive = (queries * keys).sum(dim=-1, keepdim=True)  # B x P x 1
    negatives = queries @ keys.transpose(1, 2)  # B x P x P
    own = torch.eye(queries.shape[1], dtype=torch.bool, device=queries.device)
    negatives = negatives.masked_fill(own, SELF_LOGIT)
    logits = torch.cat([positive, negatives], dim=-1).flatten(0, 1) / temperature
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


class PatchNCE(FeatureNetLoss):
    name = "patchnce"
    description = ("CUT PatchNCE (ECCV 2020): patchwise InfoNCE between output and input (or reference) on "
                   "frozen VGG-19 features with trained MLP heads, 256 locations/layer, tau 0.07")
    weights_files = (VGG19_IMAGENET_WEIGHTS,)

    def __init__(self, context: Context | None = None, layers: Sequence[str] = DEFAULT_LAYERS,
                 patches: int = PATCHES, temperature: float = TEMPERATURE, key: str = "input",
                 head_width: int = HEAD_WIDTH, feature_nets: str = "pretrained", vgg_weights: str = "",
                 seed: int = 0) -> None:
        super().__init__(context)
        self.layers = layer_list(layers)
        if isinstance(patches, bool) or not isinstance(patches, int) or patches < 2:
            raise RunConfigError(f"patchnce: patches must be an integer >= 2 (a query needs negatives), got {patches!r}")
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or temperature <= 0:
            raise RunConfigError(f"patchnce: temperature must be a number > 0, got {temperature!r}")
        if key not in KEYS:
            raise RunConfigError(f"patchnce: key must be one of {', '.join(KEYS)}, got {key!r}")
        if isinstance(head_width, bool) or not isinstance(head_width, int) or head_width < 1:
            raise RunConfigError(f"patchnce: head_width must be an integer >= 1, got {head_width!r}")
        self.patches, self.temperature, self.key, self.head_width = patches, float(temperature), key, head_width
        self.feature_nets, self.seed = feature_nets, seed
        self.needs_reference = key == "reference"  # type: ignore[misc]  # per instance: depends on the key
        # ImageNet normalisation: the encoder is used as the classifier saw its inputs
        self.vgg = vgg19(feature_nets, True, self.layers, vgg_weights, self.device, seed)
        #: ``(images, layers) -> features``; a test may put a fixed extractor here
        self.extractor = self.vgg
        generator = torch.Generator().manual_seed(seed)
        channels = [self.vgg.channels(layer) for layer in self.layers]
        self.heads = nn.ModuleList(projection_head(c, head_width, generator) for c in channels).to(self.device)

    def trainable(self) -> nn.Module:
        return self.heads

    def settings(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "patches": self.patches, "temperature": self.temperature,
                "key": self.key, "head_width": self.head_width, "feature_nets": self.feature_nets,
                "seed": self.seed, "encoder": "VGG-19 (frozen, ImageNet-normalised)"}

    def __call__(self, inputs: LossInputs) -> torch.Tensor:
        key_images = inputs.input if self.key == "input" else inputs.reference
        if key_images is None:
            raise RunConfigError("patchnce with key = \"reference\" needs paired data")
        query_features = self.extractor(inputs.output, self.layers)
        with torch.no_grad():
            key_features = self.extractor(key_images, self.layers)
        total = inputs.output.new_zeros((), dtype=torch.float32)
        for head, q_map, k_map in zip(self.heads, query_features, key_features):
            locations = sample_locations(q_map.shape[-2], q_map.shape[-1], self.patches)
            queries, keys = (self.project(head, gather(m, locations)) for m in (q_map, k_map))
            total = total + nce(queries, keys, self.temperature)
        return total / len(self.layers)

    @staticmethod
    def project(head: nn.Module, samples: torch.Tensor) -> torch.Tensor:
        """Head then L2 normalisation (in float32, outside autocast: the logits are divided by 0.07)."""
        projected = head(samples).float()
        return projected / (projected.norm(dim=-1, keepdim=True) + NORM_EPS)
