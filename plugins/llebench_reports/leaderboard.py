"""``leaderboard``: one row per method, a column group per dataset, and the averages."""

from __future__ import annotations

from llebench.api import Report
from llebench.report.html import render_page
from llebench.report.tables import leaderboard_table
from llebench.store import RunResults


def metric_directions(run: RunResults) -> dict[str, bool | None]:
    """lower_better per metric, from the manifest (None when unknown: no best/second marks)."""
    return {name: entry.get("lower_better") for name, entry in run.manifest.get("metrics", {}).items()}


def manifest_order(run: RunResults, section: str) -> list[str] | None:
    """Names in the order the user listed them (None: take them from the scores)."""
    return list(run.manifest.get(section, {})) or None


class Leaderboard(Report):
    name = "leaderboard"
    description = "every metric; rows = methods; a column group per dataset plus their average"

    def render(self, run: RunResults) -> str:
        table = leaderboard_table(
            run.scores, metric_directions(run),
            methods=manifest_order(run, "methods"), datasets=manifest_order(run, "datasets"),
            metrics=manifest_order(run, "metrics"),
        )
        return render_page(f"llebench results: {run.path.name}", [("Leaderboard", table)], run.manifest)
