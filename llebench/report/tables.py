"""Tables are pivots of the tidy score rows; this module builds them and ranks their cells."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

AVERAGE = "Average"
MEASURED = "measured"
REFERENCE = "reference"
FAILED_MARK = "†"  # some images of the cell failed (its note says how many)


@dataclass
class Cell:
    text: str
    value: float | None = None
    rank: int | None = None  # 1 = best, 2 = second
    note: str = ""  # e.g. "2 of 64 images failed"
    delta: str = ""  # e.g. "+0.05": this measured value minus the published one
    #: footnote marks shown after the value: FAILED_MARK, or one the table's notes explain
    marks: str = ""

    @property
    def css(self) -> str:
        return {1: "best", 2: "second"}.get(self.rank or 0, "")


@dataclass
class Column:
    group: str
    metric: str
    lower_better: bool | None
    over: tuple[str, ...] = ()  # for the Average group: the datasets averaged
    #: the metric's number format (``Metric.number_format``; "" = by magnitude)
    number_format: str = ""


@dataclass
class Table:
    """A rendered-ready table: grouped columns, one row per method.

    ``kinds`` marks each row ``measured`` (the default when empty) or ``reference`` (a
    published number). Rows with the same entry in ``row_groups`` stay together when the
    page is sorted (a method's measured rows and its published row).
    """

    columns: list[Column]
    rows: list[tuple[str, list[Cell]]]
    notes: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    row_groups: list[int] = field(default_factory=list)
    corner: str = "Method"  # header of the row-label column
    sortable: bool = True  # rows can be reordered by a header click (not when columns are methods)
    #: ``{metric label: manifest entry}`` of the metrics shown, whose settings are written
    #: under the table (BasicSR style: the same name from two settings is two numbers)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def kind(self, index: int) -> str:
        return self.kinds[index] if self.kinds else MEASURED

    def grouped_rows(self) -> list[list[tuple[str, str, list[Cell]]]]:
        """Rows as (label, kind, cells), in runs of equal ``row_groups`` entries."""
        groups: list[list[tuple[str, str, list[Cell]]]] = []
        previous = object()
        for index, (label, cells) in enumerate(self.rows):
            group = self.row_groups[index] if self.row_groups else index
            if not groups or group != previous:
                groups.append([])
            groups[-1].append((label, self.kind(index), cells))
            previous = group
        return groups

    def groups(self) -> list[tuple[str, int]]:
        """(group name, column span) in order, for the header's first row."""
        spans: list[tuple[str, int]] = []
        for col in self.columns:
            if spans and spans[-1][0] == col.group:
                spans[-1] = (col.group, spans[-1][1] + 1)
            else:
                spans.append((col.group, 1))
        return spans


def arrow(lower_better: bool | None) -> str:
    return "" if lower_better is None else ("↓" if lower_better else "↑")


def format_value(value: float, spec: str = "") -> str:
    """``value`` with a metric's declared format spec (``Metric.number_format``, e.g. ``",.0f"``
    for a count), else 1 decimal from 100 up, 4 below 1, 3 in between."""
    if spec:
        return format(value, spec)
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) < 1:
        return f"{value:.4f}"
    return f"{value:.3f}"


def rank_values(values: list[float | None], lower_better: bool | None) -> list[int | None]:
    """1 for the best value, 2 for the second (ties share a rank); None elsewhere."""
    present = sorted({v for v in values if v is not None})
    if lower_better is None or not present:
        return [None] * len(values)
    ordered = present if lower_better else present[::-1]
    ranks = {v: i + 1 for i, v in enumerate(ordered[:2])}
    return [ranks.get(v) if v is not None else None for v in values]


