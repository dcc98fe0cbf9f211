"""Building report pages: tables of the tidy scores (pandas), self-contained HTML
(jinja2, autoescaped), CSV/Markdown/LaTeX exports, and the pictures pages embed."""

from llebench.report.exports import table_exports
from llebench.report.figures import crop, data_uri, detail_box, histogram_svg, resize_to_width, with_box
from llebench.report.html import render_page, write_page
from llebench.report.pairwise import PairwiseSection, pairwise_sections, pairwise_table
from llebench.report.tables import (
    AVERAGE, FAILED_MARK, IDENTITY, MEASURED, REFERENCE, SIGNIFICANCE_NOTE, UNCOMPARED_MARK, UNCOMPARED_NOTE, Cell,
    Column, Table, arrow, format_value, label_rows, leaderboard_table, mark_tied_best, mean_ranks,
    rank_by_significance, rank_cells, rank_columns, rank_rows, rank_values, row_markers, settings_lines,
    settings_text, side_by_side, summary_cell,
)

__all__ = [
    "AVERAGE", "Cell", "Column", "FAILED_MARK", "IDENTITY", "MEASURED", "PairwiseSection", "REFERENCE",
    "SIGNIFICANCE_NOTE", "Table", "UNCOMPARED_MARK", "UNCOMPARED_NOTE", "arrow", "crop", "data_uri", "detail_box",
    "format_value", "histogram_svg", "label_rows", "leaderboard_table", "mark_tied_best", "mean_ranks",
    "pairwise_sections", "pairwise_table", "rank_by_significance", "rank_cells", "rank_columns", "rank_rows",
    "rank_values", "render_page", "resize_to_width", "row_markers", "settings_lines", "settings_text",
    "side_by_side", "summary_cell", "table_exports", "with_box", "write_page",
]
