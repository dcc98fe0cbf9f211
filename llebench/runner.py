"""Plan (methods x datasets x metrics) -> execute -> store.

Each image is read once per dataset and enhanced once per method; the 8-bit output is
cached as a PNG and every metric scores that quantised output, so a resumed run scores
exactly what an uninterrupted one would. Anything that fails (an unreadable image, a
method error, NaN output, a metric whose parameter file is missing) becomes a ``failed``
row naming the cause, and the run goes on.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from llebench import provenance
from llebench.api import Dataset, Enhancer, EnhanceRecord, Metric, Sample
from llebench.errors import EnhancementError, LLEBenchError, RunConfigError
from llebench.images import quantize, read_image, write_png
from llebench.plugins import PluginSet
from llebench.store import ResultsStore


@dataclass
class ComponentSpec:
    """A method, dataset or metric as the user asked for it."""

    name: str
    label: str
    arg: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, options: dict[str, Any] | None = None, label: str | None = None) -> "ComponentSpec":
        """``name`` or ``name:ARG`` (e.g. ``folder:/data/mine``)."""
        name, sep, arg = text.partition(":")
        name = name.strip()
        if not name:
            raise RunConfigError(f"empty name in {text!r}")
        return cls(name=name, label=label or text, arg=arg if sep else None, options=dict(options or {}))


@dataclass
class RunPlan:
    methods: list[ComponentSpec]
    datasets: list[ComponentSpec]
    metrics: list[ComponentSpec]
    out: Path
    device: str = "cpu"
    limit: int | None = None
    data_root: Path | None = None


@dataclass
class Failure:
    method: str
    dataset: str
    image: str
    metric: str
    error: str


@dataclass
class RunSummary:
    out: Path
    computed: int = 0
    reused: int = 0
    failures: list[Failure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    setup_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.setup_errors

    def lines(self, max_failures: int = 20) -> list[str]:
        lines = [
            f"results: {self.out}",
            f"scores: {self.computed} computed, {self.reused} already present, {len(self.failures)} failed",
        ]
        lines += [f"skipped: {s}" for s in self.skipped]
        lines += [f"error: {e}" for e in self.setup_errors]
        # many images fail for one cause (e.g. missing weights): show each cause once
        causes = Counter((f.method, f.metric, f.error) for f in self.failures)
        shown = 0
        for (method, metric, error), count in causes.most_common():
            if shown == max_failures:
                lines.append(f"... and {len(causes) - shown} more distinct failures (see scores.csv)")
                break
            where = f"{method} / {metric}" + (f" ({count} images)" if count > 1 else "")
            lines.append(f"failed: {where}: {error}")
            shown += 1
        return lines


def one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, LLEBenchError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def default_names(plugins: PluginSet, kind: str) -> list[str]:
    """Names whose class says it belongs to the default set (``default = True``)."""
    return [name for name, reg in sorted(plugins.registry[kind].items()) if getattr(reg.cls, "default", False)]


class Runner:
    """Executes one :class:`RunPlan` against a results directory."""

    def __init__(self, plugins: PluginSet, plan: RunPlan, progress: bool | None = None) -> None:
        self.plugins = plugins
        self.plan = plan
        self.progress = progress
        self.store = ResultsStore(plan.out)
        self.summary = RunSummary(out=plan.out)

    # -- building components -------------------------------------------------------------

    def _build(self, kind: str, spec: ComponentSpec, **context: Any) -> Any:
        cls = self.plugins.get(kind, spec.name)
        kwargs = dict(context)
        if kind == "datasets":
            kwargs["arg"] = spec.arg
        elif spec.arg is not None:
            raise RunConfigError(f"{kind[:-1]} {spec.name!r} takes no ':' argument (got {spec.label!r})")
        try:
            return cls(**kwargs, **spec.options)
        except TypeError as exc:
            raise RunConfigError(f"{kind[:-1]} {spec.label!r}: bad options {spec.options}: {exc}") from exc

    def _build_all(self) -> tuple[dict[str, Enhancer | str], dict[str, Dataset | str], dict[str, Metric | str]]:
        """Instantiate everything; a component that cannot be built is kept as its error text."""
        device = self.plan.device
        built: dict[str, dict[str, Any]] = {"methods": {}, "datasets": {}, "metrics": {}}
        for kind, specs, context in (
            ("enhancers", self.plan.methods, {"device": device}),
            ("datasets", self.plan.datasets, {"data_root": self.plan.data_root}),
            ("metrics", self.plan.metrics, {"device": device}),
        ):
            section = "methods" if kind == "enhancers" else kind
            for spec in specs:
                if spec.label in built[section]:
                    raise RunConfigError(f"{section[:-1]} {spec.label!r} is listed twice")
                self.plugins.get(kind, spec.name)  # unknown names are a config error, not a failure
                try:
                    built[section][spec.label] = self._build(kind, spec, **context)
                except RunConfigError:
                    raise
                except Exception as exc:
                    built[section][spec.label] = f"{spec.label}: {one_line(exc)}"
        return built["methods"], built["datasets"], built["metrics"]

    def _manifest_update(self, methods: dict, datasets: dict, metrics: dict) -> dict[str, Any]:
        def method_entry(label: str, obj: Enhancer | str) -> dict[str, Any]:
            spec = next(s for s in self.plan.methods if s.label == label)
            if isinstance(obj, str):
                return {"name": spec.name, "error": obj}
            return {
                "name": spec.name,
                "variant": obj.variant,
                "settings": obj.settings(),
                "weights": obj.weights_used(),
                "plugin": self.plugins.registry["enhancers"][spec.name].plugin,
            }

        def dataset_entry(label: str, obj: Dataset | str) -> dict[str, Any]:
            spec = next(s for s in self.plan.datasets if s.label == label)
            if isinstance(obj, str):
                return {"name": spec.name, "error": obj}
            return {"name": spec.name, "kind": obj.kind, "settings": obj.settings()}

        def metric_entry(label: str, obj: Metric | str) -> dict[str, Any]:
            spec = next(s for s in self.plan.metrics if s.label == label)
            cls = self.plugins.get("metrics", spec.name)
            entry = {"name": spec.name, "kind": cls.kind, "lower_better": cls.lower_better}
            if isinstance(obj, str):
                return {**entry, "error": obj}
            return {**entry, "settings": obj.settings()}

        env = provenance.environment(self.plan.device)
        return {
            "llebench_version": env["versions"]["llebench"],
            "methods": {k: method_entry(k, v) for k, v in methods.items()},
            "datasets": {k: dataset_entry(k, v) for k, v in datasets.items()},
            "metrics": {k: metric_entry(k, v) for k, v in metrics.items()},
            "plugins": {name: info.version for name, info in self.plugins.plugins.items()},
            "invocations": [{"started": provenance.now(), "limit": self.plan.limit, **env}],
            **env,
        }

    # -- execution -------------------------------------------------------------------------

    def run(self) -> RunSummary:
        methods, datasets, metrics = self._build_all()
        self.store.merge_manifest(self._manifest_update(methods, datasets, metrics))
        for label, obj in {**methods, **metrics}.items():
            if isinstance(obj, str):
                self.summary.setup_errors.append(obj)

        work: list[tuple[str, Dataset, list[str]]] = []
        for label, dataset in datasets.items():
            if isinstance(dataset, str):
                self.summary.setup_errors.append(dataset)
                continue
            try:
                ids = dataset.ids()
            except Exception as exc:
                self.summary.setup_errors.append(f"{label}: {one_line(exc)}")
                continue
            if self.plan.limit is not None:
                ids = ids[: self.plan.limit]
            work.append((label, dataset, ids))

        total = sum(len(ids) for _, _, ids in work) * len(methods)
        with tqdm(total=total, desc="llebench run", unit="img", disable=None if self.progress is None else not self.progress) as bar:
            for label, dataset, ids in work:
                applicable = self._applicable_metrics(label, dataset, metrics)
                for image_id in ids:
                    self._run_image(label, dataset, image_id, methods, applicable)
                    bar.update(len(methods))
        self.store.finish()
        self.store.manifest["finished"] = provenance.now()
        self.store.write_manifest()
        return self.summary

    def _applicable_metrics(self, label: str, dataset: Dataset, metrics: dict) -> dict[str, Metric | str]:
        applicable = {}
        for name, metric in metrics.items():
            cls = self.plugins.get("metrics", next(s.name for s in self.plan.metrics if s.label == name))
            if cls.kind == "full-reference" and not dataset.has_reference:
                self.summary.skipped.append(f"{name} on {label}: the dataset has no reference images")
            elif cls.kind == "task" and not dataset.has_labels:
                self.summary.skipped.append(f"{name} on {label}: the dataset has no labels")
            else:
                applicable[name] = metric
        return applicable

    def _run_image(
        self, dataset_label: str, dataset: Dataset, image_id: str, methods: dict, metrics: dict[str, Metric | str]
    ) -> None:
        needed = {
            method: [m for m in metrics if not self.store.has_score(method, dataset_label, image_id, m)]
            for method in methods
        }
        self.summary.reused += sum(len(metrics) - len(todo) for todo in needed.values())
        if not any(needed.values()):
            return
        try:
            sample = dataset.load(image_id)
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
                output, record = self._output(method, enhancer, dataset_label, sample)
            except Exception as exc:
                where = sample.meta.get("path", image_id)
                self._fail_all(method, enhancer, dataset_label, image_id, todo, f"{one_line(exc)} [{where}]")
                continue
            for metric_label in todo:
                self._score(method, enhancer, dataset_label, sample, output, record, metric_label, metrics[metric_label])

    def _output(self, method: str, enhancer: Enhancer, dataset: str, sample: Sample) -> tuple[torch.Tensor, EnhanceRecord]:
        """The quantised output: from the cache when present, else computed and cached."""
        if not enhancer.caches_output:
            start = time.perf_counter()
            output = enhancer.enhance(sample.input)
            return quantize(output), EnhanceRecord(time.perf_counter() - start, str(enhancer.device))
        cached = self.store.cached_output(method, dataset, sample.id)
        if cached is not None:
            path, row = cached
            return read_image(path), EnhanceRecord(float(row["seconds"]), row["device"])
        try:
            output, seconds = self._enhance(enhancer, sample)
        except Exception as exc:
            self.store.outputs.append(
                {"method": method, "dataset": dataset, "image": sample.id, "status": "failed", "error": one_line(exc)}
            )
            raise
        output = quantize(output)
        write_png(output, self.store.image_path(method, dataset, sample.id))
        self.store.outputs.append(
            {"method": method, "dataset": dataset, "image": sample.id, "status": "ok",
             "seconds": seconds, "device": str(enhancer.device)}
        )
        return output, EnhanceRecord(seconds, str(enhancer.device))

    @staticmethod
    def _enhance(enhancer: Enhancer, sample: Sample) -> tuple[torch.Tensor, float]:
        image = sample.input.to(enhancer.device)
        synchronize = enhancer.device.type == "cuda"
        with torch.inference_mode():
            start = time.perf_counter()
            output = enhancer.enhance(image)
            if synchronize:
                torch.cuda.synchronize(enhancer.device)
            seconds = time.perf_counter() - start
        if not isinstance(output, torch.Tensor):
            raise EnhancementError(f"{enhancer.name} returned {type(output).__name__}, not a tensor")
        if tuple(output.shape) != tuple(sample.input.shape):
            raise EnhancementError(
                f"{enhancer.name} returned shape {tuple(output.shape)} for input {tuple(sample.input.shape)}"
            )
        output = output.detach().float().cpu()
        if not torch.isfinite(output).all():
            raise EnhancementError(f"{enhancer.name} produced NaN or Inf values")
        return output, seconds

    def _score(
        self, method: str, enhancer: Enhancer, dataset: str, sample: Sample, output: torch.Tensor,
        record: EnhanceRecord, metric_label: str, metric: Metric | str,
    ) -> None:
        row = self._row_base(method, enhancer, dataset, sample.id, metric_label)
        if isinstance(metric, str):
            self._record_failure(row, metric)
            return
        start = time.perf_counter()
        try:
            value = float(metric.compute(output, sample, record))
            if not math.isfinite(value):
                raise EnhancementError(f"metric {metric_label} returned {value}")
        except Exception as exc:
            self._record_failure(row, f"{one_line(exc)} [{sample.meta.get('path', sample.id)}]")
            return
        row.update(value=value, status="ok", seconds=time.perf_counter() - start)
        self.store.scores.append(row)
        self.summary.computed += 1

    def _row_base(self, method: str, enhancer: Enhancer | str, dataset: str, image: str, metric: str) -> dict[str, Any]:
        variant, weights = "", ""
        if not isinstance(enhancer, str):
            variant = enhancer.variant
            weights = ";".join(f"{name}@{sha[:16]}" for name, sha in sorted(enhancer.weights_used().items()))
        return {"method": method, "variant": variant, "weights": weights, "dataset": dataset,
                "image": image, "metric": metric}

    def _fail_all(self, method: str, enhancer: Enhancer | str, dataset: str, image: str, metrics: list[str], error: str) -> None:
        for metric in metrics:
            self._record_failure(self._row_base(method, enhancer, dataset, image, metric), error)

    def _record_failure(self, row: dict[str, Any], error: str) -> None:
        row.update(value="", status="failed", error=error)
        self.store.scores.append(row)
        self.summary.failures.append(Failure(row["method"], row["dataset"], row["image"], row["metric"], error))


def resolve_data_root(explicit: str | Path | None) -> Path | None:
    """``--data-root`` or ``$LLEBENCH_DATA`` (None when neither is set)."""
    value = explicit or os.environ.get("LLEBENCH_DATA")
    return Path(value).expanduser() if value else None
