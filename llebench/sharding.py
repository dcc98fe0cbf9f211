"""Who computes what in a sharded run (``torchrun ... -m llebench run``), and how rank 0
learns how far the others are.

A unit of work is one method on one image of one dataset: the enhancement and every
metric it still lacks. Every rank reads the same results directory at start, so every
rank lists the same missing units in the same order and :func:`assign_units` gives each
exactly one owner without any communication: no padding, no duplicates. Only missing
units are dealt out, so a relaunch after a kill (with any world size) shares the work
that is left evenly instead of leaving the ranks whose shards were finished idle. Within
an image the methods are rotated before dealing, so each rank gets a mix of every method
and an expensive one is not concentrated on one rank.

Progress: each rank writes how many of its units it has processed to
``RUN/.llebench-progress.rank<R>`` (at most once a second); rank 0 adds them up for its
progress bar. The files are removed at the start and the end of a run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from llebench.atomic import atomic_write_text

PROGRESS_PREFIX = ".llebench-progress.rank"


@dataclass(frozen=True)
class Unit:
    dataset: str
    image: str
    method: str


def assign_units(missing: Sequence[tuple[str, str, int, Sequence[str]]], world_size: int) -> dict[Unit, int]:
    """The owning rank of every unit.

    ``missing`` lists, in run order, ``(dataset, image id, image position, methods lacking
    something on that image)`` with the methods in the run's order. Methods of the image at
    position ``p`` are dealt starting ``p`` places further along, then units go round-robin.
    """
    owners: dict[Unit, int] = {}
    dealt = 0
    for dataset, image, position, methods in missing:
        shift = position % len(methods) if methods else 0
        for method in [*methods[shift:], *methods[:shift]]:
            owners[Unit(dataset, image, method)] = dealt % world_size
            dealt += 1
    return owners


class ProgressBoard:
    """Per-rank counts of processed units in the results directory (see the module docstring)."""

    def __init__(self, root: Path, rank: int, world_size: int, interval: float = 1.0) -> None:
        self.root, self.rank, self.world_size, self.interval = root, rank, world_size, interval
        self._written = 0.0
        self._read = 0.0
        self._others = 0

    def path(self, rank: int) -> Path:
        return self.root / f"{PROGRESS_PREFIX}{rank}"

    def clear(self) -> None:
        """Remove every rank's file (rank 0, at the start and end, while it holds the lock)."""
        for stale in self.root.glob(f"{PROGRESS_PREFIX}*"):
            stale.unlink(missing_ok=True)

    def publish(self, count: int, force: bool = False) -> None:
        """Write this rank's count (ranks other than 0; at most once per ``interval``)."""
        now = time.monotonic()
        if self.rank == 0 or (not force and now - self._written < self.interval):
            return
        self._written = now
        atomic_write_text(self.path(self.rank), f"{count}\n")

    def others(self, force: bool = False) -> int:
        """The other ranks' counts added up, as last written (rank 0; re-read at most once per ``interval``)."""
        now = time.monotonic()
        if force or now - self._read >= self.interval:
            self._read = now
            total = 0
            for rank in range(1, self.world_size):
                try:
                    total += int(self.path(rank).read_text().strip() or 0)
                except (OSError, ValueError):
                    continue  # not written yet, or replaced as we read: the next look sees it
            self._others = total
        return self._others
