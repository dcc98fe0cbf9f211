"""``leaderboard``: one row per method, a column group per dataset and their average, every
metric, a mean rank, the efficiency measures with how they were taken, and figures."""

from __future__ import annotations

from llebench.sdk import RunResults
from llebench.sdk.report import (
    AVERAGE, Cell, Column, Table, leaderboard_table, mean_ranks, pairwise_sections, rank_values, render_page,
    table_exports,
)

from llebench_reports.figures import WithFigures

from llebench_reports.runinfo import export_names, metric_settings

MEAN_RANK = "Rank"
TITLE = "Leaderboard"


def ranked_columns(table: Table, run: RunResults) -> list[int]:
    """Per-dataset quality columns (not averages, not efficiency, with a direction)."""
    kinds = {name: entry.get("kind") for name, entry in run.manifest.get("metrics", {}).items()}
    return [i for i, col in enumerate(table.columns)
            if col.group not in (AVERAGE, MEAN_RANK) and col.lower_better is not None
            and kinds.get(col.metric) != "efficiency"]


def efficiency_notes(run: RunResults) -> list[str]:
    """How each efficiency measure was taken: on which device, at which input size."""
    notes = []
    device = run.manifest.get("device", "an unknown device")
    for name, entry in run.manifest.get("metrics", {}).items():
        if entry.get("kind") != "efficiency" or "error" in entry:
            continue
        settings = entry.get("settings", {})
        size = settings.get("input") or settings.get("input_size") or "each image as stored (sizes differ per dataset)"
        if settings.get("unit") == "count":
            size = "not applicable (a count of parameters)"
        unit = f", unit {settings['unit']}" if "unit" in settings else ""
        notes.append(f"{name}: on {device}; input {size}{unit}.")
    return notes


def leaderboard(run: RunResults) -> Table:
    table = leaderboard_table(run)
    columns = ranked_columns(table, run)
    if len(columns) > 1:
        ranks = mean_ranks(table, columns)
        table.columns.append(Column(MEAN_RANK, "mean rank", True))
        for index, ((_, cells), rank) in enumerate(zip(table.rows, ranks)):
            if not table.ranked(index):
                cells.append(Cell("–", note="a reference row: not ranked"))
            else:
                cells.append(Cell("–", note="needs a value in every ranked column") if rank is None
                             else Cell(f"{rank:.2f}", rank, note=f"mean rank over {len(columns)} columns"))
        values = [cells[-1].value for _, cells in table.rows]
        for (_, cells), mark in zip(table.rows, rank_values(values, True)):
            cells[-1].rank = mark
        table.notes.append(f"Mean rank: each method's rank (1 = best) by value, averaged over the {len(columns)} "
                           "per-dataset quality columns (averages and efficiency measures excluded).")
    table.notes += efficiency_notes(run)
    table.settings = metric_settings(run)
    return table


class Leaderboard(WithFigures):
    name = "leaderboard"
    after_run = True
    description = "every metric; rows = methods; a column group per dataset plus their average; mean rank; figures"

    @classmethod
    def filename(cls) -> str:
        return "report.html"

    def can_render(self, run: RunResults) -> bool:
        return bool(len(run.scores))

    def render(self, run: RunResults) -> str:
        return render_page(f"llebench results: {run.path.name}", [(TITLE, leaderboard(run))], run.manifest,
                           figures=self.figures(run), exports=export_names(run, self.filename()),
                           pairwise=pairwise_sections(run))

    def exports(self, run: RunResults) -> dict[str, str]:
        return table_exports(leaderboard(run), f"{TITLE}: {run.path.name}")
