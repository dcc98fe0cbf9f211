"""SCL-LLE training data: Cityscapes inputs with labels, and unpaired contrastive samples.

Inputs: Cityscapes ``leftImg8bit`` images with their ``gtFine`` label ids mapped to the 19
train ids (255 = ignore), optionally resized / randomly cropped / flipped, then darkened
with a random gamma (``image ** gamma``). Contrastive samples: one positive (normal light)
and one negative (under- or over-exposed) drawn at random for every sample of every
iteration, unpaired with the input and with each other. Three layouts are understood:

* two folders ``positives/`` and ``negatives/`` (``negatives/under/`` + ``negatives/over/``,
  or a flat ``negatives/`` split at mean brightness 0.5);
* SICE Part1 scene folders ``<scene>/*`` with the normal image in ``Label/<scene>.*``:
  positive = the label image, negatives = the darkest and the brightest exposure;
* a flat folder of multi-exposure images (``SICE_part1`` as published for Zero-DCE):
  split by mean brightness into under (< t0), positives ([t1, t2]) and over (> t3).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from llebench.sdk import DatasetUnavailable, ImageError
from llebench.sdk import is_image_file, read_image
from llebench.sdk.nets import IGNORE_INDEX, label_ids_to_train_ids

CITYSCAPES_LAYOUT = ("<root>/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png and "
                     "<root>/gtFine/<split>/<city>/<name>_gtFine_labelIds.png")
CONTRAST_LAYOUT = ("<root>/positives/ + <root>/negatives/ (optionally negatives/under/ and negatives/over/), "
                   "or SICE Part1 scene folders <root>/<scene>/ with <root>/Label/<scene>.*, "
                   "or one flat folder of multi-exposure images (split by brightness)")
NEGATIVE_CHOICES = ("both", "under", "over", "none")


def _images_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and is_image_file(p))


def cityscapes_pairs(root: Path, split: str = "train") -> list[tuple[Path, Path]]:
    """(image, labelIds) file pairs of a Cityscapes split; a clear error if the layout is missing."""
    images_dir, labels_dir = root / "leftImg8bit" / split, root / "gtFine" / split
    if not images_dir.is_dir() or not labels_dir.is_dir():
        raise DatasetUnavailable(f"Cityscapes not found under {root}: expected {CITYSCAPES_LAYOUT}")
    pairs = []
    for image in sorted(images_dir.glob("*/*_leftImg8bit.png")):
        label = labels_dir / image.parent.name / image.name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")
        if not label.is_file():
            raise DatasetUnavailable(f"{image}: its label file {label} is missing")
        pairs.append((image, label))
    if not pairs:
        raise DatasetUnavailable(f"no *_leftImg8bit.png images in {images_dir}: expected {CITYSCAPES_LAYOUT}")
    return pairs


def read_train_ids(path: Path) -> torch.Tensor:
    """A ``*_labelIds.png`` as an HxW int64 tensor of train ids (255 = ignore)."""
    try:
        with Image.open(path) as img:
            ids = np.asarray(img.convert("L"))
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable label image ({exc})") from exc
    return torch.from_numpy(label_ids_to_train_ids(ids).astype(np.int64))


def mean_brightness(path: Path) -> float:
    """Mean of R, G, B in [0,1] on a <= 64-pixel thumbnail (JPEG draft mode makes it cheap)."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (64, 64))
            img = img.convert("RGB")
            img.thumbnail((64, 64))
            return float(np.asarray(img, dtype=np.float32).mean() / 255.0)
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from exc


@dataclass
class ContrastPools:
    """Positives and the two kinds of negatives, as file lists."""

    positives: list[Path]
    under: list[Path]
    over: list[Path]
    layout: str

    def negatives(self, which: str) -> list[Path]:
        """The negative pool of an ablation setting: both kinds, one kind, or none."""
        return {"both": self.under + self.over, "under": self.under, "over": self.over, "none": []}[which]

    def describe(self) -> dict[str, Any]:
        listing = "\n".join(str(p) for p in self.positives + self.under + self.over)
        return {"layout": self.layout, "positives": len(self.positives), "under": len(self.under),
                "over": len(self.over), "listing_sha256": hashlib.sha256(listing.encode()).hexdigest()}


def load_contrast_pools(root: Path, brightness_split: Sequence[float] = (0.25, 0.4, 0.6, 0.75)) -> ContrastPools:
    """Find positives and negatives under ``root`` in one of the layouts of the module docstring."""
    if not root.is_dir():
        raise DatasetUnavailable(f"contrastive samples: {root} is not a directory; expected {CONTRAST_LAYOUT}")
    if (root / "positives").is_dir():
        return _two_folders(root)
    if (root / "Label").is_dir():
        return _sice_scenes(root)
    return _brightness_split(root, brightness_split)


def _two_folders(root: Path) -> ContrastPools:
    negatives = root / "negatives"
    if not negatives.is_dir():
        raise DatasetUnavailable(f"{root}/positives exists but {negatives} does not; expected {CONTRAST_LAYOUT}")
    if (negatives / "under").is_dir() or (negatives / "over").is_dir():
        under = _images_in(negatives / "under") if (negatives / "under").is_dir() else []
        over = _images_in(negatives / "over") if (negatives / "over").is_dir() else []
        layout = "folders (negatives/under, negatives/over)"
    else:
        flat = _images_in(negatives)
        brightness = {p: mean_brightness(p) for p in flat}
        under = [p for p in flat if brightness[p] < 0.5]
        over = [p for p in flat if brightness[p] >= 0.5]
        layout = "folders (negatives split at mean brightness 0.5)"
    return _checked(ContrastPools(_images_in(root / "positives"), under, over, layout), root)


