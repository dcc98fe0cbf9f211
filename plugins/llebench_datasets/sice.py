"""``sice_part2``: the Part2 subset of SICE (Cai et al. 2018), the paired test of Table 2.

Protocol (Zero-DCE, Sec. 4.2, followed by the SCL-LLE paper): each of the 229 scenes is a
multi-exposure sequence ordered from darkest to brightest with one reference image in
``Label/``. Only the under-exposed images are inputs — "the first three (resp. four)
low-light images if there are seven (resp. nine) images" — and every image is resized to
1200x900, giving 767 pairs. llebench takes the first ``n // 2`` images of an ``n``-image
sequence (the same rule for 7 and 9, and defined for any other length) and resizes input
and reference with Lanczos filtering on the 8-bit pixels; Zero-DCE did not publish its
resizing code, so the filter is our choice and is recorded in ``settings()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image

from llebench.sdk import Context, Sample
from llebench.sdk import RunConfigError
from llebench.sdk import to_uint8_array

from llebench_datasets.folders import choose
from llebench.sdk import list_images, natural_key
from llebench_datasets.paired import Pair, PairedDataset

LABEL_DIR = "Label"
ZERO_DCE_SIZE = "1200x900"


def parse_size(text: object) -> tuple[int, int] | None:
    """``"WxH"`` -> (W, H); ``"none"`` -> None (images kept at their stored size)."""
    if text == "none":
        return None
    width, sep, height = text.partition("x") if isinstance(text, str) else ("", "", "")
    if not (sep and width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise RunConfigError(f"dataset option resize={text!r}: expected WIDTHxHEIGHT (e.g. {ZERO_DCE_SIZE}) or 'none'")
    return int(width), int(height)


def resize_lanczos(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a 1x3xHxW [0,1] tensor of 8-bit pixels to ``size`` = (W, H) with PIL's Lanczos."""
    if (image.shape[-1], image.shape[-2]) == size:
        return image
    resized = Image.fromarray(to_uint8_array(image)).resize(size, Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0).contiguous()


class SICEPart2(PairedDataset):
    name = "sice_part2"
    description = "SICE Part2 (Cai et al. 2018): under-exposed inputs of 229 scenes with their references (Table 2)"
    subdir = "SICE_part2"
    layout = ("$LLEBENCH_DATA/SICE_part2/{1..229}/*.JPG (one folder per scene, exposures darkest first: "
              "1.JPG, 2.JPG, ...) and SICE_part2/Label/{1..229}.JPG (the reference of each scene); "
              "the 'Dataset_Part2' folder of the SICE release renamed; ids are SCENE/FILE; "
              "767 inputs with the default options")
    source = "https://github.com/csjcai/SICE (Dataset_Part2.rar)"

    def __init__(self, context: Context | None = None, resize: str = ZERO_DCE_SIZE, exposures: str = "under") -> None:
        super().__init__(context)
        self.resize = resize
        self.size = parse_size(resize)
        self.exposures = choose("exposures", exposures, ("under", "all"))

    def published_size(self) -> int | None:
        return 767 if self.exposures == "under" else None  # Zero-DCE's 767 pairs

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "resize": self.resize,
                "resize_filter": "PIL Lanczos on 8-bit pixels" if self.size else None,
                "exposures": "first n // 2 of each n-image sequence" if self.exposures == "under" else "all"}

    def scenes(self) -> list[Path]:
        root = self.root()
        self.directory(LABEL_DIR)
        folders = (p for p in root.iterdir() if p.is_dir() and p.name != LABEL_DIR)
        scenes = sorted(folders, key=lambda p: natural_key(p.name))
        if not scenes:
            raise self.unavailable(f"no scene folders in {root}")
        return scenes

    def find_pairs(self) -> dict[str, Pair]:
        scenes = self.scenes()
        label_dir = self.root() / LABEL_DIR
        labels = self.references(label_dir)
        pairs: dict[str, Pair] = {}
        for scene in scenes:
            names = list_images(scene)
            if self.exposures == "under":
                names = names[: len(names) // 2]
            reference = labels.get(scene.name)
            missing = "" if reference is not None else f"no image named {scene.name}.* in {label_dir}"
            for name in names:
                pairs[f"{scene.name}/{name}"] = Pair(scene / name, reference, missing)
        if not pairs:
            raise self.unavailable(f"no images in the scene folders of {self.root()}")
        return pairs

    def load(self, sample_id: str) -> Sample:
        sample = super().load(sample_id)
        if self.size is not None:
            sample.input = resize_lanczos(sample.input, self.size)
            if sample.reference is not None:
                sample.reference = resize_lanczos(sample.reference, self.size)
        return sample

    def check(self) -> Iterator[str]:
        """References whose scene folder is absent."""
        scenes = {scene.name for scene in self.scenes()}
        for key, path in self.references(self.root() / LABEL_DIR).items():
            if key not in scenes:
                yield f"{path}: reference without a scene folder {key}/"
