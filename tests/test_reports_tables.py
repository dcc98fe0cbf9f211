"""Tables 1-4 and the leaderboard from a fixture results directory: cells, marks, exports."""

from __future__ import annotations

import csv
import json
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from llebench.cli import main
from llebench.report.exports import latex_escape, to_csv, to_latex, to_markdown
from llebench.results import RunResults, SCORE_COLUMNS, details_path, output_image_path
from llebench_reports.leaderboard import Leaderboard, leaderboard
from llebench_reports.paper_tables import methods_as_columns
from llebench_reports.published import Published, published
from llebench_reports.tables import TABLE1, TABLE2, TABLE3, TABLE4, Table1, Table2, Table3, Table4

DATASETS = ["dicm", "lime", "mef", "vv", "npe"]
SCL_LLE_SHA = "fc5aa74a6674bb747b325e5a06efbfea2973c10cc93cf25cd2b8f33a038e821f"


def write_run(path: Path, rows: list[tuple], methods: dict[str, dict], datasets: dict[str, dict],
              metrics: dict[str, dict]) -> RunResults:
    """A results directory from (method, dataset, image, metric, value-or-None) tuples."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "scores.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(SCORE_COLUMNS)
        for method, dataset, image, metric, value in rows:
            status, error = ("ok", "") if value is not None else ("failed", "boom")
            writer.writerow([method, "", "", dataset, image, metric, "" if value is None else repr(value),
                             status, error, "0.1"])
    methods = {k: {"variant": "", "settings": {}, "weights": {}, "reference": v.get("name") == "input", **v}
               for k, v in methods.items()}
    # N of each dataset: every image any method has a row for (a cell over fewer is a subset)
    sizes = {d: len({r[2] for r in rows if r[1] == d}) for d in datasets}
    datasets = {k: {"settings": {}, "images": sizes[k], **v} for k, v in datasets.items()}
    metrics = {k: {"settings": {}, **v} for k, v in metrics.items()}
    manifest = {"methods": methods, "datasets": datasets, "metrics": metrics, "device": "cpu (test)",
                "versions": {"llebench": "test"}, "git_commit": "abc123"}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return RunResults.load(path)


def cells_of(table, label):
    """[(text, rank)] of the row with this label."""
    row = dict(table.rows)[label]
    return [(c.text, c.rank) for c in row]


@pytest.fixture
def table1_run(tmp_path):
    return make_table1_run(tmp_path / "run")


def make_table1_run(path: Path, user_study: bool = True) -> RunResults:
    per_image = {  # method -> dataset -> (niqe values of 2 images, unique value)
        "input": {d: ([4.0, 5.0], 0.5) for d in DATASETS},
        "zero_dce": {d: ([3.0, 3.2], 0.8) for d in DATASETS if d != "npe"},
        "scl_lle": {d: ([3.0, 3.0], 0.8) for d in DATASETS},
    }
    rows = []
    for method, by_dataset in per_image.items():
        for dataset, (niqe, unique) in by_dataset.items():
            for i, value in enumerate(niqe):
                rows.append((method, dataset, f"{i}.jpg", "niqe", value))
                rows.append((method, dataset, f"{i}.jpg", "unique", unique))
    rows.append(("zero_dce", "lime", "2.jpg", "niqe", None))  # one failure
    if user_study:
        rows += [("scl_lle", "dicm", "0.jpg", "user_study", 2.0), ("zero_dce", "dicm", "0.jpg", "user_study", 3.0)]
    methods = {"input": {"name": "input"}, "zero_dce": {"name": "zero_dce"},
               "scl_lle": {"name": "scl_lle", "weights": {"scl_lle.pth": SCL_LLE_SHA}}}
    datasets = {d: {"name": d, "settings": {}} for d in DATASETS}
    metrics = {"niqe": {"name": "niqe", "lower_better": True, "kind": "no-reference", "settings": {"x": 1}},
               "unique": {"name": "unique", "lower_better": False, "kind": "no-reference", "settings": {}},
               "user_study": {"name": "user_study", "lower_better": True, "kind": "subjective", "settings": {}},
               "seconds": {"name": "seconds", "lower_better": True, "kind": "efficiency",
                           "settings": {"unit": "s", "timer": "perf_counter"}}}
    if not user_study:
        del metrics["user_study"]
    return write_run(path, rows, methods, datasets, metrics)


def test_published_numbers_are_complete():
    paper = published()
    assert [r.key for r in paper.rows("table1")] == ["input", "lime", "retinexnet", "issr", "zero_dce",
                                                     "enlightengan", "ruas", "scl_lle"]
    assert paper.value("table1", "scl_lle", "dicm", "niqe") == 3.51
    assert paper.value("table1", "ruas", "vv", "unique") == -0.04
    assert paper.value("table2", "scl_lle", "sice_part2", "psnr") == 17.95
    assert paper.value("table3", "wo_under_neg", "average", "niqe") == 4.38
    assert paper.value("table4", "input", "frankfurt@1", "miou") == 73.831
    assert paper.value("table4", "scl_lle", "munster@10", "miou") == 33.442
    assert paper.text("table1", "lime", "lime", "unique") == "0.53"


def test_published_numbers_match_the_paper_text(shared_data):
    """Every published number appears, in its table's row, in the paper's text."""
    seeds = sorted((shared_data.parent / "seeds").glob("000_*.txt"))
    if not seeds:
        pytest.skip("the SCL-LLE paper text is not in ../shared/seeds")
    lines = seeds[0].read_text("utf-8").splitlines()
    first_cells = {"table1": {"input": "Input", "lime": "(TIP'17) LIME", "retinexnet": "(BMVC'18) R.-Net",
                              "issr": "(ACMMM'20) ISSR", "zero_dce": "(CVPR'20) Z.-DCE",
                              "enlightengan": "(TIP'21) E.GAN",
                              "ruas": "(CVPR'21) RUAS", "scl_lle": "Ours"}}
    paper = published()
    text = resources.files("llebench_reports").joinpath("published.csv").read_text("utf-8")
    records = list(csv.DictReader(text.splitlines()))
    by_row: dict[tuple[str, str], list[str]] = {}
    for rec in records:
        by_row.setdefault((rec["table"], rec["row"]), []).append(rec["value"])
    table_lines = [line.split("\t") for line in lines if "\t" in line]
    for (table, row), values in by_row.items():
        if table == "table2":
            continue
        candidates = [cells[1:] for cells in table_lines if cells[1:] == values]
        assert candidates, f"{table} {row}: {values} is not a line of the paper"
        if table in first_cells:
            assert any(c[0] == first_cells[table][row] and c[1:] == values for c in table_lines)
    psnr = next(c for c in table_lines if c[0].startswith("PSNR"))[1:]
    ssim = next(c for c in table_lines if c[0].startswith("SSIM"))[1:]
    keys = ["lime", "retinexnet", "issr", "zero_dce", "enlightengan", "ruas", "scl_lle"]
    assert [paper.text("table2", k, "sice_part2", "psnr") for k in keys] == psnr
    assert [paper.text("table2", k, "sice_part2", "ssim") for k in keys] == ssim


def test_table1_cells_marks_reference_rows_and_differences(table1_run):
    table = TABLE1.build(table1_run)
    labels = [label for label, _ in table.rows]
    assert labels == ["input", "Input [paper]", "LIME (TIP'17) [paper]", "RetinexNet (BMVC'18) [paper]",
                      "ISSR (ACMMM'20) [paper]", "zero_dce", "Zero-DCE (CVPR'20) [paper]",
                      "EnlightenGAN (TIP'21) [paper]", "RUAS (CVPR'21) [paper]", "scl_lle",
                      "SCL-LLE (Ours, AAAI'22) [paper]"]
    assert table.kinds == ["identity", "reference", "reference", "reference", "reference", "measured",
                           "reference", "reference", "reference", "measured", "reference"]
    titles = [f"{c.group} {c.metric}" for c in table.columns]
    assert titles[:3] == ["DICM NIQE", "DICM UN.", "DICM U.S."] and titles[-3:] == [
        "Average NIQE", "Average UN.", "Average U.S."]
    # DICM, 2 images: no difference is significant, so every measured value shares the best mark;
    # the user study rated 1 of the 2 images (shown); the input is a reference, never marked
    assert cells_of(table, "scl_lle")[:3] == [("3.000", 1), ("0.800", 1), ("2.000 (1/2)", 1)]
    assert cells_of(table, "zero_dce")[:3] == [("3.100", 1), ("0.800", 1), ("3.000 (1/2)", 1)]
    assert cells_of(table, "input")[:3] == [("4.500", None), ("0.500", None), ("–", None)]
    assert "not significantly different from the best (scl_lle)" in dict(table.rows)["zero_dce"][0].note
    # LIME NIQE: zero_dce scored 2 of its 3 images (one failed: marked); the others 2 of 3
    lime_niqe = dict(table.rows)["zero_dce"][3]
    assert lime_niqe.text == "3.100 (2/3)" and "1 of 3 images failed" in lime_niqe.note and lime_niqe.marks == "†°"  # failed; not compared (subset)
    # Average: zero_dce lacks NPE -> no average; scl_lle's includes a subset (LIME): said, ranked by value
    assert cells_of(table, "scl_lle")[15] == ("3.000 (subset)", 1)
    assert cells_of(table, "input")[15] == ("4.500 (subset)", None)
    assert cells_of(table, "zero_dce")[15] == ("–", None)
    # differences to the published values only where a cell covers its whole dataset
    row = dict(table.rows)["scl_lle"]
    assert row[0].delta == "-0.510" and row[1].delta == "-0.070" and row[6].delta == "-0.310"
    assert row[3].delta == "" and "not compared with the paper" in row[3].note  # LIME: 2 of 3
    assert row[15].delta == "" and row[2].delta == ""
    # the published rows keep the paper's marks: DICM NIQE Ours 3.51 best, EnlightenGAN 3.55 second
    assert cells_of(table, "SCL-LLE (Ours, AAAI'22) [paper]")[0] == ("3.51", 1)
    assert cells_of(table, "EnlightenGAN (TIP'21) [paper]")[0] == ("3.55", 2)
    # LIME U.S.: EnlightenGAN 2.00 best; LIME and Zero-DCE tie at 2.10 second
    assert cells_of(table, "EnlightenGAN (TIP'21) [paper]")[5] == ("2.00", 1)
    assert cells_of(table, "LIME (TIP'17) [paper]")[5] == ("2.10", 2)
    assert cells_of(table, "Zero-DCE (CVPR'20) [paper]")[5] == ("2.10", 2)
    assert table.row_groups[:2] == [0, 0] and table.row_groups[5:7] == [4, 4]


def test_table1_page_and_exports(table1_run):
    report = Table1()
    assert report.can_render(table1_run) and not Table3().can_render(table1_run)
    html = report.render(table1_run)
    cells = re.findall(r'<tr><td class="method">scl_lle</td>(.*?)</tr>', html)[0]
    classes = re.findall(r'<td class="([a-z ]*)"', cells)
    assert classes[:3] == ["best", "best", "best"]
    assert 'class="delta"' in html and "[paper]" in html and "http://" not in html and "https://" not in html
    assert 'href="report_table1.csv"' in html
    # the notes and the settings of the table's metrics directly under the table
    under = html[html.index("</table>"):html.index("<h2>", html.index("</table>"))]
    assert "U.S.: mean user-study rank" in under and "Rows marked [paper]" in under
    assert '<li><b>niqe</b>: <code>{"x": 1}</code></li>' in under and "<li><b>unique</b>" in under
    assert "timer" not in html  # seconds is not in Table 1
    # the provenance footer: versions, commit, device, weight hashes
    footer = html[html.index('<footer class="prov">'):html.index("</footer>")]
    assert "<code>abc123</code>" in footer and "<td>cpu (test)</td>" in footer
    assert "<td>versions</td><td>llebench test</td>" in footer
    assert f"<code>scl_lle.pth sha256 {SCL_LLE_SHA}</code>" in footer
    assert "settings" not in footer.split("dataset", 1)[0] and html.index("</table>") < html.index("<footer")
    exports = report.exports(table1_run)
    assert set(exports) == {".csv", ".md", ".tex"}
    md = exports[".md"]
    assert r"| scl\_lle | **3.000** (-0.510) | **0.800** (-0.070) | **2.000 (1/2)**° |" in md
    assert r"| zero\_dce | **3.100** (-0.460) |" in md
    assert r"| **3.100 (2/3)**†° |" in md  # LIME NIQE of zero_dce: one image failed, 2 of 3 scored
    assert "† some images of this cell failed" in md
    assert 'niqe settings: {"x": 1}' in md and "timer" not in md  # settings of the table's metrics only
    tex = exports[".tex"]
    assert r"\textbf{3.000}" in tex and r"\textbf{3.100}" in tex and r"\underline{3.55}" in tex
    assert r"\textbf{3.100 (2/3)}\textsuperscript{\dag{}$^\circ$}" in tex  # the failed image; not compared
    assert r"\multicolumn{3}{c}{DICM}" in tex and r"NIQE $\downarrow$" in tex
    # the notes and settings follow the tabular, in the table environment
    after = tex[tex.index(r"\end{tabular}"):tex.index(r"\end{table}")]
    assert r"{\footnotesize" in after and r'niqe settings: \{"x": 1\}\par' in after
    assert r"U.S.: mean user-study rank" in after and "timer" not in after
    rows = list(csv.reader(exports[".csv"].splitlines()))
    assert rows[0][:4] == ["Method", "kind", "DICM NIQE ↓", "DICM UN. ↑"]
    assert ["scl_lle", "measured", "3.000"] == rows[[r[0] for r in rows].index("scl_lle")][:3]
    below = rows[[r[0] for r in rows].index("scl_lle") + 1:][:2]  # the interval, then the difference
    assert below[0][:3] == ["scl_lle", "95% CI", "[3.000, 3.000]"] and below[1][:3] == ["scl_lle", "difference",
                                                                                        "-0.510"]


def grid(table) -> list[list[str]]:
    """Every row as [label, cell, ...]: a cell is its text, **bold** when best, __underlined__
    when second, then its marks and (difference to the published value)."""
    def show(cell):
        text = {1: f"**{cell.text}**", 2: f"__{cell.text}__"}.get(cell.rank, cell.text) + cell.marks
        return f"{text} ({cell.delta})" if cell.delta else text
    return [[label, *map(show, cells)] for label, cells in table.rows]


def small_paper(table: str, records: list[tuple[str, str, str, str, str]]) -> Published:
    """A hand-made published table: (row, label, dataset, metric, value as printed)."""
    return Published([{"table": table, "row": row, "label": label, "dataset": dataset, "metric": metric,
                       "value": value} for row, label, dataset, metric, value in records])


def test_table1_full_grid(tmp_path):
    """Every cell, bold and underline of Table 1 from a small fixture (values exact in binary)."""
    niqe = {  # method -> dataset -> per-image NIQE
        "input": {d: [4.0, 5.0] for d in DATASETS},
        "zero_dce": {"dicm": [3.0, 3.5], "lime": [3.5, None]},
        "scl_lle": {d: [3.0] for d in DATASETS},
        "mine": {"dicm": [3.25], "lime": [2.75], "mef": [5.0], "vv": [4.0], "npe": [3.0]},
    }
    rows = [(m, d, f"{i}.jpg", "niqe", v) for m, by in niqe.items() for d, vs in by.items() for i, v in enumerate(vs)]
    rows += [(m, "dicm", "0.jpg", "unique", v) for m, v in (("input", 0.5), ("zero_dce", 0.75), ("scl_lle", 0.75))]
    rows += [("zero_dce", "dicm", "0.jpg", "user_study", 3.0), ("scl_lle", "dicm", "0.jpg", "user_study", 2.0)]
    metrics = {"niqe": {"name": "niqe", "lower_better": True}, "unique": {"name": "unique", "lower_better": False},
               "user_study": {"name": "user_study", "lower_better": True}}
    run = write_run(tmp_path / "run", rows, {m: {"name": m} for m in niqe}, {d: {"name": d} for d in DATASETS},
                    metrics)
    paper = small_paper("table1", [("input", "Input", "dicm", "niqe", "4.25"),
                                   ("input", "Input", "average", "niqe", "4.50"),
                                   ("zero_dce", "Z-DCE", "dicm", "niqe", "3.80"),
                                   ("scl_lle", "Ours", "dicm", "niqe", "3.51"),
                                   ("scl_lle", "Ours", "dicm", "unique", "0.87")])
    table = TABLE1.build(run, paper)
    assert [f"{c.group} {c.metric}" for c in table.columns] == [
        f"{group} {metric}" for group in ("DICM", "LIME", "MEF", "VV", "NPE", "Average")
        for metric in ("NIQE", "UN.", "U.S.")]
    _ = "–"
    # per row: label, then (NIQE, UN., U.S.) for DICM, LIME, MEF, VV, NPE and Average
    # N = 2 images per dataset (input has both); a one-image cell shows (1/2) and is not compared with
    # the paper; one image per method cannot make a difference significant: measured values all share the
    # best mark, except in the Average group (means of means, ranked by value); the input is a reference
    assert grid(table) == [
        ["input", "4.500 (+0.250)", "0.500 (1/2)", _, "4.500", _, _, "4.500", _, _, "4.500", _, _,
         "4.500", _, _, "4.500 (+0.000)", _, _],
        ["Input [paper]", "4.25", _, _, _, _, _, _, _, _, _, _, _, _, _, _, "**4.50**", _, _],
        ["zero_dce", "**3.250** (-0.550)", "**0.750 (1/2)**", "**3.000 (1/2)**", "**3.500 (1/2)**†", _, _, _, _, _,
         _, _, _, _, _, _, _, _, _],
        ["Z-DCE [paper]", "__3.80__", _, _, _, _, _, _, _, _, _, _, _, _, _, _, _, _, _],
        ["scl_lle", "**3.000 (1/2)**°", "**0.750 (1/2)**°", "**2.000 (1/2)**", "**3.000 (1/2)**", _, _,
         "**3.000 (1/2)**", _, _, "**3.000 (1/2)**", _, _, "**3.000 (1/2)**", _, _, "**3.000 (subset)**", _, _],
        ["Ours [paper]", "**3.51**", "**0.87**", _, _, _, _, _, _, _, _, _, _, _, _, _, _, _, _],
        ["mine", "**3.250 (1/2)**", _, _, "**2.750 (1/2)**", _, _, "**5.000 (1/2)**", _, _, "**4.000 (1/2)**", _, _,
         "**3.000 (1/2)**", _, _, "__3.600 (subset)__", _, _],
    ]
    assert table.kinds == ["identity", "reference", "measured", "reference", "measured", "reference", "measured"]
    assert "1 of 2 images failed" in dict(table.rows)["zero_dce"][3].note


def test_table2_full_grid(tmp_path):
    rows = [(m, "sice_part2", "a.png", metric, v) for m, metric, v in (
        ("input", "psnr", 10.0), ("input", "ssim", 0.5), ("scl_lle", "psnr", 18.0), ("scl_lle", "ssim", 0.625),
        ("zero_dce", "psnr", 15.0), ("zero_dce", "ssim", 0.75))]
    rows.append(("zero_dce", "sice_part2", "b.png", "psnr", None))
    run = write_run(tmp_path / "run", rows, {m: {"name": m} for m in ("input", "scl_lle", "zero_dce")},
                    {"sice_part2": {"name": "sice_part2"}},
                    {"psnr": {"name": "psnr", "lower_better": False}, "ssim": {"name": "ssim", "lower_better": False}})
    paper = small_paper("table2", [("lime", "LIME", "sice_part2", "psnr", "14.00"),
                                   ("lime", "LIME", "sice_part2", "ssim", "0.50"),
                                   ("scl_lle", "Ours", "sice_part2", "psnr", "17.95"),
                                   ("scl_lle", "Ours", "sice_part2", "ssim", "0.75")])
    table = methods_as_columns(TABLE2, run, paper)
    assert [c.metric for c in table.columns] == ["input", "LIME [paper]", "scl_lle", "zero_dce"]
    _ = "–"
    # two images (a.png, b.png): every measured cell covers one, so none is compared with the paper (°);
    # methods are columns, marked by paired tests along each row (one image: no difference can be
    # significant, all share the best mark); published rows keep their own marks by value; the
    # input's column is never marked
    assert grid(table) == [
        ["PSNR ↑", "10.000 (1/2)", _, "**18.000 (1/2)**°", "**15.000 (1/2)**†"],
        ["PSNR ↑ [paper]", _, "__14.00__", "**17.95**", _],
        ["SSIM ↑", "0.500 (1/2)", _, "**0.625 (1/2)**°", "**0.750 (1/2)**"],
        ["SSIM ↑ [paper]", _, "__0.50__", "**0.75**", _],
    ]


def test_table4_says_when_it_falls_back_to_per_image_means(tmp_path):
    rows = [("input", "cityscapes_val:frankfurt@6", image, "miou", v) for image, v in (("a", 10.0), ("b", 20.0))]
    datasets = {"cityscapes_val:frankfurt@6": {"name": "cityscapes_val",
                                               "settings": {"cities": ["frankfurt"], "gamma": 6.0}}}
    run = write_run(tmp_path / "run", rows, {"input": {"name": "input"}}, datasets,
                    {"miou": {"name": "miou", "lower_better": False, "kind": "task"}})
    path = details_path(run.path, "miou", "input", "cityscapes_val:frankfurt@6", "a")  # one of the two kept
    path.parent.mkdir(parents=True)
    np.savez(path, confusion=np.eye(2, dtype=np.int64))
    cell = dict(TABLE4.build(run).rows)["input"][2]
    assert (cell.text, cell.marks) == ("15.000", "*") and "mean of the per-image mIoU" in cell.note
    html = Table4().render(run)
    assert '15.000<sup class="note">*</sup>' in html
    assert "* mean of the per-image mIoU values, not the mIoU of the summed confusion matrices" in html
    # the input, a reference: never marked; a per-image mean is not compared with the paper's pooled mIoU
    assert "| 15.000\\* |" in Table4().exports(run)[".md"]
    np.savez(details_path(run.path, "miou", "input", "cityscapes_val:frankfurt@6", "b"), confusion=np.eye(2))
    cell = dict(TABLE4.build(run).rows)["input"][2]  # now every image has its matrix: no mark, no note
    assert (cell.text, cell.marks) == ("100.000", "") and "per-image" not in " ".join(TABLE4.build(run).notes)


def test_table2_methods_as_columns(tmp_path):
    rows = [("input", "sice_part2", "a.png", "psnr", 10.0), ("input", "sice_part2", "a.png", "ssim", 0.5),
            ("scl_lle", "sice_part2", "a.png", "psnr", 18.0), ("scl_lle", "sice_part2", "a.png", "ssim", 0.6),
            ("zero_dce", "sice_part2", "a.png", "psnr", 15.0), ("zero_dce", "sice_part2", "a.png", "ssim", 0.7)]
    run = write_run(tmp_path / "run", rows, {m: {"name": m} for m in ("input", "zero_dce", "scl_lle")},
                    {"sice_part2": {"name": "sice_part2"}},
                    {"psnr": {"name": "psnr", "lower_better": False}, "ssim": {"name": "ssim", "lower_better": False}})
    table = methods_as_columns(TABLE2, run)
    headers = [c.metric for c in table.columns]
    assert headers == ["input", "LIME (TIP'17) [paper]", "RetinexNet (BMVC'18) [paper]", "ISSR (ACMMM'20) [paper]",
                       "zero_dce", "EnlightenGAN (TIP'21) [paper]", "RUAS (CVPR'21) [paper]", "scl_lle"]
    assert [label for label, _ in table.rows] == ["PSNR ↑", "PSNR ↑ [paper]", "SSIM ↑", "SSIM ↑ [paper]"]
    assert not table.sortable and "data-col" not in Table2().render(run)  # columns are methods
    psnr = [(c.text, c.rank) for c in table.rows[0][1]]
    assert psnr == [("10.000", None), ("–", None), ("–", None), ("–", None), ("15.000", 1), ("–", None),
                    ("–", None), ("18.000", 1)]  # one image each: not significantly different
    assert table.rows[0][1][7].delta == "+0.050"
    paper_psnr = [(c.text, c.rank) for c in table.rows[1][1]]
    assert paper_psnr == [("–", None), ("13.67", None), ("16.98", None), ("15.01", None), ("14.78", None),
                          ("17.82", 2), ("10.62", None), ("17.95", 1)]
    ssim = [(c.text, c.rank) for c in table.rows[2][1]]
    assert ssim[0] == ("0.500", None) and ssim[4] == ("0.700", 1) and ssim[7] == ("0.600", 1)
    paper_ssim = [c.rank for c in table.rows[3][1]]
    assert paper_ssim == [None, None, 2, None, None, 2, None, 1]  # 0.68 best; 0.66 (R.Net, E.GAN) second


def test_table3_rows_are_ablation_labels(tmp_path):
    rows = []
    for label, value in (("input", 4.0), ("wo_lcc", 3.9), ("wo_neg", 3.4), ("scl_lle", 3.5)):
        for dataset in DATASETS:
            rows.append((label, dataset, "0.jpg", "niqe", value))
    methods = {"input": {"name": "input"}, "wo_lcc": {"name": "scl_lle", "settings": {"untrained": True}},
               "wo_neg": {"name": "scl_lle"}, "scl_lle": {"name": "scl_lle"}}
    run = write_run(tmp_path / "run", rows, methods, {d: {"name": d} for d in DATASETS},
                    {"niqe": {"name": "niqe", "lower_better": True}})
    assert Table3().can_render(run)
    table = TABLE3.build(run)
    labels = [label for label, _ in table.rows]
    assert labels[:4] == ["input", "Input [paper]", "wo_lcc §", "w/o L_cc [paper]"]  # § untrained, explained
    assert any(note.startswith("wo_lcc §: § trained with random (untrained) feature networks") for note in table.notes)
    assert labels.index("wo_neg") < labels.index("w/o negative samples [paper]")
    assert labels[-2:] == ["scl_lle", "SCL-LLE (full) [paper]"]
    # one image each: tied (no difference can be significant); Average (means of means): by value
    assert cells_of(table, "wo_neg")[0] == ("3.400", 1) and cells_of(table, "scl_lle")[0] == ("3.500", 1)
    assert cells_of(table, "wo_neg")[10] == ("3.400", 1) and cells_of(table, "scl_lle")[10] == ("3.500", 2)
    assert dict(table.rows)["wo_lcc §"][0].delta == "-0.410"


def test_table4_accumulates_confusion_matrices(tmp_path):
    """mIoU from summed confusion matrices differs from the mean of per-image mIoUs."""
    first = np.array([[8, 2], [0, 0]])  # image 1: class 0 only, IoU 0.8 (class 1: 0/2)
    second = np.array([[0, 0], [2, 8]])  # image 2: class 1 only
    # summed: [[8, 2], [2, 8]] -> IoU_0 = IoU_1 = 8 / 12 -> 66.667 %; per-image means would give 40
    rows = [("scl_lle", "cityscapes_val:frankfurt@6", "a.png", "miou", 40.0),
            ("scl_lle", "cityscapes_val:frankfurt@6", "b.png", "miou", 40.0),
            ("input", "cityscapes_val:frankfurt@6", "a.png", "miou", 10.0),
            ("input", "cityscapes_val:lindau@1", "a.png", "miou", 55.0)]
    datasets = {
        "cityscapes_val:frankfurt@6": {"name": "cityscapes_val", "settings": {"cities": ["frankfurt"], "gamma": 6.0}},
        "cityscapes_val:lindau@1": {"name": "cityscapes_val", "settings": {"cities": ["lindau"], "gamma": 1.0}},
    }
    run = write_run(tmp_path / "run", rows, {"input": {"name": "input"}, "scl_lle": {"name": "scl_lle"}}, datasets,
                    {"miou": {"name": "miou", "lower_better": False, "kind": "task"}})
    for image, matrix in (("a.png", first), ("b.png", second)):
        path = details_path(run.path, "miou", "scl_lle", "cityscapes_val:frankfurt@6", image)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, confusion=matrix)
    table = TABLE4.build(run)
    headers = [(c.group, c.metric) for c in table.columns]
    assert headers[:4] == [("Frankfurt", "γ=1"), ("Frankfurt", "γ=2"), ("Frankfurt", "γ=6"), ("Frankfurt", "γ=10")]
    scl = dict(table.rows)["scl_lle"]
    assert scl[2].text == "66.667" and scl[2].rank == 1 and scl[2].delta == f"{100 * 8 / 12 - 58.488:+.3f}"
    inp = dict(table.rows)["input"]
    # the input is a reference (never marked); it has no details kept: mean of per-image values, marked
    # as such, over 1 of the 2 images
    assert inp[2].text == "10.000 (1/2)" and inp[2].rank is None
    assert inp[2].marks == "*" and scl[2].marks == ""
    assert any(note.startswith("* mean of the per-image mIoU") for note in table.notes)
    assert inp[4].text == "55.000" and inp[4].rank is None
    assert cells_of(table, "SCL-LLE (Ours, AAAI'22) [paper]")[2] == ("58.488", 1)
    assert cells_of(table, "Zero-DCE (CVPR'20) [paper]")[2] == ("58.046", 2)


def test_leaderboard_mean_rank_and_report_cli(table1_run, capsys):
    table = leaderboard(table1_run)
    assert table.columns[-1].metric == "mean rank"
    ranks = {label: cells[-1] for label, cells in table.rows}
    # over the 11 per-dataset columns (niqe, unique x 5 datasets, user_study on dicm): only
    # scl_lle has them all (zero_dce lacks npe, input the user study); it is first or tied everywhere
    assert ranks["scl_lle"].text == "1.00" and ranks["scl_lle"].rank == 1
    assert ranks["zero_dce"].text == "–" and ranks["input"].text == "–"
    assert main(["report", str(table1_run.path)]) == 0
    written = capsys.readouterr().out.split()
    assert [Path(p).name for p in written] == ["report.html", "report_table1.html"]
    for name in ("report.csv", "report.md", "report.tex", "report_table1.csv", "report_table1.md",
                 "report_table1.tex"):
        assert (table1_run.path / name).stat().st_size > 0
    assert main(["report", str(table1_run.path), "--output", str(table1_run.path / "x.html")]) == 2


def test_exports_escape_latex_markdown_and_csv(table1_run):
    table = TABLE1.build(table1_run)
    table.rows[0] = ("a&b%c$d#e_f{g}h~i^j\\k|<b>", table.rows[0][1])
    table.rows[2] = ("=SUM(A1)", table.rows[2][1])
    tex = to_latex(table)
    assert (r"a\&b\%c\$d\#e\_f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
            r"\textbar{}\textless{}b\textgreater{} &") in tex
    md = to_markdown(table)
    assert r"| a&amp;b%c\$d\#e\_f{g}h\~i^j\\k\|&lt;b&gt; |" in md
    rows = list(csv.reader(to_csv(table).splitlines()))
    assert rows[1][:2] == ["a&b%c$d#e_f{g}h~i^j\\k|<b>", "identity"]  # CSV quotes; nothing to escape
    assert next(r for r in rows if "SUM" in r[0])[:2] == ["'=SUM(A1)", "reference"]  # no spreadsheet formula


def test_latex_escape_makes_any_text_ascii():
    assert latex_escape("PSNR ↑ / NIQE ↓") == r"PSNR $\uparrow$ / NIQE $\downarrow$"
    assert latex_escape("γ=6 − 1 ± 2 †") == r"$\gamma$=6 $-$ 1 $\pm$ 2 \dag{}"
    assert latex_escape("Zürich café") == r'Z\"{u}rich caf\'{e}'
    assert latex_escape("日本") == r"\texttt{[U+65E5]}\texttt{[U+672C]}"
    assert latex_escape(r"\input{/etc/passwd}") == r"\textbackslash{}input\{/etc/passwd\}"


def every_layout_run(path: Path) -> RunResults:
    """A run every layout can fill: Tables 1 and 3 (DICM), 2 (SICE Part 2), 4 (Cityscapes),
    with a failed image, a Table 4 cell without confusion matrices, and non-ASCII names."""
    frankfurt = "cityscapes_val:frankfurt@6"
    rows = []
    for method in ("input", "scl_lle", "wo_lcc", "Zürich 日本 & co_1"):
        rows += [(method, "dicm", "a.jpg", "niqe", 3.5), (method, "dicm", "a.jpg", "unique", 0.5),
                 (method, "sice_part2", "a.png", "psnr", 15.0), (method, "sice_part2", "a.png", "ssim", 0.5),
                 (method, frankfurt, "a.png", "miou", 40.0)]
    rows += [("scl_lle", "dicm", "b.jpg", "niqe", None), ("scl_lle", "dicm", "a.jpg", "user_study", 2.0)]
    methods = {"input": {"name": "input"}, "scl_lle": {"name": "scl_lle"}, "wo_lcc": {"name": "scl_lle"},
               "Zürich 日本 & co_1": {"name": "zero_dce"}}
    datasets = {"dicm": {"name": "dicm"}, "sice_part2": {"name": "sice_part2"},
                frankfurt: {"name": "cityscapes_val", "settings": {"cities": ["frankfurt"], "gamma": 6.0}}}
    metrics = {name: {"name": name, "lower_better": lower, "settings": {"γ": "±1", "path": "/x/é_%$"}}
               for name, lower in (("niqe", True), ("unique", False), ("user_study", True), ("psnr", False),
                                   ("ssim", False), ("miou", False))}
    return write_run(path, rows, methods, datasets, metrics)


def test_latex_exports_of_every_layout_are_pure_ascii(tmp_path):
    run = every_layout_run(tmp_path / "run")
    reports = {report.name: report for report in (Leaderboard(), Table1(), Table2(), Table3(), Table4())}
    assert all(report.can_render(run) for report in reports.values())
    tex = {name: report.exports(run)[".tex"] for name, report in reports.items()}
    for name, text in tex.items():
        bad = sorted({ch for ch in text if not ch.isascii()})
        assert not bad, f"{name}: non-ASCII {bad}"
        assert r"Z\"{u}rich \texttt{[U+65E5]}\texttt{[U+672C]} \& co\_1" in text, name
        assert r"""\{"path": "/x/\'{e}\_\%\$", "$\gamma$": "$\pm$1"\}""" in text, name  # settings under the table
    assert r"\caption{Table 1: NIQE $\downarrow$, UNIQUE (UN.) $\uparrow$" in tex["table1"]
    assert r"\textsuperscript{\dag{}" in tex["table1"] and r"\dag{} some images" in tex["table1"]
    assert r"measured $-$ published" in tex["table1"]
    assert "\nPSNR $\\uparrow$ & " in tex["table2"] and "\nSSIM $\\uparrow$ \\textit" not in tex["table2"]
    assert r"\textit{PSNR $\uparrow$ [paper]}" in tex["table2"]
    assert r"$\gamma$=6" in tex["table4"] and r"x\textasciicircum{}$\gamma$" in tex["table4"]
    assert r"\textbf{40.000}\textsuperscript{*}" in tex["table4"] and r"* mean of the per-image mIoU" in tex["table4"]


def test_leaderboard_efficiency_columns_are_noted_and_not_ranked(tmp_path):
    rows = [(m, "sample", "a.png", metric, value) for m, metric, value in (
        ("zero_dce", "params", 79416.0), ("zero_dce", "flops", 171.07), ("zero_dce", "psnr", 15.0),
        ("scl_lle", "params", 79416.0), ("scl_lle", "flops", 171.07), ("scl_lle", "psnr", 16.0))]
    rows += [(m, "other", "b.png", "psnr", v) for m, v in (("zero_dce", 12.0), ("scl_lle", 11.0))]
    metrics = {"params": {"name": "params", "kind": "efficiency", "lower_better": True, "settings": {"unit": "count"},
                          "format": ",.0f"},
               "flops": {"name": "flops", "kind": "efficiency", "lower_better": True,
                         "settings": {"input": "1x3x900x1200", "unit": "GFLOP"}},
               "psnr": {"name": "psnr", "kind": "full-reference", "lower_better": False}}
    run = write_run(tmp_path / "run", rows, {"zero_dce": {"name": "zero_dce"}, "scl_lle": {"name": "scl_lle"}},
                    {"sample": {"name": "sample"}, "other": {"name": "other"}}, metrics)
    table = leaderboard(run)
    params = [i for i, c in enumerate(table.columns) if c.metric == "params"][0]
    assert dict(table.rows)["zero_dce"][params].text == "79,416"
    ranks = {label: cells[-1].text for label, cells in table.rows}
    assert ranks == {"zero_dce": "1.50", "scl_lle": "1.50"}  # psnr only: 2nd and 1st, 1st and 2nd
    assert "flops: on cpu (test); input 1x3x900x1200, unit GFLOP." in table.notes
    assert "params: on cpu (test); input not applicable (a count of parameters), unit count." in table.notes


def test_run_writes_the_leaderboard_with_exports_and_figures(tmp_path, monkeypatch, capsys):
    """`llebench run` writes the page and its exports; the figure shows the input, read again
    through the dataset plugin (``input`` caches nothing), beside each cached output."""
    from throwaway import ThrowawayPlugin

    from llebench.plugins import load_plugins
    from llebench.components import ComponentSpec
    from llebench.runner import Runner, RunPlan

    monkeypatch.delenv("LLEBENCH_DATA", raising=False)
    out = tmp_path / "run"
    assert main(["run", "--methods", "input", "--datasets", "sample", "--metrics", "psnr", "--limit", "3",
                 "--out", str(out), "--no-progress"]) == 0
    for suffix in (".html", ".csv", ".md", ".tex"):
        assert (out / f"report{suffix}").exists()
    assert "Visual comparison" not in (out / "report.html").read_text()  # no cached output yet

    plugin_set = load_plugins(extra=[("throwaway", ThrowawayPlugin())])
    plan = RunPlan(methods=[ComponentSpec.parse("brighten")], datasets=[ComponentSpec.parse("sample")],
                   metrics=[ComponentSpec.parse("psnr")], out=out, limit=3)
    Runner(plugin_set, plan, progress=False).run()
    html = Leaderboard().render(RunResults.load(out))
    assert "Visual comparison" in html and html.count('<figure class="tile">') == 2 * 2  # 2 images x 2
    assert html.count('src="data:image/jpeg;base64,') == 2 * 2 * 2 and "input not shown" not in html
    assert html.count('<svg class="hist"') == 4
    assert len(re.findall(r'<a href="images/brighten/sample/[^"]+\.png">', html)) == 2
    ids = sorted(RunResults.load(out).scores["image"].unique())
    names = r'<div class="figname">([^<]+)</div>'
    assert len(ids) == 3 and re.findall(names, html) == [ids[0], ids[2]]  # automatic: spread over the ids

    # every link of the written page (exports, thumbnails) points at a file of the run directory
    assert main(["report", str(out), "--layout", "leaderboard"]) == 0
    links = re.findall(r'<a href="([^"]+)"', (out / "report.html").read_text())
    assert len(links) == 3 + 2 and all((out / link).is_file() for link in links), links

    # chosen images instead of the automatic ones
    assert main(["report", str(out), "--layout", "leaderboard", "--figure-images", ids[1]]) == 0
    page = (out / "report.html").read_text()
    assert re.findall(names, page) == [ids[1]] and page.count('<figure class="tile">') == 2
    output_image_path(out, "brighten", "sample", ids[0]).unlink()  # a chosen image without an output
    assert main(["report", str(out), "--layout", "leaderboard", "--figure-images", f"{ids[0]},{ids[1]}"]) == 0
    page = (out / "report.html").read_text()
    assert re.findall(names, page) == [ids[0], ids[1]] and page.count("no cached output for this image") == 1
    links = re.findall(r'<a href="([^"]+)"', page)
    assert len(links) == 3 + 1 and all((out / link).is_file() for link in links), links
    capsys.readouterr()
    assert main(["report", str(out), "--figure-images", "nope.png"]) == 2
    assert f"--figure-images: nope.png: not an image id in {out / 'scores.csv'}" in capsys.readouterr().err
    assert main(["report", str(out), "--layout", "table4", "--figure-images", ids[1]]) == 2
    assert "layout table4 has no figure grid" in capsys.readouterr().err


def test_zoo_methods_sit_beside_their_paper_rows_and_the_rest_follow(tmp_path):
    """RUAS and LIME are paper rows of Tables 1/2: measured ruas/lime rows go right above them;
    methods the paper does not compare (SCI, PairLIE, ...) come after the paper's rows."""
    rows = [(method, "dicm", f"{i}.jpg", "niqe", 3.0 + 0.1 * i + 0.01 * k)
            for k, method in enumerate(("input", "ruas", "lime", "sci", "pairlie")) for i in range(3)]
    methods = {m: {"name": m} for m in ("input", "ruas", "lime", "sci", "pairlie")}
    metrics = {"niqe": {"name": "niqe", "lower_better": True, "kind": "no-reference"}}
    run = write_run(tmp_path / "zoo", rows, methods, {"dicm": {"name": "dicm"}}, metrics)
    labels = [label for label, _ in TABLE1.build(run).rows]
    assert labels.index("lime") + 1 == labels.index("LIME (TIP'17) [paper]")
    assert labels.index("ruas") + 1 == labels.index("RUAS (CVPR'21) [paper]")
    assert labels[-2:] == ["sci", "pairlie"]
    assert labels.index("SCL-LLE (Ours, AAAI'22) [paper]") < labels.index("sci")
