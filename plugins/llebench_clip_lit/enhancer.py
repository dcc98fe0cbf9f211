"""The ``clip_lit`` enhancer: CLIP-LIT's light-map network with the official weights."""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from llebench.sdk import (
    Context, Enhancer, LLEBenchError, WeightsFile, check_precision, load_state_dict, precision_autocast,
    resolve_weights, sha256sum,
)

from llebench_clip_lit.network import HALO, LightMapNet, light_map_tiled

LICENCE = ("none stated (the README's \"License\" section (S-Lab License) is commented out and the repository has no "
           "LICENSE file)")

ENHANCEMENT_WEIGHTS = WeightsFile(
    filename="clip_lit_enhancement.pth",
    url="https://github.com/ZhexinLiang/CLIP-LIT/raw/main/pretrained_models/enhancement_model.pth",
    sha256="67aa1bdbac345842670e494b02953f299e5088bcb3f98a18bd60b06fef48b5c9",
    description=("official CLIP-LIT enhancement network (UNet_emb_oneBranch_symmetry) state_dict, keys prefixed "
                 "'module.' (278,790 parameters)"),
    licence=LICENCE,
)

#: variant -> padding of the 3x3 convolutions outside the pyramid
VARIANT_PADDING = {"reflect": "reflect", "zero_pad": "zeros"}
#: tile=None ("auto"): images up to this many pixels are computed whole, as the official script does
AUTO_WHOLE_PIXELS = 2048 * 2048
#: tile=None ("auto"): the core size of the exact tiles used above AUTO_WHOLE_PIXELS (512: ~6 % more
#: computation than 1024 px cores, a quarter of their working memory, ~0.4 GB)
AUTO_TILE = 512
#: tile=None ("auto"): after an out-of-memory error the tiles are halved down to this size
SMALLEST_TILE = 64


