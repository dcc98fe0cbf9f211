"""``cr``: AECR-Net's contrastive regularisation (Wu et al., CVPR 2021, Eq. 4).

    CR = sum_i w_i * D(G_i(positive), G_i(anchor)) / D(G_i(negative), G_i(anchor))

anchor = the network's output, positive = the reference (clear image), negative = the
network's input (the degraded image); G_i = frozen VGG-19 features, D = L1 distance
(mean over the batch's feature elements, as ``nn.L1Loss``). The config weight of the
term is the paper's beta (0.1). Choices, each checked against the paper and the authors'
code, are listed in this plugin's README.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from llebench.sdk import Context, FeatureNetLoss, LossInputs, RunConfigError
from llebench.sdk.nets import VGG19_IMAGENET_WEIGHTS

from llebench_contrastive.features import layer_list, vgg19

#: "the 1st, 3rd, 5th, 9th and 13th layers" of VGG-19 = conv1_1, conv2_1, conv3_1, conv4_1,
#: conv5_1; the authors take the features after their ReLUs (torchvision features[1, 6, 11, 20, 29])
PAPER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
PAPER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
#: added to the negative distance (the authors' value), so identical anchor and negative do not divide by 0
EPS = 1e-7


class ContrastiveRegularization(FeatureNetLoss):
    name = "cr"
    description = ("AECR-Net contrastive regularisation (CVPR 2021): VGG-19 L1 ratio pulling the output to the "
                   "reference and away from the input; negatives=false is CR*")
    needs_reference = True
    weights_files = (VGG19_IMAGENET_WEIGHTS,)

    def __init__(self, context: Context | None = None, layers: Sequence[str] = PAPER_LAYERS,
                 layer_weights: Sequence[float] = PAPER_WEIGHTS, negatives: bool = True, extra_negatives: int = 0,
                 normalize: bool = False, feature_nets: str = "pretrained", vgg_weights: str = "") -> None:
        super().__init__(context)
        self.layers = layer_list(layers)
        self.layer_weights = tuple(float(w) for w in layer_weights)
        if len(self.layer_weights) != len(self.layers):
            raise RunConfigError(f"cr: {len(self.layers)} layers but {len(self.layer_weights)} layer_weights")
        if not isinstance(negatives, bool):
            raise RunConfigError(f"cr: negatives must be true or false, got {negatives!r}")
        if not isinstance(extra_negatives, int) or extra_negatives < 0:
            raise RunConfigError(f"cr: extra_negatives must be an integer >= 0, got {extra_negatives!r}")
        if extra_negatives and not negatives:
            raise RunConfigError("cr: extra_negatives needs negatives = true")
        self.negatives, self.extra_negatives, self.normalize = negatives, extra_negatives, normalize
        self.feature_nets = feature_nets
        self.vgg = vgg19(feature_nets, normalize, self.layers, vgg_weights, self.device)
        #: ``(images, layers) -> features``; a test may put a fixed extractor here
        self.extractor = self.vgg

    def settings(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "layer_weights": list(self.layer_weights), "negatives": self.negatives,
                "extra_negatives": self.extra_negatives, "normalize": self.normalize,
                "feature_nets": self.feature_nets, "distance": "L1 (batch mean)", "eps": EPS}

    def __call__(self, inputs: LossInputs) -> torch.Tensor:
        if inputs.reference is None:
            raise RunConfigError("cr needs the reference image (paired data)")
        anchor = self.extractor(inputs.output, self.layers)
        with torch.no_grad():
            positive = self.extractor(inputs.reference, self.layers)
            negative = self.extractor(inputs.input, self.layers) if self.negatives else None
        shifts = self._batch_shifts(inputs.input.shape[0])
        total = inputs.output.new_zeros(())
        for index, weight in enumerate(self.layer_weights):
            a = anchor[index]
            d_positive = F.l1_loss(a, positive[index])
            if negative is None:  # CR*: the positive pull only
                total = total + weight * d_positive
                continue
            # the input itself, then other images' inputs of the batch (AECR-Net Table 4)
            d_negative = [F.l1_loss(a, negative[index].roll(shift, dims=0)) for shift in (0, *shifts)]
            total = total + weight * d_positive / (torch.stack(d_negative).mean() + EPS)
        return total

    def _batch_shifts(self, batch: int) -> list[int]:
        """Distinct batch offsets 1..B-1 (drawn from the global RNG, so resume replays them):
        offset s gives image i the input of image (i - s) mod B as an extra negative."""
        if not self.extra_negatives:
            return []
        if self.extra_negatives > batch - 1:
            raise RunConfigError(f"cr: extra_negatives = {self.extra_negatives} needs a batch of at least "
                                 f"{self.extra_negatives + 1} images per process (got {batch})")
        return [int(s) + 1 for s in torch.randperm(batch - 1)[: self.extra_negatives]]
