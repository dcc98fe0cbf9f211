"""Plan (methods x datasets x metrics) -> execute -> store.

Each image is read once per dataset and enhanced once per method; the 8-bit output is
cached as a PNG and every metric scores that quantised output, so a resumed run scores
exactly what an uninterrupted one would. Anything that fails (an unreadable image, a
method error, NaN output, a metric whose parameter file is missing) becomes a ``failed``
row naming the cause, and the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from llebench import provenance
from llebench.atomic import remove_stale_temporaries
from llebench.api import Dataset, Enhancer, EnhanceRecord, Metric, Sample
from llebench.components import ComponentSpec, build_component, one_line
from llebench.context import Context
from llebench.cpu_memory import keep_freed_memory
from llebench.distributed import DistInfo, broadcast, gather
from llebench.enhancing import check_shape, crop_sample, enhance
from llebench.errors import (
    EnhancementError, ImageError, LLEBenchError, OutputNotWritable, ReportedElsewhere, RunConfigError,
)
from llebench.images import quantize, read_image, write_png
from llebench.plugins import PluginSet
from llebench.lock import RunLock
from llebench.manifest import dataset_entry, method_entry, metric_entry, row_variant
from llebench.results import output_image_path
from llebench.run_summary import Failure, RunSummary
from llebench.scoring import Score, Scorer
from llebench.sharding import ProgressBoard, Unit, assign_units
from llebench.stats import DEFAULT_SEED, LEVEL, RESAMPLES
from llebench.store import ResultsStore

logger = logging.getLogger(__name__)


@dataclass
class RunPlan:
    methods: list[ComponentSpec]
    datasets: list[ComponentSpec]
    metrics: list[ComponentSpec]
    out: Path
    device: str = "cpu"
    limit: int | None = None
    data_root: Path | None = None
    #: metric worker processes; None = automatic (see llebench.scoring.Scorer.choose_workers)
    workers: int | None = None
    #: outputs per batched metric call; None = automatic (see llebench.scoring.Scorer.choose_batch_size)
    metric_batch: int | None = None
    #: on CPU, keep freed memory in the process for the next image (llebench.cpu_memory)
    reuse_cpu_memory: bool = True
    #: seed of the bootstrap intervals in summary.csv (recorded in the manifest)
    bootstrap_seed: int = DEFAULT_SEED


class Runner:
    """Executes one :class:`RunPlan` against a results directory.

    Under torchrun, one Runner per rank (``shard``): rank 0 holds the directory's lock,
    writes the manifest and merges the ranks' journals at the end; each rank computes the
    units :func:`llebench.sharding.assign_units` gives it (see docs/scaling.md).
    """

    def __init__(self, plugins: PluginSet, plan: RunPlan, progress: bool | None = None,
                 shard: DistInfo | None = None) -> None:
        self.plugins = plugins
        self.plan = plan
        self.progress = progress
        self.shard = shard or DistInfo()
        self.board = ProgressBoard(plan.out, self.shard.rank, self.shard.world_size)
        self.store: ResultsStore | None = None  # opened by run(), under the directory's writer lock
        self.summary = RunSummary(out=plan.out)
        self._pending: deque[tuple[dict[str, Any], Future]] = deque()
        self.metric_batch = Scorer.choose_batch_size(plan.metric_batch, plan.device)

    # -- building components -------------------------------------------------------------

    def _build_all(self) -> tuple[dict[str, Enhancer | str], dict[str, Dataset | str], dict[str, Metric | str]]:
        """Instantiate everything; a component that cannot be built is kept as its error text."""
        context = Context(device=self.plan.device, data_root=self.plan.data_root, plugins=self.plugins)
        built: dict[str, dict[str, Any]] = {"methods": {}, "datasets": {}, "metrics": {}}
        for kind, specs in (("enhancers", self.plan.methods), ("datasets", self.plan.datasets),
                            ("metrics", self.plan.metrics)):
            section = "methods" if kind == "enhancers" else kind
            for spec in specs:
                if spec.label in built[section]:
                    raise RunConfigError(f"{section[:-1]} {spec.label!r} is listed twice")
                self.plugins.get(kind, spec.name)  # unknown names are a config error, not a failure
                try:
                    built[section][spec.label] = build_component(self.plugins, kind, spec, context)
                except RunConfigError:
                    raise
                except Exception as exc:
                    built[section][spec.label] = f"{spec.label}: {one_line(exc)}"
        return built["methods"], built["datasets"], built["metrics"]

    def _manifest_update(self, methods: dict, datasets: dict, metrics: dict,
                         all_ids: dict[str, list[str]]) -> dict[str, Any]:
        def spec(specs: list[ComponentSpec], label: str) -> ComponentSpec:
            return next(s for s in specs if s.label == label)

        env = provenance.environment(self.plan.device)
        return {
            "llebench_version": env["versions"]["llebench"],
            "methods": {k: method_entry(spec(self.plan.methods, k), v, self.plugins) for k, v in methods.items()},
            "datasets": {k: dataset_entry(spec(self.plan.datasets, k), v, all_ids.get(k), self.plan.out)
                         for k, v in datasets.items()},
            "metrics": {k: metric_entry(spec(self.plan.metrics, k), v, self.plugins) for k, v in metrics.items()},
            "plugins": {name: info.version for name, info in self.plugins.plugins.items()},
            "bootstrap": {"seed": self.plan.bootstrap_seed, "resamples": RESAMPLES, "level": LEVEL,
                          "interval": "percentile bootstrap of the mean over images",
                          "test": "paired Wilcoxon signed-rank, Holm-corrected, alpha 0.05"},
            "invocations": [{"started": provenance.now(), "limit": self.plan.limit, "metric_batch": self.metric_batch,
                             "ranks": self.shard.world_size, "ranks_per_host": self.shard.local_world_size,
                             "reuse_cpu_memory": self.plan.reuse_cpu_memory, **env}],
            **env,
        }

    def _dataset_ids(self, datasets: dict[str, Dataset | str]) -> dict[str, list[str]]:
        """Every id of each usable dataset; a dataset that is absent, or whose ids would share
        a cached output, is a configuration error (the other datasets still run)."""
        found = {}
        for label, dataset in datasets.items():
            if isinstance(dataset, str):
                self.summary.config_errors.append(dataset)
                continue
            try:
                ids = dataset.ids()
                check_ids(label, ids)
            except (LLEBenchError, OSError) as exc:
                self.summary.config_errors.append(f"{label}: {one_line(exc)}")
                continue
            found[label] = ids
        return found

    # -- execution -------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Compute what the results directory lacks, holding its writer lock throughout."""
        with ExitStack() as held:
            self._on_rank0(lambda: self._open(held))
            if self.store is None:  # the other ranks open after rank 0 folded a killed run's leftovers
                self.store = ResultsStore(self.plan.out, shard=self.shard.rank)
            return self._run()

    def _open(self, held: ExitStack) -> None:
        held.enter_context(RunLock(self.plan.out))
        removed = remove_stale_temporaries(self.plan.out)
        if removed:
            logger.info("%s: removed %d temporary files left by a killed run", self.plan.out, removed)
        self.board.clear()
        self.store = ResultsStore(self.plan.out, shard=0 if self.shard.enabled else None)

    def _on_rank0(self, action: Callable[[], None]) -> None:
        """Run ``action`` on rank 0 only; when it raises, every rank stops (rank 0 says why)."""
        problem = None
        if self.shard.rank == 0:
            try:
                action()
            except LLEBenchError as exc:
                if not self.shard.enabled:
                    raise
                problem = exc
        message = broadcast(None if problem is None else str(problem), self.shard)
        if problem is not None:
            raise problem
        if message is not None:
            raise ReportedElsewhere(message)

    def _run(self) -> RunSummary:
        if self.plan.reuse_cpu_memory and self.plan.device == "cpu":
            keep_freed_memory()
        methods, datasets, metrics = self._build_all()
        all_ids = self._dataset_ids(datasets)
        self._on_rank0(lambda: self.store.merge_manifest(self._manifest_update(methods, datasets, metrics, all_ids)))
        for label, obj in {**methods, **metrics}.items():
            if isinstance(obj, str):
                self.summary.setup_errors.append(obj)
        work = [(label, datasets[label], ids[: self.plan.limit] if self.plan.limit else ids)
                for label, ids in all_ids.items()]

        total = sum(len(ids) for _, _, ids in work) * len(methods)
        applicable = {label: self._applicable_metrics(label, dataset, metrics) for label, dataset, _ in work}
        self.summary.scored_metrics = len({name for found in applicable.values() for name in found})
        expensive = sum(len(ids) * len(methods) * sum(getattr(m, "expensive", False) for m in applicable[label].values())
                        for label, _, ids in work)
        # a method's first call is slower (allocations, kernels chosen): not timed when a metric uses timing
        self._warm_up = any(getattr(m, "uses_timing", False) for found in applicable.values() for m in found.values())
        self._warmed: set[str] = set()
        self._columns_of: dict[str, tuple[str, str]] = {}  # method label -> (variant, weights) of its rows
        if self._warm_up and self.shard.local_world_size > 1 and self.shard.rank == 0:
            self.summary.warnings.append(f"timing metrics were measured while {self.shard.local_world_size} ranks "
                                         "shared each host: compare seconds only between runs launched alike")
        workers = Scorer.choose_workers(self.plan.workers, self.plan.device, self.plugins.reproducible, expensive,
                                        processes_per_host=self.shard.local_world_size)
        self.scorer = Scorer(metrics, self.plan.metrics, self.plan.device, self.plugins.dirs, workers, self.metric_batch,
                             reuse_memory=self.plan.reuse_cpu_memory, data_root=self.plan.data_root)
        # results wait in submission order: room for the workers' queue and a full batch per method
        self._keep = 2 * max(1, self.scorer.pool_size) + (self.metric_batch - 1) * len(methods)
        todo, self._complete = self._my_units(work, methods, applicable)
        self._processed = 0
        try:
            with tqdm(total=total, desc="llebench run", unit="img", disable=self.shard.rank != 0 or (
                    None if self.progress is None else not self.progress)) as bar, \
                    ThreadPoolExecutor(1, thread_name_prefix="llebench-read") as reader:
                self._show(bar)
                for label, dataset, _ in work:
                    self._run_dataset(label, dataset, todo[label], methods, applicable[label], reader, bar)
                self._collect(keep=0)
                self._show(bar, force=True)
                self._wait_for_other_ranks(bar)
        finally:
            self.scorer.close()
        self._gather_counts()
        if self.shard.rank == 0:
            self.store.finish()
            self.board.clear()
            self.summary.means = self.store.write_summary(self.plan.bootstrap_seed)
            self.summary.formats = {label: entry.get("format") or "" for label, entry in
                                    self.store.manifest.get("metrics", {}).items()}
            self.store.manifest["finished"] = provenance.now()
            self.store.write_manifest()
        return self.summary

    def _my_units(self, work: list[tuple[str, Dataset, list[str]]], methods: dict,
                  applicable: dict[str, dict]) -> tuple[dict[str, list[tuple[str, dict[str, list[str]]]]], int]:
        """This rank's images of each dataset, each with the metrics each method still lacks
        there; and the number of units already complete. Rank 0 counts what is reused."""
        missing, lacking, complete = [], {}, 0
        for label, _, ids in work:
            metrics = applicable[label]
            for position, image_id in enumerate(ids):
                needed = {method: [m for m in metrics if not self.store.has_score(method, label, image_id, m)]
                          for method in methods}
                if self.shard.rank == 0:
                    self.summary.reused += sum(len(metrics) - len(n) for n in needed.values())
                complete += sum(not n for n in needed.values())
                if any(needed.values()):
                    missing.append((label, image_id, position, [m for m, n in needed.items() if n]))
                    lacking[label, image_id] = needed
        owners = assign_units(missing, self.shard.world_size)
        todo: dict[str, list[tuple[str, dict[str, list[str]]]]] = {label: [] for label, _, _ in work}
        for label, image_id, _, lacking_methods in missing:
            mine = {m: lacking[label, image_id][m] for m in lacking_methods
                    if owners[Unit(label, image_id, m)] == self.shard.rank}
            if mine:
                todo[label].append((image_id, mine))
        return todo, complete

    def _wait_for_other_ranks(self, bar: tqdm) -> None:
        """Rank 0 keeps the bar moving with the other ranks' counts until every rank is done."""
        if not self.shard.enabled:
            return
        import torch.distributed as dist

        done = dist.barrier(async_op=True)
        if self.shard.rank != 0:
            done.wait()
            return
        while not done.is_completed():
            self._show(bar)
            time.sleep(0.2)
        self._show(bar, force=True)

    def _show(self, bar: tqdm, force: bool = False) -> None:
        """The bar of the whole job: units complete at start, and those processed since by every rank."""
        self.board.publish(self._processed, force)
        if self.shard.rank == 0:
            bar.update(self._complete + self._processed + self.board.others(force) - bar.n)

    def _gather_counts(self) -> None:
        """Rank 0's summary covers every rank: add up what the others computed and what failed there."""
        parts = gather((self.summary.computed, self.summary.failures, self.summary.recomputed), self.shard)
        if self.shard.rank == 0 and self.shard.enabled:
            self.summary.computed = sum(part[0] for part in parts)
            self.summary.failures = [failure for part in parts for failure in part[1]]
            self.summary.recomputed = [path for part in parts for path in part[2]]

    def _applicable_metrics(self, label: str, dataset: Dataset, metrics: dict) -> dict[str, Metric | str]:
        applicable = {}
        for name, metric in metrics.items():
            # a built metric knows its kind (``pyiqa:NAME`` learns it from NAME); else its class
            kind = metric.kind if not isinstance(metric, str) else self.plugins.get(
                "metrics", next(s.name for s in self.plan.metrics if s.label == name)).kind
            if kind == "full-reference" and not dataset.has_reference:
                self.summary.skipped.append(f"{name} on {label}: the dataset has no reference images")
            elif kind == "task" and not dataset.has_labels:
                self.summary.skipped.append(f"{name} on {label}: the dataset has no labels")
            else:
                applicable[name] = metric
        return applicable

    def _run_dataset(self, label: str, dataset: Dataset, todo: list[tuple[str, dict[str, list[str]]]],
                     methods: dict, metrics: dict[str, Metric | str], reader: ThreadPoolExecutor, bar: tqdm) -> None:
        """Enhance and score this rank's units, reading the next image while this one is processed."""
        loads = [reader.submit(dataset.load, image_id) for image_id, _ in todo[:2]]
        for index, (image_id, needed) in enumerate(todo):
            if index + 2 < len(todo):
                loads.append(reader.submit(dataset.load, todo[index + 2][0]))
            self._run_image(label, image_id, loads[index], methods, needed, metrics)
            loads[index] = None  # release the sample
            self._collect(keep=self._keep)
            self._processed += len(needed)
            self._show(bar)

    def _run_image(
        self, dataset_label: str, image_id: str, load: Future, methods: dict, needed: dict[str, list[str]],
        metrics: dict[str, Metric | str],
    ) -> None:
        try:
            sample = load.result()
        except Exception as exc:
            for method, todo in needed.items():
                self._fail_all(method, methods[method], dataset_label, image_id, todo, one_line(exc))
            return
        for method, todo in needed.items():
            if not todo:
                continue
            enhancer = methods[method]
            if isinstance(enhancer, str):
                self._fail_all(method, enhancer, dataset_label, image_id, todo, enhancer)
                continue
            try:
                output, scored, record = self._output(method, enhancer, dataset_label, sample)
            except OutputNotWritable:
                raise  # disk full or read-only: every further image would fail the same way
            except Exception as exc:
                where = sample.meta.get("path", image_id)
                self._fail_all(method, enhancer, dataset_label, image_id, todo, f"{one_line(exc)} [{where}]")
                continue
            ready = []
            for metric_label in todo:
                if isinstance(metrics[metric_label], str):  # the metric could not be built
                    self._record_failure(self._row_base(method, enhancer, dataset_label, image_id, metric_label),
                                         str(metrics[metric_label]))
                else:
                    ready.append(metric_label)
            if ready:
                row = self._row_base(method, enhancer, dataset_label, image_id, "")
                for future in self.scorer.submit(ready, output, scored, record):
                    self._pending.append((row, future))

    def _output(self, method: str, enhancer: Enhancer, dataset: str,
                sample: Sample) -> tuple[torch.Tensor, Sample, EnhanceRecord]:
        """The quantised output (from the cache when present, else computed and cached), the
        sample as metrics must see it (cropped like the output), and the output's record."""
        device = str(enhancer.device)
        cached = self.store.cached_output(method, dataset, sample.id) if enhancer.caches_output else None
        output = None
        if cached is not None:
            path, row = cached
            try:
                output, seconds, device = read_image(path), float(row["seconds"]), row["device"]
                check_shape(enhancer, tuple(output.shape), tuple(sample.input.shape))
            except (ImageError, EnhancementError) as exc:  # damaged or replaced since: recompute it
                logger.warning("cached output %s does not decode or has the wrong size (%s): recomputed", path, exc)
                self.summary.recomputed.append(str(path))
                output = None
        if output is None:
            if self._warm_up and method not in self._warmed:
                self._warmed.add(method)
                enhance(enhancer, sample)  # untimed: the first call pays for allocation and kernel choice
            if enhancer.caches_output:
                output, seconds = self._enhance_and_cache(method, enhancer, dataset, sample)
            else:
                enhanced = enhance(enhancer, sample)
                output, seconds = quantize(enhanced.output), enhanced.seconds
        height, width = output.shape[-2:]
        check_shape(enhancer, tuple(output.shape), tuple(sample.input.shape))
        record = EnhanceRecord(seconds, device, enhancer, size=tuple(sample.input.shape[-2:]))
        return output, crop_sample(sample, height, width), record

    def _enhance_and_cache(self, method: str, enhancer: Enhancer, dataset: str,
                           sample: Sample) -> tuple[torch.Tensor, float]:
        try:
            enhanced = enhance(enhancer, sample)
        except Exception as exc:
            self.store.outputs.append(
                {"method": method, "dataset": dataset, "image": sample.id, "status": "failed", "error": one_line(exc)}
            )
            raise
        output = quantize(enhanced.output)
        write_png(output, self.store.image_path(method, dataset, sample.id))
        height, width = sample.input.shape[-2:]
        self.store.outputs.append(
            {"method": method, "dataset": dataset, "image": sample.id, "status": "ok", "seconds": enhanced.seconds,
             "device": str(enhancer.device), "height": height, "width": width,
             "tiled": "" if enhanced.tile is None else enhanced.tile}
        )
        return output, enhanced.seconds

    def _collect(self, keep: int) -> None:
        """Store finished scores in submission order, waiting while more than ``keep`` are pending."""
        while self._pending and (len(self._pending) > keep or self._pending[0][1].done()):
            row, future = self._pending.popleft()
            for score in future.result():
                self._store_score({**row, "metric": score.label}, score)

    def _store_score(self, row: dict[str, Any], score: Score) -> None:
        if score.error is not None:
            self._record_failure(row, score.error)
            return
        if score.arrays:  # written before its score row, so a stored score always has them
            self.store.write_details(row["metric"], row["method"], row["dataset"], row["image"], score.arrays)
        row.update(value=score.value, status="ok", seconds=score.seconds)
        self.store.scores.append(row)
        self.summary.computed += 1

    def _row_base(self, method: str, enhancer: Enhancer | str, dataset: str, image: str, metric: str) -> dict[str, Any]:
        variant, weights = self._method_columns(method, enhancer)
        return {"method": method, "variant": variant, "weights": weights, "dataset": dataset,
                "image": image, "metric": metric}

    def _method_columns(self, method: str, enhancer: Enhancer | str) -> tuple[str, str]:
        """The ``variant`` and ``weights`` columns of a method's rows, worked out once per method
        (they inspect its signature and settings, and would otherwise be redone for every row)."""
        if isinstance(enhancer, str):
            return "", ""
        if method not in self._columns_of:
            variant = row_variant(enhancer, next(s for s in self.plan.methods if s.label == method))
            weights = ";".join(f"{name}@{sha[:16]}" for name, sha in sorted(enhancer.weights_used().items()))
            self._columns_of[method] = (variant, weights)
        return self._columns_of[method]

    def _fail_all(self, method: str, enhancer: Enhancer | str, dataset: str, image: str, metrics: list[str], error: str) -> None:
        for metric in metrics:
            self._record_failure(self._row_base(method, enhancer, dataset, image, metric), error)

    def _record_failure(self, row: dict[str, Any], error: str) -> None:
        row.update(value="", status="failed", error=error)
        self.store.scores.append(row)
        self.summary.failures.append(Failure(row["method"], row["dataset"], row["image"], row["metric"], error))


def check_ids(label: str, ids: list[str]) -> None:
    """Ids are unique, and no two of them share a cached output file (``a.jpg`` and ``a.png``
    would both be cached as ``a.png``, and one would silently score the other's output). Names
    are compared case-folded: on a case-insensitive disk (macOS, Windows, exFAT, SMB shares)
    ``A.png`` and ``a.png`` are one file."""
    seen: dict[str, str] = {}
    cached: dict[Any, str] = {}
    for image_id in ids:
        if image_id in seen:
            raise RunConfigError(f"dataset {label!r} lists the image id {image_id!r} twice")
        seen[image_id] = image_id
        try:
            path = output_image_path(Path("."), "m", "d", image_id)
        except RunConfigError:
            continue  # an id that would leave the directory fails as its own image, naming itself
        key = str(path).casefold()
        if key in cached:
            raise RunConfigError(f"dataset {label!r}: {cached[key]!r} and {image_id!r} would share one cached output "
                                 f"({path.name}, on a disk that ignores case too); rename one of the two files")
        cached[key] = image_id
