"""The same tables as CSV, Markdown and LaTeX, for papers and READMEs.

Each export keeps what the page shows: the group/metric header with its arrow, best in
bold and second underlined (Markdown ``**x**`` / ``<u>x</u>``, LaTeX ``\\textbf`` /
``\\underline``), footnote marks, published rows marked, the difference to the published
value, and (Markdown, LaTeX) the table's notes and metric settings under it. What a page
shows on hover is written out: the CSV has a ``95% CI`` line under each measured row and
says ``not compared`` where a subset keeps a cell from its published value; the notes of
Markdown and LaTeX say where the intervals are.

Names of methods, datasets and metrics are user-controlled, and each format has its own
way to be subverted by them, so every label goes through that format's escaping: HTML and
Markdown syntax in Markdown (which is often rendered as HTML), TeX specials and non-ASCII
in LaTeX (pdflatex stops at a character it has no glyph for), and spreadsheet formulas in
CSV (a cell starting with ``=`` runs as a formula when the file is opened).
"""

from __future__ import annotations

import csv
import io
import unicodedata

from llebench.report.tables import (
    FAILED_MARK, HOVER_SENTENCE, REFERENCE, UNCOMPARED_MARK, Cell, Table, arrow, settings_lines,
)

FAILED_NOTE = f"{FAILED_MARK} some images of this cell failed (scores.csv has their errors)."
#: an export has no hover: it says where each cell's interval is
EXPORT_INTERVALS = ("95% bootstrap intervals of every mean: the '95% CI' lines of this table's CSV export and the "
                    "run's summary.csv")

# -- CSV ------------------------------------------------------------------------------------

#: first characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """A label as a CSV cell that no spreadsheet evaluates: a leading formula character is
    prefixed with ``'`` (the quote spreadsheets use for "text", and show as nothing)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def column_titles(table: Table) -> list[str]:
    """One flat title per column: ``GROUP metric ARROW`` (the group left out when empty)."""
    titles = []
    for col in table.columns:
        title = " ".join(part for part in (col.group, col.metric, arrow(col.lower_better)) if part)
        titles.append(title)
    return titles


def to_csv(table: Table) -> str:
    """One line per row (``kind`` = measured / reference), then under a measured row a ``95% CI``
    line (each mean's bootstrap interval) and a ``difference`` line when it has published
    counterparts (``not compared`` where the cell covers a subset). Values as shown on the
    page; labels made formula-safe (:func:`csv_text`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_text(table.corner), "kind", *map(csv_text, column_titles(table))])
    for index, (label, cells) in enumerate(table.rows):
        kind = table.kind(index)
        writer.writerow([csv_text(label), kind, *(cell.text for cell in cells)])
        if any(cell.interval for cell in cells):
            writer.writerow([csv_text(label), "95% CI", *(cell.interval for cell in cells)])
        if any(cell.delta or UNCOMPARED_MARK in cell.marks for cell in cells):
            writer.writerow([csv_text(label), "difference",
                             *(cell.delta or ("not compared" if UNCOMPARED_MARK in cell.marks else "")
                               for cell in cells)])
    return buf.getvalue()


def export_notes(table: Table) -> list[str]:
    """What is written under an exported table: its notes (saying where the intervals are, as
    an export has no hover), the † legend when a cell carries it, and each metric's settings."""
    failed = any(FAILED_MARK in cell.marks for _, cells in table.rows for cell in cells)
    notes = [note.replace(HOVER_SENTENCE, EXPORT_INTERVALS) for note in table.notes]
    return [*notes, *([FAILED_NOTE] if failed else []), *settings_lines(table)]


# -- Markdown -------------------------------------------------------------------------------

#: HTML-significant characters become entities (no tag or attribute can open); Markdown
#: emphasis, code, link, table and math (``$``) syntax is backslash-escaped (shown as the character)
_MARKDOWN_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "|": "\\|", "*": "\\*", "_": "\\_",
                     "`": "\\`", "[": "\\[", "]": "\\]", "~": "\\~", "#": "\\#", "$": "\\$"}


def markdown_escape(text: str) -> str:
    """``text`` shown literally inside a Markdown line (a table cell, emphasis)."""
    return "".join(_MARKDOWN_ESCAPES.get(ch, ch) for ch in text)


def _markdown_line(text: str) -> str:
    """``text`` as a Markdown line of its own: a leading ``-``, ``+`` or ``=`` would make a
    list item, a rule or a heading underline."""
    escaped = markdown_escape(text)
    return "\\" + escaped if escaped.startswith(("-", "+", "=")) else escaped


def _markdown_cell(cell: Cell) -> str:
    text = markdown_escape(cell.text)
    if cell.rank == 1:
        text = f"**{text}**"
    elif cell.rank == 2:
        text = f"<u>{text}</u>"
    text += markdown_escape(cell.marks)
    return f"{text} ({markdown_escape(cell.delta)})" if cell.delta else text


