"""Tables are pivots of the tidy score rows; this module builds them and ranks their cells.

A measured cell says what it covers: ``n`` images scored of the dataset's ``N`` (a subset
shows ``3.302 (6/64)``), and on hover its mean, 95% bootstrap interval and failures (from
``summary.csv``, :mod:`llebench.stats`). Best marks go to the best method *and every method
not significantly different from it* (paired Wilcoxon signed-rank, Holm, 5%); the second
mark to the best of the rest. The identity method's row is a reference: never marked, never
ranked. A row produced by something other than the published method (custom weights,
untrained feature networks, a non-default variant or option) carries a marker that the
table's notes explain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from llebench.results import Entry, RunResults

AVERAGE = "Average"
MEASURED = "measured"
REFERENCE = "reference"  # a published row
IDENTITY = "identity"  # the identity method (the input itself): a reference, never ranked
FAILED_MARK = "†"  # some images of the cell failed (its note says how many)
#: row markers: what produced a row, when it is not the published method as published
CUSTOM_WEIGHTS_MARK = "‡"
UNTRAINED_MARK = "§"
VARIANT_MARK = "¶"
#: a measured cell with a published counterpart that is not compared with it (a subset)
UNCOMPARED_MARK = "°"
UNCOMPARED_NOTE = (f"{UNCOMPARED_MARK} not compared with the published value: the cell covers only some of the "
                   "dataset's images (n/N).")
#: where a page finds each cell's interval; an export says where it is instead (exports.py)
HOVER_SENTENCE = "Hover a value for its 95% bootstrap interval and the images it covers"
SIGNIFICANCE_NOTE = ("Bold: the best value and every value not significantly different from it (paired Wilcoxon "
                     "signed-rank test over the images both methods scored, Holm-corrected per dataset and metric, "
                     f"5%); underlined: the best of the rest. {HOVER_SENTENCE}; (n/N) after a value: only n of the "
                     "dataset's N images were scored.")


@dataclass
class Cell:
    text: str
    value: float | None = None
    rank: int | None = None  # 1 = best (or tied with it), 2 = second
    note: str = ""  # e.g. "2 of 64 images failed"
    delta: str = ""  # e.g. "+0.05": this measured value minus the published one
    #: footnote marks shown after the value: FAILED_MARK, or one the table's notes explain
    marks: str = ""
    #: images scored, and images in the dataset (None: not a per-dataset mean)
    n: int | None = None
    n_total: int | None = None
    #: the 95% bootstrap interval of the mean as shown, e.g. "[3.612, 3.851]" ("" when none)
    interval: str = ""

    @property
    def full(self) -> bool:
        """The cell covers every image of its dataset."""
        return self.n is not None and self.n_total is not None and self.n == self.n_total and self.n > 0

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
    #: the (dataset label, metric label) of the run's scores behind the column, for the paired
    #: tests; None: (group, metric), as in the leaderboard
    scores_key: tuple[str, str] | None = None


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
    #: the method label behind each row (a shown label may carry markers); empty: the labels
    keys: list[str] = field(default_factory=list)

    def key(self, index: int) -> str:
        """The method label behind row ``index`` (rows appended later stand for themselves)."""
        return self.keys[index] if index < len(self.keys) else self.rows[index][0]

    def kind(self, index: int) -> str:
        return self.kinds[index] if index < len(self.kinds) else MEASURED

    def ranked(self, index: int) -> bool:
        """Whether row ``index`` takes part in ranking (not the identity's reference row)."""
        return self.kind(index) != IDENTITY

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


def summary_cell(row: Any, number_format: str = "") -> Cell:
    """A measured cell from a ``summary.csv`` row (n, n_total, failed, mean, std, ci_low, ci_high)."""
    n, failed = int(row.n), int(row.failed)
    n_total = None if pd.isna(row.n_total) else int(row.n_total)
    notes = [f"{failed} of {failed + n} images failed"] if failed else []
    marks = FAILED_MARK if failed else ""
    if n == 0:
        return Cell("failed", note="; ".join(notes), marks=marks, n=0, n_total=n_total)
    text = format_value(row.mean, number_format)
    covered = f"{n} of {n_total} images" if n_total is not None else f"{n} images"
    interval = (f"[{format_value(row.ci_low, number_format)}, {format_value(row.ci_high, number_format)}]"
                if n > 1 else "")
    notes.insert(0, f"mean {text}, {'95% CI ' + interval if interval else 'no interval from one image'}, {covered}")
    if n_total is not None and n != n_total:
        text += f" ({n}/{n_total})"
    return Cell(text, float(row.mean), note="; ".join(notes), marks=marks, n=n, n_total=n_total, interval=interval)


def row_markers(entry: Entry) -> tuple[str, list[str]]:
    """The marks of a method's row and what each means (see the module docstring)."""
    marks, meanings = "", []
    if entry.get("custom_weights"):
        files = ", ".join(f"{name} (sha256 {sha[:12]}…)" for name, sha in (entry.get("weights") or {}).items())
        marks += CUSTOM_WEIGHTS_MARK
        meanings.append(f"{CUSTOM_WEIGHTS_MARK} weights {files or 'given with --weights'}, not the published file")
    if (entry.settings or {}).get("untrained"):
        marks += UNTRAINED_MARK
        meanings.append(f"{UNTRAINED_MARK} trained with random (untrained) feature networks: a smoke test, "
                        "not the method's result")
    variant = _own_variant(entry)
    # the variant says the options (manifest.row_variant); runs written before it did list them apart
    options = [] if variant else [f"{key}={value}" for key, value in sorted((entry.get("options") or {}).items())
                                  if key != "variant"]
    if variant or options:
        marks += VARIANT_MARK
        meanings.append(f"{VARIANT_MARK} " + ", ".join(([f"variant {variant}"] if variant else []) + options))
    return marks, meanings


def _own_variant(entry: Entry) -> str:
    """The method's own variant, without the parts the other marks say."""
    parts = [p for p in str(entry.get("variant") or "").split("+") if p not in ("custom-weights", "untrained", "")]
    return "+".join(parts)


def label_rows(table: Table, entries: dict[str, Entry]) -> None:
    """Mark the identity's row as a reference and every other row with its markers, explained in the notes."""
    kinds = [table.kind(i) for i in range(len(table.rows))]
    table.keys = [table.key(i) for i in range(len(table.rows))]
    legend = []
    for index, (label, cells) in enumerate(table.rows):
        entry = entries.get(label)
        if entry is None or kinds[index] == REFERENCE:
            continue
        if entry.get("reference"):
            kinds[index] = IDENTITY
            for cell in cells:
                cell.rank = None
            continue
        marks, meanings = row_markers(entry)
        if marks:
            table.rows[index] = (f"{label} {marks}", cells)
            legend.append(f"{label} {marks}: " + "; ".join(meanings))
    table.kinds = kinds
    if any(kind == IDENTITY for kind in kinds):
        table.notes.append("The input row (the low-light image itself) is a reference: not ranked, never marked.")
    table.notes.extend(legend)


def leaderboard_table(run: RunResults, methods: list[str] | None = None, datasets: list[str] | None = None,
                      metrics: list[str] | None = None) -> Table:
    """Rows = methods, a column group per dataset (metrics inside) and an Average group.

    Cells come from the run's summary (coverage, interval); best marks from the paired tests
    of each dataset and metric. Orders default to the manifest's (the order the user listed).
    """
    summary = run.summary()
    entries = {section: run.entries(section) for section in ("methods", "datasets", "metrics")}
    methods = methods or [m for m in entries["methods"] if m in set(summary["method"])]
    datasets = datasets or [d for d in entries["datasets"] if d in set(summary["dataset"])]
    metrics = side_by_side(metrics or [m for m in entries["metrics"] if m in set(summary["metric"])])
    directions = run.metric_directions()
    formats = run.metric_formats()
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

    rows = [(method, [_cell(lookup, method, col) for col in columns]) for method in methods]
    table = Table(columns=columns, rows=rows)
    label_rows(table, entries["methods"])
    rank_by_significance(table, run.scores, range(len(columns)))
    table.notes.insert(0, SIGNIFICANCE_NOTE)
    return table


def side_by_side(metrics: list[str]) -> list[str]:
    """Metrics in order, each ``X_gtmean`` right after ``X`` (plain and GT-mean-adjusted together)."""
    ordered = [m for m in metrics if not m.endswith("_gtmean")]
    for metric in [m for m in metrics if m.endswith("_gtmean")]:
        base = metric.removesuffix("_gtmean")
        ordered.insert(ordered.index(base) + 1 if base in ordered else len(ordered), metric)
    return ordered


def _cell(lookup: dict[tuple[str, str, str], Any], method: str, col: Column) -> Cell:
    if col.group != AVERAGE:
        row = lookup.get((method, col.group, col.metric))
        return Cell("–") if row is None else summary_cell(row, col.number_format)
    rows = [lookup.get((method, d, col.metric)) for d in col.over]
    means = [r.mean for r in rows if r is not None and r.n > 0]
    if len(means) < len(col.over):
        return Cell("–", note=f"needs a score on each of {', '.join(col.over)}")
    value = sum(means) / len(means)
    partial = [r.dataset for r in rows if not pd.isna(r.n_total) and r.n != r.n_total]
    note = f"mean over {len(means)} datasets" + (f"; over a subset of {', '.join(partial)}" if partial else "")
    return Cell(format_value(value, col.number_format) + (" (subset)" if partial else ""), value, note=note)


def rank_by_significance(table: Table, scores: pd.DataFrame, columns) -> None:
    """Best marks for every measured row tied with the best (paired tests on ``scores``); second
    mark for the best of the rest. Average columns (means of means) are ranked by value alone;
    published rows and the identity's are left as they are."""
    for index in columns:
        col = table.columns[index]
        members = [i for i in range(len(table.rows))
                   if table.kind(i) == MEASURED and table.rows[i][1][index].value is not None]
        for i in members:
            table.rows[i][1][index].rank = None
        if col.lower_better is None or not members:
            continue
        cells = {table.key(i): table.rows[i][1][index] for i in members}
        if col.group == AVERAGE:
            rank_cells(list(cells.values()), col.lower_better)
            continue
        mark_tied_best(cells, col.lower_better, scores, *(col.scores_key or (col.group, col.metric)))


def mark_tied_best(cells: dict[str, Cell], lower_better: bool, scores: pd.DataFrame, dataset: str,
                   metric: str) -> None:
    """Rank 1 for the best of ``cells`` (method label -> its measured cell, a mean over the images
    of ``dataset``) and every method not significantly different from it, rank 2 for the best
    of the rest (paired tests on ``scores``, :mod:`llebench.stats`); the note of a tied cell
    says its Holm-adjusted p-value."""
    from llebench import stats

    if not cells:
        return
    pvalues = stats.pairwise(stats.values_by_image(scores, dataset, metric, cells))
    by_method = {method: cell.value for method, cell in cells.items()}
    tied = stats.tied_with_best(by_method, lower_better, pvalues) if len(by_method) > 1 else set(by_method)
    best = (min if lower_better else max)(by_method, key=by_method.get)
    rest = {m: v for m, v in by_method.items() if m not in tied}
    second = (min if lower_better else max)(rest, key=rest.get) if rest else None
    for method, cell in cells.items():
        if method in tied:
            cell.rank = 1
            if method != best:
                p = stats.adjusted_p(pvalues, best, method)
                cell.note += f"; not significantly different from the best ({best}), Holm p = {p:.3g}"
        elif method == second:
            cell.rank = 2


def settings_text(settings: Any) -> str:
    """Settings as readable JSON: no escapes of non-ASCII characters or of ``<>&'``."""
    return json.dumps(settings, sort_keys=True, ensure_ascii=False, default=str)


def settings_lines(table: Table) -> list[str]:
    """One line per metric of ``table``: how it was computed, or why it was not."""
    lines = []
    for label, entry in table.settings.items():
        if "error" in entry:
            lines.append(f"{label}: not computed: {entry['error']}")
        else:
            lines.append(f"{label} settings: {settings_text(entry.get('settings', {}))}")
    return lines


def rank_columns(table: Table) -> None:
    """Mark best/second in every column by value, measured rows among themselves and published
    rows among themselves (so a published table keeps its own marks); the identity is not ranked."""
    for kind in {table.kind(i) for i in range(len(table.rows))} - {IDENTITY}:
        members = [i for i in range(len(table.rows)) if table.kind(i) == kind]
        for index, col in enumerate(table.columns):
            rank_cells([table.rows[i][1][index] for i in members], col.lower_better)


def rank_rows(table: Table, directions: list[bool | None]) -> None:
    """Mark best/second along each row (tables whose columns are methods, like Table 2)."""
    for (_, cells), lower_better in zip(table.rows, directions):
        rank_cells(cells, lower_better)


def rank_cells(cells: list[Cell], lower_better: bool | None) -> None:
    """Best/second among ``cells`` by value (ties share a rank)."""
    for cell, rank in zip(cells, rank_values([c.value for c in cells], lower_better)):
        cell.rank = rank


def mean_ranks(table: Table, columns: list[int]) -> list[float | None]:
    """Each row's mean rank (1 = best, ties share the better rank) over ``columns`` (which
    must have a direction); rows missing a value in any of them get None."""
    result: list[float | None] = [None] * len(table.rows)
    if not columns:
        return result
    positions: dict[int, list[int]] = {i: [] for i in range(len(table.rows)) if table.ranked(i)}
    for index in columns:
        col = table.columns[index]
        present = [(i, cells[index].value) for i, (_, cells) in enumerate(table.rows)
                   if cells[index].value is not None and table.ranked(i)]
        for i, value in present:
            better = sum(1 for _, other in present if (other < value if col.lower_better else other > value))
            positions[i].append(better + 1)
    for i, ranks in positions.items():
        if len(ranks) == len(columns):
            result[i] = sum(ranks) / len(ranks)
    return result
