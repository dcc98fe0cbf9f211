"""Zero-DCE training (Guo et al., CVPR 2020): DCE-Net from scratch with four non-reference losses.

Recipe of the official ``lowlight_train.py``: conv weights ~ N(0, 0.02) (biases keep
PyTorch's default), Adam (lr 1e-4, weight decay 1e-4), gradient-norm clip 0.1, batch 8,
loss ``w_tv L_tvA + w_spa L_spa + w_col L_col + w_exp L_exp`` on the 8-iteration output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from llebench_dcenet.dcenet import DCENet
from llebench_dcenet.losses import (
    color_constancy_loss,
    exposure_loss,
    illumination_smoothness_loss,
    spatial_consistency_loss,
)
from torch import nn

from llebench.sdk import RunConfigError
from llebench.sdk import StepOutput, Trainer
from llebench.sdk import ImageFolderTrainSet

#: loss weights (spa, exp, col, tv): the official code's, and the paper's (Sec. 3.3 / 4)
LOSS_WEIGHTS = {
    "official": {"spa": 1.0, "exp": 10.0, "col": 5.0, "tv": 200.0},
    "paper": {"spa": 1.0, "exp": 1.0, "col": 0.5, "tv": 20.0},
}


def init_dcenet(net: nn.Module) -> None:
    """The official ``weights_init``: every convolution's weight ~ N(0, 0.02)."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.data.normal_(0.0, 0.02)


class ZeroDCETrainer(Trainer):
    name = "zero_dce"
    description = "Zero-DCE: DCE-Net from scratch with L_spa, L_exp, L_col, L_tvA (official recipe)"
    enhancer = "zero_dce"
    default_data: ClassVar[dict[str, Any]] = {
        "root": "",            # image folder; relative paths are under the data root ($LLEBENCH_DATA)
        "image_size": 256,     # 256 = the official code's loader, 512 = the released model's images
        "recursive": False,
    }
    default_method: ClassVar[dict[str, Any]] = {
        "loss_weights": "official",   # official (spa 1, exp 10, col 5, tv 200) or paper (1, 1, 0.5, 20)
        "exposure_level": 0.6,        # E
        "exposure_patch": 16,
        "spatial_region": 4,
    }

    def __init__(self, config, context) -> None:
        super().__init__(config, context)
        preset = self.options["loss_weights"]
        if preset not in LOSS_WEIGHTS:
            raise RunConfigError(f"method.loss_weights must be one of {', '.join(LOSS_WEIGHTS)}, got {preset!r}")
        self.weights = LOSS_WEIGHTS[preset]

    def build_model(self) -> nn.Module:
        net = DCENet()
        init_dcenet(net)
        return net

    def train_dataset(self) -> ImageFolderTrainSet:
        return ImageFolderTrainSet(self._root(), int(self.data["image_size"]), bool(self.data["recursive"]))

    def _root(self) -> Path:
        root = Path(str(self.data["root"])).expanduser()
        if not str(self.data["root"]):
            raise RunConfigError("[data] root is required: the folder of training images (e.g. SICE_part1)")
        if root.is_absolute():
            return root
        if self.context.data_root is None:
            raise RunConfigError(f"[data] root {root} is relative: set $LLEBENCH_DATA or --data-root, or give an absolute path")
        return self.context.data_root / root

    def training_step(self, model: nn.Module, batch: torch.Tensor) -> StepOutput:
        enhanced, curves = model(batch)
        terms = {
            "tv": illumination_smoothness_loss(curves),
            "spa": spatial_consistency_loss(enhanced, batch, int(self.options["spatial_region"])),
            "col": color_constancy_loss(enhanced),
            "exp": exposure_loss(enhanced, int(self.options["exposure_patch"]), float(self.options["exposure_level"])),
        }
        loss = sum(self.weights[k] * v.float() for k, v in terms.items())
        return StepOutput(loss, terms)
