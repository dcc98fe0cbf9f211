"""Reading SSLL weights: an llebench checkpoint/model.pt, or a bare UNet state_dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llebench.sdk import LLEBenchError, WeightsFormatError, load_state_dict

#: where a full training checkpoint keeps the mean teacher's weights
TEACHER = "state.ema.module"


def load_weights(path: Path, teacher: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state_dict, metadata) of ``path``; metadata is empty for a bare state_dict.

    ``teacher``: the mean teacher's weights (``state.ema.module``), which only a full
    training checkpoint (``checkpoints/iter_*.pt``) holds. Loaded ``weights_only``;
    ``module.`` prefixes (DataParallel) are dropped.
    """
    if not teacher:
        return load_state_dict(path)
    try:
        return load_state_dict(path, TEACHER)
    except WeightsFormatError as exc:
        raise LLEBenchError(f"{path}: holds no mean-teacher weights; pass a training checkpoint "
                            "(OUT/checkpoints/iter_*.pt) of a run with train.ema_decay > 0") from exc


def method_settings(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``[method]`` table the checkpoint was trained with ({} for a bare state_dict)."""
    return dict(meta.get("provenance", {}).get("config", {}).get("method", {}))
