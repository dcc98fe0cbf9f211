"""Test-only plugin for tests/test_sharding.py, loaded with ``--plugins-dir``.

``counted`` brightens deterministically. Environment variables (not options: options are
part of a method's identity, and a relaunch must be the same method) steer it:
``SHARDING_TEST_LOG`` is a file it appends ``<rank> <pixel sum of the input>`` to per
enhancement, so a test can prove no unit was computed twice; ``SHARDING_TEST_DELAY``
seconds it sleeps per image; ``SHARDING_TEST_KILL=R:N`` makes rank R SIGKILL its own
process at its N-th image, mid-unit; ``SHARDING_TEST_GATE`` is a file it waits for
before its first image (so a test can hold a job midway). ``mean`` is a cheap metric.
"""

from __future__ import annotations

import os
import signal
import time

import torch

from llebench.sdk import Enhancer, EnhanceRecord, Metric, Sample, hookimpl


class Counted(Enhancer):
    name = "counted"

    def __init__(self, context=None) -> None:
        super().__init__(context)
        self.calls = 0

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        rank = os.environ.get("RANK", "0")
        self.calls += 1
        if os.environ.get("SHARDING_TEST_KILL") == f"{rank}:{self.calls}":
            os.kill(os.getpid(), signal.SIGKILL)  # mid-unit: nothing of this image is written
        gate = os.environ.get("SHARDING_TEST_GATE")
        while gate and not os.path.exists(gate):
            time.sleep(0.05)
        time.sleep(float(os.environ.get("SHARDING_TEST_DELAY", "0")))
        if os.environ.get("SHARDING_TEST_LOG"):  # the test's images all differ
            with open(os.environ["SHARDING_TEST_LOG"], "a") as fh:
                fh.write(f"{rank} {float(image.double().sum()):.6f}\n")
        return image.clamp(0, 1).sqrt()


class Mean(Metric):
    name = "mean"
    description = "mean output value (a cheap metric for tests)"

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        return float(output.double().mean())


@hookimpl
def llebench_register_enhancers(register):
    register(Counted)


@hookimpl
def llebench_register_metrics(register):
    register(Mean)
