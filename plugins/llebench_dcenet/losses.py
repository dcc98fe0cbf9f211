"""Zero-DCE's non-reference losses (Guo et al., CVPR 2020), as in the official ``Myloss.py``.

Shared by every DCE-Net trainer (Zero-DCE; SCL-LLE reuses the colour and smoothness
terms). Each function returns the batch-averaged scalar the official training script
uses (``torch.mean`` of the official module's output); parity with the official code is
tested against golden values computed by it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# left, right, up, down neighbour differences (centre minus neighbour), as in L_spa
_NEIGHBOUR_KERNELS = torch.tensor([
    [[0, 0, 0], [-1, 1, 0], [0, 0, 0]],
    [[0, 0, 0], [0, 1, -1], [0, 0, 0]],
    [[0, -1, 0], [0, 1, 0], [0, 0, 0]],
    [[0, 0, 0], [0, 1, 0], [0, -1, 0]],
], dtype=torch.float32).unsqueeze(1)


def spatial_consistency_loss(enhanced: torch.Tensor, original: torch.Tensor, region: int = 4) -> torch.Tensor:
    """L_spa: keep the differences between each 4x4 region and its 4 neighbours.

    Channel means, ``region`` x ``region`` average pooling, neighbour differences with zero
    padding (so border regions are compared with 0, as the official code does), squared
    difference of the two images' differences summed over the 4 neighbours, then averaged.
    """
    enhanced_pool = F.avg_pool2d(enhanced.mean(1, keepdim=True), region)
    original_pool = F.avg_pool2d(original.mean(1, keepdim=True), region)
    kernels = _NEIGHBOUR_KERNELS.to(device=enhanced.device, dtype=enhanced_pool.dtype)
    diff = F.conv2d(original_pool, kernels, padding=1) - F.conv2d(enhanced_pool, kernels, padding=1)
    return diff.pow(2).sum(1).mean()


def exposure_loss(enhanced: torch.Tensor, patch: int = 16, level: float = 0.6) -> torch.Tensor:
    """L_exp: squared distance of each ``patch`` x ``patch`` mean intensity from ``level`` (E)."""
    means = F.avg_pool2d(enhanced.mean(1, keepdim=True), patch)
    return (means - level).pow(2).mean()


def color_constancy_loss(enhanced: torch.Tensor) -> torch.Tensor:
    """L_col (grey-world): sqrt of the summed squares of the squared channel-mean differences.

    As in the official code: ``sqrt(Drg^2 + Drb^2 + Dgb^2)`` with ``Dxy = (mean_x - mean_y)^2``
    per image, averaged over the batch (the paper's Eq. 4 writes the plain sum of ``Dxy``).
    """
    r, g, b = enhanced.mean((2, 3)).unbind(1)
    d_rg, d_rb, d_gb = (r - g).pow(2), (r - b).pow(2), (b - g).pow(2)
    return (d_rg.pow(2) + d_rb.pow(2) + d_gb.pow(2)).pow(0.5).mean()


def illumination_smoothness_loss(curves: torch.Tensor) -> torch.Tensor:
    """L_tvA on the curve maps A: ``2 (h_tv / count_h + w_tv / count_w) / batch`` (official L_TV)."""
    batch, _, height, width = curves.shape
    h_tv = (curves[:, :, 1:, :] - curves[:, :, :-1, :]).pow(2).sum()
    w_tv = (curves[:, :, :, 1:] - curves[:, :, :, :-1]).pow(2).sum()
    return 2 * (h_tv / ((height - 1) * width) + w_tv / (height * (width - 1))) / batch
