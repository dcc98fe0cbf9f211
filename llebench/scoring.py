"""Scoring outputs with metrics, in this process or in worker processes.

Expensive CPU metrics (``Metric.expensive``: NIQE, BRISQUE, ...) are the bulk of a
no-reference run, and they run fastest with one torch thread each. So, on the CPU, the
runner hands them to worker processes (each builds its own metrics from the same specs,
``torch.set_num_threads(1)``) while the main process goes on enhancing the next image
with all its threads. Cheap metrics (PSNR), efficiency metrics (which need the method
object) and everything on a GPU are scored in the main process. Workers return numbers;
the main process alone writes results, so the store keeps a single writer.

In the main process, batchable metrics (``Metric.batchable``) can score several outputs
of the same size in one call (``batch_size`` > 1; the runner's default on CUDA, where one
forward pass of a deep metric over a batch costs little more than over one image): each
submission waits in a group of same-sized outputs until the group is full or its result
is needed. Batched scores equal per-image ones up to float rounding (different batch
sizes may sum in another order), which is why CPU runs, which promise bit-identical
results after a resume, score one image at a time by default.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from llebench.api import EnhanceRecord, Metric, MetricValue, Sample
from llebench.components import ComponentSpec, build_component, one_line
from llebench.context import Context
from llebench.cpu_memory import keep_freed_memory
from llebench.errors import RunConfigError
from llebench.plugins import load_plugins

#: below this many expensive metric evaluations a worker's start-up (~5 s) is not worth it
MIN_POOLED_EVALUATIONS = 32
#: with fewer cores a worker only competes with the enhancer's threads (measured: 2 cores,
#: a Table-1 run on DICM took 14.2 s inline, 18.3 s with one worker, 16.8 s with two)
MIN_POOLED_CORES = 4
#: outputs per batched metric call on CUDA runs without --metric-batch
DEFAULT_CUDA_BATCH = 8


@dataclass
class Score:
    """One metric's result on one output: a value (and arrays) or an error."""

    label: str
    value: float | None
    seconds: float
    error: str | None = None
    arrays: dict[str, Any] = field(default_factory=dict)


def to_score(label: str, result: float | MetricValue, seconds: float) -> Score:
    """A metric's result as a :class:`Score`; a non-finite value is an error."""
    value = float(result)
    if not math.isfinite(value):
        raise ValueError(f"metric {label} returned {value}")
    arrays = result.arrays if isinstance(result, MetricValue) else {}
    return Score(label, value, seconds, arrays=arrays)


def compute_scores(metrics: dict[str, Metric], output: torch.Tensor, sample: Sample,
                   record: EnhanceRecord) -> list[Score]:
    scores = []
    for label, metric in metrics.items():
        start = time.perf_counter()
        try:
            scores.append(to_score(label, metric.compute(output, sample, record), time.perf_counter() - start))
        except Exception as exc:
            where = sample.meta.get("path", sample.id)
            scores.append(Score(label, None, time.perf_counter() - start, f"{one_line(exc)} [{where}]"))
    return scores


def completed(scores: list[Score]) -> Future:
    future: Future = Future()
    future.set_result(scores)
    return future


# -- batches in the main process ----------------------------------------------------------


class _Group:
    """Submissions waiting to be scored together: same metrics, same output and reference sizes."""

    def __init__(self, metrics: dict[str, Metric]) -> None:
        self.metrics = metrics
        self.entries: list[tuple[torch.Tensor, Sample, EnhanceRecord, Future]] = []

    def run(self) -> None:
        """Score every entry (each metric in one batched call) and resolve the entries' futures."""
        entries, self.entries = self.entries, []
        if not entries:
            return
        outputs = torch.cat([output for output, _, _, _ in entries])
        samples = [sample for _, sample, _, _ in entries]
        records = [record for _, _, record, _ in entries]
        per_entry: list[list[Score]] = [[] for _ in entries]
        for label, metric in self.metrics.items():
            start = time.perf_counter()
            try:
                results = metric.compute_batch(outputs, samples, records)
                if len(results) != len(entries):
                    raise ValueError(f"metric {label} gave {len(results)} results for a batch of {len(entries)}")
                seconds = (time.perf_counter() - start) / len(entries)
                scores = [to_score(label, result, seconds) for result in results]
            except Exception:
                # image by image, so that only the images at fault fail, each with its own error
                scores = [compute_scores({label: metric}, output, sample, record)[0]
                          for output, sample, record, _ in entries]
            for scores_of_entry, score in zip(per_entry, scores, strict=True):
                scores_of_entry.append(score)
        for (_, _, _, future), scores in zip(entries, per_entry, strict=True):
            future.set_result(scores)


class _BatchFuture(Future):
    """A future whose group is scored on demand: asking for its result never waits forever."""

    def __init__(self, group: _Group) -> None:
        super().__init__()
        self.group = group

    def result(self, timeout: float | None = None) -> list[Score]:
        if not self.done():
            self.group.run()
        return super().result(timeout)


