"""The results directory: tidy scores, cached outputs, the manifest, and resuming.

Layout of ``results/<run>/``::

    manifest.json                   config, versions, commit, device, weight and metric settings
    scores.csv                      one row per (method, dataset, image, metric)
    outputs.csv                     one row per enhanced image (status, error, seconds)
    images/<method>/<dataset>/<image>.png
    details/<metric>/<method>/<dataset>/<image>.npz   per-image arrays of metrics that keep them

Both CSV files are journals: each row is appended with a single ``write`` of a complete
line, so a killed run leaves at most one torn last line, which the next open drops. When a
run ends the file is rewritten (deduplicated, sorted) to a temporary name and renamed.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

import numpy as np
import pandas as pd

from llebench.errors import OutputNotWritable, RunConfigError

SCORE_COLUMNS = ("method", "variant", "weights", "dataset", "image", "metric", "value", "status", "error", "seconds")
SCORE_KEY = ("method", "dataset", "image", "metric")
OUTPUT_COLUMNS = ("method", "dataset", "image", "status", "error", "seconds", "device")
OUTPUT_KEY = ("method", "dataset", "image")


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``.

    On a full disk or a read-only directory the old file stays as it was and
    :class:`OutputNotWritable` says so.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    except OSError as exc:
        raise OutputNotWritable.wrap(path, exc) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputNotWritable.wrap(path, exc) from exc
        raise


def safe_relative(name: str, what: str) -> PurePosixPath:
    """A relative path that cannot leave its root (no absolute paths, no '..')."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise RunConfigError(f"{what} {name!r} must be a relative path inside its directory")
    return path


