"""What ``llebench run`` prints at the end: counts, causes of failure, and the means.

The means come from ``summary.csv`` (:mod:`llebench.stats`): for each metric a compact
method x dataset table of means, a cell over a subset of the dataset followed by its
``n/N``, so the terminal never shows a number that looks like more than it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llebench.results import group_rows


@dataclass
class Failure:
    method: str
    dataset: str
    image: str
    metric: str
    error: str


@dataclass
class RunSummary:
    out: Path
    computed: int = 0
    reused: int = 0
    failures: list[Failure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    setup_errors: list[str] = field(default_factory=list)
    #: configuration errors found while running (a dataset absent or unusable): exit code 2
    config_errors: list[str] = field(default_factory=list)
    #: cached outputs that no longer decoded and were computed again
    recomputed: list[str] = field(default_factory=list)
    #: the run's summary.csv rows (a DataFrame), for the means tables
    means: Any = None
    #: metric label -> number format, for the means tables
    formats: dict[str, str] = field(default_factory=dict)
    #: metrics scored on at least one dataset (a run where every metric was skipped scores nothing)
    scored_metrics: int = 0
    #: things the numbers depend on that the user should know (printed, exit code unchanged)
    warnings: list[str] = field(default_factory=list)

    @property
    def nothing_to_score(self) -> bool:
        return self.scored_metrics == 0 and bool(self.skipped)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.setup_errors and not self.nothing_to_score

    @property
    def exit_code(self) -> int:
        """0 when everything was scored, 1 when anything failed or nothing could be scored, 2 when
        a dataset could not be used (a configuration error; the rest of the run was computed)."""
        if self.config_errors:
            return 2
        return 0 if self.ok else 1

    def lines(self, max_failures: int = 20) -> list[str]:
        lines = [
            f"results: {self.out}",
            f"scores: {self.computed} computed, {self.reused} already present, {len(self.failures)} failed",
        ]
        lines += [f"skipped: {s}" for s in self.skipped]
        lines += [f"warning: {w}" for w in self.warnings]
        if self.nothing_to_score:
            lines.append("error: every metric was skipped on every dataset: nothing was scored "
                         "(full-reference metrics need a paired dataset, task metrics a labelled one)")
        lines += [f"error: {e}" for e in self.config_errors + self.setup_errors]
        if self.recomputed:
            lines.append(f"recomputed {len(self.recomputed)} cached outputs that no longer decoded or had the wrong size "
                         f"(e.g. {self.recomputed[0]})")
        # many images fail for one cause (e.g. missing weights): show each cause once
        causes = Counter((f.method, f.metric, f.error) for f in self.failures)
        said = set(self.setup_errors)
        shown = 0
        for (method, metric, error), count in causes.most_common():
            if shown == max_failures:
                lines.append(f"... and {len(causes) - shown} more distinct failures (see scores.csv)")
                break
            where = f"{method} / {metric}" + (f" ({count} images)" if count > 1 else "")
            lines.append(f"failed: {where}: " + ("the error above" if error in said else error))
            shown += 1
        return lines + self.means_lines()

    def means_lines(self) -> list[str]:
        """One small table per metric: rows = methods, columns = datasets, cells = means."""
        if self.means is None or not len(self.means):
            return []
        lines = []
        for (metric,), rows in group_rows(self.means, ["metric"]):
            datasets = list(dict.fromkeys(rows["dataset"]))
            table = [["", *datasets]]
            for (method,), of_method in group_rows(rows, ["method"]):
                cells = {r.dataset: r for r in of_method.itertuples(index=False)}
                table.append([method] + [_cell(cells.get(d), self.formats.get(metric, "")) for d in datasets])
            widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
            lines.append(f"\n{metric}:")
            lines += ["  " + "  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip()
                      for row in table]
        return lines


def _cell(row: Any, number_format: str) -> str:
    from llebench.report.tables import format_value

    if row is None:
        return "-"
    if not row.n:
        return "failed"
    text = format_value(row.mean, number_format)
    if row.n_total is not None and row.n != row.n_total:
        text += f" ({row.n}/{row.n_total})"
    return text
