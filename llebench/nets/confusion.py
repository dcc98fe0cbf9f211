"""Confusion matrices and mIoU, computed like VainF's ``StreamSegMetrics`` (and so the paper).

Rows are ground-truth classes, columns predicted classes. Pixels whose label is outside
``0..num_classes-1`` (255 = ignore) are left out. A dataset's mIoU comes from the matrix
*summed over all images*, which is not the mean of per-image mIoUs.
"""

from __future__ import annotations

import numpy as np
import torch

#: the key under which the ``miou`` metric keeps each image's matrix (``RUN/details/...npz``)
CONFUSION_KEY = "confusion"


def confusion_matrix(labels: np.ndarray | torch.Tensor, prediction: np.ndarray | torch.Tensor,
                     num_classes: int) -> np.ndarray:
    """``num_classes x num_classes`` int64 counts; ``[t, p]`` = pixels of class t predicted as p."""
    truth = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.int64).ravel()
    pred = np.asarray(prediction.cpu() if isinstance(prediction, torch.Tensor) else prediction).astype(np.int64).ravel()
    if truth.shape != pred.shape:
        raise ValueError(f"labels have {truth.size} pixels but the prediction has {pred.size}")
    valid = (truth >= 0) & (truth < num_classes)
    if valid.any() and (pred[valid].min() < 0 or pred[valid].max() >= num_classes):
        raise ValueError(f"predicted classes must lie in 0..{num_classes - 1}")
    counts = np.bincount(num_classes * truth[valid] + pred[valid], minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """Intersection over union per class; NaN for a class absent from labels and prediction."""
    confusion = np.asarray(confusion, dtype=np.float64)
    intersection = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return intersection / union


def mean_iou(confusion: np.ndarray) -> float:
    """Mean IoU over the classes that occur (in labels or prediction); NaN if none does."""
    iou = iou_per_class(confusion)
    present = iou[~np.isnan(iou)]
    return float(present.mean()) if present.size else float("nan")
