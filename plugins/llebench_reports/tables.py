"""The SCL-LLE paper's Tables 1-4 as report layouts (``--layout table1`` ... ``table4``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from llebench.sdk import Report
from llebench.sdk.report import table_exports
from llebench.sdk.report import render_page
from llebench.sdk.report import Table
from llebench.sdk import RunResults

from llebench_reports.figures import FigureSection, WithFigures
from llebench_reports.paper_tables import (
    ColumnSpec, PaperLayout, Stat, average_columns, mean_of_images, methods_as_columns,
)
from llebench_reports.published import PUBLISHED_SOURCE
from llebench_reports.runinfo import export_names, metric_settings
from llebench.sdk.nets import CONFUSION_KEY, mean_iou

NO_REFERENCE_DATASETS = [("dicm", "DICM"), ("lime", "LIME"), ("mef", "MEF"), ("vv", "VV"), ("npe", "NPE")]
CITIES = [("frankfurt", "Frankfurt"), ("lindau", "Lindau"), ("munster", "Munster")]
GAMMAS = (1, 2, 6, 10)
SEGMENTATION_DATASET = "cityscapes_val"
#: Table 3's variants of SCL-LLE, as method labels (configs/table3.toml)
ABLATIONS = ("wo_lcc", "wo_lsc", "wo_lfr", "wo_neg", "wo_over_neg", "wo_under_neg")

PAPER_NOTE = (f"Rows marked [paper] are the published values ({PUBLISHED_SOURCE}), best in bold and second "
              "underlined among themselves; the small number beside a measured value is measured − published.")


def cityscapes_key(label: str, entry: dict[str, Any]) -> str | None:
    """``cityscapes_val`` restricted to one city and gamma -> ``CITY@GAMMA`` (Table 4's columns)."""
    settings = entry.get("settings") or {}
    if entry.get("name") != SEGMENTATION_DATASET or len(settings.get("cities", [])) != 1:
        return None
    return f"{settings['cities'][0]}@{float(settings['gamma']):g}"


#: marks a Table 4 cell that is a mean of per-image mIoUs (see PER_IMAGE_NOTE)
PER_IMAGE_MARK = "*"
PER_IMAGE_NOTE = ("mean of the per-image mIoU values, not the mIoU of the summed confusion matrices: "
                  "some images of this method and dataset have no saved confusion matrix "
                  "(RUN/details/miou/METHOD/DATASET/IMAGE.npz, key 'confusion'), so it is not comparable "
                  "with the paper's numbers.")


def accumulated_miou(run: RunResults, metric: str, method: str, dataset: str, rows: pd.DataFrame) -> Stat:
    """mIoU (percent) of the confusion matrix summed over the images (as the paper's and
    VainF's evaluation does), not the mean of per-image values. When some image's confusion
    matrix was not kept, the mean of per-image values, marked :data:`PER_IMAGE_MARK`."""
    ok = rows[rows["status"] == "ok"]
    failed = int((rows["status"] != "ok").sum())
    total = None
    for image in ok["image"]:
        details = run.details(metric, method, dataset, image)
        if details is None or CONFUSION_KEY not in details:
            return replace(mean_of_images(run, metric, method, dataset, rows), mark=PER_IMAGE_MARK)
        total = details[CONFUSION_KEY].astype(np.int64) + (0 if total is None else total)
    return Stat(None if total is None else 100.0 * mean_iou(total), len(ok), failed)


TABLE1 = PaperLayout(
    table="table1",
    title="Table 1: NIQE ↓, UNIQUE (UN.) ↑ and user study (U.S.) ↓ on DICM, LIME, MEF, VV and NPE",
    columns=average_columns(NO_REFERENCE_DATASETS, [("niqe", "NIQE", True), ("unique", "UN.", False),
                                                     ("user_study", "U.S.", True)]),
    notes=["Average: mean of the five per-dataset means (a measured Average needs all five).",
           "U.S.: mean user-study rank, 1 (best) to 5, imported with `llebench userstudy import`.", PAPER_NOTE],
)

TABLE2 = PaperLayout(
    table="table2",
    title="Table 2: PSNR ↑ and SSIM ↑ on SICE Part 2",
    columns=[ColumnSpec("SICE Part2", "PSNR", "sice_part2", "psnr", False),
             ColumnSpec("SICE Part2", "SSIM", "sice_part2", "ssim", False)],
    notes=[PAPER_NOTE],
)

TABLE3 = PaperLayout(
    table="table3",
    title="Table 3: ablation study, NIQE ↓ and UNIQUE (UN.) ↑",
    columns=average_columns(NO_REFERENCE_DATASETS, [("niqe", "NIQE", True), ("unique", "UN.", False)]),
    notes=["Rows are variants of SCL-LLE matched to the paper's by method label: wo_lcc, wo_lsc, wo_lfr, wo_neg, "
           "wo_over_neg, wo_under_neg (scl_lle is the full model, input the low-light input); "
           "configs/table3.toml lists them.",
           "Average: mean of the five per-dataset means.", PAPER_NOTE],
    needs_rows=ABLATIONS,
)

TABLE4 = PaperLayout(
    table="table4",
    title="Table 4: segmentation mIoU ↑ (%) on Cityscapes val after enhancement, inputs darkened as x^γ",
    columns=[ColumnSpec(title, f"γ={gamma}", f"{city}@{gamma}", "miou", False)
             for city, title in CITIES for gamma in GAMMAS],
    dataset_key=cityscapes_key,
    aggregate=accumulated_miou,
    tested=False,
    notes=["mIoU over the 19 Cityscapes classes from the confusion matrix summed over every image of the city "
           "(label 255 ignored); DeepLabV3+ MobileNetV2 on the enhanced image.", PAPER_NOTE],
    marks={PER_IMAGE_MARK: PER_IMAGE_NOTE},
)


class PaperTableReport(Report):
    """A page with one paper table, its notes and metric settings, figures and provenance."""

    layout: ClassVar[PaperLayout]

    def table(self, run: RunResults) -> Table:
        table = self.build(run)
        table.settings = metric_settings(run, {c.metric for c in self.layout.columns})
        return table

    def build(self, run: RunResults) -> Table:
        return self.layout.build(run)

    def figures(self, run: RunResults) -> list[FigureSection]:
        """No figures by default; :class:`WithFigures` layouts show the comparison grid."""
        return []

    def can_render(self, run: RunResults) -> bool:
        return self.layout.can_render(run)

    def render(self, run: RunResults) -> str:
        return render_page(f"{self.layout.title} — {run.path.name}", [(self.layout.title, self.table(run))],
                           run.manifest, figures=self.figures(run), exports=self.export_names(run))

    def exports(self, run: RunResults) -> dict[str, str]:
        return table_exports(self.table(run), self.layout.title)

    def export_names(self, run: RunResults) -> list[str]:
        return export_names(run, self.filename())


class Table1(WithFigures, PaperTableReport):
    name = "table1"
    description = "SCL-LLE Table 1: NIQE, UNIQUE, user study on DICM/LIME/MEF/VV/NPE with the published rows"
    layout = TABLE1


class Table2(WithFigures, PaperTableReport):
    name = "table2"
    description = "SCL-LLE Table 2: PSNR and SSIM on SICE Part 2, methods as columns, with the published row"
    layout = TABLE2

    def build(self, run: RunResults) -> Table:
        return methods_as_columns(self.layout, run)


class Table3(WithFigures, PaperTableReport):
    name = "table3"
    description = "SCL-LLE Table 3: ablation variants, NIQE and UNIQUE, with the published rows"
    layout = TABLE3


class Table4(PaperTableReport):
    """No figures: its inputs are darkened Cityscapes frames, and the point is the mIoU."""

    name = "table4"
    description = "SCL-LLE Table 4: Cityscapes mIoU per city and darkening gamma, with the published rows"
    layout = TABLE4
