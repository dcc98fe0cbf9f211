"""The ``pairlie`` enhancer: PairLIE (Fu et al., CVPR 2023) as its ``eval.py`` runs it."""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from llebench.sdk import (
    Context, EnhancementError, Enhancer, LLEBenchError, WeightsFile, check_precision, flush_subnormals,
    load_state_dict, precision_autocast, resolve_weights, sha256sum, tiled, truncate_to_8_bits,
)

from llebench_pairlie.network import RECEPTIVE_RADIUS, PairLIENet

PAIRLIE_WEIGHTS = WeightsFile(
    filename="pairlie.pth",
    url="https://github.com/zhenqifu/PairLIE/raw/main/weights/PairLIE.pth",
    sha256="e223ec9e66504550e69f65b631ce520be9b5c4e8e0aba882768d06af355b0631",
    description="official PairLIE state_dict (N_net, L_net, R_net; 341,767 parameters)",
    licence="none stated (the repository has no licence file)",
)

#: variant -> the exponent of L in I = L ** exponent * R. eval.py: ``torch.pow(L, 0.2)  # default=0.2, LOL=0.14.``
EXPONENTS: dict[str, float] = {"default": 0.2, "lol": 0.14}

class PairLIE(Enhancer):
    """PairLIE with the official weights; ``weights`` overrides the file.

    Options (``-o pairlie.KEY=VALUE``):

    - ``variant``: ``default`` (I = L ** 0.2 * R, eval.py's default) or ``lol`` (exponent
      0.14, what eval.py's comment says the authors used on LOL);
    - ``exponent``: any other exponent (>= 0); shown in the ``variant`` column;
    - ``precision``: ``fp32`` (default), ``bf16`` or ``fp16`` (autocast; opt-in, its own variant);
    - ``tile``: compute on N x N tiles with a 10 px halo (exact: see ``tile_halo``).
    """

    name = "pairlie"
    description = "PairLIE (Fu et al., CVPR 2023): Retinex decomposition learned from pairs of low-light images"
    paper = ("Learning a Simple Low-light Image Enhancer from Paired Low-light Instances "
             "(Fu, Yang, Tu, Huang, Ding, Ma)")
    venue, year = "CVPR", 2023
    licence = PAIRLIE_WEIGHTS.licence
    variants = tuple(EXPONENTS)
    weights_files = (PAIRLIE_WEIGHTS,)
    accepts_weights = True
    #: ten stacked reflection-padded 3x3 convolutions: exact on tiles (llebench.tiling)
    tile_halo = RECEPTIVE_RADIUS

    def __init__(self, context: Context | None = None, variant: str = "default", exponent: float | None = None,
                 precision: str = "fp32", tile: int | None = None,
                 weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__(context)
        if variant not in EXPONENTS:
            raise LLEBenchError(f"pairlie: variant must be one of {', '.join(EXPONENTS)}, got {variant!r}")
        self.variant_name = variant
        if exponent is None:
            exponent = EXPONENTS[variant]
        if isinstance(exponent, bool) or not isinstance(exponent, (int, float)) or not (
                math.isfinite(exponent) and exponent >= 0):
            raise LLEBenchError(f"pairlie: exponent must be a number >= 0 (0.2 in eval.py), got {exponent!r}")
        self.exponent = float(exponent)
        self.precision = check_precision("pairlie", precision, self.device)
        if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 1):
            raise LLEBenchError(f"pairlie: tile must be a positive number of pixels, got {tile!r}")
        self.tile = tile

        self.weights_path = resolve_weights(PAIRLIE_WEIGHTS, weights)
        state, _ = load_state_dict(self.weights_path)  # a WeightsFormatError names the file
        self.net = PairLIENet()
        try:
            self.net.load_state_dict(flush_subnormals(state))  # the official file has none; a user's may
        except RuntimeError as exc:
            raise LLEBenchError(f"{self.weights_path}: not a PairLIE state_dict ({exc})") from exc
        # channels_last: oneDNN's fastest convolution layout on the CPU (outputs equal to NCHW within 2e-6)
        self.net.to(self.device, memory_format=torch.channels_last).eval().requires_grad_(False)
        self._sha = sha256sum(self.weights_path)

    @property
    def variant(self) -> str:
        parts = [self.variant_name]
        if self.exponent != EXPONENTS[self.variant_name]:
            parts.append(f"exponent={self.exponent:g}")
        if self.precision != "fp32":
            parts.append(self.precision)
        return "+".join(parts)

    def settings(self) -> dict[str, Any]:
        return {"exponent": self.exponent, "precision": self.precision, "padding": "reflection",
                "saved_as": "truncated to 8 bits (ToPILImage)"}

    def weights_used(self) -> dict[str, str]:
        return {self.weights_path.name: self._sha}

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        if self.tile is not None and max(image.shape[-2:]) > self.tile:
            enhanced = tiled(self.enhance_float, image, self.tile, RECEPTIVE_RADIUS)
        else:
            enhanced = self.enhance_float(image)
        # eval.py saves with ToPILImage, whose uint8 cast truncates
        return truncate_to_8_bits(enhanced)

    def enhance_float(self, image: torch.Tensor) -> torch.Tensor:
        """I = L ** exponent * R before eval.py's 8-bit truncation (float32, NCHW)."""
        if min(image.shape[-2:]) < 2:
            raise EnhancementError(f"pairlie: the image is {image.shape[-2]}x{image.shape[-1]} pixels; its "
                                   "reflection padding needs at least 2 pixels in each direction")
        image = image.contiguous(memory_format=torch.channels_last)
        with precision_autocast(self.precision, self.device):
            enhanced = self.net.enhance(image, self.exponent)
        return enhanced.contiguous()
