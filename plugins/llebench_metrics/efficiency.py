"""Efficiency measures that need no image model."""

from __future__ import annotations

from typing import Any

import torch

from llebench.api import EnhanceRecord, Metric, Sample


class Seconds(Metric):
    name = "seconds"
    kind = "efficiency"
    lower_better = True
    default = True
    description = "wall-clock seconds the method took to enhance the image (one call, no warm-up)"

    def settings(self) -> dict[str, Any]:
        return {"measures": "enhance() wall time, CUDA-synchronised on GPU; excludes reading and writing"}

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        return record.seconds
