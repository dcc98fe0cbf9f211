"""The ``ruas`` enhancer: RUAS with the authors' three released checkpoints (lol, upe, dark)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from llebench.sdk import (
    Context, Enhancer, LLEBenchError, WeightsFile, check_precision, flush_subnormals, load_state_dict,
    precision_autocast, resolve_weights, sha256sum, tiled, truncate_to_8_bits,
)

from llebench_ruas.network import ENHANCE_RADIUS, RECEPTIVE_RADIUS, RUASNetwork

LICENCE = "none stated (the repository has no LICENSE file and its README states no terms)"


def _weights(variant: str, sha256: str, trained_on: str) -> WeightsFile:
    return WeightsFile(
        filename=f"ruas_{variant}.pt",
        url=f"https://github.com/KarelZhang/RUAS/raw/main/ckpt/{variant}.pt",
        sha256=sha256,
        description=f"official RUAS checkpoint trained on {trained_on}: whole Network state_dict "
                    "(enhance_net 1,161 + denoise_net 2,277 = 3,438 parameters)",
        licence=LICENCE,
    )


#: variant -> official checkpoint (``ckpt/<variant>.pt`` at commit f621bb1)
WEIGHTS: dict[str, WeightsFile] = {
    "upe": _weights("upe", "2252d3d909e346b547232c7015f034685aac75181171c6caf90ee12d87ca36c1", "MIT-Adobe FiveK (UPE split)"),
    "lol": _weights("lol", "f45a881a9b836fff4a3172481f28c9eb4d91bc4df54ec064092f39ce40abcdcd", "LOL"),
    "dark": _weights("dark", "59083ec4dd4a2b7926c182a4add1519b9646a3aca6c39cfdb7d496fe885828e4", "DarkFace"),
}

#: which output the official test.py saves for each checkpoint: ``lol`` the denoised
#: u3 - n (``u_list[-1]``), ``upe`` and ``dark`` the enhancement u3 (``u_list[-2]``)
DENOISED_OUTPUT = {"upe": False, "lol": True, "dark": False}

class RUAS(Enhancer):
    """RUAS: three unrolled Retinex stages with searched cells, and a searched denoiser.

    ``variant`` picks the checkpoint and, as the official ``test.py`` does, the saved output:
    ``lol`` the denoised image, ``upe`` and ``dark`` the enhancement before the denoiser
    (which is then not run: its output would be thrown away).
    """

    name = "ruas"
    description = "RUAS (Liu et al., CVPR 2021), official weights; variants upe (default), lol, dark"
    paper = ("Retinex-inspired Unrolling with Cooperative Prior Architecture Search for Low-light Image "
             "Enhancement (Liu, Ma, Zhang, Fan, Luo)")
    venue, year = "CVPR", 2021
    licence = LICENCE
    variants = ("upe", "lol", "dark")
    weights_files = tuple(WEIGHTS.values())
    accepts_weights = True
    #: the lol output reaches 17 px (up/left; 14 down/right): 3 stages x (2x2 max 1 + cell 2) + denoiser 8
    tile_halo = RECEPTIVE_RADIUS

    def __init__(self, context: Context | None = None, variant: str = "upe",
                 weights: str | os.PathLike[str] | None = None, precision: str = "fp32",
                 tile: int | None = None) -> None:
        super().__init__(context)
        if variant not in WEIGHTS:
            raise LLEBenchError(f"ruas: variant must be one of {', '.join(self.variants)}, got {variant!r}")
        if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 1):
            raise LLEBenchError(f"ruas: tile must be a positive number of pixels, got {tile!r}")
        self._variant = variant
        self.precision = check_precision("ruas", precision, self.device)
        self.tile = tile
        self.denoised = DENOISED_OUTPUT[variant]
        self.weights_path: Path = resolve_weights(WEIGHTS[variant], weights)
        state, _ = load_state_dict(self.weights_path)
        whole = RUASNetwork()
        try:
            whole.load_state_dict(flush_subnormals(state))  # strict, as test.py loads it
        except RuntimeError as exc:
            raise LLEBenchError(f"{self.weights_path}: not a RUAS Network state_dict ({exc})") from exc
        whole.requires_grad_(False)
        if not self.denoised:  # upe/dark: the official script discards the denoiser's output
            del whole.denoise_net
        self.net = whole.to(self.device).eval()
        self._sha = sha256sum(self.weights_path)

    @property
    def variant(self) -> str:
        return self._variant if self.precision == "fp32" else f"{self._variant}+{self.precision}"

    def settings(self) -> dict[str, Any]:
        return {
            "variant": self._variant,
            "output": "u3 - n (denoised)" if self.denoised else "u3 (enhancement, denoiser not used)",
            "stages": 3,
            "saved": "truncated to 8 bits (official save_images)",
            "precision": self.precision,
            "receptive_radius": RECEPTIVE_RADIUS if self.denoised else ENHANCE_RADIUS,
        }

    def weights_used(self) -> dict[str, str]:
        return {self.weights_path.name: self._sha}

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        if self.tile is not None and max(image.shape[-2:]) > self.tile:
            return tiled(self._enhance_whole, image, self.tile, RECEPTIVE_RADIUS)
        return self._enhance_whole(image)

    def forward_float(self, image: torch.Tensor) -> torch.Tensor:
        """The network's output before the 8-bit truncation (float32)."""
        with precision_autocast(self.precision, self.device):
            return self._forward(image).float()

    def _forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image, denoise=self.denoised)

    def _enhance_whole(self, image: torch.Tensor) -> torch.Tensor:
        # save_images writes np.clip(255 x, 0, 255).astype('uint8'): truncation
        return truncate_to_8_bits(self.forward_float(image))
