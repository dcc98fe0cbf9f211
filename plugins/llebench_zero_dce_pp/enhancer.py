"""The ``zero_dce_pp`` enhancer: Zero-DCE++ as its official ``lowlight_test.py`` runs it.

The official test procedure (Zero-DCE_extension, ``Zero-DCE++/lowlight_test.py`` and
``model.py``), which the default reproduces:

1. crop the image to its top-left ``H//12*12`` x ``W//12*12`` pixels (no padding: the
   output has the cropped size, hence ``crops_output``);
2. estimate the curve map on the image shrunk 12 times (``F.interpolate(scale_factor=1/12,
   mode="bilinear")``, align_corners False, no antialiasing);
3. enlarge the map to the cropped size (bilinear, align_corners True, as
   ``nn.UpsamplingBilinear2d``) and apply the curve eight times at full resolution;
4. save with rounding (torchvision ``save_image``), which is what the runner does.

The scale factor is the variant: ``scale12`` (the test script's hard-coded value, the
default) or ``scaleN`` for another positive integer N; ``scale1`` estimates the curves at
full resolution, which is how ``lowlight_train.py`` trains (its ``--scale_factor``
defaults to 1, on 512x512 images).
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

import torch
import torch.nn.functional as F

from llebench.sdk import (
    PRECISIONS, Context, Enhancer, LLEBenchError, WeightsFile, flush_subnormals, load_state_dict,
    precision_autocast, resolve_weights, sha256sum,
)

from llebench_zero_dce_pp.network import ESTIMATOR_RADIUS, ITERATIONS, CurveEstimator, apply_curve_

LICENCE = "CC BY-NC 4.0, academic research use only (Zero-DCE_extension README)"

WEIGHTS = WeightsFile(
    filename="zero_dce_pp_epoch99.pth",
    url="https://github.com/Li-Chongyi/Zero-DCE_extension/raw/main/Zero-DCE%2B%2B/snapshots_Zero_DCE%2B%2B/Epoch99.pth",
    sha256="ca8855b90df9a80fa4195a831f33d3476b1964f787eb70602797c773067f3b84",
    description="official Zero-DCE++ state_dict, snapshots_Zero_DCE++/Epoch99.pth (10,561 parameters)",
    licence=LICENCE,
)

#: the scale factor hard-coded in the official lowlight_test.py
OFFICIAL_SCALE = 12
#: on the CPU the curve is applied to row strips of fewer values than ATen's parallel grain
#: size (32,768): each op then runs in the calling thread on cache-resident data, with no
#: OpenMP fork/join per op (which on a busy CPU costs far more than the arithmetic)
STRIP_VALUES = 32_000

_VARIANT = re.compile(r"scale([1-9][0-9]*)")


def _parse_scale(variant: str | None, scale_factor: Any) -> int:
    """The scale factor from ``variant`` ("scaleN") and/or ``scale_factor`` (N), which must agree."""
    from_variant = None
    if variant is not None:
        match = _VARIANT.fullmatch(variant) if isinstance(variant, str) else None
        if match is None:
            raise LLEBenchError(f"zero_dce_pp: variant must be 'scaleN' with N a positive integer "
                                f"(e.g. 'scale12', the official test, or 'scale1'), got {variant!r}")
        from_variant = int(match.group(1))
    if scale_factor is not None:
        if isinstance(scale_factor, bool) or not isinstance(scale_factor, int) or scale_factor < 1:
            raise LLEBenchError(f"zero_dce_pp: scale_factor must be a positive integer (12 in the official test), "
                                f"got {scale_factor!r}")
        if from_variant is not None and from_variant != scale_factor:
            raise LLEBenchError(f"zero_dce_pp: variant {variant!r} and scale_factor={scale_factor} disagree; "
                                "give one of them")
        return scale_factor
    return OFFICIAL_SCALE if from_variant is None else from_variant


class ZeroDCEPlusPlus(Enhancer):
    """Zero-DCE++ with the official weights; ``weights`` overrides the file.

    Options (``-o zero_dce_pp.KEY=VALUE``): ``variant`` ("scale12", the official test, or
    "scaleN"), or equally ``scale_factor`` (N); ``precision`` ("fp32", "bf16", "fp16": the
    curve estimator's autocast dtype; the curve itself is always applied in float32).
    """

    name = "zero_dce_pp"
    description = "Zero-DCE++ (Li et al., TPAMI 2021): curves estimated at 1/12 resolution, official weights"
    paper = "Learning to Enhance Low-Light Image via Zero-Reference Deep Curve Estimation (Li, Guo, Loy)"
    venue, year = "IEEE TPAMI", 2021
    licence = LICENCE
    variants = ("scale12", "scale1")
    weights_files = (WEIGHTS,)
    accepts_weights = True
    crops_output = True
    #: None for scale factors above 1: the map enlarged with align_corners=True places every
    #: sample by the ratio of the whole image's sizes, so no tile sees the same map. An
    #: instance with scale factor 1 is a plain fully convolutional net and sets it to 7.
    tile_halo = None

    def __init__(self, context: Context | None = None, variant: str | None = None, scale_factor: int | None = None,
                 weights: str | os.PathLike[str] | None = None, precision: str = "fp32") -> None:
        super().__init__(context)
        self.scale_factor = _parse_scale(variant, scale_factor)
        if self.scale_factor == 1:
            self.tile_halo = ESTIMATOR_RADIUS  # curves at full resolution: exact on overlapping tiles
        if precision not in PRECISIONS:  # not check_precision: its warning is about speed, this one says why
            raise LLEBenchError(f"zero_dce_pp: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        if self.device.type == "cpu" and precision != "fp32":
            warnings.warn(f"zero_dce_pp: precision={precision} only changes the curve estimator, which runs at "
                          f"1/{self.scale_factor} resolution; on the CPU it saves no time (the full-resolution "
                          "curve is float32 in every variant)", stacklevel=2)
        self.weights_path = resolve_weights(WEIGHTS, weights)
        state, _ = load_state_dict(self.weights_path)
        self.net = CurveEstimator()
        try:
            # the official file has ~600 subnormal weights: zero them (x86 computes with them ~30x
            # slower, and their effect on the curve map is below float32 resolution)
            self.net.load_state_dict(flush_subnormals(state))
        except RuntimeError as exc:
            raise LLEBenchError(f"{self.weights_path}: not a Zero-DCE++ state_dict ({exc})") from exc
        self.net.to(self.device).eval()
        self._sha = sha256sum(self.weights_path)

    @property
    def variant(self) -> str:
        parts = [f"scale{self.scale_factor}"]
        if self.precision != "fp32":
            parts.append(self.precision)
        return ",".join(parts)

    def settings(self) -> dict[str, Any]:
        return {"scale_factor": self.scale_factor, "crop": f"top-left multiple of {self.scale_factor}",
                "iterations": ITERATIONS, "precision": self.precision,
                "downsample": "bilinear, align_corners=False, no antialias",
                "upsample": "bilinear, align_corners=True"}

    def weights_used(self) -> dict[str, str]:
        return {self.weights_path.name: self._sha}

    def curve_map(self, image: torch.Tensor) -> torch.Tensor:
        """The full-resolution curve map (Nx3xHxW, float32) of an image whose sides are multiples of the scale."""
        scale = self.scale_factor
        small = image if scale == 1 else F.interpolate(image, scale_factor=1 / scale, mode="bilinear")
        with precision_autocast(self.precision, self.device):
            curve = self.net(small)
        curve = curve.float()
        if scale == 1:
            return curve
        return F.interpolate(curve, size=tuple(image.shape[-2:]), mode="bilinear", align_corners=True)

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        scale = self.scale_factor
        height, width = image.shape[-2] // scale * scale, image.shape[-1] // scale * scale
        if height == 0 or width == 0:
            raise LLEBenchError(f"zero_dce_pp: a {image.shape[-1]}x{image.shape[-2]} image is smaller than the "
                                f"scale factor {scale} on one side, so the crop to a multiple of it leaves nothing")
        # a copy of the crop (never the caller's tensor): the curve is applied to it in place
        output = torch.empty((*image.shape[:2], height, width), dtype=torch.float32, device=image.device)
        output.copy_(image[..., :height, :width])
        curve = self.curve_map(output)
        if output.device.type != "cpu":
            return apply_curve_(output, curve, torch.empty_like(output))
        rows = max(1, STRIP_VALUES // (output.shape[0] * output.shape[1] * width))
        scratch = output.new_empty((*output.shape[:2], min(rows, height), width))
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            apply_curve_(output[..., top:bottom, :], curve[..., top:bottom, :], scratch[..., :bottom - top, :])
        return output
