"""Tables laid out like the SCL-LLE paper's, measured rows beside the published ones.

A layout is a list of columns (group, header, dataset key, metric). Measured rows are the
run's methods; each is matched to a paper row by its label (Table 3's ablation labels,
e.g. ``wo_cc``) or else its method name (``scl_lle`` is the paper's "Ours"). Under each
paper row's measured rows comes the published row itself, and every measured cell with a
published counterpart shows the difference (measured − published). Best and second are
marked among measured rows and, separately, among published rows (the paper's marks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from llebench.sdk import RunResults, group_rows
from llebench.sdk.report import (
    AVERAGE,
    FAILED_MARK,
    MEASURED,
    REFERENCE,
    SIGNIFICANCE_NOTE,
    UNCOMPARED_MARK,
    UNCOMPARED_NOTE,
    Cell,
    Column,
    Table,
    label_rows,
    mark_tied_best,
    rank_by_significance,
    rank_cells,
    rank_columns,
    row_markers,
    summary_cell,
)
from llebench_reports.published import Published, published
from llebench_reports.runinfo import entries, entry_name

PAPER_MARK = " [paper]"
VALUE_RANK_NOTE = ("Bold: best value; underlined: second (values are dataset-level, not means over images, so no "
                   "paired test applies). (n/N) after a value: only n of the dataset's N images were scored.")


@dataclass(frozen=True)
class ColumnSpec:
    group: str
    header: str
    dataset: str  # dataset key (a dataset name, or e.g. "frankfurt@6"); "average" for Average
    metric: str  # metric name
    lower_better: bool  # the paper's arrow (the manifest's, when the run has the metric, wins)
    over: tuple[str, ...] = ()  # Average columns: the dataset keys averaged


@dataclass
class Stat:
    """One measured (method, dataset, metric): its value and how many images it covers."""

    value: float | None
    count: int
    failed: int
    mark: str = ""  # a footnote mark its layout's ``marks`` explain (e.g. a fallback aggregation)
    #: images in the dataset (the N of n/N)
    total: int | None = None
    #: the cell's summary.csv row (mean, interval), when the value is a mean over images
    summary: Any = None


#: (run, metric label, method label, dataset label, that slice of the scores) -> Stat
Aggregate = Callable[[RunResults, str, str, str, pd.DataFrame], Stat]


def mean_of_images(run: RunResults, metric: str, method: str, dataset: str, rows: pd.DataFrame) -> Stat:
    summary = run.summary()
    row = summary[(summary["method"] == method) & (summary["dataset"] == dataset) & (summary["metric"] == metric)]
    ok = rows[rows["status"] == "ok"]
    failed = int((rows["status"] != "ok").sum())
    return Stat(float(ok["value"].mean()) if len(ok) else None, len(ok), failed,
                summary=next(row.itertuples(index=False), None))


def dataset_key_by_name(label: str, entry: dict[str, Any]) -> str | None:
    return entry_name(entry, label)


@dataclass
class PaperLayout:
    """One paper table: its columns, how run datasets map to column keys, and how images
    are aggregated (a mean by default; Table 4 sums confusion matrices)."""

    table: str
    title: str
    columns: list[ColumnSpec]
    measured_digits: int = 3
    dataset_key: Callable[[str, dict[str, Any]], str | None] = dataset_key_by_name
    aggregate: Aggregate = mean_of_images
    notes: list[str] = field(default_factory=list)
    #: the run must measure at least one of these paper rows to fill the table (empty: any)
    needs_rows: tuple[str, ...] = ()
    #: ``{mark: explanation}`` of the marks its aggregation puts on cells (see :attr:`Stat.mark`)
    marks: dict[str, str] = field(default_factory=dict)
    #: cells are means over images, so best marks come from paired tests over images; False
    #: (a dataset-level value, like Table 4's mIoU of summed confusion matrices): by value
    tested: bool = True

    # -- what the run holds ---------------------------------------------------------------

    def _labels(self, run: RunResults) -> tuple[dict[str, str], dict[str, str]]:
        """(run dataset label -> column key, run metric label -> metric name), first label per key."""
        datasets: dict[str, str] = {}
        for label, entry in entries(run, "datasets").items():
            key = self.dataset_key(label, entry)
            if key is not None and key not in datasets.values():
                datasets[label] = key
        metrics: dict[str, str] = {}
        for label, entry in entries(run, "metrics").items():
            name = entry_name(entry, label)
            if name not in metrics.values():
                metrics[label] = name
        return datasets, metrics

    def score_keys(self, run: RunResults) -> dict[tuple[str, str], tuple[str, str]]:
        """``{(dataset key, metric name): (dataset label, metric label)}``: the run's scores behind a column."""
        datasets, metrics = self._labels(run)
        return {(key, name): (label, metric) for label, key in datasets.items() for metric, name in metrics.items()}

    def measured(self, run: RunResults) -> dict[tuple[str, str, str], Stat]:
        """``{(method label, dataset key, metric name): Stat}`` for this table's columns."""
        wanted = {(c.dataset, c.metric) for c in self.columns if not c.over}
        datasets, metrics = self._labels(run)
        scores = run.scores[run.scores["dataset"].isin(datasets) & run.scores["metric"].isin(metrics)]
        sizes = run.dataset_sizes()
        found: dict[tuple[str, str, str], Stat] = {}
        for (method, dataset, metric), rows in group_rows(scores, ["method", "dataset", "metric"]):
            key = (datasets[dataset], metrics[metric])
            if key in wanted:
                stat = self.aggregate(run, metric, method, dataset, rows)
                stat.total = sizes.get(dataset)
                found[(method, *key)] = stat
        return found

    def can_render(self, run: RunResults) -> bool:
        measured = self.measured(run)
        if not self.needs_rows:
            return bool(measured)
        return any(label in self.needs_rows or name in self.needs_rows for label, name in self.methods(run, measured))

    def directions(self, run: RunResults) -> list[bool]:
        from_run = {entry_name(e, label): e.get("lower_better") for label, e in entries(run, "metrics").items()}
        return [from_run.get(c.metric) if from_run.get(c.metric) is not None else c.lower_better
                for c in self.columns]

    def methods(self, run: RunResults, measured: dict[tuple[str, str, str], Stat]) -> list[tuple[str, str]]:
        """(label, method name) of the run's methods that have a cell here, in run order."""
        present = {method for method, _, _ in measured}
        return [(label, entry_name(entry, label)) for label, entry in entries(run, "methods").items()
                if label in present]

    # -- building -------------------------------------------------------------------------

    def build(self, run: RunResults, paper: Published | None = None) -> Table:
        paper = paper or published()
        measured = self.measured(run)
        directions = self.directions(run)
        sources = self.score_keys(run)
        columns = [Column(c.group, c.header, lower_better, c.over, scores_key=sources.get((c.dataset, c.metric)))
                   for c, lower_better in zip(self.columns, directions)]
        paper_rows = paper.rows(self.table)
        keys = [row.key for row in paper_rows]

        def paper_key(label: str, name: str) -> str | None:
            return label if label in keys else (name if name in keys else None)

        matched: dict[str, list[str]] = {key: [] for key in keys}
        unmatched: list[str] = []
        for label, name in self.methods(run, measured):
            key = paper_key(label, name)
            (matched[key] if key is not None else unmatched).append(label)

        table = Table(columns=columns, rows=[], kinds=[], row_groups=[])

        def add(label: str, kind: str, cells: list[Cell], group: int) -> None:
            table.rows.append((label, cells))
            table.kinds.append(kind)
            table.row_groups.append(group)

        group = 0
        for row in paper_rows:
            for label in matched[row.key]:
                add(label, MEASURED, self._measured_cells(label, row.key, measured, paper), group)
            add(row.label + PAPER_MARK, REFERENCE, self._paper_cells(row.key, paper), group)
            group += 1
        for label in unmatched:
            add(label, MEASURED, self._measured_cells(label, None, measured, paper), group)
            group += 1
        table.keys = [label for label, _ in table.rows]
        label_rows(table, run.entries("methods"))
        rank_columns(table)  # by value: published rows among themselves (the paper's marks), measured rows
        if self.tested:
            rank_by_significance(table, run.scores, [i for i, c in enumerate(self.columns) if c.over or
                                                      columns[i].scores_key is not None])
        table.notes = [SIGNIFICANCE_NOTE if self.tested else VALUE_RANK_NOTE, *self.notes_for(table), *table.notes]
        return table

    def notes_for(self, table: Table) -> list[str]:
        """The layout's notes, plus the explanation of each mark some cell carries."""
        used = "".join(cell.marks for _, cells in table.rows for cell in cells)
        return [*self.notes, *(f"{mark} {text}" for mark, text in self.marks.items() if mark in used),
                *([UNCOMPARED_NOTE] if UNCOMPARED_MARK in used else [])]

    def _published(self, key: str | None, spec: ColumnSpec, paper: Published) -> float | None:
        return None if key is None else paper.value(self.table, key, spec.dataset, spec.metric)

    def _measured_cells(self, label: str, key: str | None, measured: dict, paper: Published) -> list[Cell]:
        cells = []
        for spec in self.columns:
            if spec.over:
                parts = [measured.get((label, d, spec.metric)) for d in spec.over]
                values = [p.value for p in parts if p is not None and p.value is not None]
                if len(values) < len(spec.over):
                    cell = Cell("–", note=f"needs a score on each of {', '.join(spec.over)}")
                else:
                    value = sum(values) / len(values)
                    subset = any(p.total is None or p.count != p.total for p in parts)
                    cell = Cell(f"{value:.{self.measured_digits}f}" + (" (subset)" if subset else ""), value,
                                note=f"mean over {len(values)} datasets" + ("; some over a subset" if subset else ""))
            else:
                stat = measured.get((label, spec.dataset, spec.metric))
                cell = self.stat_cell(stat)
            self._compare(cell, self._published(key, spec, paper), [measured.get((label, d, spec.metric))
                                                                      for d in (spec.over or (spec.dataset,))])
            cells.append(cell)
        return cells

    def _compare(self, cell: Cell, reference: float | None, stats: list[Stat | None]) -> None:
        """The difference to the published value, only for a cell over every image of its dataset(s)."""
        if cell.value is None or reference is None:
            return
        if any(s is not None and s.mark for s in stats):  # another aggregation than the paper's
            cell.note += ("; " if cell.note else "") + "not compared with the paper: aggregated differently"
            return
        partial = [s for s in stats if s is None or s.total is None or s.count != s.total]
        if partial:
            cell.note += ("; " if cell.note else "") + ("not compared with the paper: the cell does not cover "
                                                        "every image of the dataset")
            cell.marks += UNCOMPARED_MARK
            return
        cell.delta = f"{cell.value - reference:+.{self.measured_digits}f}"

    def stat_cell(self, stat: Stat | None) -> Cell:
        if stat is None:
            return Cell("–")
        if stat.summary is not None and not stat.mark:  # a mean over images: coverage and interval
            return summary_cell(stat.summary, f".{self.measured_digits}f")
        notes = [f"{stat.failed} of {stat.failed + stat.count} images failed"] if stat.failed else []
        notes += [self.marks[stat.mark]] if stat.mark else []
        marks = (FAILED_MARK if stat.failed else "") + stat.mark
        if stat.value is None:
            return Cell("failed", note="; ".join(notes), marks=marks, n=0, n_total=stat.total)
        text = f"{stat.value:.{self.measured_digits}f}"
        if stat.total is not None and stat.count != stat.total:
            text += f" ({stat.count}/{stat.total})"
        return Cell(text, stat.value, note="; ".join(notes), marks=marks, n=stat.count, n_total=stat.total)

    def _paper_cells(self, key: str, paper: Published) -> list[Cell]:
        cells = []
        for spec in self.columns:
            value = paper.value(self.table, key, spec.dataset, spec.metric)
            text = None if value is None else paper.text(self.table, key, spec.dataset, spec.metric)
            cells.append(Cell("–") if value is None else Cell(text, value))
        return cells


