"""SCL-LLE loss terms: the paper's equations and the official ``Myloss.py`` numerics.

Paper (Liang et al., AAAI 2022): L = L_c + L_sc + L_fp with
  L_c  (Eq. 2-5)  triplet on VGG Gram matrices (margin 0.3) + triplet on expectations (margin 0.04);
  L_sc (Eq. 6-7)  per-class brightness variance + segmentation cross-entropy;
  L_fp (Eq. 8-9)  feature MSE (L_fr) + colour constancy and 200 x TV of the curve maps (L_cc).
Official code: the ``official_*`` functions reproduce ``Myloss.py`` as ``train.py`` calls
it (checked against values computed with the authors' code); its colour and TV terms are
Zero-DCE's, shared from :mod:`llebench_dcenet.losses`.

Images are Nx3xHxW in [0,1]; ``labels`` are NxHxW Cityscapes train ids, 255 = ignore.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llebench.sdk.nets import IGNORE_INDEX

#: VGG-16 layers of the Gram term (Eq. 2) and of feature retention (Eq. 8)
GRAM_LAYERS = ("relu1_2", "relu2_2")
FEATURE_LAYER = "relu4_3"

#: loss weights and triplet margins of each mode (README: "paper / official code / llebench")
PAPER = {"gram_margin": 0.3, "mean_margin": 0.04, "tv": 200.0}
OFFICIAL = {"tv": 200.0, "color": 8.0, "grey_triplet": 10.0, "grey_margin": 0.3,
            "gram_triplet": 5.0, "gram_margin": 0.04}


def grey(images: torch.Tensor) -> torch.Tensor:
    """Brightness as the mean of R, G, B (Nx1xHxW), as in both the paper's code and Zero-DCE."""
    return images.mean(dim=1, keepdim=True)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of Eq. 2, normalised by C*H*W: NxCxHxW -> NxCxC."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat.bmm(flat.transpose(1, 2)) / (c * h * w)


# -- paper -----------------------------------------------------------------------------


def gram_distance(features_a: list[torch.Tensor], features_b: list[torch.Tensor]) -> torch.Tensor:
    """Per-sample d(G(a), G(b)): squared Frobenius distance of Grams, summed over layers (N)."""
    total = 0
    for fa, fb in zip(features_a, features_b, strict=True):
        total = total + (gram(fa) - gram(fb)).pow(2).sum(dim=(1, 2))
    return total


def expectation_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample d(E(a), E(b)): mean absolute difference of the channel expectations (N)."""
    return (a.mean(dim=(2, 3)) - b.mean(dim=(2, 3))).abs().mean(dim=1)


def triplet(d_positive: torch.Tensor, d_negative: torch.Tensor | None, margin: float) -> torch.Tensor:
    """Eq. 5 per anchor, averaged: max(d(H,P) - d(H,N) + margin, 0).

    Without negatives (ablation "w/o Neg. samples") only d(H,P) remains to be pulled down.
    """
    if d_negative is None:
        return d_positive.mean()
    return (d_positive - d_negative + margin).clamp_min(0).mean()


def semantic_brightness(images: torch.Tensor, labels: torch.Tensor, num_classes: int = 19) -> torch.Tensor:
    """First term of Eq. 7 with the class means of Eq. 6, per image.

    For every class present in an image, the squared deviation of each of its pixels'
    brightness from that class's mean brightness (over that class's pixels only); summed
    over classes and divided by the image's number of labelled pixels (Eq. 7's plain sum
    would grow with resolution), then averaged over the batch.
    """
    n = images.shape[0]
    brightness = grey(images).reshape(n, -1)
    flat = labels.reshape(n, -1)
    valid = flat != IGNORE_INDEX
    index = (torch.arange(n, device=flat.device).unsqueeze(1) * num_classes + flat.clamp(0, num_classes - 1))[valid]
    values = brightness[valid]
    sums = torch.zeros(n * num_classes, device=images.device, dtype=values.dtype).index_add(0, index, values)
    counts = torch.zeros_like(sums).index_add(0, index, torch.ones_like(values))
    means = sums / counts.clamp_min(1)
    squared = (values - means[index]).pow(2)
    per_image = torch.zeros(n, device=images.device, dtype=values.dtype).index_add(0, index // num_classes, squared)
    labelled = valid.sum(dim=1).clamp_min(1)
    return (per_image / labelled).mean()


def color_constancy(images: torch.Tensor) -> torch.Tensor:
    """First term of Eq. 9: sum over channel pairs of (J^p - J^q)^2, averaged over the batch."""
    r, g, b = images.mean(dim=(2, 3)).unbind(dim=1)
    return ((r - g).pow(2) + (r - b).pow(2) + (g - b).pow(2)).mean()


def curve_tv_l1(curves: torch.Tensor, iterations: int = 8) -> torch.Tensor:
    """Second term of Eq. 9 without lambda: (1/M) sum_m sum_p (|grad_x A| + |grad_y A|).

    Gradients are averaged over pixels and the batch; the channel sum and the 1/M make it
    3 x the mean over all 3M curve maps.
    """
    dx = (curves[:, :, :, 1:] - curves[:, :, :, :-1]).abs().mean()
    dy = (curves[:, :, 1:, :] - curves[:, :, :-1, :]).abs().mean()
    return (curves.shape[1] / iterations) * (dx + dy)


# -- the contrastive terms in either mode (the trainer and the ``scl_*`` losses share them) --


def gram_contrast(output_grams: list[torch.Tensor], positive_grams: list[torch.Tensor],
                  negative_grams: list[torch.Tensor] | None, official: bool,
                  margin: float | None = None) -> torch.Tensor:
    """The Gram triplet of L_c, unweighted: paper (per anchor, margin 0.3) or official
    (whole-batch sums, margin 0.04); ``margin`` overrides the mode's."""
    if official:
        distance, margin = official_gram_distance, OFFICIAL["gram_margin"] if margin is None else margin
    else:
        distance, margin = gram_distance, PAPER["gram_margin"] if margin is None else margin
    negative = distance(output_grams, negative_grams) if negative_grams is not None else None
    return triplet(distance(output_grams, positive_grams), negative, margin)


