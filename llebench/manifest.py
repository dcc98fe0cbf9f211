"""What ``manifest.json`` says about each method, dataset and metric of a run.

These entries are a run's declared protocol: a results directory refuses a component whose
entry changed (other settings are other numbers), and reports read from them what produced
each row. Besides each component's own ``settings()``:

* a method: its ``variant`` as stored in every score row (the method's own variant, plus
  ``custom-weights`` when ``--weights`` replaced the published file and ``untrained`` for
  checkpoints trained with random feature networks), the sha256 of every file it loaded,
  the options the user gave, and ``reference`` for the identity (a reference row, never
  ranked);
* a dataset: ``images`` (N, the size of the dataset, however many a ``--limit`` run scored)
  and a ``fingerprint``: the sha256 over the sha256 of every input file, whose per-file list
  is in ``RUN/fingerprints/<dataset>.sha256``;
* a metric: kind, direction and number format.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any

from llebench.api import Dataset, Enhancer, Metric
from llebench.atomic import atomic_write_text
from llebench.components import ComponentSpec
from llebench.plugins import PluginSet
from llebench.results import dir_name
from llebench.weights import sha256sum

#: options that the row's variant or weights already say (not repeated as "options")
_SHOWN_ELSEWHERE = ("weights", "allow_untrained")


def row_variant(enhancer: Enhancer, spec: ComponentSpec) -> str:
    """The variant stored in every score row: what makes this row differ from the published method.

    A method's default named variant (the first of ``variants``) is its published
    configuration: it is not a difference, so it is not stored (nor marked in tables).
    """
    own = enhancer.variant
    if own and enhancer.variants and own == enhancer.variants[0]:
        own = ""
    parts = [own] if own else []
    if "weights" in spec.options:
        parts.append("custom-weights")
    if enhancer.settings().get("untrained"):
        parts.append("untrained")
    return "+".join(parts)


def method_entry(spec: ComponentSpec, enhancer: Enhancer | str, plugins: PluginSet) -> dict[str, Any]:
    cls = plugins.get("enhancers", spec.name)
    entry: dict[str, Any] = {"name": spec.name, "plugin": plugins.registry["enhancers"][spec.name].plugin,
                             "reference": bool(getattr(cls, "reference", False))}
    if isinstance(enhancer, str):
        return {**entry, "error": enhancer}
    options = {k: v for k, v in spec.options.items() if k not in _SHOWN_ELSEWHERE and v != _default(cls, k)}
    return {**entry, "variant": row_variant(enhancer, spec), "settings": enhancer.settings(),
            "weights": enhancer.weights_used(), "custom_weights": "weights" in spec.options,
            "options": options}


def _default(cls: type, option: str) -> Any:
    """The default value of a constructor option (a sentinel when it has none)."""
    parameter = inspect.signature(cls.__init__).parameters.get(option)
    return _NO_DEFAULT if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


_NO_DEFAULT = object()


def dataset_entry(spec: ComponentSpec, dataset: Dataset | str, ids: list[str] | None, out: Path) -> dict[str, Any]:
    if isinstance(dataset, str):
        return {"name": spec.name, "error": dataset}
    entry: dict[str, Any] = {"name": spec.name, "kind": dataset.kind, "settings": dataset.settings()}
    if ids is not None:
        entry["images"] = len(ids)
        entry["fingerprint"] = fingerprint(dataset, ids, out / "fingerprints" / f"{dir_name(spec.label)}.sha256")
    return entry


def metric_entry(spec: ComponentSpec, metric: Metric | str, plugins: PluginSet) -> dict[str, Any]:
    described = plugins.get("metrics", spec.name) if isinstance(metric, str) else metric
    entry = {"name": spec.name, "kind": described.kind, "lower_better": described.lower_better,
             "format": described.number_format}
    if isinstance(metric, str):
        return {**entry, "error": metric}
    return {**entry, "settings": metric.settings()}


def fingerprint(dataset: Dataset, ids: list[str], listing: Path) -> dict[str, Any]:
    """sha256 of the dataset's files (``Dataset.files``), written to ``listing`` in
    ``sha256sum`` format; a dataset with no files (generated) is fingerprinted by its settings."""
    lines = []
    for sample_id in ids:
        for path in dataset.files(sample_id):
            try:
                digest = sha256sum(Path(path))
            except OSError:
                digest = "unreadable"  # the image fails when it is read; the fingerprint says so
            lines.append(f"{digest}  {sample_id}:{Path(path).name}")
    if not lines:
        import json

        settings = json.dumps(dataset.settings(), sort_keys=True, default=str)
        return {"sha256": hashlib.sha256(settings.encode()).hexdigest(), "files": 0, "of": "settings"}
    text = "\n".join(lines) + "\n"
    atomic_write_text(listing, text)
    return {"sha256": hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest(), "files": len(lines),
            "of": "files"}
