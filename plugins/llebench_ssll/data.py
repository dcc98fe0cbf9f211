"""SSLL's training samples: aligned paired crops plus (stage 2) an unpaired crop in two views.

Each item is a dict of 3xPxP tensors: ``low`` and ``gt`` (a paired crop, same random
crop and flips on both), and for the semi-supervised stage ``student`` and ``teacher``:
two views of one crop of an unpaired low-light image. Item ``i`` uses pair ``i``; the
unpaired image is drawn with the engine's per-sample generator, so the sequence is
reproducible and identical on resume.

Views (our decision; the paper leaves it implicit and the authors' loader reads two
prepared files, ``low/student`` and ``low/teacher``, per unpaired image):
``"noise"`` (default) gives the teacher the crop as captured and the student the same
pixels plus zero-mean heteroscedastic noise, ``N(0, a x + b^2)`` with a = 0.004 and
b = 0.01 (shot + read noise of a dark capture), the classic Mean-Teacher input
perturbation: the student must agree with the teacher despite noise it never sees at
test time without it. ``"identical"`` feeds both the same pixels (consistency then only
distils the temporal ensemble).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from llebench.sdk import DatasetUnavailable, ImageError, list_images, match_pairs, read_image

from llebench_ssll.synthetic import synthetic_low, well_exposed_files

Views = Literal["noise", "identical"]
SHOT_NOISE = 0.004
READ_NOISE = 0.01


def image_paths(root: Path) -> list[Path]:
    """The images directly in ``root``, in natural order; a missing or empty folder is an error."""
    if not root.is_dir():
        raise DatasetUnavailable(f"{root} is not a directory")
    files = [root / name for name in list_images(root)]
    if not files:
        raise DatasetUnavailable(f"{root}: no image files")
    return files


def random_crop_flip(images: list[torch.Tensor], size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """The same random PxP crop, horizontal and vertical flip of every 3xHxW image in ``images``."""
    _, h, w = images[0].shape
    if h < size or w < size:
        raise ImageError(f"image of {h}x{w} is smaller than the crop size {size}")
    top = int(torch.randint(0, h - size + 1, (), generator=generator))
    left = int(torch.randint(0, w - size + 1, (), generator=generator))
    hflip, vflip = (bool(torch.randint(0, 2, (), generator=generator)) for _ in range(2))
    out = []
    for image in images:
        crop = image[:, top:top + size, left:left + size]
        if hflip:
            crop = crop.flip(-1)
        if vflip:
            crop = crop.flip(-2)
        out.append(crop.contiguous())
    return out


def student_view(image: torch.Tensor, views: Views, generator: torch.Generator) -> torch.Tensor:
    """The student's copy of an unpaired crop (see module docstring)."""
    if views == "identical":
        return image.clone()
    if views == "noise":
        std = torch.sqrt(SHOT_NOISE * image.clamp_min(0) + READ_NOISE**2)
        return (image + std * torch.randn(image.shape, generator=generator)).clamp(0, 1)
    raise ValueError(f"unknown unpaired_views {views!r} (noise, identical)")


class PairSource:
    """Paired (low, reference) images: real pairs from two folders or synthetic ones."""

    def __init__(self, low_dir: Path | None, high_dir: Path | None, synthetic_dir: Path | None,
                 synthetic_split: str) -> None:
        self.synthetic = synthetic_dir is not None
        self._low_cache: dict[int, np.ndarray] = {}
        if self.synthetic:
            if low_dir is not None or high_dir is not None:
                raise DatasetUnavailable("set either paired_synthetic or paired_low/paired_high, not both")
            self.files = list(well_exposed_files(synthetic_dir, synthetic_split))
            self.high = self.files
        else:
            if low_dir is None or high_dir is None:
                raise DatasetUnavailable("SSLL needs paired data: [data] paired_low and paired_high, or paired_synthetic")
            pairs = match_pairs(low_dir, high_dir)
            self.files, self.high = [low for low, _ in pairs], [high for _, high in pairs]

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.synthetic:
            path = self.files[index]
            with Image.open(path) as img:
                reference = np.array(img.convert("RGB"), dtype=np.uint8)
            if index not in self._low_cache:  # darkening costs 10x the decoding: keep it (8 bits)
                low = synthetic_low(reference.astype(np.float32) / 255.0, path.name)
                self._low_cache[index] = np.round(low * 255.0).astype(np.uint8)
            to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255.0
            return to(self._low_cache[index]), to(reference)
        low, high = read_image(self.files[index])[0], read_image(self.high[index])[0]
        if low.shape != high.shape:
            raise ImageError(f"{self.files[index]} and {self.high[index]} differ in size")
        return low, high


class SSLLTrainSet(torch.utils.data.Dataset):
    """Map-style set with the engine's ``get(index, generator)`` protocol (see module docstring)."""

    def __init__(self, pairs: PairSource, unpaired: list[Path], crop_size: int, views: Views) -> None:
        self.pairs = pairs
        self.unpaired = unpaired
        self.crop_size = int(crop_size)
        self.views = views

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.get(index, torch.Generator().manual_seed(index))

    def get(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        low, gt = self.pairs.load(index)
        low, gt = random_crop_flip([low, gt], self.crop_size, generator)
        item = {"low": low, "gt": gt}
        if self.unpaired:
            pick = int(torch.randint(0, len(self.unpaired), (), generator=generator))
            (crop,) = random_crop_flip([read_image(self.unpaired[pick])[0]], self.crop_size, generator)
            item["teacher"] = crop
            item["student"] = student_view(crop, self.views, generator)
        return item

    def describe(self) -> dict[str, Any]:
        listing = "\n".join(str(p) for p in [*self.pairs.files, *self.unpaired])
        return {"pairs": len(self.pairs), "synthetic_pairs": self.pairs.synthetic, "unpaired": len(self.unpaired),
                "crop_size": self.crop_size, "unpaired_views": self.views,
                "listing_sha256": hashlib.sha256(listing.encode()).hexdigest()}
