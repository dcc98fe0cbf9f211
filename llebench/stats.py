"""How uncertain a mean over images is, and which differences between methods are real.

* **Interval.** Each (method, dataset, metric) cell gets a 95% percentile-bootstrap
  interval of its mean over images: 10,000 resamples of the per-image values with
  replacement, the 2.5th and 97.5th percentiles of the resampled means. The generator of a
  cell is seeded from the run's seed and the cell's names (``[seed, crc32(key)]``), so an
  interval does not depend on which other cells exist or on the order they are computed.
* **Significance.** For one dataset and metric, every two methods are compared on the
  images both scored (paired): the two-sided Wilcoxon signed-rank test of the per-image
  differences (scipy's, exact for small samples; zero differences are dropped, and a pair
  whose differences are all zero has p = 1). The p-values of all pairs of a (dataset,
  metric) are Holm-corrected together. A method is *tied with the best* when its
  difference from the best method (best mean among the contenders) is not significant at
  5% after correction, and tables give every tied method the best mark.

Why Wilcoxon rather than a paired bootstrap of the mean difference: it makes no
assumption on the shape of per-image differences (NIQE and PSNR differences are skewed
with outliers: one saturated image moves a mean by 0.3), is the test most LLE work that
reports any test uses, and is deterministic.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from llebench.results import frame_of_rows, group_rows

RESAMPLES = 10_000
LEVEL = 0.95
ALPHA = 0.05
DEFAULT_SEED = 0


def cell_seed(seed: int, *names: str) -> list[int]:
    """The generator seed of one cell: the run's seed and a checksum of the cell's names."""
    key = "\0".join(names).encode("utf-8", "surrogateescape")
    return [int(seed), zlib.crc32(key)]


def bootstrap_interval(values: np.ndarray, seed: list[int], resamples: int = RESAMPLES,
                       level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaN, NaN for no values)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    if values.size == 1 or np.all(values == values[0]):
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // values.size)  # bounded memory for large datasets
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = values[rng.integers(0, values.size, size=(stop - start, values.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class CellSummary:
    """What a table cell knows about one (method, dataset, metric)."""

    n: int  # images scored
    n_total: int | None  # images in the dataset (None: unknown)
    failed: int
    mean: float
    std: float
    ci_low: float
    ci_high: float

    @property
    def full(self) -> bool:
        """Every image of the dataset was scored."""
        return self.n_total is not None and self.n == self.n_total and self.n > 0


SUMMARY_COLUMNS = ("method", "dataset", "metric", "n", "n_total", "failed", "mean", "std", "ci_low", "ci_high")


def summarize(scores, n_total: Mapping[str, int], seed: int = DEFAULT_SEED, resamples: int = RESAMPLES):
    """One row per (method, dataset, metric) of the tidy ``scores``: :data:`SUMMARY_COLUMNS`.

    ``n_total`` maps dataset labels to their number of images (the N of ``n/N``).
    """

    rows = []
    # in image order: the numbers must not depend on the order the rows were written in
    # (a resumed or sharded run appends in a different order than an uninterrupted one)
    scores = scores.sort_values("image", kind="stable")
    for (method, dataset, metric), group in group_rows(scores, ["method", "dataset", "metric"], sort=True):
        ok = group.loc[group["status"] == "ok", "value"].to_numpy(dtype=np.float64)
        ok = ok[np.isfinite(ok)]
        low, high = bootstrap_interval(ok, cell_seed(seed, method, dataset, metric), resamples)
        rows.append({"method": method, "dataset": dataset, "metric": metric, "n": int(ok.size),
                     "n_total": n_total.get(dataset), "failed": int((group["status"] != "ok").sum()),
                     "mean": float(ok.mean()) if ok.size else float("nan"),
                     "std": float(ok.std(ddof=1)) if ok.size > 1 else (0.0 if ok.size else float("nan")),
                     "ci_low": low, "ci_high": high})
    return frame_of_rows(rows, SUMMARY_COLUMNS, ("method", "dataset", "metric"))


def paired_pvalue(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of the paired differences ``a - b`` (1 if all zero)."""
    from scipy.stats import wilcoxon

    differences = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if differences.size == 0 or not np.any(differences != 0):
        return 1.0
    return float(wilcoxon(differences).pvalue)


def holm(pvalues: Mapping[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    ordered = sorted(pvalues.items(), key=lambda item: item[1])
    adjusted: dict[tuple[str, str], float] = {}
    running = 0.0
    count = len(ordered)
    for rank, (pair, p) in enumerate(ordered):
        running = max(running, min(1.0, (count - rank) * p))
        adjusted[pair] = running
    return adjusted


def pairwise(per_image: Mapping[str, Mapping[str, float]]) -> dict[tuple[str, str], tuple[float, int]]:
    """``{(a, b): (Holm-adjusted p, images compared)}`` for every two methods.

    ``per_image`` maps each method to ``{image id: value}``; a pair is compared on the
    images both have.
    """
    raw: dict[tuple[str, str], float] = {}
    counts: dict[tuple[str, str], int] = {}
    for a, b in combinations(sorted(per_image), 2):
        common = sorted(set(per_image[a]) & set(per_image[b]))
        counts[(a, b)] = len(common)
        raw[(a, b)] = paired_pvalue(np.array([per_image[a][i] for i in common]),
                                    np.array([per_image[b][i] for i in common]))
    return {pair: (p, counts[pair]) for pair, p in holm(raw).items()}


def adjusted_p(table: Mapping[tuple[str, str], tuple[float, int]], a: str, b: str) -> float:
    """The adjusted p of the pair (a, b) in either order."""
    return table[(a, b) if (a, b) in table else (b, a)][0]


def tied_with_best(means: Mapping[str, float], lower_better: bool,
                   table: Mapping[tuple[str, str], tuple[float, int]], alpha: float = ALPHA) -> set[str]:
    """The best method (by mean) and every method not significantly different from it."""
    present = {m: v for m, v in means.items() if v is not None and np.isfinite(v)}
    if not present:
        return set()
    best = (min if lower_better else max)(present, key=present.get)
    return {best} | {m for m in present if m != best and adjusted_p(table, best, m) >= alpha}


def values_by_image(scores, dataset: str, metric: str, methods: Iterable[str]) -> dict[str, dict[str, float]]:
    """``{method: {image: value}}`` of the ok scores of one dataset and metric."""
    wanted = scores[(scores["dataset"] == dataset) & (scores["metric"] == metric) & (scores["status"] == "ok")
                    & scores["method"].isin(list(methods))]
    found: dict[str, dict[str, float]] = {}
    for method, image, value in wanted[["method", "image", "value"]].itertuples(index=False):
        if np.isfinite(value):
            found.setdefault(method, {})[image] = float(value)
    return found
