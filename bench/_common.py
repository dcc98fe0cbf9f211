"""Shared helpers of the benchmarks: one line per target, ratios measured in one run."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

SHARED = Path(__file__).resolve().parents[2] / "shared"


@dataclass
class Result:
    name: str
    ratio: float
    target: str  # e.g. "<= 0.7"
    passed: bool
    detail: str = ""
    #: False where the target depends on hardware this machine lacks: the line says so and never fails
    measurable: bool = True

    def line(self) -> str:
        verdict = ("PASS" if self.passed else "FAIL") if self.measurable else "NOT-MEASURABLE-HERE"
        return f"{self.name:<34} ratio {self.ratio:7.3f}  target {self.target:<8} {verdict}  {self.detail}"


def at_most(name: str, ratio: float, limit: float, detail: str = "") -> Result:
    return Result(name, ratio, f"<= {limit}", ratio <= limit, detail)


def data_dir() -> Path:
    """$LLEBENCH_DATA, else ../shared/data beside the project."""
    return Path(os.environ.get("LLEBENCH_DATA", SHARED / "data"))


def weights_dir() -> Path:
    return Path(os.environ.get("LLEBENCH_WEIGHTS", SHARED / "weights"))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def peak_rss_gb() -> float:
    """This process's peak resident memory in GB (Linux VmHWM).

    Not ``ru_maxrss``: Linux carries the parent's peak into a child's ``ru_maxrss`` across
    exec, so a child started by a large process would report the parent's peak.
    """
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kib / 1024 ** 2


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(results: list[Result]) -> None:
    print(f"# {machine()}", file=sys.stderr)
    for result in results:
        print(result.line(), flush=True)
