"""Throw-away plugins for tests: registered with ``load_plugins(extra=...)``, never installed."""

from __future__ import annotations

import torch

from llebench.sdk import hookimpl
from llebench.sdk import Dataset, Enhancer, EnhanceRecord, Metric, Sample
from llebench.sdk import ImageError


class Brighten(Enhancer):
    name = "brighten"

    def __init__(self, context=None, factor: float = 2.0) -> None:
        super().__init__(context)
        self.factor = factor

    def settings(self):
        return {"factor": self.factor}

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        return (image * self.factor).clamp(0, 1)


class Faulty(Enhancer):
    """Raises on image 'b', returns NaN on 'c', the wrong shape on 'd'."""

    name = "faulty"

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        marker = round(float(image[0, 0, 0, 0]) * 255)
        if marker == 2:
            raise RuntimeError("boom on purpose")
        if marker == 3:
            return torch.full_like(image, float("nan"))
        if marker == 4:
            return image[:, :, :-1]
        return image


class Tiny(Dataset):
    """Five 8x8 images whose first pixel encodes their index; 'e' is unreadable."""

    name = "tiny"
    kind = "paired"

    def settings(self):
        return {"shape": (8, 8)}  # a tuple: stored as a JSON list, must still compare equal

    def ids(self) -> list[str]:
        return ["a", "b", "c", "d", "e"]

    def load(self, sample_id: str) -> Sample:
        index = "abcde".index(sample_id) + 1
        if sample_id == "e":
            raise ImageError("/nowhere/e.png: damaged or truncated image (test)")
        image = torch.full((1, 3, 8, 8), 0.2)
        image[0, 0, 0, 0] = index / 255
        return Sample(id=sample_id, input=image, reference=torch.full((1, 3, 8, 8), 0.4),
                      meta={"path": f"/nowhere/{sample_id}.png"})


class MeanBrightness(Metric):
    name = "mean_brightness"
    kind = "no-reference"
    lower_better = False

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        return float(output.mean())


class AbsError(Metric):
    name = "abs_error"
    kind = "full-reference"
    lower_better = True

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        return float((output - sample.reference).abs().mean())


class ThrowawayPlugin:
    @hookimpl
    def llebench_register_enhancers(self, register):
        register(Brighten)
        register(Faulty)

    @hookimpl
    def llebench_register_datasets(self, register):
        register(Tiny)

    @hookimpl
    def llebench_register_metrics(self, register):
        register(MeanBrightness)
        register(AbsError)
