"""Scoring outputs with metrics, in this process or in worker processes.

Expensive CPU metrics (``Metric.expensive``: NIQE, BRISQUE, ...) are the bulk of a
no-reference run, and they run fastest with one torch thread each. So, on the CPU, the
runner hands them to worker processes (each builds its own metrics from the same specs,
``torch.set_num_threads(1)``) while the main process goes on enhancing the next image
with all its threads. Cheap metrics (PSNR), efficiency metrics (which need the method
object) and everything on a GPU are scored in the main process. Workers return numbers;
the main process alone writes results, so the store keeps a single writer.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from llebench.api import EnhanceRecord, Metric, MetricValue, Sample
from llebench.components import ComponentSpec, build_component, one_line
from llebench.plugins import load_plugins

#: below this many expensive metric evaluations a worker's start-up (~5 s) is not worth it
MIN_POOLED_EVALUATIONS = 8


@dataclass
class Score:
    """One metric's result on one output: a value (and arrays) or an error."""

    label: str
    value: float | None
    seconds: float
    error: str | None = None
    arrays: dict[str, Any] = field(default_factory=dict)


def compute_scores(metrics: dict[str, Metric], output: torch.Tensor, sample: Sample,
                   record: EnhanceRecord) -> list[Score]:
    scores = []
    for label, metric in metrics.items():
        start = time.perf_counter()
        try:
            result = metric.compute(output, sample, record)
            value = float(result)
            if not math.isfinite(value):
                raise ValueError(f"metric {label} returned {value}")
        except Exception as exc:
            where = sample.meta.get("path", sample.id)
            scores.append(Score(label, None, time.perf_counter() - start, f"{one_line(exc)} [{where}]"))
            continue
        arrays = result.arrays if isinstance(result, MetricValue) else {}
        scores.append(Score(label, value, time.perf_counter() - start, arrays=arrays))
    return scores


def completed(scores: list[Score]) -> Future:
    future: Future = Future()
    future.set_result(scores)
    return future


# -- worker processes ---------------------------------------------------------------------

_WORKER_METRICS: dict[str, Metric | str] = {}


def _init_worker(plugins_dirs: list[str], specs: list[ComponentSpec], device: str) -> None:
    torch.set_num_threads(1)
    plugins = load_plugins(plugins_dirs=plugins_dirs)
    for spec in specs:
        try:
            _WORKER_METRICS[spec.label] = build_component(plugins, "metrics", spec, device=device)
        except Exception as exc:
            _WORKER_METRICS[spec.label] = f"{spec.label}: {one_line(exc)}"


def _score_in_worker(labels: list[str], output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> list[Score]:
    ready = {label: m for label in labels if not isinstance(m := _WORKER_METRICS[label], str)}
    failed = [Score(label, None, 0.0, str(_WORKER_METRICS[label])) for label in labels if label not in ready]
    return compute_scores(ready, output, sample, record) + failed


class Scorer:
    """Routes each metric evaluation to the main process or to the worker pool."""

    def __init__(self, metrics: dict[str, Metric | str], specs: list[ComponentSpec], device: str,
                 plugins_dirs: list[str], workers: int) -> None:
        self.metrics = metrics
        pooled = [s for s in specs if not isinstance(metrics.get(s.label), str)
                  and getattr(metrics.get(s.label), "expensive", False)]
        self.pooled = {s.label for s in pooled} if workers > 0 else set()
        self.pool = None
        self.pool_size = workers if self.pooled else 0
        if self.pooled:
            context = multiprocessing.get_context("spawn")  # never fork a process that has torch threads
            self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                            initargs=(plugins_dirs, pooled, device))

    @staticmethod
    def choose_workers(requested: int | None, device: str, reproducible: bool, pooled_evaluations: int) -> int:
        """``requested`` if given; else half the cores on a CPU run with enough expensive work.

        Never a pool when plugins were registered in-process (a worker could not load them).
        """
        if not reproducible:
            return 0
        if requested is not None:
            return requested
        if device != "cpu" or pooled_evaluations < MIN_POOLED_EVALUATIONS:
            return 0
        return max(1, (os.cpu_count() or 1) // 2)

    def submit(self, labels: list[str], output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> list[Future]:
        """Futures of lists of :class:`Score`, one list per destination."""
        inline = {label: m for label in labels if label not in self.pooled and not isinstance(m := self.metrics[label], str)}
        futures = [completed(compute_scores(inline, output, sample, record))] if inline else []
        pooled = [label for label in labels if label in self.pooled]
        if pooled and self.pool is not None:
            # the method object stays here: pooled metrics never need it
            futures.append(self.pool.submit(_score_in_worker, pooled, output, sample, replace(record, enhancer=None)))
        return futures

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
