"""``ssll_delta``: each SSLL model beside its supervised baseline, per dataset, with the deltas.

Methods are told apart by what their checkpoints say (``settings.stage`` in the run's
manifest): ``supervised`` rows are baselines, ``semi`` rows are SSLL. Every SSLL row is
compared with a baseline evaluated the same way (exported student or mean teacher);
among several, the one whose label shares the longest prefix with SSLL's.
"""

from __future__ import annotations

import os
from typing import Any

from llebench.sdk import LLEBenchError, Report, RunResults
from llebench.sdk.report import Cell, Table, format_value, leaderboard_table, render_page


def split_methods(methods: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(baseline labels, SSLL labels) from the manifest's method entries."""
    baselines, ssll = [], []
    for label, entry in methods.items():
        stage = entry.get("settings", {}).get("stage") if isinstance(entry, dict) else None
        if stage == "supervised":
            baselines.append(label)
        elif stage == "semi":
            ssll.append(label)
    return baselines, ssll


def baseline_for(label: str, baselines: list[str], methods: dict[str, Any]) -> str:
    """The baseline evaluated the same way (same ``network``: exported student or teacher),
    then the one sharing the longest label prefix."""
    network = methods[label].get("settings", {}).get("network")
    same = [b for b in baselines if methods[b].get("settings", {}).get("network") == network] or baselines
    return max(same, key=lambda b: (len(os.path.commonprefix([b, label])), b))


def delta_cell(ours: Cell, base: Cell, lower_better: bool | None, number_format: str) -> Cell:
    if ours.value is None or base.value is None:
        return Cell("–")
    delta = ours.value - base.value
    text = format_value(delta, number_format)
    text = text if text.startswith("-") else f"+{text}"
    if lower_better is None or delta == 0:
        return Cell(text, delta)
    better = delta < 0 if lower_better else delta > 0
    return Cell(text, delta, note="better than the baseline" if better else "worse than the baseline")


def delta_table(run: RunResults) -> Table:
    methods = run.manifest.get("methods", {})
    baselines, ssll = split_methods(methods)
    if not baselines or not ssll:
        raise LLEBenchError(
            f"{run.path}: the ssll_delta report needs at least one baseline (stage 'supervised') and one SSLL "
            f"model (stage 'semi') among the methods; found baselines {baselines or 'none'}, SSLL {ssll or 'none'}"
        )
    order = [m for m in methods if m in baselines or m in ssll]
    table = leaderboard_table(run, methods=order)
    rows = {table.key(i): cells for i, (_, cells) in enumerate(table.rows)}
    for label in ssll:
        base = baseline_for(label, baselines, methods)
        cells = [delta_cell(o, b, col.lower_better, col.number_format)
                 for o, b, col in zip(rows[label], rows[base], table.columns)]
        table.rows.append((f"Δ {label} − {base}", cells))
    for label in order:
        s = methods[label].get("settings", {})
        table.notes.append(f"{label}: stage {s.get('stage')}, sup_loss {s.get('sup_loss')}, backbone "
                           f"{s.get('backbone')} {s.get('backbone_options')}, network {s.get('network')}, "
                           f"iteration {s.get('iteration')}")
    table.notes.append("Δ = SSLL − baseline (hover a Δ cell: better or worse than the baseline).")
    return table


class SSLLDelta(Report):
    name = "ssll_delta"
    description = "SSLL vs its supervised baseline per dataset, with the deltas"

    def can_render(self, run: RunResults) -> bool:
        """Only runs holding both an SSLL model and a supervised baseline."""
        baselines, ssll = split_methods(run.manifest.get("methods", {}))
        return bool(baselines and ssll)

    def render(self, run: RunResults) -> str:
        return render_page(f"SSLL vs baseline: {run.path.name}", [("SSLL vs supervised baseline", delta_table(run))],
                           run.manifest)
