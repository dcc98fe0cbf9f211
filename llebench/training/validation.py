"""Validation during training with the runner's own datasets and metrics.

The model is scored exactly as ``llebench run`` would score an enhancer: each output is
clamped and quantised to 8 bits, then every metric's ``compute`` is called on it. The
engine passes the network whose weights the checkpoint exports under ``"model"`` (the EMA
with ``train.export_ema``, else the raw network, even when an EMA teacher is kept), so a
validation NIQE is the number the benchmark would report for that checkpoint's
``model.pt`` (on the first ``limit`` images).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from llebench.api import EnhanceRecord
from llebench.errors import RunConfigError
from llebench.images import quantize
from llebench.training.api import TrainContext


class Validator:
    """Scores ``enhance(image)`` on a registered dataset with registered metrics."""

    def __init__(self, context: TrainContext, settings: dict[str, Any]) -> None:
        if not settings["metrics"]:
            raise RunConfigError(f"validation.dataset = {settings['dataset']!r} needs validation.metrics "
                                 "(e.g. [\"niqe\"])")
        self.dataset = context.build("datasets", settings["dataset"])
        self.metrics = {}
        for name in settings["metrics"]:
            metric = context.build("metrics", name)
            if metric.kind in ("full-reference", "task") and not (
                self.dataset.has_reference if metric.kind == "full-reference" else self.dataset.has_labels
            ):
                raise RunConfigError(f"validation metric {name!r} needs references or labels that "
                                     f"dataset {settings['dataset']!r} does not have")
            self.metrics[name] = metric
        self.ids = self.dataset.ids()[: int(settings["limit"])]
        self.device = context.device

    @torch.no_grad()
    def run(self, enhance: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        """Mean of each metric over the validation images."""
        totals = {name: 0.0 for name in self.metrics}
        for image_id in self.ids:
            sample = self.dataset.load(image_id)
            start = time.perf_counter()
            output = enhance(sample.input.to(self.device)).float().cpu()
            record = EnhanceRecord(time.perf_counter() - start, str(self.device))
            output = quantize(output)
            for name, metric in self.metrics.items():
                totals[name] += float(metric.compute(output, sample, record))
        return {name: total / len(self.ids) for name, total in totals.items()}
