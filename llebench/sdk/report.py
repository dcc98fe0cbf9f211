"""Building report pages: tables of the tidy scores (pandas), self-contained HTML
(jinja2, autoescaped), CSV/Markdown/LaTeX exports, and the pictures pages embed."""

from llebench.report.exports import table_exports
from llebench.report.figures import crop, data_uri, detail_box, histogram_svg, resize_to_width, with_box
from llebench.report.html import render_page, write_page
from llebench.report.tables import (
    AVERAGE, FAILED_MARK, MEASURED, REFERENCE, Cell, Column, Table, arrow, format_value, leaderboard_table,
    mean_ranks, mean_scores, rank_columns, rank_rows, rank_values, settings_lines,
)

__all__ = [
    "AVERAGE", "Cell", "Column", "FAILED_MARK", "MEASURED", "REFERENCE", "Table", "arrow", "crop", "data_uri",
    "detail_box", "format_value", "histogram_svg", "leaderboard_table", "mean_ranks", "mean_scores", "rank_columns",
    "rank_rows", "rank_values", "render_page", "resize_to_width", "settings_lines", "table_exports", "with_box",
    "write_page",
]
