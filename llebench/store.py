"""Writing a results directory: journals of scores and outputs, the manifest, resuming.

The layout is described in :mod:`llebench.results` (the read side). Both CSV files are
journals: each row is appended with a single ``write`` of a complete line, so a killed
run leaves at most one torn last line, which the next writer cuts off. When a run ends
the file is rewritten (deduplicated, sorted) atomically. One writer at a time: a
:class:`~llebench.lock.RunLock` on the directory keeps a second run out.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from pathlib import Path
from typing import Any, Sequence

from llebench.atomic import atomic_write_text, atomic_writer
from llebench.errors import OutputNotWritable, RunConfigError
from llebench.results import (
    OUTPUT_COLUMNS, OUTPUT_KEY, SCORE_COLUMNS, SCORE_KEY, dataset_sizes, details_path, output_image_path,
    read_journal, read_journals, shard_files,
)


def shard_path(path: Path, shard: int) -> Path:
    """The journal one rank of a sharded run appends to (``scores.rank1.csv``)."""
    return path.with_name(f"{path.stem}.rank{shard}{path.suffix}")


class Journal:
    """An append-only CSV table keyed by some columns; the last row for a key wins.

    In a sharded run (``torchrun ... llebench run``) each rank appends to its own file,
    ``shard_path(path, rank)``, and reads the main file and every rank's; :meth:`compact`
    merges them all into the main file and removes the rank files. The first writer to
    open a directory (a single process, or rank 0, which opens before the other ranks)
    folds rank files left by a killed sharded run into the main file first, so every
    row appended afterwards is newer than every row it could replace.
    """

    def __init__(self, path: Path, columns: Sequence[str], key: Sequence[str], shard: int | None = None) -> None:
        self.path = path
        self.write_path = path if shard is None else shard_path(path, shard)
        self.columns = tuple(columns)
        self.key = tuple(key)
        self._cut_torn_line()
        if self.path.exists() and self.path.stat().st_size and self._header() != self.columns:
            self.rows = read_journal(path, self.columns, self.key)
            self.compact()  # written by an older llebench with fewer columns: appends need the new header
        self.rows: dict[tuple[str, ...], dict[str, str]] = self._read_all()
        if shard in (None, 0) and self.shards():
            self.compact()

    def shards(self) -> list[Path]:
        """Every rank's file, in rank order."""
        return shard_files(self.path)

    def _read_all(self) -> dict[tuple[str, ...], dict[str, str]]:
        """The main file, then every rank's (a torn last line of any is left out, in memory)."""
        return read_journals(self.path, self.columns, self.key)

    def _cut_torn_line(self) -> None:
        """A torn last row from a killed run: cut it off our own file (only its writer does this)."""
        if not self.write_path.exists():
            return
        data = self.write_path.read_bytes()
        if data and not data.endswith(b"\n"):
            try:
                with open(self.write_path, "r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)
            except OSError as exc:
                raise OutputNotWritable.wrap(self.write_path, exc) from exc

    def _header(self) -> tuple[str, ...]:
        with open(self.path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
            return tuple(next(csv.reader(fh), []))

    def _key(self, row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row[c]) for c in self.key)

    def get(self, *key: str) -> dict[str, str] | None:
        return self.rows.get(tuple(key))

    def append(self, row: dict[str, Any]) -> None:
        """Durably append one row (one ``write`` call of a whole line)."""
        text_row = {c: _format(row.get(c, "")) for c in self.columns}
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if not self.write_path.exists() or self.write_path.stat().st_size == 0:
            writer.writerow(self.columns)
        writer.writerow([text_row[c] for c in self.columns])
        data = buf.getvalue().encode("utf-8", "surrogateescape")
        try:
            self.write_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.write_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
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
            raise OutputNotWritable.wrap(self.write_path, exc) from exc
        self.rows[self._key(text_row)] = text_row

    def compact(self) -> None:
        """Every rank's rows merged into the main file, deduplicated and sorted, atomically; then
        the rank files go (a kill in between leaves both: the next reader merges them again)."""
        shards = self.shards()
        if shards:
            self.rows = self._read_all()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        for key in sorted(self.rows):
            writer.writerow([self.rows[key].get(c, "") for c in self.columns])
        with atomic_writer(self.path) as handle:
            handle.write(buf.getvalue().encode("utf-8", "surrogateescape"))
        for path in shards:
            path.unlink(missing_ok=True)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return repr(float(value))  # a numpy float's repr is "np.float64(...)"
    return "" if value is None else str(value)


class ResultsStore:
    """Reads and writes one results directory; knows what is already computed."""

    def __init__(self, root: str | os.PathLike[str], shard: int | None = None) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise RunConfigError(f"--out {self.root} is a file, not a directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputNotWritable.wrap(self.root, exc) from exc
        self.scores = Journal(self.root / "scores.csv", SCORE_COLUMNS, SCORE_KEY, shard)
        self.outputs = Journal(self.root / "outputs.csv", OUTPUT_COLUMNS, OUTPUT_KEY, shard)
        self.manifest_path = self.root / "manifest.json"
        try:
            self.manifest: dict[str, Any] = (
                json.loads(self.manifest_path.read_text("utf-8")) if self.manifest_path.exists() else {}
            )
        except ValueError as exc:
            raise RunConfigError(f"{self.manifest_path} is not valid JSON ({exc}); move it away to start afresh") from exc

    def image_path(self, method: str, dataset: str, image_id: str) -> Path:
        """Where the cached output of one image goes; ids cannot escape the directory."""
        return output_image_path(self.root, method, dataset, image_id)

    def details_path(self, metric: str, method: str, dataset: str, image_id: str) -> Path:
        return details_path(self.root, metric, method, dataset, image_id)

    def write_details(self, metric: str, method: str, dataset: str, image_id: str, arrays: dict[str, Any]) -> Path:
        """Keep a metric's per-image arrays (``MetricValue.arrays``), written atomically."""
        import numpy as np

        path = self.details_path(metric, method, dataset, image_id)
        with atomic_writer(path) as handle:
            np.savez(handle, **{name: np.asarray(value) for name, value in arrays.items()})
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

    def write_summary(self, seed: int) -> Any:
        """``summary.csv``: n, N, mean, std and bootstrap interval of every (method, dataset,
        metric) (:mod:`llebench.stats`); returns it as a DataFrame."""
        import pandas as pd

        from llebench.stats import summarize

        scores = pd.DataFrame(list(self.scores.rows.values()), columns=list(SCORE_COLUMNS), dtype=object)
        scores["value"] = pd.to_numeric(scores["value"], errors="coerce")
        summary = summarize(scores, dataset_sizes(self.manifest), seed)
        atomic_write_text(self.root / "summary.csv", summary.to_csv(index=False))
        return summary


def _conflict(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Two entries under one name that would give different numbers (a failed load has none)."""
    if "error" in old or "error" in new:
        return False
    return _identity(old) != _identity(new)


#: manifest fields that describe an entry without changing its numbers
_NOT_IDENTITY = ("error", "description", "format", "published_images", "fingerprint_dir")


def _identity(entry: dict[str, Any]) -> dict[str, Any]:
    """The parts of a manifest entry that change numbers (not, e.g., load errors)."""
    kept = {k: v for k, v in entry.items() if k not in _NOT_IDENTITY}
    return json.loads(json.dumps(kept, sort_keys=True, default=str))  # as stored: tuples are lists


def add_external_scores(run_dir: str | os.PathLike[str], metric: str, entry: dict[str, Any],
                        values: dict[tuple[str, str, str], float], replace: bool = False) -> int:
    """Record scores computed outside llebench (a user study, a colleague's metric) in a run.

    ``values`` maps ``(method label, dataset label, image id)`` to one number per image;
    ``entry`` is the metric's manifest entry (``kind``, ``lower_better``, ``settings``: where
    the numbers come from). Each method's variant and weights are copied from its own rows,
    so tables treat the new column like any other. Importing different settings under the
    same metric name is refused unless ``replace``, which first drops the earlier import.
    Takes the directory's writer lock. Returns the number of rows written.
    """
    from llebench.lock import RunLock
    from llebench.results import RunResults

    run = RunResults.load(run_dir)
    firsts = run.scores.drop_duplicates("method")
    identity = {m: (v, w) for m, v, w in firsts[["method", "variant", "weights"]].itertuples(index=False)}
    with RunLock(Path(run_dir)):
        store = ResultsStore(run_dir)
        if replace:
            store.scores.rows = {k: v for k, v in store.scores.rows.items() if v["metric"] != metric}
            store.manifest.get("metrics", {}).pop(metric, None)
        store.merge_manifest({"metrics": {metric: {"name": metric, **entry}}})
        for (method, dataset, image), value in sorted(values.items()):
            variant, weights = identity.get(method, ("", ""))
            store.scores.append({"method": method, "variant": variant, "weights": weights, "dataset": dataset,
                                 "image": image, "metric": metric, "value": float(value), "status": "ok"})
        store.finish()
    return len(values)
