"""Datasets read from a directory under the data root, and the no-reference test sets.

DICM, LIME, MEF, NPE and VV (the five sets of the SCL-LLE paper's Table 1 and Zero-DCE's
Table 1) are each a flat folder of low-light photos with no reference. Image counts are
those of the sets as Zero-DCE used them; ``llebench data list`` shows what is on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from llebench.sdk import Dataset, DatasetUnavailable, RunConfigError, Sample, list_images, read_image

NO_DATA_ROOT = "needs a data root: set $LLEBENCH_DATA or pass --data-root"


def choose(option: str, value: str, allowed: tuple[str, ...]) -> str:
    """A dataset option restricted to a few values; anything else is a configuration error."""
    if value not in allowed:
        raise RunConfigError(f"dataset option {option}={value!r}: expected one of {', '.join(allowed)}")
    return value


class DiskDataset(Dataset):
    """A dataset whose files live in ``<data root>/<subdir>``.

    Every "where is it" error goes through :meth:`unavailable`, so each one names the
    dataset, the problem, the expected layout and where to download the data.
    """

    subdir: ClassVar[str]

    def location(self) -> Path | None:
        return None if self.data_root is None else self.data_root / self.subdir

    def unavailable(self, problem: str) -> DatasetUnavailable:
        return DatasetUnavailable(
            f"dataset {self.label!r}: {problem} (expected layout: {self.layout}; source: {self.source})"
        )

    def missing_location(self) -> str:
        """Why :meth:`location` is None (overridden by datasets that take a path argument)."""
        return NO_DATA_ROOT

    def root(self) -> Path:
        location = self.location()
        if location is None:
            raise self.unavailable(self.missing_location())
        if not location.is_dir():
            raise self.unavailable(f"not found: {location} is not a directory")
        return location

    def directory(self, *parts: str) -> Path:
        """A required sub-directory of :meth:`root`."""
        path = self.root().joinpath(*parts)
        if not path.is_dir():
            raise self.unavailable(f"{path} is missing")
        return path

    def images_in(self, directory: Path) -> list[str]:
        """The images of a required directory; an empty one is a wrong layout."""
        names = list_images(directory)
        if not names:
            raise self.unavailable(f"no images in {directory}")
        return names

    #: how many images the dataset has as published (None: not known)
    published_images: ClassVar[int | None] = None

    def published_size(self) -> int | None:
        return self.published_images

    def settings(self) -> dict[str, Any]:
        location = self.location()
        return {"root": str(location) if location is not None else None}


class ImageFolderDataset(DiskDataset):
    """A no-reference dataset: every image in ``<data root>/<subdir>``."""

    def ids(self) -> list[str]:
        return self.images_in(self.root())

    def load(self, sample_id: str) -> Sample:
        path = self.root() / sample_id
        return Sample(id=sample_id, input=read_image(path), meta={"path": str(path)})

    def files(self, sample_id: str) -> list[Path]:
        return [self.root() / sample_id]


ZERO_DCE_TEST_DATA = "https://github.com/Li-Chongyi/Zero-DCE/tree/master/Zero-DCE_code/data/test_data"


class DICM(ImageFolderDataset):
    name = "dicm"
    subdir = "DICM"
    description = "DICM (Lee et al. 2013): real low-light photos, no reference (Table 1)"
    published_images = 64
    layout = "$LLEBENCH_DATA/DICM/*.jpg (64 images as published with Zero-DCE; the paper used 69)"
    source = f"{ZERO_DCE_TEST_DATA}/DICM"


class LIME(ImageFolderDataset):
    name = "lime"
    subdir = "LIME"
    description = "LIME (Guo et al. 2017): low-light photos, no reference (Table 1)"
    published_images = 10
    layout = "$LLEBENCH_DATA/LIME/*.bmp (10 images, 1.bmp ... 10.bmp)"
    source = f"{ZERO_DCE_TEST_DATA}/LIME (original: https://sites.google.com/view/xjguo/lime)"


class MEF(ImageFolderDataset):
    name = "mef"
    subdir = "MEF"
    description = "MEF (Ma et al. 2015): the under-exposed images of the MEF database, no reference (Table 1)"
    published_images = 17
    layout = "$LLEBENCH_DATA/MEF/*.png|*.jpg (17 images)"
    source = "Ma, Zeng and Wang, TIP 2015 (https://ece.uwaterloo.ca/~k29ma/); 17-image set as in Zero-DCE Table 1"


class NPE(ImageFolderDataset):
    name = "npe"
    subdir = "NPE"
    description = "NPE (Wang et al. 2013): non-uniformly lit photos, no reference (Table 1)"
    published_images = 84
    layout = ("$LLEBENCH_DATA/NPE/*.jpg|*.bmp (84 images as in Zero-DCE; "
              "some copies have 85, or only the 8 of NPE's paper)")
    source = "Wang, Zheng, Hu and Li, TIP 2013 (NPE data set); 84-image set as in Zero-DCE Table 1"


class VV(ImageFolderDataset):
    name = "vv"
    subdir = "VV"
    description = "VV (Vonikakis): strongly back-lit photos, no reference (Table 1)"
    published_images = 24
    layout = "$LLEBENCH_DATA/VV/*.jpg (24 images)"
    source = "https://sites.google.com/site/vonikakis/datasets (24 images as in Zero-DCE Table 1)"
