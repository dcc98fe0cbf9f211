"""The ``sci`` enhancer: SCI's illumination estimator with the authors' three checkpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from llebench.sdk import (
    Context, Enhancer, LLEBenchError, WeightsFile, check_precision, flush_subnormals, load_state_dict,
    precision_autocast, resolve_weights, sha256sum, tiled,
)

from llebench_sci.network import ILLUMINATION_FLOOR, RECEPTIVE_RADIUS, SCITestModel

LICENCE = "MIT (vis-opt-group/SCI LICENSE, Copyright (c) 2022 Tengyu Ma)"
_RAW = "https://github.com/vis-opt-group/SCI/raw/main/weights"

#: variant -> the official checkpoint; the first is the default (test.py's ``--model`` default)
WEIGHTS: dict[str, WeightsFile] = {
    "medium": WeightsFile(
        filename="sci_medium.pt", url=f"{_RAW}/medium.pt",
        sha256="4ff1e7e66e8f18114f790e5085ca4c936f0858e329e7ad1cb65b8aa09a9c6916",
        description="official SCI checkpoint 'medium' (trained mainly on LOL and LSRW); test.py's default",
        licence=LICENCE),
    "easy": WeightsFile(
        filename="sci_easy.pt", url=f"{_RAW}/easy.pt",
        sha256="b17326a26a93bf187ecbab217f9d3c57467a8b56020d4d9ff600ba257bbffb36",
        description="official SCI checkpoint 'easy' (trained mainly on MIT-Adobe FiveK)",
        licence=LICENCE),
    "difficult": WeightsFile(
        filename="sci_difficult.pt", url=f"{_RAW}/difficult.pt",
        sha256="657fa1f280cae1035df0d5cbe628e91f2d0f28660df608a3fa3f7e9a71da5a13",
        description="official SCI checkpoint 'difficult' (trained mainly on DARK FACE)",
        licence=LICENCE),
}
DEFAULT_VARIANT = "medium"

#: the test-time network lives under this prefix in every SCI checkpoint
TEST_PREFIX = "enhance."
#: the self-calibration module: trained with the estimator, unused at test time
TRAINING_ONLY_PREFIX = "calibrate."


def select_test_weights(state: dict[str, torch.Tensor], model: SCITestModel, where: Path) -> dict[str, torch.Tensor]:
    """The entries of an SCI checkpoint that the test-time model uses, every one of them checked.

    The official ``Finetunemodel`` keeps the entries whose names it knows and drops the rest
    without a word, so a renamed or missing ``enhance.*`` key would leave randomly
    initialised weights behind. Here every ``enhance.*`` entry the model needs must be in
    the file, nothing else may be beside them except the training-only ``calibrate.*``
    module, and the two stored copies of the residual block (``enhance.conv`` and
    ``enhance.blocks.0``, one module in the official network) must agree.
    """
    needed = model.state_dict()
    # BatchNorm's batch counter does not affect inference (files from before torch 0.4.1 lack it)
    missing = sorted(key for key in set(needed) - set(state) if not key.endswith(".num_batches_tracked"))
    unknown = sorted(key for key in state if key not in needed and not key.startswith(TRAINING_ONLY_PREFIX))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unexpected {', '.join(unknown[:8])}{' ...' if len(unknown) > 8 else ''}")
        raise LLEBenchError(
            f"{where}: not an SCI checkpoint ({'; '.join(parts)}). The test-time network needs all of "
            f"{len(needed)} '{TEST_PREFIX}*' entries, and the official loader would have left the missing "
            "ones randomly initialised, so the file is refused"
        )
    selected = {key: state.get(key, needed[key]) for key in needed}
    for key in needed:
        if key.startswith(f"{TEST_PREFIX}conv."):
            twin = f"{TEST_PREFIX}blocks.0." + key[len(f"{TEST_PREFIX}conv."):]
            a, b = selected[key], selected.get(twin)
            if b is not None and (a.shape != b.shape or not torch.equal(a, b)):
                raise LLEBenchError(
                    f"{where}: {key} and {twin} differ, but they are one module of the SCI network "
                    "(saved twice); the file was edited or is not an SCI checkpoint"
                )
    for key, value in selected.items():
        if value.shape != needed[key].shape:
            raise LLEBenchError(f"{where}: {key} has shape {tuple(value.shape)}, "
                                f"the SCI network needs {tuple(needed[key].shape)}")
    return selected


ConvParams = tuple[torch.Tensor, torch.Tensor]


def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> ConvParams:
    """(weight, bias) of one convolution equal to ``norm(conv(x))`` with running statistics.

    norm(y) = (y - mean) * a + beta with a = gamma / sqrt(var + eps), so the convolution is
    scaled by a per output channel; computed in float64, then rounded once to float32.
    """
    scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
    weight = conv.weight.double() * scale.view(-1, 1, 1, 1)
    bias = (conv.bias.double() - norm.running_mean.double()) * scale + norm.bias.double()
    return weight.float(), bias.float()


def inference_convolutions(model: SCITestModel, device: torch.device | str = "cpu",
                           ) -> tuple[ConvParams, list[ConvParams], ConvParams]:
    """The estimator's three kinds of convolution as channels_last (weight, bias) on ``device``,
    BatchNorm folded."""
    net = model.enhance

    def prepared(weight: torch.Tensor, bias: torch.Tensor) -> ConvParams:
        weight = weight.detach().to(device).contiguous(memory_format=torch.channels_last)
        return weight, bias.detach().to(device, copy=True)

    first = prepared(net.in_conv[0].weight, net.in_conv[0].bias)
    blocks = [prepared(*fold_batchnorm(block[0], block[1])) for block in net.blocks]
    last = prepared(net.out_conv[0].weight, net.out_conv[0].bias)
    return first, blocks, last


class SCI(Enhancer):
    """SCI (Ma et al., CVPR 2022): a three-convolution illumination estimator, image / illumination.

    Options: ``variant`` (which official checkpoint: ``medium``, ``easy``, ``difficult``),
    ``weights`` (a checkpoint of your own instead, with the official key names),
    ``precision`` (``fp32``; ``bf16``/``fp16`` run the convolutions in half precision),
    ``tile`` (compute on N x N tiles with a 3 px halo: equal to the untiled output).
    """

    name = "sci"
    description = "SCI (Ma et al., CVPR 2022), official weights easy/medium/difficult"
    paper = "Toward Fast, Flexible, and Robust Low-Light Image Enhancement (Ma, Ma, Liu, Fan, Luo)"
    venue, year = "CVPR", 2022
    licence = LICENCE
    variants = tuple(WEIGHTS)
    weights_files = tuple(WEIGHTS.values())
    accepts_weights = True
    tile_halo = RECEPTIVE_RADIUS

    def __init__(self, context: Context | None = None, variant: str | None = None,
                 weights: str | os.PathLike[str] | None = None, precision: str = "fp32",
                 tile: int | None = None) -> None:
        super().__init__(context)
        if variant is not None and variant not in WEIGHTS:
            raise LLEBenchError(f"variant must be one of {', '.join(WEIGHTS)}, got {variant!r}")
        if variant is not None and weights is not None:
            raise LLEBenchError("give either variant (an official checkpoint) or weights (your own file), not both")
        if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 1):
            raise LLEBenchError(f"tile must be a positive number of pixels, got {tile!r}")
        self.checkpoint = variant or DEFAULT_VARIANT
        self.own_weights = weights is not None
        self.tile = tile
        # a clear error for an unknown precision; a warning where the CPU only emulates it
        self.precision = check_precision(self.name, precision, self.context.device)

        self.weights_path = resolve_weights(WEIGHTS[self.checkpoint], weights)
        state, _ = load_state_dict(self.weights_path)
        self.net = SCITestModel()
        selected = select_test_weights(flush_subnormals(state), self.net, self.weights_path)
        self.net.load_state_dict(selected, strict=True)
        self.net.requires_grad_(False).eval()
        # what inference runs: the same weights with the BatchNorm folded in (folded on the CPU, in
        # float64; not a module, so the params/flops metrics count the official network, self.net)
        self._convs = inference_convolutions(self.net, self.device)
        self.net.to(self.device)
        self._sha = sha256sum(self.weights_path)

    # -- what the run records ------------------------------------------------------------

    @property
    def variant(self) -> str:
        """The checkpoint's name (none for the user's own weights: the runner adds ``custom-weights``),
        and a reduced precision."""
        parts = ([] if self.own_weights else [self.checkpoint]) + ([] if self.precision == "fp32" else [self.precision])
        return "-".join(parts)

    def settings(self) -> dict[str, Any]:
        return {
            "checkpoint": "weights option" if self.own_weights else self.checkpoint,
            "network": "illumination estimator only (enhance.*; calibrate.* is training-only)",
            "batchnorm": "running statistics, eps 1e-5",
            "output": "reflectance clamp(x / clamp(s + x, 1e-4, 1), 0, 1)",
            "quantisation": "truncate, floor(255 y) (official numpy astype('uint8'))",
            "arithmetic": "BatchNorm folded into its convolution, channels_last (r within 2e-6 of the official)",
            "precision": self.precision,
        }

    def weights_used(self) -> dict[str, str]:
        return {self.weights_path.name: self._sha}

    # -- inference -----------------------------------------------------------------------

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if self.tile is not None and max(image.shape[-2:]) > self.tile:
                return tiled(self._levels, image, self.tile, RECEPTIVE_RADIUS)
            return self._levels(image)

    def reflectance(self, image: torch.Tensor) -> torch.Tensor:
        """The model's second output r = clamp(x / i, 0, 1), float32, before quantisation."""
        with torch.inference_mode():
            return self._quotient(image).clamp_(0.0, 1.0).contiguous()

    def _levels(self, image: torch.Tensor) -> torch.Tensor:
        """floor(255 r) / 255: test.py saves r with numpy, uint8(clip(255 r, 0, 255)), which truncates.

        Values k/255 survive the runner's rounding unchanged, so the cached PNG holds the official
        levels. The clamp of r to [0, 1] is left to the runner's clamp of every output: for x in
        [0, 1], x <= i (s > 0, and i = 1 only where s + x > 1 >= x), so x / i already lies in
        [0, 1]; outside it, both clamps give the same 8-bit value.
        """
        levels = self._quotient(image).mul_(255.0).floor_()
        # the last step also returns to the NCHW layout the runner expects
        out = torch.empty(levels.shape, dtype=levels.dtype, device=levels.device)
        return torch.div(levels, 255.0, out=out)

    def _quotient(self, image: torch.Tensor) -> torch.Tensor:
        """x / clamp(s + x, 1e-4, 1), a fresh channels_last tensor.

        The official operations, with two changes that only move float32 rounding (r within
        2e-6 of the official): the eval-mode BatchNorm is folded into the convolution before it,
        and the tensors are channels_last (oneDNN's direct kernel then writes NHWC itself instead
        of a blocked layout reordered back to NCHW). Every element-wise step works in place:
        on a CPU each operation is a parallel region, and fewer of them is most of the speed.
        """
        x = image.contiguous(memory_format=torch.channels_last)
        (w_in, b_in), blocks, (w_out, b_out) = self._convs
        with precision_autocast(self.precision, self.device):
            features = F.conv2d(x, w_in, b_in, padding=1).relu_()
            for weight, bias in blocks:  # f + relu(bn(conv(f))), BatchNorm folded
                features = features.add_(F.conv2d(features, weight, bias, padding=1).relu_())
            sigma = F.conv2d(features, w_out, b_out, padding=1).sigmoid_()
        # half precision covers the network only: s + x and x / i are computed in float32
        illumination = sigma.float().add_(x).clamp_(ILLUMINATION_FLOOR, 1.0)
        return torch.div(x, illumination, out=illumination)
