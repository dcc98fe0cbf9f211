"""The "GT mean" adjustment some LLE papers apply before full-reference scoring.

KinD (``evaluate_LOLdataset.py``) and LLFlow (``test.py``) scale the enhanced image so
that its mean grey level equals the ground truth's, then clip to [0, 1] and score: the
score then ignores the overall brightness the method chose. Grey is OpenCV's
``COLOR_BGR2GRAY`` on their BGR arrays, i.e. 0.299 R + 0.587 G + 0.114 B. As in LLFlow,
the adjusted image is scored as floats (not re-quantised to 8 bits).
"""

from __future__ import annotations

import torch

from llebench.sdk import LLEBenchError

GREY_WEIGHTS = (0.299, 0.587, 0.114)


def grey_mean(image: torch.Tensor) -> torch.Tensor:
    """Mean grey level of each image in an Nx3xHxW batch (shape N)."""
    weights = torch.tensor(GREY_WEIGHTS, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image * weights).sum(dim=1).mean(dim=(-2, -1))


def scale_to_reference_mean(output: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``clip(output * grey_mean(reference) / grey_mean(output), 0, 1)``."""
    output_mean = grey_mean(output)
    if bool((output_mean == 0).any()):
        raise LLEBenchError("gt_mean: the output is entirely black, its brightness cannot be scaled")
    ratio = grey_mean(reference) / output_mean
    return (output * ratio.view(-1, 1, 1, 1)).clamp(0, 1)
