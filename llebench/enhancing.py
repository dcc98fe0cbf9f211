"""One enhancement: the call, its timing, the out-of-memory fallback, and the output checks.

What the runner stores about an output comes from here: the seconds of the call that
*produced* it (not of a failed attempt before a tiled retry), whether it was tiled, and
its size. Two kinds of official test procedure are supported besides "same size in, same
size out":

* a method that needs the reference image (``Enhancer.needs_reference``, e.g. LLFlow's
  paired test rescaling its output to the ground truth's mean) gets it through
  :meth:`~llebench.api.Enhancer.enhance_with_reference`; on a sample without one it fails
  that image, saying so;
* a method whose official script crops the input to a multiple of its stride
  (``Enhancer.crops_output``) returns the top-left crop; the sample is then cropped alike
  for scoring (:func:`crop_sample`), so full-reference and LOE metrics compare like with like.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from llebench.api import Enhancer, Sample
from llebench.errors import EnhancementError
from llebench.tiling import enhance_with_fallback


@dataclass(frozen=True)
class Enhanced:
    """An output (float32, CPU, unquantised) and how it was made."""

    output: torch.Tensor
    seconds: float
    #: the tile size of an out-of-memory fallback (None: computed whole)
    tile: int | None = None


def enhance(enhancer: Enhancer, sample: Sample) -> Enhanced:
    """Run ``enhancer`` on ``sample`` (on its device, in inference mode) and check the output."""
    image = sample.input.to(enhancer.device)
    reference = None
    if enhancer.needs_reference:
        if sample.reference is None:
            raise EnhancementError(f"{enhancer.name} ({enhancer.variant or 'default'}) needs the reference image, "
                                   "and this sample has none (use a paired dataset, or another variant)")
        reference = sample.reference.to(enhancer.device)
    with torch.inference_mode():
        output, seconds, tile = enhance_with_fallback(enhancer, image, reference)
    if not isinstance(output, torch.Tensor):
        raise EnhancementError(f"{enhancer.name} returned {type(output).__name__}, not a tensor")
    check_shape(enhancer, tuple(output.shape), tuple(sample.input.shape))
    output = output.detach().float().cpu()
    if not torch.isfinite(output).all():
        raise EnhancementError(f"{enhancer.name} produced NaN or Inf values")
    return Enhanced(output, seconds, tile)


def check_shape(enhancer: Enhancer, output: tuple[int, ...], expected: tuple[int, ...]) -> None:
    """The output has the input's shape, or (``crops_output``) a top-left crop of it."""
    if output == expected:
        return
    cropped = (len(output) == 4 and output[:2] == expected[:2] and 0 < output[2] <= expected[2]
               and 0 < output[3] <= expected[3])
    if not (enhancer.crops_output and cropped):
        raise EnhancementError(f"{enhancer.name} returned shape {output} for input {expected}")


def crop_sample(sample: Sample, height: int, width: int) -> Sample:
    """The top-left ``height`` x ``width`` of the sample's input, reference and labels."""
    if tuple(sample.input.shape[-2:]) == (height, width):
        return sample

    def cut(tensor: torch.Tensor | None) -> torch.Tensor | None:
        return None if tensor is None else tensor[..., :height, :width]

    return replace(sample, input=cut(sample.input), reference=cut(sample.reference), labels=cut(sample.labels),
                   meta={**sample.meta, "cropped_to": [height, width]})


def timed(call, device: torch.device):
    """``call()`` and its wall time in seconds (CUDA-synchronised)."""
    start = time.perf_counter()
    result = call()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start
