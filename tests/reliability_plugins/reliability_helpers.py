"""Test-only plugin for tests/test_reliability_*.py, loaded with ``--plugins-dir``.

``mean`` is a cheap deterministic metric; ``sleepy`` is a deterministic method that
sleeps a little per image (so a random SIGKILL lands mid-run); ``oom_above`` runs out of
memory on large inputs and declares a halo, so the runner must fall back to tiles.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from llebench.sdk import hookimpl
from llebench.sdk import Enhancer, EnhanceRecord, Metric, Sample


class Mean(Metric):
    name = "mean"
    description = "mean output value (a cheap metric for tests)"

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        return float(output.double().mean())


class Sleepy(Enhancer):
    name = "sleepy"

    def __init__(self, context=None, delay: float = 0.05) -> None:
        super().__init__(context)
        self.delay = delay

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        time.sleep(self.delay)
        return image.clamp(0, 1).sqrt()


def box_blur(image: torch.Tensor, radius: int) -> torch.Tensor:
    """A (2r+1)^2 mean filter with zero padding: output depends on the input within ``radius`` px."""
    size = 2 * radius + 1
    return F.avg_pool2d(image, size, stride=1, padding=radius, count_include_pad=True)


class OomAbove(Enhancer):
    """Two stacked box blurs (halo 2 + 2 = 4); 'out of memory' above ``limit`` pixels."""

    name = "oom_above"
    tile_halo = 4

    def __init__(self, context=None, limit: int = 2500, error: str = "torch", fail_after: float = 0.0) -> None:
        super().__init__(context)
        self.limit, self.error, self.fail_after = limit, error, fail_after
        self.calls: list[tuple[int, int]] = []

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(image.shape[-2:]))
        if image.shape[-2] * image.shape[-1] > self.limit:
            time.sleep(self.fail_after)  # a real out-of-memory comes after seconds of work
            if self.error == "torch":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            if self.error == "cpu":
                raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
            raise MemoryError()
        return box_blur(box_blur(image, 2), 2)


class NoHalo(OomAbove):
    """Runs out of memory the same way, but cannot be tiled."""

    name = "oom_no_halo"
    tile_halo = None


@hookimpl
def llebench_register_enhancers(register):
    register(Sleepy)
    register(OomAbove)
    register(NoHalo)


@hookimpl
def llebench_register_metrics(register):
    register(Mean)
