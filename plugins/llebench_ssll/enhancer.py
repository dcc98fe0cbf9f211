"""The ``ssll`` enhancer: a backbone trained by ``llebench train ssll`` (baseline or SSLL)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from llebench.sdk import Context, Enhancer, LLEBenchError, sha256sum

from llebench_ssll.backbones import build_backbone
from llebench_ssll.checkpoints import load_weights, method_settings


class SSLL(Enhancer):
    """Loads ``--weights CKPT``; the backbone and its options come from the checkpoint.

    A bare state_dict (no llebench metadata, e.g. the authors' released UNet) needs
    ``backbone`` / ``width`` given as options (``-o ssll.width=64``). ``teacher=true``
    evaluates the mean teacher kept in a training checkpoint (``checkpoints/iter_*.pt``)
    instead of the exported student.
    """

    name = "ssll"
    description = "SSLL (Ni et al. 2025) or its supervised baseline: a backbone trained by `llebench train ssll`"
    paper = "Semi-supervised low-light image enhancement: when mean teacher meets contrastive learning (Ni et al.)"
    year = 2025
    accepts_weights = True
    accepts_untrained = True

    def __init__(self, context: Context | None = None, weights: str | os.PathLike[str] | None = None,
                 backbone: str | None = None, width: int | None = None, teacher: bool = False,
                 allow_untrained: bool = False) -> None:
        super().__init__(context)
        if weights is None:
            raise LLEBenchError(
                "ssll has no published weights llebench can fetch: pass a checkpoint from "
                "`llebench train ssll` with --weights ssll=PATH (e.g. OUT/model.pt)"
            )
        self.weights_path = Path(weights).expanduser()
        if not self.weights_path.is_file():
            raise LLEBenchError(f"weights file {self.weights_path} does not exist")
        self.teacher = bool(teacher)
        state, meta = load_weights(self.weights_path, teacher=self.teacher)
        #: trained with random feature networks (a smoke test): every score row is marked
        self.untrained = bool(meta.get("untrained", False))
        if self.untrained and not allow_untrained:
            raise LLEBenchError(f"{self.weights_path} was trained with random feature networks; "
                                "pass --allow-untrained to evaluate it anyway")
        trained = method_settings(meta)
        self.backbone = backbone or trained.get("backbone", "unet")
        options = dict(trained.get("backbone_options", {}))
        if width is not None:
            options["width"] = int(width)
        self.backbone_options = options
        self.stage = trained.get("stage", "unknown")
        self.sup_loss = trained.get("sup_loss", "unknown")
        self.iteration = meta.get("iteration")
        self.net = build_backbone(self.backbone, options)
        try:
            self.net.load_state_dict(state)
        except RuntimeError as exc:
            raise LLEBenchError(f"{self.weights_path}: does not fit backbone {self.backbone!r} {options} ({exc})") from exc
        self.net.to(self.device).eval()
        self._sha = sha256sum(self.weights_path)

    def weights_used(self) -> dict[str, str]:
        return {self.weights_path.name: self._sha}

    @property
    def variant(self) -> str:
        """``teacher`` for the mean teacher of a training checkpoint (its rows must never be
        mistaken for the exported student's)."""
        return "teacher" if self.teacher else ""

    def settings(self) -> dict[str, Any]:
        settings = {"backbone": self.backbone, "backbone_options": self.backbone_options, "stage": self.stage,
                    "sup_loss": self.sup_loss, "iteration": self.iteration,
                    "network": "teacher (EMA)" if self.teacher else "exported"}
        if self.untrained:
            settings["untrained"] = True
        return settings

    @torch.inference_mode()
    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image.to(self.device)).clamp(0, 1)
