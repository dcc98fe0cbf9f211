"""SCL-LLE's contrastive term L_c as ``[[losses]]`` any trainer can add.

* ``scl_gram``: the Gram-matrix triplet on frozen VGG-16 ``relu1_2``/``relu2_2``
  (Eq. 2-5: pull the output's texture statistics to the positives', push from the negatives');
* ``scl_brightness``: the brightness triplet (paper: channel expectations; official: grey L1).

Positives and negatives are the trainer's ``LossInputs.positives`` / ``negatives`` (SCL-LLE's
SICE over/under-exposed images; a paired trainer may give its references as positives by
setting ``positives = "reference"``). Values are those of SCL-LLE's own trainer, computed by
the same functions (:mod:`llebench_dcenet.scl_losses`), unweighted: to reproduce the
official weighting use ``weight = 5`` (Gram) and ``weight = 10`` (brightness) with
``compat = "official"``.
"""

from __future__ import annotations

from typing import Any

import torch

from llebench.sdk import Context, FeatureNetLoss, Loss, LossInputs, RunConfigError
from llebench.sdk.nets import VGG16_IMAGENET_WEIGHTS, VGGFeatures

from llebench_dcenet import scl_losses as losses

COMPATS = ("paper", "official")
POSITIVES = ("positives", "reference")


class SCLTerm(Loss):
    """Options both terms share: mode, margin, where the positives come from, negatives on/off."""

    def __init__(self, context: Context | None = None, compat: str = "paper", margin: float | None = None,
                 positives: str = "positives", negatives: bool = True) -> None:
        super().__init__(context)
        if compat not in COMPATS:
            raise RunConfigError(f"{self.name}: compat must be one of {', '.join(COMPATS)}, got {compat!r}")
        if positives not in POSITIVES:
            raise RunConfigError(f"{self.name}: positives must be one of {', '.join(POSITIVES)}, got {positives!r}")
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0):
            raise RunConfigError(f"{self.name}: margin must be a number >= 0, got {margin!r}")
        if not isinstance(negatives, bool):
            raise RunConfigError(f"{self.name}: negatives must be true or false, got {negatives!r}")
        self.official, self.compat = compat == "official", compat
        self.margin = None if margin is None else float(margin)
        self.positives, self.negatives = positives, negatives
        self.needs_reference = positives == "reference"  # type: ignore[misc]  # per instance

    def settings(self) -> dict[str, Any]:
        return {"compat": self.compat, "margin": self.margin, "positives": self.positives, "negatives": self.negatives}

    def images(self, inputs: LossInputs) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(positives, negatives or None) of this step, or a clear error naming what is missing."""
        positive = inputs.reference if self.positives == "reference" else inputs.positives
        if positive is None:
            raise RunConfigError(f"{self.name}: the trainer gave no {self.positives} in this step "
                                 "(set positives = \"reference\" on paired data)")
        if not self.negatives:
            return positive, None
        if inputs.negatives is None:
            raise RunConfigError(f"{self.name}: the trainer gave no negatives in this step (set negatives = false "
                                 "for the positives-only variant)")
        return positive, inputs.negatives


class SCLGram(SCLTerm, FeatureNetLoss):
    name = "scl_gram"
    description = ("SCL-LLE (AAAI 2022) contrastive Gram triplet on VGG-16 relu1_2/relu2_2: output vs "
                   "positives/negatives (compat paper|official)")
    weights_files = (VGG16_IMAGENET_WEIGHTS,)

    def __init__(self, context: Context | None = None, compat: str = "paper", margin: float | None = None,
                 positives: str = "positives", negatives: bool = True, feature_nets: str = "pretrained",
                 vgg_weights: str = "", seed: int = 0) -> None:
        super().__init__(context, compat, margin, positives, negatives)
        self.feature_nets = feature_nets
        # the official code feeds raw [0,1] images to VGG; the paper's VGG expects ImageNet normalisation
        self.vgg = VGGFeatures.for_training(feature_nets, 16, not self.official, losses.GRAM_LAYERS[-1],
                                            vgg_weights or None, seed).to(self.device)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "layers": list(losses.GRAM_LAYERS), "feature_nets": self.feature_nets}

    def __call__(self, inputs: LossInputs) -> torch.Tensor:
        positive, negative = self.images(inputs)
        output = self.vgg(inputs.output, losses.GRAM_LAYERS)
        with torch.no_grad():
            positive_grams = self.vgg(positive, losses.GRAM_LAYERS)
            negative_grams = self.vgg(negative, losses.GRAM_LAYERS) if negative is not None else None
        return losses.gram_contrast(output, positive_grams, negative_grams, self.official, self.margin)


class SCLBrightness(SCLTerm):
    name = "scl_brightness"
    description = ("SCL-LLE (AAAI 2022) contrastive brightness triplet: channel expectations (paper) or grey "
                   "L1 (official) of output vs positives/negatives")

    def __call__(self, inputs: LossInputs) -> torch.Tensor:
        positive, negative = self.images(inputs)
        if self.official and inputs.output.shape[-2:] != positive.shape[-2:]:
            raise RunConfigError(f"scl_brightness with compat = \"official\" compares pixel by pixel: output "
                                 f"{tuple(inputs.output.shape[-2:])} and positives {tuple(positive.shape[-2:])} "
                                 "must have the same size")
        return losses.brightness_contrast(inputs.output, positive, negative, self.official, self.margin)
