"""Visual comparisons embedded in the pages: a grid like the paper's Fig. 3 (input and each
method's output, with a zoomed crop) and the outputs' RGB histograms like its Fig. 5.

Outputs are the cached PNGs in ``RUN/images/``; each thumbnail links to its full-size file
(relative link: keep the page in the run directory). The images shown are two per dataset
spread over its ids, or those chosen with ``llebench report RUN --figure-images ID,...``
(every dataset that has one of them; a method without that output gets a tile saying
so). The ``input`` method caches nothing, so the input is read again through its dataset
plugin, with ``$LLEBENCH_DATA`` as the data root, and used only if the dataset's settings
equal those in the manifest (same files); otherwise its tile says why it is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote
from typing import Any, Sequence

import numpy as np
from markupsafe import Markup
from PIL import Image

from llebench.sdk import Context, Report, RunResults, describe_error, to_uint8_array
from llebench.sdk.report import crop, data_uri, detail_box, histogram_svg, resize_to_width, with_box

from llebench_reports.runinfo import entries, entry_name

IMAGES_PER_DATASET = 2
MAX_DATASETS = 6
THUMB_WIDTH = 240


@dataclass
class Tile:
    label: str
    thumb: str = ""  # data: URI
    zoom: str = ""  # data: URI
    hist: Markup = Markup("")
    link: str = ""  # relative to the run directory
    missing: str = ""


@dataclass
class FigureRow:
    image: str
    tiles: list[Tile] = field(default_factory=list)


@dataclass
class FigureSection:
    dataset: str
    rows: list[FigureRow] = field(default_factory=list)


class WithFigures(Report):
    """A report with the comparison grid; its ``figure_images`` option (image ids,
    ``llebench report --figure-images``) chooses the images instead of two per dataset."""

    has_figures = True

    def __init__(self, context: Context | None = None, figure_images: Sequence[str] | None = None) -> None:
        super().__init__(context)
        self.figure_images = list(figure_images) if figure_images else None

    def figures(self, run: RunResults) -> list[FigureSection]:
        return figure_sections(run, self.context, self.figure_images, self.filename())


def figure_sections(run: RunResults, context: Context, chosen: Sequence[str] | None = None,
                    page_name: str = "report.html") -> list[FigureSection]:
    """One section per dataset with cached outputs: of the ``chosen`` image ids those in the
    dataset, else two spread over its ids (then at most :data:`MAX_DATASETS` datasets). Links
    to the outputs are relative to the page (``run.page``, else ``page_name`` in the run)."""
    methods = entries(run, "methods")
    inputs = InputReader(run, context)
    datasets = list(entries(run, "datasets"))
    sections = []
    for dataset in datasets if chosen else datasets[:MAX_DATASETS]:
        cached = [m for m in methods if run.has_outputs(m, dataset)]
        if not cached:
            continue
        if chosen:
            present = set(run.scores.loc[run.scores["dataset"] == dataset, "image"])
            images = [image for image in chosen if image in present]
        else:
            images = spread_images(run, dataset, cached)
        if not images:
            continue
        section = FigureSection(dataset)
        for image in images:
            section.rows.append(figure_row(run, dataset, image, methods, cached, inputs, page_name))
        sections.append(section)
    return sections


def spread_images(run: RunResults, dataset: str, methods: list[str]) -> list[str]:
    """Images every caching method has an output for, spread evenly over the sorted ids."""
    ids = sorted(run.scores.loc[run.scores["dataset"] == dataset, "image"].unique())
    ready = [i for i in ids if all(run.output_image(m, dataset, i) is not None for m in methods)]
    if len(ready) <= IMAGES_PER_DATASET:
        return ready
    picks = np.linspace(0, len(ready) - 1, IMAGES_PER_DATASET).round().astype(int)
    return [ready[i] for i in picks]


def figure_row(run: RunResults, dataset: str, image: str, methods: dict[str, dict], cached: list[str],
               inputs: InputReader, page_name: str = "report.html") -> FigureRow:
    """The input and each method's output of one image as tiles. Each picture is turned into
    its thumbnail, zoomed crop and histogram as soon as it is read, and dropped: memory holds
    one full-resolution picture at a time, however many methods the row has."""
    row = FigureRow(image)
    box = None  # the zoom box: chosen on the input (else on the first output that decodes)

    def add(label: str, array: np.ndarray | None, link: str = "", missing: str = "") -> None:
        nonlocal box
        if array is None:
            row.tiles.append(Tile(label, missing=missing or "not available"))
            return
        box = box if box is not None else detail_box(array)
        thumb = resize_to_width(array, THUMB_WIDTH)
        scale = thumb.shape[1] / array.shape[1]
        row.tiles.append(Tile(label=label, thumb=data_uri(with_box(thumb, box, scale)),
                              zoom=data_uri(resize_to_width(crop(array, box), THUMB_WIDTH)),
                              hist=Markup(histogram_svg(array)), link=link))

    source, reason = inputs.read(dataset, image)
    add("input", source, missing=reason)
    del source
    for method in methods:
        if method not in cached:
            continue
        path = run.output_image(method, dataset, image)
        if path is None:  # a chosen image this method failed on (or has not reached yet)
            add(method, None, missing="no cached output for this image (failed, or not computed)")
            continue
        try:
            with Image.open(path) as img:  # our own 8-bit RGB PNG
                array = np.asarray(img.convert("RGB"))
        except (OSError, ValueError, SyntaxError) as exc:  # damaged since it was written: say so, go on
            add(method, None, missing=f"cached output unreadable ({describe_error(exc)})")
            continue
        add(method, array, link_to(run.link(path, page_name)))
        del array
    return row


def link_to(relative: Path) -> str:
    """A relative URL of a file: every byte of its name percent-encoded as needed (``#``, ``%``,
    ``?``, a newline, bytes that are not UTF-8), so the link opens exactly that file."""
    return quote(relative.as_posix().encode("utf-8", "surrogateescape"))


class InputReader:
    """Reads low-light inputs again through their dataset plugins (see the module doc)."""

    def __init__(self, run: RunResults, context: Context) -> None:
        self.run = run
        self.context = context
        self._datasets: dict[str, Any] = {}  # label -> Dataset, or the reason it is unavailable

    def _dataset(self, label: str) -> Any:
        if label not in self._datasets:
            self._datasets[label] = self._rebuild(label)
        return self._datasets[label]

    def _rebuild(self, label: str) -> Any:
        entry = self.run.manifest.get("datasets", {}).get(label)
        if entry is None or "error" in entry:
            return "input not shown: the dataset is not described in manifest.json"
        name = entry_name(entry, label)
        text = label if label.startswith(f"{name}:") else name
        try:
            dataset = self.context.build("datasets", text)
            if _plain(dataset.settings()) != _plain(entry.get("settings", {})):
                return "input not shown: $LLEBENCH_DATA does not hold the data this run used"
        except Exception as exc:  # the figure is optional: say why, never fail the report
            return f"input not shown: {describe_error(exc)}"
        return dataset

    def read(self, label: str, image: str) -> tuple[np.ndarray | None, str]:
        dataset = self._dataset(label)
        if isinstance(dataset, str):
            return None, dataset
        try:
            return to_uint8_array(dataset.load(image).input), ""
        except Exception as exc:
            return None, f"input not shown: {describe_error(exc)}"


def _plain(settings: Any) -> Any:
    """Settings as the manifest stores them (JSON: tuples become lists, paths strings)."""
    return json.loads(json.dumps(settings, sort_keys=True, default=str))
