"""The ``llflow`` enhancer: LLFlow's official inference (``test_unpaired.py`` by default,
``test.py`` with its GT-mean rescale as ``gt_mean=true``) with the official checkpoints.

Variants: ``standard`` (``confs/LOL-pc.yml``, the model of the paper's tables, 38.9 M
parameters; the default) and ``small`` (``confs/LOL_smallNet.yml``, 5.4 M), both trained on
LOL. Options: ``gt_mean`` (the paired procedure: needs the reference image, so the runner
passes it and fails samples without one) and ``precision`` (``fp16`` autocast;
the official scripts run under ``torch.cuda.amp.autocast()`` on a GPU; bf16 is not
offered: it is too coarse for the flow, see ``PRECISIONS``).

High resolution: no exact tiling. The histogram equalisation is global and the network's
receptive field is very wide (the standard encoder alone stacks 360 3x3 convolutions at
half resolution: a radius of about 720 input pixels, before the flow's couplings), so an
image is computed whole; an image that does not fit in memory fails with the runner's
out-of-memory row (``tile_halo = None``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from llebench.sdk import (
    Context, Enhancer, LLEBenchError, WeightsFile, WeightsFormatError, check_precision, flush_subnormals,
    load_state_dict, precision_autocast, resolve_weights, sha256sum, truncate_to_8_bits,
)

from llebench_llflow.network import ARCHITECTURES, STANDARD, Architecture, LLFlowNet
from llebench_llflow.procedures import (
    grey_mean_as_official, gt_mean_rescale, paired_input, unpaired_input,
)

LICENCE = "CC BY-NC-SA 4.0 (LICENSE of wyf0912/LLFlow; academic research use only)"
_DRIVE = "https://drive.google.com/uc?export=download&id="

#: the official checkpoints are on Google Drive only, without published checksums
STANDARD_WEIGHTS = WeightsFile(
    filename="llflow_lol_pc.pth",
    url=_DRIVE + "1t3kASTRXbnEnCZ0EcIvGhMHYkoJ8E2C4",
    sha256=None,
    description="official LLFlow standard model trained on LOL (confs/LOL-pc.yml; 38,859,481 parameters; "
                "the README's Google Drive file 1t3kASTRXbnEnCZ0EcIvGhMHYkoJ8E2C4, no checksum published)",
    licence=LICENCE,
)
SMALL_WEIGHTS = WeightsFile(
    filename="llflow_lol_small.pth",
    url=_DRIVE + "1tukKu2KBZ_ohlQiLG4EKnrn1CAt_2F6G",
    sha256=None,
    description="official LLFlow small model trained on LOL (confs/LOL_smallNet.yml, LOL_smallNet.pth; "
                "5,429,849 parameters; Google Drive file 1tukKu2KBZ_ohlQiLG4EKnrn1CAt_2F6G, no checksum published)",
    licence=LICENCE,
)
WEIGHTS = {"standard": STANDARD_WEIGHTS, "small": SMALL_WEIGHTS}

#: precision options. fp16 is the official GPU procedure (autocast); bf16 is not offered: its
#: 8-bit mantissa through the flow's inverse couplings gives 40.6-42.8 dB against fp32 on the
#: two golden crops with the perturbed golden weights (fp16: 55.2-56.9 dB), below the 45 dB a
#: reduced precision must keep
PRECISIONS = ("fp32", "fp16")


def architecture_of(state: dict[str, torch.Tensor]) -> Architecture | None:
    """The official configuration a state_dict looks like (encoder width and depth); the
    strict load then checks every key and shape."""
    first = state.get("RRDB.conv_first.weight")
    for arch in ARCHITECTURES.values():
        if (first is not None and first.shape[0] == arch.nf
                and f"RRDB.RRDB_trunk.{arch.nb - 1}.RDB1.conv1.weight" in state
                and f"RRDB.RRDB_trunk.{arch.nb}.RDB1.conv1.weight" not in state):
            return arch
    return None


class LLFlow(Enhancer):
    name = "llflow"
    description = "LLFlow (Wang et al., AAAI 2022): conditional normalizing flow, official LOL weights"
    paper = "Low-Light Image Enhancement with Normalizing Flow (Wang, Wan, Yang, Li, Chau, Kot)"
    venue, year = "AAAI", 2022
    licence = LICENCE
    variants = ("standard", "small")
    weights_files = (STANDARD_WEIGHTS, SMALL_WEIGHTS)
    accepts_weights = True
    tile_halo = None

    def __init__(self, context: Context | None = None, variant: str | None = None,
                 weights: str | os.PathLike[str] | None = None, gt_mean: bool = False,
                 precision: str = "fp32") -> None:
        super().__init__(context)
        if variant is not None and variant not in ARCHITECTURES:
            raise LLEBenchError(f"llflow: variant must be one of {', '.join(self.variants)}, got {variant!r}")
        if not isinstance(gt_mean, bool):
            raise LLEBenchError(f"llflow: gt_mean must be true or false, got {gt_mean!r}")
        if precision not in PRECISIONS:
            raise LLEBenchError(f"llflow: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
                                + (" (bf16 is too coarse for the flow: 40.6-42.8 dB against fp32 on test weights)"
                                   if precision == "bf16" else ""))
        self.gt_mean = gt_mean
        self.precision = check_precision(self.name, precision, str(self.device))
        # an explicit file (--weights) may hold either network: the variant is then read from it
        self.weights_path = resolve_weights(WEIGHTS[variant or STANDARD.name], weights)
        state = self._read(self.weights_path)
        found = architecture_of(state)
        if found is None:
            raise LLEBenchError(f"{self.weights_path}: not an LLFlow state_dict of the small (LOL_smallNet.yml) or "
                                "standard (LOL-pc.yml) network: its keys or shapes differ")
        if variant is not None and found.name != variant:
            raise LLEBenchError(f"{self.weights_path} holds the {found.name} network, but variant={variant} was asked "
                                f"(use -o llflow.variant={found.name}, or leave the variant out with --weights)")
        self.arch = found
        try:
            self.net = LLFlowNet.from_state_dict(found, flush_subnormals(state))
        except RuntimeError as exc:
            raise LLEBenchError(f"{self.weights_path}: not an official LLFlow {found.name} state_dict "
                                f"({str(exc).splitlines()[0]} {' '.join(str(exc).split())[:300]})") from exc
        self.net.to(self.device).eval().requires_grad_(False)
        self._sha = sha256sum(self.weights_path)

    @staticmethod
    def _read(path: Path) -> dict[str, torch.Tensor]:
        try:
            state, _ = load_state_dict(path)
        except WeightsFormatError as exc:
            with open(path, "rb") as fh:
                head = fh.read(512).lstrip().lower()
            if head.startswith((b"<!doctype html", b"<html")):
                raise WeightsFormatError(
                    f"{path} is a web page, not a checkpoint: Google Drive answers automatic downloads of large "
                    f"files with a confirmation page. Download the file in a browser (see `llebench weights list`) "
                    f"and save it as {path}") from exc
            raise
        return state

    @property
    def variant(self) -> str:
        parts = [self.arch.name]
        if self.gt_mean:
            parts.append("gt_mean")
        if self.precision != "fp32":
            parts.append(self.precision)
        return "+".join(parts)

    @property
    def needs_reference(self) -> bool:
        return self.gt_mean

    def weights_used(self) -> dict[str, str]:
        return {self.weights_path.name: self._sha}

    def settings(self) -> dict[str, Any]:
        if self.gt_mean:
            procedure = ("test.py: histeq of the unpadded image; output * mean_gt / mean(output) with mean_gt the "
                         "BGR2GRAY mean of the RGB reference (0.114 R + 0.587 G + 0.299 B); needs sizes divisible by 8")
        else:
            procedure = ("test_unpaired.py: BORDER_REFLECT padding to a multiple of 16 (+16 on a side already "
                         "divisible), centred; histeq of the padded image; padding cropped off")
        return {"architecture": self.arch.name, "procedure": procedure, "latent": "encoder colour map (heat 0)",
                "rounding": "truncate", "precision": self.precision}

    def network(self) -> torch.nn.Module:
        return self.net

    def _run(self, lq: torch.Tensor) -> torch.Tensor:
        if self.precision == "fp32":
            return self.net(lq)
        with precision_autocast(self.precision, self.device):
            return self.net(lq).float()

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        """``test_unpaired.py``; with ``gt_mean`` (no reference given: FLOPs and timing metrics)
        ``test.py`` without the rescale, which costs the same."""
        if self.gt_mean:
            return truncate_to_8_bits(self._run(self._paired_input(image)))
        lq, (top, bottom, left, right) = unpaired_input(image)
        output = self._run(lq)
        return truncate_to_8_bits(output[:, :, top:output.shape[2] - bottom, left:output.shape[3] - right])

    def enhance_with_reference(self, image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """``test.py``: the output rescaled to the reference's mean grey level."""
        if not self.gt_mean:
            return self.enhance(image)
        output = self._run(self._paired_input(image))
        return truncate_to_8_bits(gt_mean_rescale(output, grey_mean_as_official(reference)))

    def _paired_input(self, image: torch.Tensor) -> torch.Tensor:
        try:
            return paired_input(image)
        except ValueError as exc:
            raise LLEBenchError(f"llflow (gt_mean): {exc}; use the default procedure (gt_mean=false)") from exc
