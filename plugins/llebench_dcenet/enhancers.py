"""The ``zero_dce`` and ``scl_lle`` enhancers: one DCE-Net, two sets of official weights."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import torch

from llebench.sdk import (
    Context, Enhancer, LLEBenchError, WeightsFile, check_precision, flush_subnormals, load_state_dict,
    precision_autocast, resolve_weights, sha256sum, tiled,
)

from llebench_dcenet.dcenet import RECEPTIVE_RADIUS, DCENet

ZERO_DCE_WEIGHTS = WeightsFile(
    filename="zero_dce_epoch99.pth",
    url="https://github.com/Li-Chongyi/Zero-DCE/raw/master/Zero-DCE_code/snapshots/Epoch99.pth",
    sha256="a4395acb874f320375d9704997cef874eaaaaa26a1777ceb29a92b70f74c3612",
    description="official Zero-DCE DCE-Net state_dict (79,416 parameters)",
)
SCL_LLE_WEIGHTS = WeightsFile(
    filename="scl_lle.pth",
    url="https://github.com/LingLiX/SCL-LLE/raw/main/checkpoints/SCL-LLE.pth",
    sha256="fc5aa74a6674bb747b325e5a06efbfea2973c10cc93cf25cd2b8f33a038e821f",
    description="official SCL-LLE DCE-Net state_dict",
)

class DCENetEnhancer(Enhancer):
    """DCE-Net with pretrained weights; ``weights`` overrides the official file.

    ``tile=N`` computes the output on N x N tiles (images too large for memory); it equals
    the untiled output up to float rounding (llebench.tiling), and the runner falls back
    to tiles by itself when an image runs out of memory.
    """

    official_weights: ClassVar[WeightsFile]
    tile_halo = RECEPTIVE_RADIUS
    accepts_weights = True
    accepts_untrained = True

    def __init__(self, context: Context | None = None, weights: str | os.PathLike[str] | None = None,
                 allow_untrained: bool = False, precision: str = "fp32", tile: int | None = None) -> None:
        super().__init__(context)
        if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 1):
            raise LLEBenchError(f"tile must be a positive number of pixels, got {tile!r}")
        self.tile = tile
        self.precision = check_precision(self.name, precision, self.context.device)
        self.weights_path = resolve_weights(self.official_weights, weights)
        state, meta = load_state_dict(self.weights_path)
        state = flush_subnormals(state)
        self.untrained = bool(meta.get("untrained", False))
        if self.untrained and not allow_untrained:
            raise LLEBenchError(
                f"{self.weights_path} was trained with random feature networks (a smoke-test checkpoint); "
                "pass --allow-untrained to evaluate it anyway"
            )
        self.net = DCENet()
        try:
            self.net.load_state_dict(state)
        except RuntimeError as exc:
            raise LLEBenchError(f"{self.weights_path}: not a DCE-Net state_dict ({exc})") from exc
        # channels_last lets oneDNN / cuDNN pick their fastest convolutions (outputs equal to
        # NCHW within 3e-7); half precision only when asked for (a different variant)
        self.net.to(self.device, memory_format=torch.channels_last).eval()
        self._sha = sha256sum(self.weights_path)

    def weights_used(self) -> dict[str, str]:
        return {self.weights_path.name: self._sha}

    @property
    def variant(self) -> str:
        return "" if self.precision == "fp32" else self.precision

    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"iterations": 8, "precision": self.precision}
        if self.untrained:
            settings["untrained"] = True
        return settings

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        if self.tile is not None and max(image.shape[-2:]) > self.tile:
            return tiled(self._enhance_whole, image, self.tile, self.tile_halo)
        return self._enhance_whole(image)

    def _enhance_whole(self, image: torch.Tensor) -> torch.Tensor:
        image = image.contiguous(memory_format=torch.channels_last)
        with precision_autocast(self.precision, self.device):
            enhanced, _ = self.net(image)
        return enhanced.float().contiguous()


class ZeroDCE(DCENetEnhancer):
    name = "zero_dce"
    description = "Zero-DCE (Guo et al., CVPR 2020), official weights"
    paper = "Zero-Reference Deep Curve Estimation for Low-Light Image Enhancement (Guo et al.)"
    venue, year = "CVPR", 2020
    weights_files = (ZERO_DCE_WEIGHTS,)
    official_weights = ZERO_DCE_WEIGHTS


class SCLLLE(DCENetEnhancer):
    name = "scl_lle"
    description = "SCL-LLE (Liang et al., AAAI 2022), official weights"
    paper = "Semantically Contrastive Learning for Low-Light Image Enhancement (Liang et al.)"
    venue, year = "AAAI", 2022
    weights_files = (SCL_LLE_WEIGHTS,)
    official_weights = SCL_LLE_WEIGHTS
