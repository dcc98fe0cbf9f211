"""``sice_synthetic``: held-out synthetic pairs for the SSLL CPU experiment (paired, PSNR/SSIM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from llebench.sdk import Dataset, DatasetUnavailable, ImageError, Sample

from llebench_ssll import synthetic


class SICESynthetic(Dataset):
    name = "sice_synthetic"
    kind = "paired"
    description = ("well-exposed SICE Part 1 frames (names >= 1500, held out from SSLL training) darkened "
                   "deterministically; the frame is the reference")
    layout = "SICE_part1/*.jpg (the flat Zero-DCE training set)"
    source = "https://github.com/csjcai/SICE (Part 1), as distributed with Zero-DCE"

    def _root(self) -> Path:
        if self.data_root is None:
            raise DatasetUnavailable(f"{self.name}: set $LLEBENCH_DATA (or --data-root) to a folder holding {self.layout}")
        return self.data_root / "SICE_part1"

    def settings(self) -> dict[str, Any]:
        return {"root": str(self._root()), "split": "test", "test_from": synthetic.TEST_FROM,
                "luma_range": synthetic.LUMA_RANGE, "max_clipped": synthetic.MAX_CLIPPED,
                "max_dark": synthetic.MAX_DARK, "darken": "llebench.sdk.darken, seed crc32(name)"}

    def ids(self) -> list[str]:
        return [p.name for p in synthetic.well_exposed_files(self._root(), "test")]

    def files(self, sample_id: str) -> list[Path]:
        return [self._root() / sample_id]

    def load(self, sample_id: str) -> Sample:
        path = self._root() / sample_id
        if sample_id not in self.ids():
            raise ImageError(f"{path}: not one of the {self.name} images")
        with Image.open(path) as img:
            reference = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        low = synthetic.synthetic_low(reference, sample_id)
        to = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]
        return Sample(id=sample_id, input=to(low), reference=to(reference), meta={"path": str(path)})
