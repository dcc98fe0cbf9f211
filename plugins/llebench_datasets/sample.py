"""``sample``: a paired dataset that needs no download.

Photos that ship inside scikit-image are darkened deterministically, the way synthetic
low-light pairs are usually made: a gamma curve and an exposure scale, then sensor-like
noise (Poisson shot noise plus Gaussian read noise), quantised to 8 bits. The original
photo is the reference. Each image's parameters come from a generator seeded by its name,
so every machine produces the same pixels.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import torch
from skimage import data as skdata

from llebench.sdk import Dataset, ImageError, Sample, darken, darken_settings, quantize

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    return quantize(torch.from_numpy(array).float().permute(2, 0, 1).unsqueeze(0))


class SampleDataset(Dataset):
    name = "sample"
    kind = "paired"
    default = True
    description = "scikit-image photos darkened deterministically (gamma, exposure, Poisson-Gaussian noise)"
    layout = "built in (scikit-image's bundled photos); nothing to download"
    source = "scikit-image"

    def settings(self) -> dict[str, Any]:
        return {"photos": list(PHOTOS), **darken_settings(), "seed": "crc32(photo name)"}

    def ids(self) -> list[str]:
        return [f"{name}.png" for name in PHOTOS]

    def load(self, sample_id: str) -> Sample:
        name = sample_id.removesuffix(".png")
        if name not in PHOTOS:
            raise ImageError(f"sample dataset has no image {sample_id!r}")
        reference = getattr(skdata, name)().astype(np.float64) / 255.0
        low = darken(reference, zlib.crc32(name.encode()))
        return Sample(id=sample_id, input=_to_tensor(low), reference=_to_tensor(reference),
                      meta={"path": f"scikit-image:{name}"})