def to_markdown(table: Table, caption: str = "") -> str:
    lines = [f"**{markdown_escape(caption)}**", ""] if caption else []
    header = [table.corner, *column_titles(table)]
    lines.append("| " + " | ".join(map(markdown_escape, header)) + " |")
    lines.append("| --- |" + " :---: |" * len(table.columns))
    for index, (label, cells) in enumerate(table.rows):
        name = markdown_escape(label)
        if table.kind(index) == REFERENCE:
            name = f"*{name}*"
        lines.append("| " + " | ".join([name, *map(_markdown_cell, cells)]) + " |")
    lines += [""] + [f"{_markdown_line(note)}  " for note in export_notes(table)]
    return "\n".join(lines).rstrip() + "\n"


# -- LaTeX ----------------------------------------------------------------------------------

#: TeX specials, characters the default OT1 font encoding prints as other glyphs (<, >, |),
#: and the non-ASCII text llebench itself writes (arrows, dashes, marks, Greek letters)
_LATEX_TEXT = {
    "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    "↓": r"$\downarrow$", "↑": r"$\uparrow$", "–": "--", "—": "---", "−": "$-$", "±": r"$\pm$",
    "×": r"$\times$", "≤": r"$\leq$", "≥": r"$\geq$", "†": r"\dag{}", "‡": r"\ddag{}",
    "Δ": r"$\Delta$", "γ": r"$\gamma$", "μ": r"$\mu$", "µ": r"$\mu$", "°": r"$^\circ$",
    "…": r"\ldots{}", "‘": "`", "’": "'", "“": "``", "”": "''", "\u00a0": "~", "ß": r"{\ss}",
}
#: combining accents (after NFD) and their LaTeX accent commands: é -> \'{e}
_LATEX_ACCENTS = {"\u0300": "`", "\u0301": "'", "\u0302": "^", "\u0303": "~", "\u0304": "=", "\u0306": "u",
                  "\u0307": ".", "\u0308": '"', "\u030a": "r", "\u030b": "H", "\u030c": "v", "\u0327": "c",
                  "\u0328": "k"}


def latex_escape(text: str) -> str:
    """``text`` as pure-ASCII LaTeX that pdflatex typesets literally (no package needed).

    Accented Latin letters become accent commands; any other non-ASCII character (e.g.
    CJK) becomes a visible ``[U+XXXX]`` code, since pdflatex cannot typeset it.
    """
    out = []
    for ch in text:
        if ch in _LATEX_TEXT:
            out.append(_LATEX_TEXT[ch])
        elif ch.isascii():
            out.append(ch)
        else:
            out.append(_latex_accented(ch))
    return "".join(out)


def _latex_accented(ch: str) -> str:
    base, *accents = unicodedata.normalize("NFD", ch)
    if not (base.isascii() and base.isalpha() and accents and all(a in _LATEX_ACCENTS for a in accents)):
        return rf"\texttt{{[U+{ord(ch):04X}]}}"
    text = base
    for accent in accents:
        text = rf"\{_LATEX_ACCENTS[accent]}{{{text}}}"
    return text


def _latex_cell(cell: Cell) -> str:
    text = latex_escape(cell.text)
    if cell.rank == 1:
        text = rf"\textbf{{{text}}}"
    elif cell.rank == 2:
        text = rf"\underline{{{text}}}"
    if cell.marks:
        text += rf"\textsuperscript{{{latex_escape(cell.marks)}}}"
    if cell.delta:
        text += rf" {{\scriptsize ({latex_escape(cell.delta)})}}"
    return text


def to_latex(table: Table, caption: str = "") -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``), pure ASCII,
    with the notes and metric settings in a footnote-size paragraph under the tabular."""
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
    metrics = [" ".join(part for part in (col.metric, arrow(col.lower_better)) if part) for col in table.columns]
    lines.append(" & ".join(map(latex_escape, [table.corner, *metrics])) + r" \\")
    lines.append(r"\midrule")
    for index, (label, cells) in enumerate(table.rows):
        name = latex_escape(label)
        if table.kind(index) == REFERENCE:
            name = rf"\textit{{{name}}}"
        lines.append(" & ".join([name, *map(_latex_cell, cells)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = export_notes(table)
    if notes:
        lines += [r"\par\smallskip", r"{\footnotesize\raggedright"]
        lines += [latex_escape(note) + r"\par" for note in notes]
        lines.append("}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def table_exports(table: Table, caption: str = "") -> dict[str, str]:
    """``{suffix: text}`` of every export format, as :meth:`llebench.api.Report.exports` returns."""
    return {".csv": to_csv(table), ".md": to_markdown(table, caption), ".tex": to_latex(table, caption)}
