"""Synthetic low-light pairs from well-exposed photos (the CPU experiment's paired set).

SICE Part 1 is a set of multi-exposure sequences, most frames badly exposed. A frame is
*well exposed* when its mean luma is in (0.35, 0.6), under 2% of its pixels are clipped
(max channel > 0.98) and under 5% are nearly black (luma < 0.05), judged on a 1/8-scale
JPEG draft decode so selecting among 2,002 files takes a couple of seconds. Frames are
split by their numeric name: ``test`` holds names >= 1500 (36 frames) (the last sequences), ``train``
the rest, so no sequence straddles the split except at the boundary.

The low-light copy is made by :func:`llebench.sdk.darken` (as the ``sample`` dataset's) (gamma, exposure,
Poisson-Gaussian noise) seeded by crc32 of the file name: fixed pairs on every machine.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from llebench.sdk import DatasetUnavailable, darken, is_image_file

Split = Literal["train", "test", "all"]
LUMA_RANGE = (0.35, 0.6)
MAX_CLIPPED = 0.02
MAX_DARK = 0.05
TEST_FROM = 1500


def _number(path: Path) -> int:
    match = re.search(r"\d+", path.stem)
    return int(match.group()) if match else -1


def exposure_stats(path: Path) -> tuple[float, float, float]:
    """(mean luma, clipped fraction, dark fraction) of a small draft decode."""
    with Image.open(path) as img:
        img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return float(luma.mean()), float((rgb.max(axis=-1) > 0.98).mean()), float((luma < 0.05).mean())


def is_well_exposed(path: Path) -> bool:
    mean, clipped, dark = exposure_stats(path)
    return LUMA_RANGE[0] < mean < LUMA_RANGE[1] and clipped < MAX_CLIPPED and dark < MAX_DARK


@lru_cache(maxsize=8)
def well_exposed_files(root: Path, split: Split = "all") -> tuple[Path, ...]:
    """Well-exposed images directly in ``root``, in numeric order, restricted to ``split``."""
    if not root.is_dir():
        raise DatasetUnavailable(f"{root} is not a directory (expected well-exposed source photos, e.g. SICE_part1/*.jpg)")
    files = sorted((p for p in root.iterdir() if is_image_file(p)), key=lambda p: (_number(p), p.name))
    if split == "train":
        files = [p for p in files if _number(p) < TEST_FROM]
    elif split == "test":
        files = [p for p in files if _number(p) >= TEST_FROM]
    chosen = tuple(p for p in files if is_well_exposed(p))
    if not chosen:
        raise DatasetUnavailable(f"{root}: no well-exposed images in split {split!r}")
    return chosen


def synthetic_low(reference: np.ndarray, name: str) -> np.ndarray:
    """The deterministic low-light copy (float HxWx3 in [0,1]) of a reference, quantised to 8 bits."""
    low = darken(reference.astype(np.float64), zlib.crc32(name.encode()))
    return np.round(low * 255.0) / 255.0
