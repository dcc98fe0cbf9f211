"""``miou``: segment the enhanced image with the Cityscapes DeepLabV3+ and score it."""

from __future__ import annotations

import os
from typing import Any

import torch

from llebench.sdk import Context, EnhanceRecord, LLEBenchError, Metric, MetricValue, Sample
from llebench.sdk.nets import (
    CONFUSION_KEY, DEEPLAB_CITYSCAPES_WEIGHTS, IGNORE_INDEX, NUM_CLASSES, Segmenter, confusion_matrix, mean_iou,
)


class MeanIoU(Metric):
    """Semantic segmentation quality of an enhanced image (SCL-LLE Table 4).

    Each image's confusion matrix is kept beside its score (``MetricValue``), because the
    paper's mIoU is computed from the matrix summed over a whole city; the ``table4``
    report does that sum. The per-image score is that image's own mIoU.
    """

    name = "miou"
    kind = "task"
    lower_better = False
    description = "mIoU (%) of DeepLabV3+ MobileNetV2 (Cityscapes, VainF) on the enhanced image"
    weights_files = (DEEPLAB_CITYSCAPES_WEIGHTS,)

    def __init__(self, context: Context | None = None, weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__(context)
        self.segmenter = Segmenter.pretrained(weights, device=self.device)

    def settings(self) -> dict[str, Any]:
        return {
            "network": "DeepLabV3+ MobileNetV2, output stride 16 (VainF/DeepLabV3Plus-Pytorch layout)",
            "weights": [f"{name}@{sha}" for name, sha in self.segmenter.weights_used().items()],
            "classes": NUM_CLASSES,
            "ignore_index": IGNORE_INDEX,
            "input": "the 8-bit enhanced image at full resolution, ImageNet-normalised",
            "per_image_value": "mIoU (%) of the image's own confusion matrix (classes present in labels or prediction)",
            "dataset_value": "mIoU (%) of the confusion matrices summed over the images "
                             f"(details npz key {CONFUSION_KEY!r})",
        }

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> MetricValue:
        if sample.labels is None:
            raise LLEBenchError("miou needs a label map")
        if tuple(sample.labels.shape[-2:]) != tuple(output.shape[-2:]):
            raise LLEBenchError(f"miou: label size {tuple(sample.labels.shape[-2:])} differs from output size "
                                f"{tuple(output.shape[-2:])}")
        with torch.inference_mode():
            prediction = self.segmenter.predict(output.to(self.device))
        confusion = confusion_matrix(sample.labels, prediction, NUM_CLASSES)
        if confusion.sum() == 0:
            raise LLEBenchError("miou: the label map has no labelled pixel (all 255)")
        return MetricValue(100.0 * mean_iou(confusion), {CONFUSION_KEY: confusion})