def out_of_memory(exc: BaseException) -> bool:
    """CUDA out-of-memory, Python's MemoryError, or the CPU allocator's RuntimeError."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class CLIPLIT(Enhancer):
    """CLIP-LIT's enhancement network: ``clamp(x / light_map(x), 0, 1)``.

    Variants: ``reflect`` (default: test.py's network, which made the golden outputs) and
    ``zero_pad`` (the same weights in train.py's zero-padded network).

    Options: ``weights`` (a state_dict of the same network, e.g. one you trained with the
    authors' code); ``precision`` (``fp32``; ``bf16``/``fp16`` autocast, opt-in variants);
    ``tile`` (None = automatic: whole image up to 2048x2048 pixels, exact two-pass tiles of
    512 px above it and after an out-of-memory error; 0 = always whole; N = exact tiles of
    N px); ``min_light`` (0 = the official division; > 0 divides by max(light, min_light)).
    """

    name = "clip_lit"
    description = ("CLIP-LIT (Liang et al., ICCV 2023): a light-map network trained with learned CLIP prompts, "
                   "official weights")
    paper = ("Iterative Prompt Learning for Unsupervised Backlit Image Enhancement "
             "(Liang, Li, Zhou, Feng, Loy)")
    venue, year = "ICCV", 2023
    licence = LICENCE
    #: "reflect": test.py's network (reflect padding); "zero_pad": the same weights in the network
    #: train.py builds (``UNet_emb_oneBranch_symmetry_noreflect``: zero padding everywhere)
    variants = ("reflect", "zero_pad")
    weights_files = (ENHANCEMENT_WEIGHTS,)
    accepts_weights = True
    # the pyramid pooling averages the whole image: plain tiles are not exact, so the runner's
    # generic tiling is off; the enhancer tiles itself in two passes (see network.light_map_tiled)
    tile_halo = None

    def __init__(self, context: Context | None = None, variant: str = "reflect",
                 weights: str | os.PathLike[str] | None = None, precision: str = "fp32",
                 tile: int | None = None, min_light: float = 0.0) -> None:
        super().__init__(context)
        if variant not in self.variants:
            raise LLEBenchError(f"clip_lit: unknown variant {variant!r}; choose one of {', '.join(self.variants)}")
        if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 0):
            raise LLEBenchError(f"clip_lit: tile must be a number of pixels >= 1 (0 = never tile; "
                                f"unset = automatic), got {tile!r}")
        if isinstance(min_light, bool) or not isinstance(min_light, (int, float)) or not (
                math.isfinite(min_light) and min_light >= 0):
            raise LLEBenchError(f"clip_lit: min_light must be a finite number >= 0 (0 = the official division), "
                                f"got {min_light!r}")
        self.precision = check_precision(self.name, precision, self.device)
        self._variant, self.tile, self.min_light = variant, tile, float(min_light)
        self.weights_path = resolve_weights(ENHANCEMENT_WEIGHTS, weights)
        state, _ = load_state_dict(self.weights_path, strip_prefix="module.")
        self.net = LightMapNet(padding=VARIANT_PADDING[variant])
        try:
            self.net.load_state_dict(state)
        except RuntimeError as exc:
            raise LLEBenchError(f"{self.weights_path}: not a CLIP-LIT enhancement state_dict "
                                f"(UNet_emb_oneBranch_symmetry(3, 1)): {exc}") from exc
        # the released file has no subnormal floats (nothing to flush). channels_last lets oneDNN
        # pick faster convolutions; the light map equals the NCHW one within ~1e-6
        self.net.to(self.device, memory_format=torch.channels_last).eval().requires_grad_(False)
        self._sha = sha256sum(self.weights_path)

    @property
    def variant(self) -> str:
        label = self._variant
        if self.precision != "fp32":
            label += f"+{self.precision}"
        if self.min_light > 0:
            label += f"+min_light={self.min_light:g}"
        return label

    def settings(self) -> dict[str, Any]:
        return {"variant": self._variant, "padding": VARIANT_PADDING[self._variant], "precision": self.precision,
                "min_light": self.min_light, "tile": "auto" if self.tile is None else self.tile, "halo": HALO,
                "output": "clamp(x / light_map, 0, 1); 0/0 -> 0"}

    def weights_used(self) -> dict[str, str]:
        return {self.weights_path.name: self._sha}

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        if min(height, width) < 2:
            raise LLEBenchError(f"clip_lit needs an image of at least 2x2 pixels (reflect padding), "
                                f"got {height}x{width}")
        light = self.light_map(image)
        if self.min_light > 0:
            light = light.clamp(min=self.min_light)
        # the official clamp(x / l, 0, 1): x > 0 over l = 0 gives 1; 0 / 0 is NaN there, which
        # torchvision's save_image writes as 0 on CPU; it is 0 here by definition
        return torch.div(image, light).clamp_(0.0, 1.0).nan_to_num_(nan=0.0)

    def light_map(self, image: torch.Tensor) -> torch.Tensor:
        """The network's one-channel light map (float32, NCHW), whole or on exact tiles."""
        pixels = image.shape[-2] * image.shape[-1]
        if self.tile is not None and self.tile > 0:
            return self._light(image, self.tile)
        if self.tile is None and pixels > AUTO_WHOLE_PIXELS:
            return self._light(image, AUTO_TILE)
        try:
            return self._light(image, None)
        except Exception as exc:
            if self.tile is not None or not out_of_memory(exc):
                raise
        # outside the except block, so that the failed attempt's tensors are freed
        tile = max(SMALLEST_TILE, min(AUTO_TILE, (max(image.shape[-2:]) + 1) // 2))
        while True:
            try:
                return self._light(image, tile)
            except Exception as exc:
                if not out_of_memory(exc) or tile <= SMALLEST_TILE:
                    raise
            tile = max(SMALLEST_TILE, tile // 2)

    def _light(self, image: torch.Tensor, tile: int | None) -> torch.Tensor:
        with precision_autocast(self.precision, self.device):
            if tile is None or max(image.shape[-2:]) <= tile:
                light = self.net(image.contiguous(memory_format=torch.channels_last))
            else:  # each window is made channels_last, not the whole image
                light = light_map_tiled(self.net, image, tile, torch.channels_last)
        return light.float().contiguous()
