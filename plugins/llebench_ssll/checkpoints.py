"""Reading SSLL weights: an llebench checkpoint/model.pt, or a bare UNet state_dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from llebench.errors import LLEBenchError


def load_weights(path: Path, teacher: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state_dict, metadata) of ``path``; metadata is empty for a bare state_dict.

    ``teacher``: the mean teacher's weights (``state.ema.module``), which only a full
    training checkpoint (``checkpoints/iter_*.pt``) holds. ``weights_only=True``: a
    checkpoint cannot run code when loaded. ``module.`` prefixes (DataParallel) are dropped.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LLEBenchError(f"{path}: not a loadable weights-only PyTorch checkpoint ({exc})") from exc
    meta: dict[str, Any] = {}
    if teacher:
        ema = obj.get("state", {}).get("ema") if isinstance(obj, dict) else None
        if not isinstance(ema, dict) or not isinstance(ema.get("module"), dict):
            raise LLEBenchError(f"{path}: holds no mean-teacher weights; pass a training checkpoint "
                                "(OUT/checkpoints/iter_*.pt) of a run with train.ema_decay > 0")
        obj = {**obj, "model": ema["module"]}
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        meta = {k: v for k, v in obj.items() if k not in ("model", "state")}
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise LLEBenchError(f"{path}: does not contain a network state_dict")
    return {k.removeprefix("module."): v for k, v in obj.items()}, meta


def method_settings(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``[method]`` table the checkpoint was trained with ({} for a bare state_dict)."""
    return dict(meta.get("provenance", {}).get("config", {}).get("method", {}))
