"""Datasets that are a folder of images under the data root (DICM and friends)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from llebench.api import Dataset, Sample
from llebench.errors import DatasetUnavailable
from llebench.images import is_image_file, read_image


def natural_key(name: str) -> list[Any]:
    """Sort '2.jpg' before '10.jpg'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(directory: Path) -> list[str]:
    """Image file names directly in ``directory``, naturally sorted."""
    return sorted((p.name for p in directory.iterdir() if p.is_file() and is_image_file(p)), key=natural_key)


class ImageFolderDataset(Dataset):
    """A no-reference dataset: every image in ``<data root>/<subdir>``."""

    subdir: ClassVar[str]

    def root(self) -> Path:
        if self.data_root is None:
            raise DatasetUnavailable(
                f"dataset {self.name!r} needs a data root: set $LLEBENCH_DATA or pass --data-root "
                f"(expected layout: {self.layout}; source: {self.source})"
            )
        root = self.data_root / self.subdir
        if not root.is_dir():
            raise DatasetUnavailable(
                f"dataset {self.name!r} not found: {root} is not a directory "
                f"(expected layout: {self.layout}; source: {self.source})"
            )
        return root

    def settings(self) -> dict[str, Any]:
        return {"root": str(self.data_root / self.subdir) if self.data_root else None}

    def ids(self) -> list[str]:
        root = self.root()
        names = list_images(root)
        if not names:
            raise DatasetUnavailable(f"dataset {self.name!r}: no images in {root} (expected layout: {self.layout})")
        return names

    def load(self, sample_id: str) -> Sample:
        path = self.root() / sample_id
        return Sample(id=sample_id, input=read_image(path), meta={"path": str(path)})


class DICM(ImageFolderDataset):
    name = "dicm"
    subdir = "DICM"
    description = "DICM (Lee et al. 2013): real low-light photos, no reference (Table 1)"
    layout = "$LLEBENCH_DATA/DICM/*.jpg (64 images as published with Zero-DCE; the paper used 69)"
    source = "https://github.com/Li-Chongyi/Zero-DCE (test_data/DICM)"