class Batcher:
    """Groups submissions of batchable metrics by output (and reference) size, ``batch_size`` per call."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.groups: dict[tuple, _Group] = {}

    def submit(self, metrics: dict[str, Metric], output: torch.Tensor, sample: Sample,
               record: EnhanceRecord) -> Future:
        reference = None if sample.reference is None else tuple(sample.reference.shape)
        key = (tuple(metrics), tuple(output.shape), reference)
        group = self.groups.setdefault(key, _Group(metrics))
        future = _BatchFuture(group)
        group.entries.append((output, sample, record, future))
        if len(group.entries) >= self.batch_size:
            group.run()
        return future


# -- worker processes ---------------------------------------------------------------------

_WORKER_METRICS: dict[str, Metric | str] = {}


def _init_worker(plugins_dirs: list[str], specs: list[ComponentSpec], device: str, reuse_memory: bool,
                 data_root: str | None) -> None:
    torch.set_num_threads(1)
    if reuse_memory:
        keep_freed_memory()
    plugins = load_plugins(plugins_dirs=plugins_dirs)
    context = Context(device=device, data_root=None if data_root is None else Path(data_root), plugins=plugins)
    for spec in specs:
        try:
            _WORKER_METRICS[spec.label] = build_component(plugins, "metrics", spec, context)
        except Exception as exc:
            _WORKER_METRICS[spec.label] = f"{spec.label}: {one_line(exc)}"


def _score_in_worker(labels: list[str], output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> list[Score]:
    ready = {label: m for label in labels if not isinstance(m := _WORKER_METRICS[label], str)}
    failed = [Score(label, None, 0.0, str(_WORKER_METRICS[label])) for label in labels if label not in ready]
    return compute_scores(ready, output, sample, record) + failed


class Scorer:
    """Routes each metric evaluation to the main process or to the worker pool."""

    def __init__(self, metrics: dict[str, Metric | str], specs: list[ComponentSpec], device: str,
                 plugins_dirs: list[str], workers: int, batch_size: int = 1, reuse_memory: bool = False,
                 data_root: Path | None = None) -> None:
        self.metrics = metrics
        self.batcher = Batcher(batch_size) if batch_size > 1 else None
        pooled = [s for s in specs if not isinstance(metrics.get(s.label), str)
                  and getattr(metrics.get(s.label), "expensive", False)]
        self.pooled = {s.label for s in pooled} if workers > 0 else set()
        self.pool = None
        self.pool_size = workers if self.pooled else 0
        if self.pooled:
            context = multiprocessing.get_context("spawn")  # never fork a process that has torch threads
            self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                            initargs=(plugins_dirs, pooled, device, reuse_memory,
                                                      None if data_root is None else str(data_root)))

    @staticmethod
    def choose_batch_size(requested: int | None, device: str) -> int:
        """``requested`` if given; else 8 on CUDA (batched forward passes), 1 on the CPU (bit-exact resume)."""
        if requested is not None:
            if requested < 1:
                raise RunConfigError(f"--metric-batch must be at least 1 (got {requested})")
            return requested
        return DEFAULT_CUDA_BATCH if device.startswith("cuda") else 1

    @staticmethod
    def choose_workers(requested: int | None, device: str, reproducible: bool, pooled_evaluations: int,
                       processes_per_host: int = 1) -> int:
        """``requested`` if given; else half the cores on a CPU run with enough expensive work
        and at least ``MIN_POOLED_CORES`` cores (shared among the ``processes_per_host`` ranks
        of a sharded run on one host).

        Never a pool when plugins were registered in-process (a worker could not load them).
        """
        if not reproducible:
            return 0
        if requested is not None:
            return requested
        cores = os.cpu_count() or 1
        if device != "cpu" or pooled_evaluations < MIN_POOLED_EVALUATIONS or cores < MIN_POOLED_CORES:
            return 0
        return cores // 2 // max(1, processes_per_host)

    def submit(self, labels: list[str], output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> list[Future]:
        """Futures of lists of :class:`Score`, one list per destination."""
        inline = {label: m for label in labels if label not in self.pooled and not isinstance(m := self.metrics[label], str)}
        batched = {label: m for label, m in inline.items() if self.batcher is not None and m.batchable}
        now = {label: m for label, m in inline.items() if label not in batched}
        futures = [completed(compute_scores(now, output, sample, record))] if now else []
        if batched:
            futures.append(self.batcher.submit(batched, output, sample, record))
        pooled = [label for label in labels if label in self.pooled]
        if pooled and self.pool is not None:
            # the method object stays here: pooled metrics never need it
            futures.append(self.pool.submit(_score_in_worker, pooled, output, sample, replace(record, enhancer=None)))
        return futures

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
