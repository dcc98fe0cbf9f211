"""SCL-LLE training (Liang et al., AAAI 2022): DCE-Net with contrastive, semantic and feature losses.

``compat = "paper"`` (default) implements the paper's equations; ``compat = "official"``
reproduces the official ``train.py``. The frozen VGG-16 and DeepLabV3+ live beside the
model (not inside it), so checkpoints hold only the DCE-Net. See TRAINING_SCL_LLE.md for the
choices made where the paper is silent and for every difference from the official code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from llebench.sdk import LossInputs, RunConfigError, StepOutput, Trainer
from llebench.sdk.nets import (
    DEEPLAB_CITYSCAPES_WEIGHTS, IGNORE_INDEX, NUM_CLASSES, VGG16_IMAGENET_WEIGHTS, DeepLabV3PlusMobileNet, Segmenter,
    VGGFeatures,
)

from llebench_dcenet import scl_losses as losses
from llebench_dcenet.dcenet import DCENet
from llebench_dcenet.losses import color_constancy_loss, illumination_smoothness_loss
from llebench_dcenet.scl_data import NEGATIVE_CHOICES, SCLTrainSet, cityscapes_pairs, load_contrast_pools
from llebench_dcenet.scl_losses import FEATURE_LAYER, GRAM_LAYERS, OFFICIAL, PAPER
from llebench_dcenet.zero_dce_trainer import init_dcenet


@dataclass
class BatchFeatures:
    """VGG-16 features of one batch: Gram layers of output/positive/negative, relu4_3 of output/input."""

    output_grams: list[torch.Tensor]
    positive_grams: list[torch.Tensor]
    negative_grams: list[torch.Tensor] | None
    output_retained: torch.Tensor | None
    low_retained: torch.Tensor | None


class SCLLLETrainer(Trainer):
    name = "scl_lle"
    description = "SCL-LLE: DCE-Net with contrastive (SICE), semantic (Cityscapes + DeepLabV3+) and VGG losses"
    enhancer = "scl_lle"
    #: pretrained files the frozen feature networks need (listed by ``llebench weights list``)
    weights_files = (VGG16_IMAGENET_WEIGHTS, DEEPLAB_CITYSCAPES_WEIGHTS)
    default_data = {
        "cityscapes": "cityscapes",     # Cityscapes root (leftImg8bit/, gtFine/); relative = under the data root
        "split": "train",
        "contrast": "SICE_part1",       # positives/negatives: two folders, SICE scenes, or a flat folder
        "brightness_split": [0.25, 0.4, 0.6, 0.75],  # flat folder: under < t0, positive [t1, t2], over > t3
        "resize": 384,                  # paper: images resized to 384x384 (0 = keep)
        "crop": 0,                      # random square crop after resizing (official: 384 from full size)
        "hflip": True,
        "darken_gamma": [1.0, 3.0],     # input ** gamma, gamma ~ U[lo, hi] ([1, 1] = no darkening)
        "contrast_size": 384,           # positives/negatives resized to this square size
    }
    default_method = {
        "compat": "paper",              # paper or official
        "feature_nets": "pretrained",   # pretrained, or random (smoke tests only: checkpoints marked untrained)
        "vgg_weights": "",              # explicit VGG-16 file (default: vgg16-397923af.pth via llebench.weights)
        "deeplab_weights": "",          # explicit VainF DeepLabV3+ MobileNetV2 Cityscapes checkpoint
        "l_cc": True,                   # ablations (Table 3): colour constancy + curve smoothness
        "l_sc": True,                   # semantic brightness consistency + segmentation cross-entropy
        "l_fr": True,                   # feature retention
        "negatives": "both",            # both, under, over, none
    }

    def __init__(self, config, context) -> None:
        super().__init__(config, context)
        o = self.options
        if o["compat"] not in ("paper", "official"):
            raise RunConfigError(f"method.compat must be 'paper' or 'official', got {o['compat']!r}")
        if o["feature_nets"] not in ("pretrained", "random"):
            raise RunConfigError(f"method.feature_nets must be 'pretrained' or 'random', got {o['feature_nets']!r}")
        if o["negatives"] not in NEGATIVE_CHOICES:
            raise RunConfigError(f"method.negatives must be one of {', '.join(NEGATIVE_CHOICES)}, "
                                 f"got {o['negatives']!r}")
        self.official = o["compat"] == "official"
        self.vgg, self.segmenter = self._feature_nets()

    # -- networks ------------------------------------------------------------------------

    def _feature_nets(self) -> tuple[VGGFeatures, Segmenter | None]:
        """Frozen VGG-16 (always) and DeepLabV3+ (when L_sc is on), on the training device."""
        normalize = not self.official  # the official code feeds raw [0,1] images to VGG
        need_segmenter = bool(self.options["l_sc"])
        if self.options["feature_nets"] == "random":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.config.train["seed"]))
                vgg = VGGFeatures(16, normalize)
                segmenter = Segmenter(DeepLabV3PlusMobileNet(NUM_CLASSES, 16)) if need_segmenter else None
        else:
            vgg = VGGFeatures.pretrained(16, normalize, weights=self.options["vgg_weights"] or None)
            segmenter = Segmenter.pretrained(self.options["deeplab_weights"] or None) if need_segmenter else None
        # in the layout of the model's outputs: mixed NCHW/NHWC convolutions reorder on every call
        layout = torch.channels_last if self.context.channels_last else torch.contiguous_format
        vgg = vgg.to(self.context.device, memory_format=layout)
        if segmenter is not None:
            segmenter = segmenter.to(self.context.device, memory_format=layout)
        return vgg, segmenter

    @property
    def untrained(self) -> bool:
        return self.options["feature_nets"] == "random"

    def weights_used(self) -> dict[str, str]:
        used = self.vgg.weights_used()
        if self.segmenter is not None:
            used.update(self.segmenter.weights_used())
        return used

    def build_model(self) -> nn.Module:
        net = DCENet()
        init_dcenet(net)
        return net

    # -- data ----------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        value = str(self.data[key])
        if not value:
            raise RunConfigError(f"[data] {key} is required")
        path = Path(value).expanduser()
        if path.is_absolute():
            return path
        if self.context.data_root is None:
            raise RunConfigError(f"[data] {key} = {value!r} is relative: set $LLEBENCH_DATA or --data-root, "
                                 "or give an absolute path")
        return self.context.data_root / path

    def train_dataset(self) -> SCLTrainSet:
        d = self.data
        return SCLTrainSet(
            cityscapes_pairs(self._path("cityscapes"), str(d["split"])),
            load_contrast_pools(self._path("contrast"), d["brightness_split"]),
            self.options["negatives"],
            resize=int(d["resize"]), crop=int(d["crop"]), hflip=bool(d["hflip"]),
            darken_gamma=d["darken_gamma"], contrast_size=int(d["contrast_size"]),
        )

    # -- loss ----------------------------------------------------------------------------

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        enhanced, curves = model(batch["low"])
        enhanced, curves = enhanced.float(), curves.float()  # losses in float32 under bf16/fp16 autocast
        terms = (self._official_terms if self.official else self._paper_terms)(batch, enhanced, curves)
        # unpaired: [[losses]] terms get the SICE positives/negatives, never a reference
        extra = LossInputs(batch["low"], enhanced, None, batch["positive"], batch.get("negative"))
        return StepOutput(sum(terms.values()), terms, loss_inputs=extra)

    def _features(self, batch: dict[str, torch.Tensor], enhanced: torch.Tensor) -> BatchFeatures:
        """One VGG pass per image set; only the output's features carry gradients."""
        with_fr = bool(self.options["l_fr"])
        output = self.vgg(enhanced, GRAM_LAYERS + ((FEATURE_LAYER,) if with_fr else ()))
        with torch.no_grad():
            positive = self.vgg(batch["positive"], GRAM_LAYERS)
            negative = self.vgg(batch["negative"], GRAM_LAYERS) if "negative" in batch else None
            low = self.vgg(batch["low"], (FEATURE_LAYER,))[0] if with_fr else None
        return BatchFeatures(output[:2], positive, negative, output[2] if with_fr else None, low)

    def _segmentation_ce(self, enhanced: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.segmenter.logits(enhanced), labels, ignore_index=IGNORE_INDEX)

    def _paper_terms(self, batch, enhanced, curves) -> dict[str, torch.Tensor]:
        """L = L_c + L_sc + L_fr + L_cc (each term already weighted)."""
        o, terms = self.options, {}
        f = self._features(batch, enhanced)
        terms["contrast_gram"] = losses.gram_contrast(f.output_grams, f.positive_grams, f.negative_grams, False)
        terms["contrast_mean"] = losses.brightness_contrast(enhanced, batch["positive"], batch.get("negative"), False)
        if o["l_sc"]:
            terms["semantic_brightness"] = losses.semantic_brightness(enhanced, batch["labels"], NUM_CLASSES)
            terms["segmentation_ce"] = self._segmentation_ce(enhanced, batch["labels"])
        if o["l_fr"]:
            terms["feature_retention"] = F.mse_loss(f.output_retained, f.low_retained)
        if o["l_cc"]:
            terms["color"] = losses.color_constancy(enhanced)
            terms["tv"] = PAPER["tv"] * losses.curve_tv_l1(curves)
        return terms

    def _official_terms(self, batch, enhanced, curves) -> dict[str, torch.Tensor]:
        """The official ``lowlight_loss`` (each term already weighted)."""
        o, terms = self.options, {}
        positive, negative = batch["positive"], batch.get("negative")
        if enhanced.shape[-2:] != positive.shape[-2:]:
            raise RunConfigError(f"compat = 'official' compares images pixel by pixel: the input crop "
                                 f"{tuple(enhanced.shape[-2:])} and contrast_size {tuple(positive.shape[-2:])} "
                                 "must match")
        if o["l_cc"]:
            terms["tv"] = OFFICIAL["tv"] * illumination_smoothness_loss(curves)
            terms["color"] = OFFICIAL["color"] * color_constancy_loss(enhanced)
        if o["l_sc"]:
            terms["segexp"] = losses.official_segexp(enhanced, batch["labels"])
            with torch.no_grad():  # the official CE runs on enhanced.detach(): a logged constant
                terms["segmentation_ce"] = self._segmentation_ce(enhanced, batch["labels"])
        terms["contrast_grey"] = OFFICIAL["grey_triplet"] * losses.brightness_contrast(enhanced, positive, negative, True)
        f = self._features(batch, enhanced)
        terms["contrast_gram"] = OFFICIAL["gram_triplet"] * losses.gram_contrast(
            f.output_grams, f.positive_grams, f.negative_grams, True)
        if o["l_fr"]:
            terms["feature_retention"] = F.mse_loss(f.low_retained, f.output_retained)
        return terms

    def enhance(self, model: nn.Module, image: torch.Tensor) -> torch.Tensor:
        return model(image)[0]

