"""Reading network weights from any checkpoint file, safely and in one place.

Published checkpoints come in many shapes: a bare ``state_dict``; a training dict with the
weights under ``model``, ``state_dict``, ``model_state`` or ``params``; weights nested
deeper (``['state_dict']['model_R']``, an EMA teacher under ``state.ema.module``); keys
prefixed ``module.`` by ``nn.DataParallel``. :func:`load_state_dict` handles them all with
``torch.load(..., weights_only=True)``, so loading a file cannot run code. The only
non-tensor object allowed besides plain containers is :class:`argparse.Namespace` (some
authors pickle their command-line options into the checkpoint); it holds data, no code.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Sequence

from llebench.errors import LLEBenchError

#: where training checkpoints usually keep the network's weights, tried in this order
STATE_DICT_KEYS = ("model", "state_dict", "model_state", "params")


class WeightsFormatError(LLEBenchError):
    """A weights file does not load, or does not hold the weights where they are expected."""


def load_checkpoint(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a clear error names the file."""
    import torch

    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsFormatError(f"{path}: not a loadable weights-only PyTorch checkpoint ({exc})") from exc


def load_state_dict(
    path: str | os.PathLike[str],
    where: str | Sequence[str] | None = None,
    *,
    strip_prefix: str = "module.",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state_dict, metadata)`` of a checkpoint file.

    ``where`` is the dotted path of the weights inside the file (``"state_dict.model_R"``,
    ``"state.ema.module"``); by default the file itself, or the first of
    :data:`STATE_DICT_KEYS` that holds a dict. ``metadata`` is the rest of the top-level
    dict (e.g. llebench's ``untrained`` flag and provenance; empty for a bare state_dict).
    ``strip_prefix`` is removed from every key that starts with it.
    """
    import torch

    obj = load_checkpoint(path)
    meta: dict[str, Any] = {}
    if where is not None:
        parts = where.split(".") if isinstance(where, str) else list(where)
        node = obj
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                found = ", ".join(map(str, node)) if isinstance(node, dict) else type(node).__name__
                raise WeightsFormatError(f"{path}: no {'.'.join(parts[:depth + 1])!r} in the file (found: {found})")
            node = node[part]
        if isinstance(obj, dict):
            meta = _metadata(obj, parts[0])
        obj = node
    elif isinstance(obj, dict):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), dict):
                meta = _metadata(obj, key)
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsFormatError(f"{path}: does not contain a network state_dict"
                                 + (f" at {where!r}" if where is not None else ""))
    return {_strip(key, strip_prefix): value for key, value in obj.items()}, meta


def _metadata(obj: dict[str, Any], taken: str) -> dict[str, Any]:
    """The top-level entries that are not weights: flags (``untrained``), provenance, options."""
    return {k: v for k, v in obj.items() if k != taken and k != "state" and k not in STATE_DICT_KEYS}


def _strip(key: str, prefix: str) -> str:
    return key[len(prefix):] if prefix and key.startswith(prefix) else key


def flush_subnormals(state: dict[str, Any]) -> dict[str, Any]:
    """The state_dict with subnormal floats (|x| < 1.2e-38 in float32) set to zero.

    Weight decay drives many published weights there; x86 CPUs compute with subnormals
    about 30x slower, and their effect on any output is below float32 resolution.
    ``torch.set_flush_denormal`` would not help: it only sets the calling thread, not the
    OpenMP workers that run the convolutions.
    """
    import torch

    flushed = {}
    for key, tensor in state.items():
        if tensor.is_floating_point():
            tensor = torch.where(tensor.abs() < torch.finfo(tensor.dtype).tiny, torch.zeros_like(tensor), tensor)
        flushed[key] = tensor
    return flushed
