"""``cityscapes_val``: the Cityscapes validation cities, darkened with x**gamma (Table 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from llebench.sdk import Context, Dataset, DatasetUnavailable, ImageError, RunConfigError, Sample, quantize, read_image
from llebench.sdk.nets import label_ids_to_train_ids

VAL_CITIES = ("frankfurt", "lindau", "munster")
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"


def parse_arg(arg: str | None) -> tuple[tuple[str, ...], float]:
    """``None`` | ``CITY`` | ``CITY@GAMMA`` | ``@GAMMA`` -> (cities, gamma)."""
    if not arg:
        return VAL_CITIES, 1.0
    city, _, gamma_text = arg.partition("@")
    cities = VAL_CITIES if city in ("", "all") else (city.lower(),)
    unknown = [c for c in cities if c not in VAL_CITIES]
    if unknown:
        raise RunConfigError(f"cityscapes_val:{arg}: unknown city {unknown[0]!r}; the val cities are "
                             f"{', '.join(VAL_CITIES)} (write e.g. cityscapes_val:frankfurt@6)")
    try:
        gamma = float(gamma_text) if gamma_text else 1.0
    except ValueError:
        raise RunConfigError(f"cityscapes_val:{arg}: gamma {gamma_text!r} is not a number") from None
    if not gamma > 0:
        raise RunConfigError(f"cityscapes_val:{arg}: gamma must be positive")
    return cities, gamma


def read_label_ids(path: Path) -> np.ndarray:
    """A ``*_gtFine_labelIds.png`` as a uint8 HxW array of Cityscapes label ids."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P", "I", "I;16"):
                raise ImageError(f"{path}: a label map must be single-channel, got mode {img.mode}")
            array = np.asarray(img)
    except FileNotFoundError:
        raise ImageError(f"{path}: label file not found (every image needs its *{LABEL_SUFFIX})") from None
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"{path}: not a readable label map ({exc})") from exc
    if array.min() < 0 or array.max() > 255:
        raise ImageError(f"{path}: label ids must lie in 0..255")
    return array.astype(np.uint8)


class CityscapesVal(Dataset):
    """Cityscapes val images darkened as ``x**gamma`` with their 19-class train-id labels.

    The paper (Table 4) darkens the normal-light val images with a positive gamma to
    simulate low light, then enhances and segments them. The darkened image is quantised
    to 8 bits, as an image file of it would be.
    """

    name = "cityscapes_val"
    kind = "segmentation"
    description = "Cityscapes val (frankfurt, lindau, munster) darkened as x**gamma; 19 train-id labels (Table 4)"
    layout = ("$LLEBENCH_DATA/cityscapes/leftImg8bit/val/CITY/*_leftImg8bit.png and "
              "$LLEBENCH_DATA/cityscapes/gtFine/val/CITY/*_gtFine_labelIds.png; "
              "name it cityscapes_val:CITY@GAMMA (e.g. cityscapes_val:lindau@6)")
    source = "https://www.cityscapes-dataset.com/downloads/ (leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip)"

    takes_arg = True

    def __init__(self, context: Context | None = None, arg: str | None = None) -> None:
        super().__init__(context, arg)
        self.cities, self.gamma = parse_arg(arg)

    def location(self) -> Path | None:
        return None if self.data_root is None else self.data_root / "cityscapes"

    def settings(self) -> dict[str, Any]:
        location = self.location()
        return {
            "root": str(location) if location is not None else None,
            "split": "val",
            "cities": list(self.cities),
            "gamma": self.gamma,
            "darkening": "x**gamma on the [0,1] image, quantised to 8 bits",
            "labels": "gtFine labelIds -> 19 train ids (cityscapesScripts), 255 ignored",
        }

    def _root(self) -> Path:
        root = self.location()
        if root is None:
            raise DatasetUnavailable(f"dataset {self.name!r} needs a data root: set $LLEBENCH_DATA or pass "
                                     f"--data-root (expected layout: {self.layout}; source: {self.source})")
        return root

    def ids(self) -> list[str]:
        root = self._root()
        ids = []
        for city in self.cities:
            folder = root / "leftImg8bit" / "val" / city
            if not folder.is_dir():
                raise DatasetUnavailable(f"dataset {self.name!r}: {folder} is not a directory "
                                         f"(expected layout: {self.layout}; source: {self.source})")
            names = sorted(p.name for p in folder.iterdir() if p.name.endswith(IMAGE_SUFFIX))
            if not names:
                raise DatasetUnavailable(f"dataset {self.name!r}: no *{IMAGE_SUFFIX} in {folder}")
            ids += [f"{city}/{name}" for name in names]
        return ids

    def files(self, sample_id: str) -> list[Path]:
        root, (city, _, name) = self._root(), sample_id.partition("/")
        return [root / "leftImg8bit" / "val" / city / name,
                root / "gtFine" / "val" / city / (name.removesuffix(IMAGE_SUFFIX) + LABEL_SUFFIX)]

    def load(self, sample_id: str) -> Sample:
        root = self._root()
        city, _, name = sample_id.partition("/")
        if city not in self.cities or not name.endswith(IMAGE_SUFFIX) or "/" in name:
            raise ImageError(f"{sample_id}: not an image id of {self.label}")
        image_path = root / "leftImg8bit" / "val" / city / name
        label_path = root / "gtFine" / "val" / city / (name.removesuffix(IMAGE_SUFFIX) + LABEL_SUFFIX)
        image = read_image(image_path)
        labels = torch.from_numpy(label_ids_to_train_ids(read_label_ids(label_path)).astype(np.int64))[None]
        if tuple(labels.shape[-2:]) != tuple(image.shape[-2:]):
            raise ImageError(f"{label_path}: labels are {tuple(labels.shape[-2:])} but the image is "
                             f"{tuple(image.shape[-2:])}")
        darkened = image if self.gamma == 1.0 else quantize(image ** self.gamma)
        return Sample(id=sample_id, input=darkened, labels=labels,
                      meta={"path": str(image_path), "labels_path": str(label_path), "gamma": self.gamma})
