"""The SCL-LLE paper's published numbers (Tables 1-4), shipped as ``published.csv``.

Columns: ``table`` (table1..table4), ``row`` (the llebench method name the paper row
stands for, or for Table 3 the ablation label), ``label`` (how the row is shown),
``dataset`` (llebench dataset name; ``average`` for the paper's Average column; for Table
4 ``CITY@GAMMA``), ``metric`` (llebench metric name) and ``value`` exactly as printed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

PUBLISHED_SOURCE = "Liang et al., Semantically Contrastive Learning for Low-light Image Enhancement, AAAI 2022"


@dataclass(frozen=True)
class PublishedRow:
    key: str
    label: str


class Published:
    """Lookup of the paper's values, keeping the paper's row order."""

    def __init__(self, records: list[dict[str, str]]) -> None:
        self._values: dict[tuple[str, str, str, str], float] = {}
        self._texts: dict[tuple[str, str, str, str], str] = {}
        self._rows: dict[str, list[PublishedRow]] = {}
        for record in records:
            key = (record["table"], record["row"], record["dataset"], record["metric"])
            self._values[key] = float(record["value"])
            self._texts[key] = record["value"]
            rows = self._rows.setdefault(record["table"], [])
            if not any(row.key == record["row"] for row in rows):
                rows.append(PublishedRow(record["row"], record["label"]))

    def rows(self, table: str) -> list[PublishedRow]:
        return list(self._rows.get(table, []))

    def value(self, table: str, row: str, dataset: str, metric: str) -> float | None:
        return self._values.get((table, row, dataset, metric))

    def text(self, table: str, row: str, dataset: str, metric: str) -> str:
        """The value as printed in the paper (its digits)."""
        return self._texts[(table, row, dataset, metric)]


@lru_cache(maxsize=1)
def published() -> Published:
    text = resources.files("llebench_reports").joinpath("published.csv").read_text("utf-8")
    return Published(list(csv.DictReader(text.splitlines())))
