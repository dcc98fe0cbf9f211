"""SSLL's losses: the supervised term, masked consistency, and PICo.

All distances are *masked means*: for a mask M (Nx1xHxW, broadcast over channels),
``d(a, b) = sum(|a - b| * M) / sum(M broadcast to a's shape)`` per image, so a loss on a
region does not shrink when the region does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image mean |a - b| over the pixels where ``mask`` is 1 (all pixels if None); shape N."""
    diff = (a - b).abs()
    if mask is None:
        return diff.flatten(1).mean(dim=1)
    weight = mask.expand_as(diff)
    count = weight.flatten(1).sum(dim=1)
    if bool((count <= 0).any()):
        raise ValueError("masked_l1: an image has an empty mask")
    return (diff * weight).flatten(1).sum(dim=1) / count


def consistency_loss(student: torch.Tensor, teacher: torch.Tensor, unpaired_mask: torch.Tensor) -> torch.Tensor:
    """L_con: mean over the batch of the L1 between student and teacher on unpaired pixels only."""
    return masked_l1(student, teacher.detach(), unpaired_mask).mean()


def similarity(distance: torch.Tensor) -> torch.Tensor:
    """s = 1 / (d + 0.5) - 1: 1 for identical images, 0 at d = 0.5, -> -1 as d grows."""
    return 1.0 / (distance + 0.5) - 1.0


def pico_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, gamma: float, margin: float,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """Pixel Intermediate Contrastive loss: mean of softplus(gamma (s_n - s_p + m)).

    ``s_p`` / ``s_n`` are the similarities of the anchor to the positive / negative over
    the masked pixels. Positive and negative are targets (no gradient flows into them).
    The loss falls as the anchor moves towards the positive and away from the negative;
    the margin m sets where it saturates: with m < 0 (paired term) the anchor is only
    asked to be closer to the ground truth than the teacher is *minus |m|* of similarity —
    a relaxed ranking; with m > 0 (unpaired term) it must beat the negative by m.
    """
    s_p = similarity(masked_l1(anchor, positive.detach(), mask))
    s_n = similarity(masked_l1(anchor, negative.detach(), mask))
    return F.softplus(gamma * (s_n - s_p + margin)).mean()


def match_brightness(image: torch.Tensor, reference: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``image`` scaled per sample so its mean equals ``reference``'s (the unpaired PICo negative)."""
    scale = reference.flatten(1).mean(dim=1) / image.flatten(1).mean(dim=1).clamp_min(eps)
    return image * scale.view(-1, 1, 1, 1)


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03) -> torch.Tensor:
    """Per-image SSIM (data range 1), Gaussian window, per RGB channel, 'valid' filtering.

    The formulation of ``piq.ssim`` that the authors' ``ModifiedSSIMLoss`` uses (their
    inputs are 192 px crops, below piq's 256 px down-sampling threshold, so none here).
    """
    channels = x.shape[1]
    kernel = _gaussian_window(window, sigma, channels, x)
    c1, c2 = k1**2, k2**2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
    return (luminance * contrast_structure).flatten(1).mean(dim=1)


def ssim_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 - SSIM, batch mean (inputs clamped to [0, 1] like the authors')."""
    return 1.0 - ssim(x.clamp(0, 1), y.clamp(0, 1)).mean()