def mean_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean of ok values and failure counts per (method, dataset, metric)."""
    ok = scores[scores["status"] == "ok"]
    means = ok.groupby(["method", "dataset", "metric"])["value"].agg(["mean", "count"])
    failed = scores[scores["status"] != "ok"].groupby(["method", "dataset", "metric"]).size().rename("failed")
    out = means.join(failed, how="outer").fillna({"count": 0, "failed": 0})
    return out.reset_index()


def leaderboard_table(
    scores: pd.DataFrame, directions: dict[str, bool | None], methods: list[str] | None = None,
    datasets: list[str] | None = None, metrics: list[str] | None = None, formats: dict[str, str] | None = None,
) -> Table:
    """Rows = methods, a column group per dataset (metrics inside) and an Average group.

    ``formats`` maps metric labels to their number format (``Metric.number_format``).
    """
    formats = formats or {}
    summary = mean_scores(scores)
    methods = methods or sorted(summary["method"].unique())
    datasets = datasets or sorted(summary["dataset"].unique())
    metrics = metrics or sorted(summary["metric"].unique())
    lookup = {(r.method, r.dataset, r.metric): r for r in summary.itertuples(index=False)}

    columns: list[Column] = []
    for dataset in datasets:
        for metric in metrics:
            if any((m, dataset, metric) in lookup for m in methods):
                columns.append(Column(dataset, metric, directions.get(metric), number_format=formats.get(metric, "")))
    if len(datasets) > 1:
        for metric in metrics:
            covered = tuple(d for d in datasets if any((m, d, metric) in lookup for m in methods))
            if len(covered) > 1:
                columns.append(Column(AVERAGE, metric, directions.get(metric), covered, formats.get(metric, "")))

    values: dict[tuple[str, int], Cell] = {}
    for index, col in enumerate(columns):
        for method in methods:
            values[(method, index)] = _cell(lookup, method, col)
        ranks = rank_values([values[(m, index)].value for m in methods], col.lower_better)
        for method, rank in zip(methods, ranks):
            values[(method, index)].rank = rank
    rows = [(method, [values[(method, i)] for i in range(len(columns))]) for method in methods]
    return Table(columns=columns, rows=rows)


def _cell(lookup: dict[tuple[str, str, str], Any], method: str, col: Column) -> Cell:
    if col.group != AVERAGE:
        row = lookup.get((method, col.group, col.metric))
        if row is None:
            return Cell("–")
        note = f"{int(row.failed)} of {int(row.failed + row.count)} images failed" if row.failed else ""
        marks = FAILED_MARK if row.failed else ""
        if row.count == 0:
            return Cell("failed", note=note, marks=marks)
        return Cell(format_value(row.mean, col.number_format), float(row.mean), note=note, marks=marks)
    rows = [lookup.get((method, d, col.metric)) for d in col.over]
    means = [r.mean for r in rows if r is not None and r.count > 0]
    if len(means) < len(col.over):
        return Cell("–", note=f"needs a score on each of {', '.join(col.over)}")
    value = sum(means) / len(means)
    return Cell(format_value(value, col.number_format), value, note=f"mean over {len(means)} datasets")


def settings_lines(table: Table) -> list[str]:
    """One line per metric of ``table``: how it was computed, or why it was not."""
    lines = []
    for label, entry in table.settings.items():
        if "error" in entry:
            lines.append(f"{label}: not computed: {entry['error']}")
        else:
            settings = json.dumps(entry.get("settings", {}), sort_keys=True, ensure_ascii=False)
            lines.append(f"{label} settings: {settings}")
    return lines


def rank_columns(table: Table) -> None:
    """Mark best/second in every column, measured rows among themselves and reference rows
    among themselves (so a published table keeps its own marks)."""
    for kind in {table.kind(i) for i in range(len(table.rows))}:
        members = [i for i in range(len(table.rows)) if table.kind(i) == kind]
        for index, col in enumerate(table.columns):
            cells = [table.rows[i][1][index] for i in members]
            for cell, rank in zip(cells, rank_values([c.value for c in cells], col.lower_better)):
                cell.rank = rank


def rank_rows(table: Table, directions: list[bool | None]) -> None:
    """Mark best/second along each row (tables whose columns are methods, like Table 2)."""
    for (_, cells), lower_better in zip(table.rows, directions):
        for cell, rank in zip(cells, rank_values([c.value for c in cells], lower_better)):
            cell.rank = rank


def mean_ranks(table: Table, columns: list[int]) -> list[float | None]:
    """Each row's mean rank (1 = best, ties share the better rank) over ``columns`` (which
    must have a direction); rows missing a value in any of them get None."""
    result: list[float | None] = [None] * len(table.rows)
    if not columns:
        return result
    positions: dict[int, list[int]] = {i: [] for i in range(len(table.rows))}
    for index in columns:
        col = table.columns[index]
        present = [(i, cells[index].value) for i, (_, cells) in enumerate(table.rows) if cells[index].value is not None]
        for i, value in present:
            better = sum(1 for _, other in present if (other < value if col.lower_better else other > value))
            positions[i].append(better + 1)
    for i, ranks in positions.items():
        if len(ranks) == len(columns):
            result[i] = sum(ranks) / len(ranks)
    return result
