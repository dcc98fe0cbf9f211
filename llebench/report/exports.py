"""The same tables as CSV, Markdown and LaTeX, for papers and READMEs.

Each export keeps what the page shows: the group/metric header with its arrow, best in
bold and second underlined (Markdown ``**x**`` / ``<u>x</u>``, LaTeX ``\\textbf`` /
``\\underline``), published rows marked, and the difference to the published value.
"""

from __future__ import annotations

import csv
import io

from llebench.report.tables import REFERENCE, Cell, Table, arrow

_LATEX_ARROWS = {"↓": r"$\downarrow$", "↑": r"$\uparrow$"}
_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "–": "--", "Δ": r"$\Delta$", "γ": r"$\gamma$"}


def column_titles(table: Table) -> list[str]:
    """One flat title per column: ``GROUP metric ARROW`` (the group left out when empty)."""
    titles = []
    for col in table.columns:
        title = " ".join(part for part in (col.group, col.metric, arrow(col.lower_better)) if part)
        titles.append(title)
    return titles


def to_csv(table: Table) -> str:
    """One line per row (``kind`` = measured / reference), plus a ``difference`` line under
    each measured row that has published counterparts. Values as shown on the page."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([table.corner, "kind", *column_titles(table)])
    for index, (label, cells) in enumerate(table.rows):
        kind = table.kind(index)
        writer.writerow([label, kind, *(cell.text for cell in cells)])
        if any(cell.delta for cell in cells):
            writer.writerow([label, "difference", *(cell.delta for cell in cells)])
    return buf.getvalue()


def _markdown_cell(cell: Cell) -> str:
    text = cell.text.replace("|", "\\|")
    if cell.rank == 1:
        text = f"**{text}**"
    elif cell.rank == 2:
        text = f"<u>{text}</u>"
    return f"{text} ({cell.delta})" if cell.delta else text


def to_markdown(table: Table, caption: str = "") -> str:
    lines = [f"**{caption}**", ""] if caption else []
    lines.append("| " + " | ".join([table.corner, *column_titles(table)]) + " |")
    lines.append("| --- |" + " :---: |" * len(table.columns))
    for index, (label, cells) in enumerate(table.rows):
        name = f"*{label}*" if table.kind(index) == REFERENCE else label
        lines.append("| " + " | ".join([name.replace("|", "\\|"), *map(_markdown_cell, cells)]) + " |")
    lines += [""] + [f"{note}  " for note in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_cell(cell: Cell) -> str:
    text = latex_escape(cell.text)
    if cell.rank == 1:
        text = rf"\textbf{{{text}}}"
    elif cell.rank == 2:
        text = rf"\underline{{{text}}}"
    if cell.delta:
        text += rf" {{\scriptsize ({latex_escape(cell.delta)})}}"
    return text


def to_latex(table: Table, caption: str = "") -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    groups = table.groups()
    grouped = any(group for group, _ in groups)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines += [r"\begin{tabular}{l" + "c" * len(table.columns) + "}", r"\toprule"]
    if grouped:
        header = [""] + [rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(group)}}}" for group, span in groups]
        lines.append(" & ".join(header) + r" \\")
        rules, start = [], 2
        for _, span in groups:
            rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        lines.append(" ".join(rules))
    metrics = [latex_escape(col.metric) + (" " + _LATEX_ARROWS[arrow(col.lower_better)] if col.lower_better is not None
                                           else "") for col in table.columns]
    lines.append(" & ".join([latex_escape(table.corner), *metrics]) + r" \\")
    lines.append(r"\midrule")
    for index, (label, cells) in enumerate(table.rows):
        name = latex_escape(label)
        if table.kind(index) == REFERENCE:
            name = rf"\textit{{{name}}}"
        lines.append(" & ".join([name, *map(_latex_cell, cells)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def table_exports(table: Table, caption: str = "") -> dict[str, str]:
    """``{suffix: text}`` of every export format, as :meth:`llebench.api.Report.exports` returns."""
    return {".csv": to_csv(table), ".md": to_markdown(table, caption), ".tex": to_latex(table, caption)}
