"""Tables are pivots of the tidy score rows; this module builds them and ranks their cells."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

AVERAGE = "Average"


@dataclass
class Cell:
    text: str
    value: float | None = None
    rank: int | None = None  # 1 = best, 2 = second
    note: str = ""  # e.g. "2 of 64 images failed"

    @property
    def css(self) -> str:
        return {1: "best", 2: "second"}.get(self.rank or 0, "")


@dataclass
class Column:
    group: str
    metric: str
    lower_better: bool | None
    over: tuple[str, ...] = ()  # for the Average group: the datasets averaged


@dataclass
class Table:
    """A rendered-ready table: grouped columns, one row per method."""

    columns: list[Column]
    rows: list[tuple[str, list[Cell]]]
    notes: list[str] = field(default_factory=list)

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


def format_value(value: float, metric: str) -> str:
    if metric in {"seconds"}:
        return f"{value:.3f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) < 1 and metric not in {"niqe", "psnr"}:
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
    datasets: list[str] | None = None, metrics: list[str] | None = None,
) -> Table:
    """Rows = methods, a column group per dataset (metrics inside) and an Average group."""
    summary = mean_scores(scores)
    methods = methods or sorted(summary["method"].unique())
    datasets = datasets or sorted(summary["dataset"].unique())
    metrics = metrics or sorted(summary["metric"].unique())
    lookup = {(r.method, r.dataset, r.metric): r for r in summary.itertuples(index=False)}

    columns: list[Column] = []
    for dataset in datasets:
        for metric in metrics:
            if any((m, dataset, metric) in lookup for m in methods):
                columns.append(Column(dataset, metric, directions.get(metric)))
    if len(datasets) > 1:
        for metric in metrics:
            covered = tuple(d for d in datasets if any((m, d, metric) in lookup for m in methods))
            if len(covered) > 1:
                columns.append(Column(AVERAGE, metric, directions.get(metric), covered))

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
        if row.count == 0:
            return Cell("failed", note=note)
        return Cell(format_value(row.mean, col.metric), float(row.mean), note=note)
    rows = [lookup.get((method, d, col.metric)) for d in col.over]
    means = [r.mean for r in rows if r is not None and r.count > 0]
    if len(means) < len(col.over):
        return Cell("–", note=f"needs a score on each of {', '.join(col.over)}")
    value = sum(means) / len(means)
    return Cell(format_value(value, col.metric), value, note=f"mean over {len(means)} datasets")
