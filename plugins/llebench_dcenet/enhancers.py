"""The ``zero_dce`` and ``scl_lle`` enhancers: one DCE-Net, two sets of official weights."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import torch

from llebench.api import Enhancer
from llebench.errors import LLEBenchError
from llebench.weights import WeightsFile, resolve, sha256sum

from llebench_dcenet.dcenet import DCENet

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

#: keys under which training checkpoints keep the network's state_dict
STATE_DICT_KEYS = ("model", "state_dict", "model_state", "params")


def load_dcenet_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a DCE-Net state_dict (official file or llebench checkpoint) safely.

    Returns the state_dict and the checkpoint's metadata (empty for official files).
    ``weights_only=True``: a checkpoint cannot run code when loaded.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LLEBenchError(f"{path}: not a loadable weights-only PyTorch checkpoint ({exc})") from exc
    meta: dict[str, Any] = {}
    if isinstance(obj, dict):
        for key in STATE_DICT_KEYS:
            if key in obj and isinstance(obj[key], dict):
                meta = {k: v for k, v in obj.items() if k != key}
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise LLEBenchError(f"{path}: does not contain a DCE-Net state_dict")
    return {k.removeprefix("module."): flush_subnormals(v) for k, v in obj.items()}, meta


def flush_subnormals(tensor: torch.Tensor) -> torch.Tensor:
    """Replace subnormal floats (|x| < 1.2e-38) by zero.

    The official checkpoints hold thousands of subnormal weights (weight decay drove them
    there); x86 CPUs compute with subnormals ~30x slower, and their effect on any output
    is below float32 resolution. ``torch.set_flush_denormal`` would not help: it only
    sets the calling thread, not the OpenMP workers that run the convolutions.
    """
    if not tensor.is_floating_point():
        return tensor
    return torch.where(tensor.abs() < torch.finfo(tensor.dtype).tiny, torch.zeros_like(tensor), tensor)


class DCENetEnhancer(Enhancer):
    """DCE-Net with pretrained weights; ``weights`` overrides the official file."""

    official_weights: ClassVar[WeightsFile]

    def __init__(self, device: str = "cpu", weights: str | os.PathLike[str] | None = None,
                 allow_untrained: bool = False) -> None:
        super().__init__(device)
        self.weights_path = resolve(self.official_weights, weights)
        state, meta = load_dcenet_state(self.weights_path)
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
        self.net.to(self.device).eval()
        self._sha = sha256sum(self.weights_path)

    def weights_used(self) -> dict[str, str]:
        return {self.weights_path.name: self._sha}

    def settings(self) -> dict[str, Any]:
        return {"iterations": 8, "untrained": self.untrained} if self.untrained else {"iterations": 8}

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        enhanced, _ = self.net(image)
        return enhanced


class ZeroDCE(DCENetEnhancer):
    name = "zero_dce"
    description = "Zero-DCE (Guo et al., CVPR 2020), official weights"
    weights_files = (ZERO_DCE_WEIGHTS,)
    official_weights = ZERO_DCE_WEIGHTS


class SCLLLE(DCENetEnhancer):
    name = "scl_lle"
    description = "SCL-LLE (Liang et al., AAAI 2022), official weights"
    weights_files = (SCL_LLE_WEIGHTS,)
    official_weights = SCL_LLE_WEIGHTS
