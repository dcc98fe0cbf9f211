"""What ``manifest.json`` says about each method, dataset and metric of a run.

These entries are a run's declared protocol: a results directory refuses a component whose
entry changed (other settings are other numbers), and reports read from them what produced
each row. Besides each component's own ``settings()``:

* a method: its ``variant`` as stored in every score row (the method's own variant, plus
  ``custom-weights`` when ``--weights`` replaced the published file and ``untrained`` for
  checkpoints trained with random feature networks), the sha256 of every file it loaded,
  the options the user gave, and ``reference`` for the identity (a reference row, never
  ranked);
* a dataset: ``images`` (the images found, however many a ``--limit`` run scored),
  ``published_images`` (its published size, when the dataset knows it: a local copy with
  fewer is a subset, :func:`llebench.results.dataset_sizes`)
  and a ``fingerprint``: the sha256 over the sha256 of every input file, whose per-file list
  is in ``RUN/fingerprints/<dataset>.sha256``;
* a metric: kind, direction and number format.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from pathlib import Path
from typing import Any

from llebench.api import Dataset, Enhancer, Metric
from llebench.atomic import atomic_write_text
from llebench.components import ComponentSpec
from llebench.plugins import PluginSet
from llebench.results import dir_name
from llebench.weights import sha256sum

#: options that the row's variant or weights already say (not repeated as "options"):
#: ``variant`` is the method's own variant, whatever name chose it
_SHOWN_ELSEWHERE = ("weights", "allow_untrained", "variant")


def row_variant(enhancer: Enhancer, spec: ComponentSpec) -> str:
    """The variant stored in every score row: what makes this row differ from the published method.

    A method's default named variant (the first of ``variants``) is its published
    configuration: it is not a difference, so it is not stored (nor marked in tables). A method
    that names its configuration (``medium-bf16``, ``scale8``) says there what its options
    changed; for one that names none, the non-default options are the variant (``tile=64``).
    Then ``custom-weights`` when ``--weights`` replaced the published file (not when it names
    a byte-identical copy of it) and ``untrained``.
    """
    own = enhancer.variant
    if own and enhancer.variants and own == enhancer.variants[0]:
        own = ""
    parts = [own] if own else [f"{key}={value}" for key, value in sorted(changed_options(enhancer, spec).items())]
    if custom_weights(enhancer, spec):
        parts.append("custom-weights")
    if enhancer.settings().get("untrained"):
        parts.append("untrained")
    return "+".join(parts)


def changed_options(enhancer: Enhancer, spec: ComponentSpec) -> dict[str, Any]:
    """The options the user gave that differ from the method's defaults (``variant`` and
    ``weights`` aside: the row's variant says those)."""
    return {key: value for key, value in spec.options.items()
            if key not in _SHOWN_ELSEWHERE and value != _default(type(enhancer), key)}


def custom_weights(enhancer: Enhancer, spec: ComponentSpec) -> bool:
    """``--weights`` gave a file other than the published one this configuration loads (by sha256)."""
    if "weights" not in spec.options:
        return False
    published = {file.sha256 for file in enhancer.published_weights() if file.sha256}
    used = set(enhancer.weights_used().values())
    return not used or not used <= published


def method_entry(spec: ComponentSpec, enhancer: Enhancer | str, plugins: PluginSet) -> dict[str, Any]:
    cls = plugins.get("enhancers", spec.name)
    entry: dict[str, Any] = {"name": spec.name, "plugin": plugins.registry["enhancers"][spec.name].plugin,
                             "reference": bool(getattr(cls, "reference", False))}
    if isinstance(enhancer, str):
        return {**entry, "error": enhancer}
    return {**entry, "variant": row_variant(enhancer, spec), "settings": enhancer.settings(),
            "weights": enhancer.weights_used(), "custom_weights": custom_weights(enhancer, spec),
            "options": changed_options(enhancer, spec)}


def _default(cls: type, option: str) -> Any:
    """The default value of a constructor option (a sentinel when it has none)."""
    parameter = inspect.signature(cls.__init__).parameters.get(option)
    return _NO_DEFAULT if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


_NO_DEFAULT = object()


def dataset_entry(spec: ComponentSpec, dataset: Dataset | str, ids: list[str] | None, out: Path) -> dict[str, Any]:
    if isinstance(dataset, str):
        return {"name": spec.name, "error": dataset}
    entry: dict[str, Any] = {"name": spec.name, "kind": dataset.kind, "settings": dataset.settings()}
    published = dataset.published_size()
    if published is not None:
        entry["published_images"] = published
    if ids is not None:
        entry["images"] = len(ids)
        listing = out / "fingerprints" / f"{dir_name(spec.label)}.sha256"
        entry["fingerprint"], directory = fingerprint(dataset, ids, listing)
        if directory is not None:
            entry["fingerprint_dir"] = directory
    return entry


def metric_entry(spec: ComponentSpec, metric: Metric | str, plugins: PluginSet) -> dict[str, Any]:
    described = plugins.get("metrics", spec.name) if isinstance(metric, str) else metric
    entry = {"name": spec.name, "kind": described.kind, "lower_better": described.lower_better,
             "format": described.number_format}
    if isinstance(metric, str):
        return {**entry, "error": metric}
    return {**entry, "settings": metric.settings()}


def fingerprint(dataset: Dataset, ids: list[str], listing: Path) -> tuple[dict[str, Any], str | None]:
    """The dataset's fingerprint and the directory its file listing is relative to.

    The fingerprint is the sha256 of the lines ``<sha256 of the file>  <sample id>:<file name>``
    over every file of every sample (``Dataset.files``, input first): it does not depend on
    where the data lives. ``listing`` gets the same digests in ``sha256sum`` format, paths
    relative to the returned directory (``cd DIR && sha256sum -c LISTING`` checks a copy). A
    dataset with no files (generated) is fingerprinted by its settings.
    """
    canonical, files = [], []
    for sample_id in ids:
        for path in map(Path, dataset.files(sample_id)):
            try:
                digest = sha256sum(path)
            except OSError:
                digest = "unreadable"  # the image fails when it is read; the fingerprint says so
            canonical.append(f"{digest}  {sample_id}:{path.name}")
            files.append((digest, path))
    if not canonical:
        import json

        settings = json.dumps(dataset.settings(), sort_keys=True, default=str)
        return {"sha256": hashlib.sha256(settings.encode()).hexdigest(), "files": 0, "of": "settings"}, None
    directory = Path(os.path.commonpath([str(path.absolute().parent) for _, path in files]))
    atomic_write_text(listing, "".join(f"{digest}  {path.absolute().relative_to(directory)}\n"
                                       for digest, path in files))
    text = "\n".join(canonical) + "\n"
    return ({"sha256": hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest(), "files": len(canonical),
             "of": "files"}, str(directory))