def methods_as_columns(layout: PaperLayout, run: RunResults, paper: Published | None = None) -> Table:
    """Table 2's shape: one column per method, a row per metric (measured, then published)."""
    paper = paper or published()
    measured = layout.measured(run)
    keys = [row.key for row in paper.rows(layout.table)]
    labels = {row.key: row.label for row in paper.rows(layout.table)}
    method_entries = run.entries("methods")
    run_methods = layout.methods(run, measured)
    by_key: dict[str, list[str]] = {key: [] for key in keys}
    unmatched = []
    for label, name in run_methods:
        key = label if label in keys else (name if name in keys else None)
        (by_key[key] if key is not None else unmatched).append(label)
    # (header, measured label or None, paper key or None); the identity row goes first
    slots: list[tuple[str, str | None, str | None]] = [(m, m, None) for m in unmatched if m == "input"]
    for key in keys:
        slots += [(m, m, key) for m in by_key[key]] or [(labels[key] + PAPER_MARK, None, key)]
    slots += [(m, m, None) for m in unmatched if m != "input"]
    directions = layout.directions(run)
    legend: list[str] = []

    def header(text: str, label: str | None) -> str:
        if label is None or label not in method_entries:
            return text
        marks, meanings = row_markers(method_entries[label])
        if marks:
            legend.append(f"{label} {marks}: " + "; ".join(meanings))
        return f"{text} {marks}" if marks else text

    table = Table(columns=[Column("", header(text, label), None) for text, label, _ in slots],
                  rows=[], kinds=[], row_groups=[], corner="Metric", sortable=False)
    # the identity's column is a reference: never marked
    identity = [i for i, (_, label, _) in enumerate(slots) if label in method_entries
                and method_entries[label].get("reference")]
    sources = layout.score_keys(run)
    for index, spec in enumerate(layout.columns):
        arrow_text = "↓" if directions[index] else "↑"
        measured_cells, paper_cells = [], []
        for _, label, key in slots:
            stat = measured.get((label, spec.dataset, spec.metric)) if label else None
            cell = layout.stat_cell(stat)
            reference = None if key is None else paper.value(layout.table, key, spec.dataset, spec.metric)
            layout._compare(cell, reference, [stat])
            measured_cells.append(cell)
            paper_cells.append(Cell("–") if reference is None
                               else Cell(paper.text(layout.table, key, spec.dataset, spec.metric), reference))
        rank_cells(paper_cells, directions[index])  # the paper's own marks
        contenders = {label: cell for i, ((_, label, _), cell) in enumerate(zip(slots, measured_cells))
                      if label is not None and i not in identity and cell.value is not None}
        if layout.tested and (spec.dataset, spec.metric) in sources:
            mark_tied_best(contenders, directions[index], run.scores, *sources[(spec.dataset, spec.metric)])
        else:
            rank_cells(list(contenders.values()), directions[index])
        table.rows += [(f"{spec.header} {arrow_text}", measured_cells),
                       (f"{spec.header} {arrow_text}{PAPER_MARK}", paper_cells)]
        table.kinds += [MEASURED, REFERENCE]
        table.row_groups += [index, index]
    table.notes = [SIGNIFICANCE_NOTE if layout.tested else VALUE_RANK_NOTE, *layout.notes_for(table), *legend]
    return table


def average_columns(datasets: list[tuple[str, str]], metrics: list[tuple[str, str, bool]]) -> list[ColumnSpec]:
    """Per dataset every metric, then an Average group (mean of the per-dataset means)."""
    columns = [ColumnSpec(title, header, key, metric, lower)
               for key, title in datasets for metric, header, lower in metrics]
    over = tuple(key for key, _ in datasets)
    columns += [ColumnSpec(AVERAGE, header, "average", metric, lower, over) for metric, header, lower in metrics]
    return columns
