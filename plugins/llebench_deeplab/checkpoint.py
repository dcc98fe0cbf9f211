"""The published Cityscapes checkpoint and loading VainF-format files into our network."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from llebench.errors import LLEBenchError
from llebench.weights import WeightsFile, resolve

from llebench_deeplab.deeplab import DeepLabV3PlusMobileNet

#: VainF/DeepLabV3Plus-Pytorch, DeepLabV3Plus-MobileNet on Cityscapes, OS 16 (mIoU 0.721 on val).
#: No checksum is published, so none is enforced.
DEEPLAB_CITYSCAPES_WEIGHTS = WeightsFile(
    filename="best_deeplabv3plus_mobilenet_cityscapes_os16.pth",
    url="https://www.dropbox.com/s/753ojyvsh3vdjol/best_deeplabv3plus_mobilenet_cityscapes_os16.pth?dl=1",
    sha256=None,
    description="DeepLabV3+ MobileNetV2, Cityscapes 19 classes, output stride 16 (VainF/DeepLabV3Plus-Pytorch)",
)

#: VainF saves ``{"cur_itrs", "model_state", "optimizer_state", "scheduler_state", "best_score"}``
STATE_KEY = "model_state"


def read_vainf_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The network state_dict inside a VainF checkpoint (``model_state``), or a bare state_dict.

    A ``module.`` prefix (``nn.DataParallel``) is removed. ``weights_only=True``.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LLEBenchError(f"{path}: not a loadable weights-only PyTorch checkpoint ({exc})") from exc
    if isinstance(obj, dict) and isinstance(obj.get(STATE_KEY), dict):
        obj = obj[STATE_KEY]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise LLEBenchError(f"{path}: holds neither a VainF checkpoint (key {STATE_KEY!r}) nor a state_dict")
    return {key.removeprefix("module."): value for key, value in obj.items()}


def load_deeplab(weights: str | os.PathLike[str] | None = None, num_classes: int = 19,
                 output_stride: int = 16, device: str | torch.device = "cpu") -> tuple[DeepLabV3PlusMobileNet, Path]:
    """Build the network and load the pretrained Cityscapes weights, frozen and in eval mode.

    ``weights`` is an explicit file; by default the published file is resolved through
    :func:`llebench.weights.resolve` (a missing file raises ``WeightsNotFound`` naming it,
    its URL and where to put it). Returns the model and the file it was loaded from.
    """
    path = resolve(DEEPLAB_CITYSCAPES_WEIGHTS, weights)
    model = DeepLabV3PlusMobileNet(num_classes=num_classes, output_stride=output_stride)
    try:
        model.load_state_dict(read_vainf_state_dict(path))
    except RuntimeError as exc:
        raise LLEBenchError(
            f"{path}: not a DeepLabV3+ MobileNetV2 checkpoint with {num_classes} classes ({exc})"
        ) from exc
    return freeze(model).to(device), path


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Eval mode (BatchNorm uses its running statistics) and no parameter gradients."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model
