"""The supervised loss L_sup, configurable as a sum of terms: ``"ssim+lpips"`` (the paper's),
``"ssim+l1"`` (for machines without the LPIPS files), or any '+'-joined subset of
``ssim`` (1 - SSIM), ``l1`` (mean absolute error), ``lpips`` (LPIPS v0.1, AlexNet).

LPIPS is pyiqa's implementation, built with :func:`llebench.sdk.pyiqa.routed_downloads`
so its two files (``LPIPS_v0.1_alex-df73285e.pth`` and torchvision's
``alexnet-owt-7be5be79.pth``, declared in :mod:`llebench_metrics.pyiqa_files`) are
resolved by :func:`llebench.weights.resolve` like every pretrained file: offline and
missing, one error names them, their URLs and the directory to put them in.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from llebench.sdk import RunConfigError, sha256sum

from llebench_ssll.losses import ssim_loss

TERMS = ("ssim", "l1", "lpips")


def parse_terms(spec: str) -> tuple[str, ...]:
    terms = tuple(t.strip() for t in spec.split("+") if t.strip())
    bad = [t for t in terms if t not in TERMS]
    if not terms or bad or len(set(terms)) != len(terms):
        raise RunConfigError(f"sup_loss {spec!r}: expected '+'-joined distinct terms from {', '.join(TERMS)}")
    return terms


def build_lpips() -> tuple[nn.Module, dict[str, Path]]:
    """pyiqa's LPIPS(AlexNet, v0.1), frozen, with its files resolved through llebench."""
    from llebench.sdk.pyiqa import routed_downloads

    with routed_downloads() as used:
        from pyiqa.archs.lpips_arch import LPIPS

        net = LPIPS(net="alex", version="0.1")
    net.eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net, dict(used)


class SupervisedLoss(nn.Module):
    """Sum of the configured terms between an output and its reference (batch means)."""

    def __init__(self, spec: str) -> None:
        super().__init__()
        self.terms = parse_terms(spec)
        self.files: dict[str, Path] = {}
        self.lpips: nn.Module | None = None
        if "lpips" in self.terms:
            self.lpips, self.files = build_lpips()

    def weights_used(self) -> dict[str, str]:
        return {name: sha256sum(path) for name, path in self.files.items()}

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        if "ssim" in self.terms:
            parts["ssim"] = ssim_loss(output, target)
        if "l1" in self.terms:
            parts["l1"] = (output - target).abs().mean()
        if "lpips" in self.terms:
            assert self.lpips is not None
            parts["lpips"] = self.lpips(output, target, normalize=True).mean()
        return sum(parts.values()), parts