def brightness_contrast(output: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor | None,
                        official: bool, margin: float | None = None) -> torch.Tensor:
    """The brightness triplet of L_c, unweighted: paper (channel expectations, margin 0.04) or
    official (pixel-wise grey L1, margin 0.3); ``margin`` overrides the mode's."""
    if official:
        distance, margin = official_grey_l1, OFFICIAL["grey_margin"] if margin is None else margin
    else:
        distance, margin = expectation_distance, PAPER["mean_margin"] if margin is None else margin
    return triplet(distance(output, positive), distance(output, negative) if negative is not None else None, margin)


# -- official Myloss.py ----------------------------------------------------------------


def official_grey_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``L_con``: mean |grey(a) - grey(b)| over the whole batch (pixel-wise, so scene-dependent)."""
    return (grey(a) - grey(b)).abs().mean()


def official_gram_distance(features_a: list[torch.Tensor], features_b: list[torch.Tensor]) -> torch.Tensor:
    """``PerceptualLoss``: summed squared Gram differences over layers and the whole batch."""
    return gram_distance(features_a, features_b).sum()


def official_segexp(images: torch.Tensor, labels: torch.Tensor, classes: int = 35) -> torch.Tensor:
    """``L_segexp``: per class, variance around a batch mean that includes the other classes' zeros.

    Reproduces the official numerics, two deviations from Eq. 6-7 included:

    * the brightness map (Nx1xHxW) is masked with the label maps (NxHxW), which broadcasts
      to NxNxHxW: the brightness of *every* image is masked with the labels of *every* image
      of the batch (entry [i, j] = image i under the labels of image j);
    * for class i the masked map is 0 off the class; its mean over *all* entries is the
      "class mean"; entries equal to 0 (other classes, and truly black class pixels) are
      set to that mean; the mean squared deviation over all entries is summed over ids
      0..34. The class mean is a constant for the gradient (``torch.FloatTensor([d2])``
      detaches it in the official code).
    """
    x = grey(images)  # Nx1xHxW
    per_pair = labels.unsqueeze(0)  # 1xNxHxW, broadcast against x exactly as the official code does
    total = images.new_zeros(())
    for class_id in range(classes):
        kept = torch.where(per_pair == class_id, x, torch.zeros_like(x))
        mean = kept.mean().detach()
        kept = torch.where(kept == 0, mean, kept)
        total = total + (kept - mean).pow(2).mean()
    return total


def official_exposure_clamped(images: torch.Tensor, patch_size: int = 16, mean_val: float = 0.6) -> torch.Tensor:
    """``L_exp`` of SCL-LLE's ``Myloss.py`` (defined there, not called by ``train.py``).

    Patch means are split at 0.55 into clamp(0, 0.55) and clamp(0.55, 1); each part's mean
    squared distance to ``mean_val`` is added.
    """
    mean = F.avg_pool2d(grey(images), patch_size)
    low = (mean.clamp(0.0, 0.55) - mean_val).pow(2).mean()
    high = (mean.clamp(0.55, 1.0) - mean_val).pow(2).mean()
    return low + high
