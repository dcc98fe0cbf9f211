"""What a report needs to know about a run beyond its scores: names, order, directions.

Everything comes from ``manifest.json`` when it is there; a bare ``scores.csv`` (no
manifest) still works, its labels standing in for names.
"""

from __future__ import annotations

from typing import Any

from llebench.sdk import RunResults


def entries(run: RunResults, section: str) -> dict[str, dict[str, Any]]:
    """``{label: manifest entry}`` for methods/datasets/metrics, in the order listed; labels
    present only in the scores get a minimal entry (their name is their label)."""
    found = dict(run.manifest.get(section, {}))
    column = {"methods": "method", "datasets": "dataset", "metrics": "metric"}[section]
    for label in run.scores[column].unique():
        found.setdefault(label, {"name": label})
    return found


def metric_directions(run: RunResults) -> dict[str, bool | None]:
    """lower_better per metric label, from the manifest (None when unknown: no best/second marks)."""
    return {name: entry.get("lower_better") for name, entry in run.manifest.get("metrics", {}).items()}


def manifest_order(run: RunResults, section: str) -> list[str] | None:
    """Names in the order the user listed them (None: take them from the scores)."""
    return list(run.manifest.get(section, {})) or None


def entry_name(entry: dict[str, Any], label: str) -> str:
    """The plugin name behind a label (``zero_dce`` for a method labelled ``zero_dce (mine)``)."""
    return str(entry.get("name", label))


def metric_settings(run: RunResults, metrics: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{metric label: manifest entry}`` of the run's metrics (only those whose plugin name
    is in ``metrics``, when given): what :attr:`llebench.report.tables.Table.settings`
    writes under a table."""
    return {label: entry for label, entry in run.manifest.get("metrics", {}).items()
            if metrics is None or entry_name(entry, label) in metrics}


def export_names(run: RunResults, page_name: str) -> list[str]:
    """The exports' file names, as written beside the page (``llebench report --output X.html``: X.csv ...)."""
    page = run.page_file(page_name)
    return [page.with_suffix(suffix).name for suffix in (".csv", ".md", ".tex")]