class Journal:
    """An append-only CSV table keyed by some columns; the last row for a key wins."""

    def __init__(self, path: Path, columns: Sequence[str], key: Sequence[str]) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.key = tuple(key)
        self.rows: dict[tuple[str, ...], dict[str, str]] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # a torn last row from a killed run: drop it on disk too
            cut = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)
            data = data[:cut]
        reader = csv.reader(io.StringIO(data.decode("utf-8")))
        header = next(reader, None)
        if header is None:
            return
        if tuple(header) != self.columns:
            raise RunConfigError(f"{self.path} has columns {header}, expected {list(self.columns)}")
        for values in reader:
            if len(values) != len(self.columns):
                continue  # never trust a malformed row
            row = dict(zip(self.columns, values))
            self.rows[self._key(row)] = row

    def _key(self, row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row[c]) for c in self.key)

    def get(self, *key: str) -> dict[str, str] | None:
        return self.rows.get(tuple(key))

    def append(self, row: dict[str, Any]) -> None:
        """Durably append one row (one ``write`` call of a whole line)."""
        text_row = {c: _format(row.get(c, "")) for c in self.columns}
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if not self.path.exists() or self.path.stat().st_size == 0:
            writer.writerow(self.columns)
        writer.writerow([text_row[c] for c in self.columns])
        data = buf.getvalue().encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                try:
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError(errno.ENOSPC, f"short write ({written} of {len(data)} bytes)")
                except OSError:
                    os.ftruncate(fd, size)  # a full disk can write part of the line: cut it off
                    raise
            finally:
                os.close(fd)
        except OSError as exc:
            raise OutputNotWritable.wrap(self.path, exc) from exc
        self.rows[self._key(text_row)] = text_row

    def compact(self) -> None:
        """Rewrite deduplicated and sorted, atomically."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        for key in sorted(self.rows):
            writer.writerow([self.rows[key][c] for c in self.columns])
        atomic_write_text(self.path, buf.getvalue())


def _format(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else str(value)


@dataclass
class RunResults:
    """A finished (or partial) run as a report sees it."""

    path: Path
    manifest: dict[str, Any]
    scores: pd.DataFrame

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "RunResults":
        path = Path(path)
        scores_path = path / "scores.csv"
        if not scores_path.exists():
            raise RunConfigError(f"{path} is not a results directory (no scores.csv)")
        manifest_path = path / "manifest.json"
        manifest = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
        journal = Journal(scores_path, SCORE_COLUMNS, SCORE_KEY)
        frame = pd.DataFrame(list(journal.rows.values()), columns=list(SCORE_COLUMNS))
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
        frame["seconds"] = pd.to_numeric(frame["seconds"], errors="coerce")
        return cls(path, manifest, frame)

    def details(self, metric: str, method: str, dataset: str, image_id: str) -> dict[str, np.ndarray] | None:
        """The arrays a metric kept for one image (``MetricValue.arrays``); None if absent."""
        path = details_path(self.path, metric, method, dataset, image_id)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}


class ResultsStore:
    """Reads and writes one results directory; knows what is already computed."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputNotWritable.wrap(self.root, exc) from exc
        self.scores = Journal(self.root / "scores.csv", SCORE_COLUMNS, SCORE_KEY)
        self.outputs = Journal(self.root / "outputs.csv", OUTPUT_COLUMNS, OUTPUT_KEY)
        self.manifest_path = self.root / "manifest.json"
        self.manifest: dict[str, Any] = (
            json.loads(self.manifest_path.read_text("utf-8")) if self.manifest_path.exists() else {}
        )

    def image_path(self, method: str, dataset: str, image_id: str) -> Path:
        """Where the cached output of one image goes; ids cannot escape the directory."""
        return output_image_path(self.root, method, dataset, image_id)

    def details_path(self, metric: str, method: str, dataset: str, image_id: str) -> Path:
        return details_path(self.root, metric, method, dataset, image_id)

    def write_details(self, metric: str, method: str, dataset: str, image_id: str, arrays: dict[str, Any]) -> Path:
        """Keep a metric's per-image arrays (``MetricValue.arrays``), written atomically.

        Like every write of the results directory, a full disk or a read-only directory is
        :class:`OutputNotWritable` (the run stops with one clear error) and any earlier
        file at the path stays as it was.
        """
        path = self.details_path(metric, method, dataset, image_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
        except OSError as exc:
            raise OutputNotWritable.wrap(path, exc) from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **{name: np.asarray(value) for name, value in arrays.items()})
            os.replace(tmp, path)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise OutputNotWritable.wrap(path, exc) from exc
            raise
        return path

    def has_score(self, method: str, dataset: str, image: str, metric: str) -> bool:
        row = self.scores.get(method, dataset, image, metric)
        return row is not None and row["status"] == "ok"

    def cached_output(self, method: str, dataset: str, image: str) -> tuple[Path, dict[str, str]] | None:
        row = self.outputs.get(method, dataset, image)
        if row is None or row["status"] != "ok":
            return None
        path = self.image_path(method, dataset, image)
        return (path, row) if path.exists() else None

    def merge_manifest(self, update: dict[str, Any]) -> None:
        """Add this invocation's config; refuse to mix different settings under one name."""
        merged = dict(self.manifest)
        for section in ("methods", "datasets", "metrics"):
            old = merged.get(section, {})
            new = update.get(section, {})
            for name, entry in new.items():
                if name in old and _conflict(old[name], entry):
                    raise RunConfigError(
                        f"{self.root} already holds {section[:-1]} {name!r} computed with different "
                        f"settings:\n  before: {json.dumps(_identity(old[name]), sort_keys=True)}\n"
                        f"  now:    {json.dumps(_identity(entry), sort_keys=True)}\n"
                        "Use a new --out directory, or a different label for the new settings."
                    )
            merged[section] = {
                **old,
                **{name: entry for name, entry in new.items() if "error" not in entry or name not in old},
            }
        for key, value in update.items():
            if key not in ("methods", "datasets", "metrics", "invocations"):
                merged[key] = value
        merged["invocations"] = merged.get("invocations", []) + update.get("invocations", [])
        self.manifest = merged
        self.write_manifest()

    def write_manifest(self) -> None:
        atomic_write_text(self.manifest_path, json.dumps(self.manifest, indent=2, sort_keys=True, default=str) + "\n")

    def finish(self) -> None:
        self.scores.compact()
        self.outputs.compact()


def output_image_path(root: Path, method: str, dataset: str, image_id: str) -> Path:
    """``ROOT/images/<method>/<dataset>/<image id>.png``: the cached output (reports read it too)."""
    rel = safe_relative(image_id, "image id").with_suffix(".png")
    return root / "images" / _dir_name(method) / _dir_name(dataset) / rel


def details_path(root: Path, metric: str, method: str, dataset: str, image_id: str) -> Path:
    """``ROOT/details/<metric>/<method>/<dataset>/<image id>.npz`` (the id keeps its suffix)."""
    rel = safe_relative(image_id, "image id")
    return root / "details" / _dir_name(metric) / _dir_name(method) / _dir_name(dataset) / (str(rel) + ".npz")


def _conflict(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Two entries under one name that would give different numbers (a failed load has none)."""
    if "error" in old or "error" in new:
        return False
    return _identity(old) != _identity(new)


def _identity(entry: dict[str, Any]) -> dict[str, Any]:
    """The parts of a manifest entry that change numbers (not, e.g., load errors)."""
    kept = {k: v for k, v in entry.items() if k not in ("error", "description")}
    return json.loads(json.dumps(kept, sort_keys=True, default=str))  # as stored: tuples are lists


def _dir_name(label: str) -> str:
    """A directory name for a method or dataset label (``folder:/x/y`` has slashes)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_.+=" else "_" for ch in label).strip(".")
    if cleaned == label:
        return label
    return f"{cleaned[:60]}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"
