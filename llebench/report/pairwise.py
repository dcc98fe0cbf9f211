"""Every two methods compared on each dataset and metric (:mod:`llebench.stats`).

``llebench report RUN --pairwise`` writes ``RUN/pairwise.csv``; report pages show the same
comparisons as one matrix per dataset and metric, the tests behind every table's best marks
(``seconds`` included: its values are per image too). The identity method (a reference
row) and metrics without a direction take no part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from llebench import stats
from llebench.results import frame_of_rows, group_rows

if TYPE_CHECKING:
    import pandas as pd

    from llebench.results import RunResults

COLUMNS = ("dataset", "metric", "method_a", "method_b", "images", "mean_a", "mean_b", "difference", "p_holm",
           "significant")


def pairwise_table(run: RunResults) -> pd.DataFrame:
    """One row per (dataset, metric, two methods): paired images, means, difference a - b,
    Holm-adjusted Wilcoxon p-value and whether it is below 5%."""

    methods = [label for label, entry in run.entries("methods").items() if not entry.get("reference")]
    metrics = {label: entry for label, entry in run.entries("metrics").items()
               if entry.get("kind") is not None and entry.get("lower_better") is not None}
    rows = []
    for dataset in run.entries("datasets"):
        for metric in metrics:
            per_image = stats.values_by_image(run.scores, dataset, metric, methods)
            if len(per_image) < 2:
                continue
            for (a, b), (p, count) in sorted(stats.pairwise(per_image).items()):
                common = sorted(set(per_image[a]) & set(per_image[b]))
                mean_a = float(np.mean([per_image[a][i] for i in common])) if common else float("nan")
                mean_b = float(np.mean([per_image[b][i] for i in common])) if common else float("nan")
                rows.append({"dataset": dataset, "metric": metric, "method_a": a, "method_b": b, "images": count,
                             "mean_a": mean_a, "mean_b": mean_b, "difference": mean_a - mean_b, "p_holm": p,
                             "significant": bool(p < stats.ALPHA)})
    return frame_of_rows(rows, COLUMNS, ("dataset", "metric", "method_a", "method_b"))


@dataclass
class PairwiseSection:
    """A matrix for a page: ``cells[i][j]`` compares ``methods[i]`` with ``methods[j]``."""

    dataset: str
    metric: str
    methods: list[str]
    cells: list[list[str]]
    titles: list[list[str]]


def pairwise_sections(run: RunResults) -> list[PairwiseSection]:
    """The pairwise table as matrices: a cell is ``+0.123*`` (row minus column, * significant)."""
    table = pairwise_table(run)
    sections = []
    for (dataset, metric), rows in group_rows(table, ["dataset", "metric"]):
        methods = list(dict.fromkeys([*rows["method_a"], *rows["method_b"]]))
        index = {m: i for i, m in enumerate(methods)}
        cells = [["" for _ in methods] for _ in methods]
        titles = [["" for _ in methods] for _ in methods]
        for row in rows.itertuples(index=False):
            i, j = index[row.method_a], index[row.method_b]
            mark = "*" if row.significant else ""
            cells[i][j] = f"{row.difference:+.3g}{mark}"
            cells[j][i] = f"{-row.difference:+.3g}{mark}"
            title = f"{row.images} paired images, Holm p = {row.p_holm:.3g}"
            titles[i][j] = titles[j][i] = title
        sections.append(PairwiseSection(dataset, metric, methods, cells, titles))
    return sections
