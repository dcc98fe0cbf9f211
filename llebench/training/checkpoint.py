"""Atomic training checkpoints and finding the newest complete one.

Layout of a run directory's ``checkpoints/``::

    iter_0000100.pt   one complete checkpoint per saved iteration (the newest few are kept)
    latest            text: the file name of the newest checkpoint written (for people and scripts)

A checkpoint is written to a temporary file in the same directory, flushed and fsynced,
then renamed over its final name (rename is atomic on POSIX), then ``latest`` is updated
the same way. A run killed at any moment therefore leaves either the previous state or
the new one, never a torn ``iter_*.pt``; stray temporaries are ignored and removed.
:meth:`CheckpointDir.find_latest` does not trust names or the pointer: it loads the
newest file and checks it is marked complete, falling back to older ones, so even a file
damaged later (or truncated by a full disk) is never picked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from llebench.atomic import TEMP_PREFIX, atomic_write_text, atomic_writer
from llebench.statedict import load_checkpoint as load_weights_file

FORMAT = "llebench-train-checkpoint/1"
POINTER = "latest"
_NAME = re.compile(r"^iter_(\d{7,})\.pt$")


def checkpoint_name(iteration: int) -> str:
    return f"iter_{iteration:07d}.pt"


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` atomically, the rename itself synced (it survives a power cut)."""
    with atomic_writer(path, fsync_dir=True) as handle:
        torch.save(obj, handle)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a training checkpoint (``weights_only=True``: loading cannot run code)."""
    obj = load_weights_file(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("complete") is not True:
        raise ValueError(f"{path} is not a complete llebench training checkpoint")
    return obj


class CheckpointDir:
    """The ``checkpoints/`` directory of one run."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, iteration: int, payload: dict[str, Any], keep: int) -> Path:
        """Write the checkpoint of ``iteration`` atomically, update ``latest``, prune old ones."""
        path = self.root / checkpoint_name(iteration)
        atomic_torch_save({**payload, "format": FORMAT, "iteration": iteration, "complete": True}, path)
        atomic_write_text(self.root / POINTER, path.name + "\n")
        self._prune(keep)
        return path

    def _prune(self, keep: int) -> None:
        for stale in self.root.glob(f"{TEMP_PREFIX}*"):
            stale.unlink(missing_ok=True)
        for old in self.candidates()[max(1, keep):]:
            old.unlink(missing_ok=True)

    def candidates(self) -> list[Path]:
        """Checkpoint files, newest iteration first (complete or not)."""
        if not self.root.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.root.iterdir() if (m := _NAME.match(p.name))]
        return [p for _, p in sorted(found, reverse=True)]

    def find_latest(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint that loads and is complete, with its contents; None if none."""
        for path in self.candidates():
            try:
                return path, load_checkpoint(path)
            except Exception:  # noqa: BLE001, S112 - torn, truncated or foreign file: fall back to an older one
                continue
        return None
