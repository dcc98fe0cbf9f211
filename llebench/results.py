"""Reading a results directory: the typed, read-only API reports and scripts use.

Layout of ``results/<run>/`` (written by :mod:`llebench.store`)::

    manifest.json                   config, versions, commit, device, weight and metric settings
    scores.csv                      one row per (method, dataset, image, metric)
    outputs.csv                     one row per enhanced image (status, error, seconds, ...)
    summary.csv                     one row per (method, dataset, metric): n, mean, interval
    images/<method>/<dataset>/<image>.png
    details/<metric>/<method>/<dataset>/<image>.npz   per-image arrays of metrics that keep them

A reader never changes the directory: a torn last line left by a run that is still
writing (or was killed) is ignored in memory, and a read-only directory reads fine.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from llebench.errors import RunConfigError

SCORE_COLUMNS = ("method", "variant", "weights", "dataset", "image", "metric", "value", "status", "error", "seconds")
SCORE_KEY = ("method", "dataset", "image", "metric")
OUTPUT_COLUMNS = ("method", "dataset", "image", "status", "error", "seconds", "device", "height", "width", "tiled")
OUTPUT_KEY = ("method", "dataset", "image")
SECTIONS = {"methods": "method", "datasets": "dataset", "metrics": "metric"}


def safe_relative(name: str, what: str) -> PurePosixPath:
    """A relative path that cannot leave its root (no absolute paths, no '..')."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise RunConfigError(f"{what} {name!r} must be a relative path inside its directory")
    return path


def dir_name(label: str) -> str:
    """A directory name for a method, dataset or metric label (``folder:/x/y`` has slashes)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_.+=" else "_" for ch in label).strip(".")
    if cleaned == label:
        return label
    digest = hashlib.sha256(label.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{cleaned[:60]}-{digest}"


def output_image_path(root: Path, method: str, dataset: str, image_id: str) -> Path:
    """``ROOT/images/<method>/<dataset>/<image id without its suffix>.png``: the cached output."""
    rel = safe_relative(image_id, "image id").with_suffix(".png")
    return root / "images" / dir_name(method) / dir_name(dataset) / rel


def details_path(root: Path, metric: str, method: str, dataset: str, image_id: str) -> Path:
    """``ROOT/details/<metric>/<method>/<dataset>/<image id>.npz`` (the id keeps its suffix)."""
    rel = safe_relative(image_id, "image id")
    return root / "details" / dir_name(metric) / dir_name(method) / dir_name(dataset) / (str(rel) + ".npz")


def read_journal(path: Path, columns: tuple[str, ...], key: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, str]]:
    """The rows of an append-only CSV journal, the last row of each key winning.

    A torn last line (no newline: a writer was killed or is mid-write) and malformed rows
    are left out; the file is not modified. A file written by an older llebench whose
    columns are a prefix of ``columns`` reads with the newer columns empty.
    """
    if not path.exists():
        return {}
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    reader = csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape")))
    header = next(reader, None)
    if header is None:
        return {}
    if tuple(header) != columns[: len(header)] or not header:
        raise RunConfigError(f"{path} has columns {header}, expected {list(columns)}")
    missing = {column: "" for column in columns[len(header):]}
    rows: dict[tuple[str, ...], dict[str, str]] = {}
    for values in reader:
        if len(values) != len(header):
            continue  # never trust a malformed row
        row = {**dict(zip(header, values)), **missing}
        rows[tuple(row[c] for c in key)] = row
    return rows


@dataclass(frozen=True)
class Entry:
    """One method, dataset or metric of a run, as its manifest describes it."""

    label: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    #: why it could not be built (then it has no scores but failed rows)
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_manifest(cls, label: str, raw: dict[str, Any]) -> Entry:
        return cls(label=label, name=str(raw.get("name", label)), settings=dict(raw.get("settings") or {}),
                   error=raw.get("error"), raw=raw)

    def get(self, key: str, default: Any = None) -> Any:
        """Any other manifest field (``variant``, ``weights``, ``kind``, ``lower_better``, ...)."""
        return self.raw.get(key, default)


@dataclass
class RunResults:
    """A finished (or partial, or still running) run as a report sees it.

    ``scores`` and ``outputs`` are pandas DataFrames of ``scores.csv`` / ``outputs.csv``
    (``value`` and ``seconds`` numeric); ``manifest`` the parsed ``manifest.json``.
    """

    path: Path
    manifest: dict[str, Any]
    scores: Any  # pandas.DataFrame
    outputs: Any  # pandas.DataFrame

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunResults:
        import pandas as pd

        path = Path(path)
        scores_path = path / "scores.csv"
        if not scores_path.exists():
            raise RunConfigError(f"{path} is not a results directory (no scores.csv)")
        manifest_path = path / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
        except (OSError, ValueError) as exc:
            raise RunConfigError(f"{manifest_path}: unreadable ({exc})") from exc
        scores = pd.DataFrame(list(read_journal(scores_path, SCORE_COLUMNS, SCORE_KEY).values()),
                              columns=list(SCORE_COLUMNS))
        for column in ("value", "seconds"):
            scores[column] = pd.to_numeric(scores[column], errors="coerce")
        outputs = pd.DataFrame(list(read_journal(path / "outputs.csv", OUTPUT_COLUMNS, OUTPUT_KEY).values()),
                               columns=list(OUTPUT_COLUMNS))
        outputs["seconds"] = pd.to_numeric(outputs["seconds"], errors="coerce")
        return cls(path, manifest, scores, outputs)

    # -- what the run holds ----------------------------------------------------------------

    def entries(self, section: str) -> dict[str, Entry]:
        """``{label: Entry}`` of ``methods``, ``datasets`` or ``metrics`` in the order the user
        listed them; labels present only in the scores get a minimal entry."""
        found = {label: Entry.from_manifest(label, raw) for label, raw in self.manifest.get(section, {}).items()}
        for label in self.scores[SECTIONS[section]].unique():
            found.setdefault(label, Entry(label=label, name=label))
        return found

    def metric_directions(self) -> dict[str, bool | None]:
        """lower_better per metric label (None when unknown: no best/second marks)."""
        return {label: entry.get("lower_better") for label, entry in self.entries("metrics").items()}

    def metric_formats(self) -> dict[str, str]:
        """Each metric label's number format (``Metric.number_format``; "" = by magnitude)."""
        return {label: entry.get("format") or "" for label, entry in self.entries("metrics").items()}

    def has_outputs(self, method: str, dataset: str) -> bool:
        """Whether the method cached any output of the dataset (the identity caches none)."""
        return (self.path / "images" / dir_name(method) / dir_name(dataset)).is_dir()

    def output_image(self, method: str, dataset: str, image_id: str) -> Path | None:
        """The cached output PNG of one image, or None (not cached, failed, or an unsafe id)."""
        try:
            path = output_image_path(self.path, method, dataset, image_id)
        except RunConfigError:
            return None
        return path if path.is_file() else None

    def details(self, metric: str, method: str, dataset: str, image_id: str) -> dict[str, Any] | None:
        """The arrays a metric kept for one image (``MetricValue.arrays``); None if absent or unreadable."""
        import numpy as np

        path = details_path(self.path, metric, method, dataset, image_id)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError):
            return None
