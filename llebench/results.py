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
from collections.abc import Iterator
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


def shard_files(path: Path) -> list[Path]:
    """The rank journals of a sharded run beside ``path`` (``scores.rank0.csv``, ...), in rank order."""
    ranks = {}
    for found in path.parent.glob(f"{path.stem}.rank*{path.suffix}"):
        number = found.name[len(path.stem) + len(".rank"):-len(path.suffix)]
        if number.isdigit():
            ranks[int(number)] = found
    return [ranks[rank] for rank in sorted(ranks)]


def read_journals(path: Path, columns: tuple[str, ...], key: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, str]]:
    """A journal and its rank journals merged (a run still sharded, or killed while sharded)."""
    rows: dict[tuple[str, ...], dict[str, str]] = {}
    for source in [path, *shard_files(path)]:
        rows.update(read_journal(source, columns, key))
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
    ``page`` is where the report page being written goes when it is not the layout's own
    file in the run directory (``llebench report RUN --output FILE``): links to cached
    outputs and to the exports are made from there.
    """

    path: Path
    manifest: dict[str, Any]
    scores: Any  # pandas.DataFrame
    outputs: Any  # pandas.DataFrame
    page: Path | None = field(default=None, compare=False)
    _summary: Any = field(default=None, init=False, repr=False, compare=False)

    def page_file(self, default_name: str) -> Path:
        """The page being written: ``page``, else ``default_name`` in the run directory."""
        return self.page if self.page is not None else self.path / default_name

    def link(self, path: Path, default_name: str) -> Path:
        """``path`` relative to the directory of the page being written."""
        return Path(os.path.relpath(Path(path).absolute(), self.page_file(default_name).absolute().parent))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunResults:
        import pandas as pd

        path = Path(path)
        scores_path = path / "scores.csv"
        if not scores_path.exists() and not shard_files(scores_path):
            raise RunConfigError(f"{path} is not a results directory (no scores.csv)")
        manifest_path = path / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
        except (OSError, ValueError) as exc:
            raise RunConfigError(f"{manifest_path}: unreadable ({exc})") from exc
        # object columns: names may hold surrogate escapes (file names that are not UTF-8),
        # which pandas' Arrow-backed strings refuse
        scores = pd.DataFrame(list(read_journals(scores_path, SCORE_COLUMNS, SCORE_KEY).values()),
                              columns=list(SCORE_COLUMNS), dtype=object)
        for column in ("value", "seconds"):
            scores[column] = pd.to_numeric(scores[column], errors="coerce")
        outputs = pd.DataFrame(list(read_journals(path / "outputs.csv", OUTPUT_COLUMNS, OUTPUT_KEY).values()),
                               columns=list(OUTPUT_COLUMNS), dtype=object)
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

    def dataset_sizes(self) -> dict[str, int]:
        """N of each dataset label (:func:`dataset_sizes`)."""
        return dataset_sizes(self.manifest)

    def summary(self) -> Any:
        """``summary.csv`` as a DataFrame (:data:`llebench.stats.SUMMARY_COLUMNS`); computed from the
        scores when the file is absent or older than ``scores.csv`` (never written by a reader)."""
        if self._summary is None:
            self._summary = self._load_summary()
        return self._summary

    def _load_summary(self) -> Any:
        import pandas as pd

        from llebench.stats import DEFAULT_SEED, summarize

        path, scores = self.path / "summary.csv", self.path / "scores.csv"
        if (path.exists() and scores.exists() and not shard_files(scores)
                and path.stat().st_mtime_ns >= scores.stat().st_mtime_ns):
            table = pd.read_csv(path, keep_default_na=False, na_values=[""], encoding_errors="surrogateescape",
                                dtype={"method": object, "dataset": object, "metric": object})
            table["n_total"] = table["n_total"].astype("Int64")
            return table
        seed = self.manifest.get("bootstrap", {}).get("seed", DEFAULT_SEED)
        return summarize(self.scores, self.dataset_sizes(), seed)

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


def group_rows(frame: Any, columns: list[str], sort: bool = False) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """``frame.groupby(columns)`` that any label survives: ``(key tuple, rows)`` per group.

    pandas 3 turns group keys into Arrow strings, which refuse the surrogate escapes that
    stand for a non-UTF-8 byte in a file or folder name (a dataset label ``folder:/photos/caf\\xe9``):
    grouping by them crashed every summary and report. Groups keep the rows' order; ``sort``
    orders them by key (code points, as ``groupby(sort=True)`` does).
    """
    positions: dict[tuple[Any, ...], list[int]] = {}
    for index, key in enumerate(zip(*(frame[column].tolist() for column in columns))):
        positions.setdefault(key, []).append(index)
    for key in sorted(positions) if sort else positions:
        yield key, frame.iloc[positions[key]]


def frame_of_rows(rows: list[dict[str, Any]], columns: tuple[str, ...] | list[str], labels: tuple[str, ...]) -> Any:
    """A DataFrame of ``rows`` whose ``labels`` columns stay Python strings (object dtype), so
    labels with surrogate escapes survive (see :func:`group_rows`)."""
    import pandas as pd

    return pd.DataFrame({column: pd.Series([row[column] for row in rows], dtype=object if column in labels else None)
                         for column in columns}, columns=list(columns))


def dataset_sizes(manifest: dict[str, Any]) -> dict[str, int]:
    """N of each dataset label: the images the run found, or the published size when the local
    copy has fewer (a 3-image DICM folder is 3 of DICM's 64, not a complete DICM). Absent for
    runs written before sizes were recorded."""
    sizes = {}
    for label, entry in manifest.get("datasets", {}).items():
        if isinstance(entry.get("images"), int):
            published = entry.get("published_images")
            sizes[label] = max(entry["images"], published) if isinstance(published, int) else entry["images"]
    return sizes


def _without_paths(settings: Any) -> Any:
    """``settings`` with every absolute file-system path replaced by a placeholder."""
    if isinstance(settings, dict):
        return {key: _without_paths(value) for key, value in settings.items()}
    if isinstance(settings, list):
        return [_without_paths(value) for value in settings]
    if isinstance(settings, str) and os.path.isabs(settings):
        return "<a directory>"
    return settings


def merge_runs(runs: list[RunResults], path: Path) -> RunResults:
    """Several runs as one (a leaderboard across runs), at ``path`` (where its pages go).

    Refused, naming what differs, when two runs measured a dataset label on different data
    (fingerprints) or with different dataset settings, or a metric label with different
    settings: their numbers are not comparable. Where the data lives is not what it is: a
    dataset fingerprinted by its files compares equal from any directory (runs of two
    machines merge). A method label present in several runs is shown once per run, as
    ``label (run directory name)``.
    """
    import pandas as pd

    problems = []
    for section, fields in (("datasets", ("fingerprint", "settings", "images")), ("metrics", ("settings",))):
        seen: dict[str, tuple[RunResults, dict]] = {}
        for run in runs:
            for label, raw in run.manifest.get(section, {}).items():
                if "error" in raw:
                    continue
                if section == "datasets" and (raw.get("fingerprint") or {}).get("of") == "files":
                    raw = {**raw, "settings": _without_paths(raw.get("settings"))}
                if label in seen:
                    first_run, first = seen[label]
                    differing = [f for f in fields if first.get(f) != raw.get(f)]
                    if differing:
                        problems.append(f"{section[:-1]} {label!r}: {', '.join(differing)} differ between "
                                        f"{first_run.path} and {run.path}")
                else:
                    seen[label] = (run, raw)
    if problems:
        raise RunConfigError("these runs are not comparable: " + "; ".join(problems)
                             + ". Re-run them on the same data with the same metric settings, or report them apart.")
    counts: dict[str, int] = {}
    for run in runs:
        for label in run.entries("methods"):
            counts[label] = counts.get(label, 0) + 1
    manifest: dict[str, Any] = {**runs[0].manifest, "methods": {}, "datasets": {}, "metrics": {},
                                "merged_runs": [str(run.path) for run in runs]}
    devices = [str(run.manifest.get("device", "an unknown device")) for run in runs]
    if len(set(devices)) > 1:  # timings of different machines: each run's own, said so
        manifest["device"] = ", ".join(f"{device} ({run.path.name})" for device, run in zip(devices, runs))
    frames = []
    for run in runs:
        rename = {label: f"{label} ({run.path.name})" for label in run.entries("methods") if counts[label] > 1}
        for label, raw in run.manifest.get("methods", {}).items():
            manifest["methods"][rename.get(label, label)] = raw
        for section in ("datasets", "metrics"):
            for label, raw in run.manifest.get(section, {}).items():
                manifest[section].setdefault(label, raw)
        frames.append(run.scores.assign(method=run.scores["method"].replace(rename)))
    scores = pd.concat(frames, ignore_index=True)
    outputs = pd.DataFrame(columns=list(OUTPUT_COLUMNS))  # cached outputs stay with their runs
    return RunResults(Path(path), manifest, scores, outputs)