def _sice_scenes(root: Path) -> ContrastPools:
    labels = {p.stem: p for p in _images_in(root / "Label")}
    positives, under, over = [], [], []
    for scene in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "Label"):
        exposures = _images_in(scene)
        if scene.name not in labels or len(exposures) < 2:
            continue
        ordered = sorted(exposures, key=mean_brightness)
        positives.append(labels[scene.name])
        under.append(ordered[0])
        over.append(ordered[-1])
    layout = "SICE scenes (Label = positive; darkest, brightest = negatives)"
    return _checked(ContrastPools(positives, under, over, layout), root)


def _brightness_split(root: Path, thresholds: Sequence[float]) -> ContrastPools:
    t_under, t_low, t_high, t_over = (float(t) for t in thresholds)
    if not 0 <= t_under <= t_low <= t_high <= t_over <= 1:
        raise DatasetUnavailable(f"brightness_split must be 4 increasing values in [0,1], got {list(thresholds)}")
    files = _images_in(root)
    brightness = [mean_brightness(p) for p in tqdm(files, desc="contrastive samples: brightness", leave=False)]
    positives = [p for p, b in zip(files, brightness, strict=True) if t_low <= b <= t_high]
    under = [p for p, b in zip(files, brightness, strict=True) if b < t_under]
    over = [p for p, b in zip(files, brightness, strict=True) if b > t_over]
    layout = f"flat, split by mean brightness: under < {t_under}, positive in [{t_low}, {t_high}], over > {t_over}"
    return _checked(ContrastPools(positives, under, over, layout), root)


def _checked(pools: ContrastPools, root: Path) -> ContrastPools:
    if not pools.positives:
        raise DatasetUnavailable(f"contrastive samples: no positive (normal-light) images found under {root} "
                                 f"({pools.layout}); expected {CONTRAST_LAYOUT}")
    return pools


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _choice(items: list[Path], generator: torch.Generator) -> Path:
    return items[int(torch.randint(len(items), (), generator=generator))]


class SCLTrainSet(torch.utils.data.Dataset):
    """One item = {"low", "labels", "positive"[, "negative"]}; random draws come from ``generator``.

    ``resize`` S > 0 resizes the input to SxS (labels: nearest); ``crop`` C > 0 then takes a
    random CxC crop; ``hflip`` flips input and labels with probability 1/2;
    ``darken_gamma`` [lo, hi] raises the input to a power drawn uniformly from [lo, hi].
    Contrastive samples are resized to ``contrast_size`` squared.
    """

    def __init__(self, pairs: list[tuple[Path, Path]], pools: ContrastPools, negatives: str, *,
                 resize: int, crop: int, hflip: bool, darken_gamma: Sequence[float], contrast_size: int) -> None:
        if negatives not in NEGATIVE_CHOICES:
            raise ValueError(f"negatives must be one of {', '.join(NEGATIVE_CHOICES)}, got {negatives!r}")
        self.pairs = pairs
        self.pools = pools
        self.negative_kind = negatives
        self.negative_pool = pools.negatives(negatives)
        if negatives != "none" and not self.negative_pool:
            raise DatasetUnavailable(f"contrastive samples: no {negatives!r} negatives found ({pools.layout})")
        self.resize, self.crop, self.hflip = int(resize), int(crop), bool(hflip)
        self.gamma = (float(darken_gamma[0]), float(darken_gamma[1]))
        self.contrast_size = int(contrast_size)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.get(index, torch.Generator().manual_seed(index))

    def get(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        image_path, label_path = self.pairs[index]
        image = read_image(image_path)
        labels = read_train_ids(label_path)[None, None].float()
        if image.shape[-2:] != labels.shape[-2:]:
            raise ImageError(f"{label_path}: size {tuple(labels.shape[-2:])} differs from "
                             f"its image's {tuple(image.shape[-2:])}")
        if self.resize:
            image = _resize(image, self.resize)
            labels = F.interpolate(labels, size=(self.resize, self.resize), mode="nearest")
        if self.crop:
            height, width = image.shape[-2:]
            if height < self.crop or width < self.crop:
                raise ImageError(f"{image_path}: {width}x{height} is smaller than the {self.crop}-pixel crop")
            top = int(torch.randint(height - self.crop + 1, (), generator=generator))
            left = int(torch.randint(width - self.crop + 1, (), generator=generator))
            image = image[..., top:top + self.crop, left:left + self.crop]
            labels = labels[..., top:top + self.crop, left:left + self.crop]
        if self.hflip and float(torch.rand((), generator=generator)) < 0.5:
            image, labels = image.flip(-1), labels.flip(-1)
        image = image.clamp(0, 1).pow(_uniform(generator, *self.gamma))
        item = {
            "low": image[0].contiguous(),
            "labels": labels[0, 0].long().contiguous(),
            "positive": _resize(read_image(_choice(self.pools.positives, generator)), self.contrast_size)[0],
        }
        if self.negative_pool:
            item["negative"] = _resize(read_image(_choice(self.negative_pool, generator)), self.contrast_size)[0]
        return item

    def describe(self) -> dict[str, Any]:
        listing = "\n".join(str(p) for p, _ in self.pairs)
        return {"cityscapes_images": len(self.pairs), "listing_sha256": hashlib.sha256(listing.encode()).hexdigest(),
                "contrast": self.pools.describe(), "negatives": self.negative_kind, "resize": self.resize,
                "crop": self.crop, "hflip": self.hflip, "darken_gamma": list(self.gamma),
                "contrast_size": self.contrast_size, "ignore_index": IGNORE_INDEX}
