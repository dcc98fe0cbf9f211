"""Exact tiled inference, and the out-of-memory fallback that uses it.

A fully convolutional network whose output at a pixel depends only on the input within
``halo`` pixels of it (its receptive-field radius) can be run on overlapping tiles: each
tile is cut with ``halo`` extra pixels of real context on every side that is inside the
image, and only its core is kept. At the image border the tile edge *is* the image edge,
so the network pads exactly as it would on the whole image. The result equals the untiled
one up to float summation order (DCE-Net: 7 stacked 3x3 convolutions, halo 7).

An :class:`~llebench.api.Enhancer` opts in by setting ``tile_halo``; the runner then
retries an image that ran out of memory with smaller and smaller tiles
(:func:`enhance_with_fallback`) instead of failing it.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable

import torch

from llebench.api import Enhancer
from llebench.errors import EnhancementError

logger = logging.getLogger(__name__)

#: tiles are not made smaller than this core size (px) when retrying after OOM
MIN_TILE = 32

ImageFunction = Callable[[torch.Tensor], torch.Tensor]


def tiled(fn: ImageFunction, image: torch.Tensor, tile: int, halo: int) -> torch.Tensor:
    """``fn(image)`` computed on ``tile`` x ``tile`` cores with ``halo`` px of context each.

    ``fn`` maps an NxCxhxw tensor to an NxC'xhxw one (same spatial size).
    """
    if tile < 1 or halo < 0:
        raise ValueError(f"tile must be >= 1 and halo >= 0, got tile={tile}, halo={halo}")
    height, width = image.shape[-2:]
    out: torch.Tensor | None = None
    for y0 in range(0, height, tile):
        y1 = min(y0 + tile, height)
        top, bottom = max(0, y0 - halo), min(height, y1 + halo)
        for x0 in range(0, width, tile):
            x1 = min(x0 + tile, width)
            left, right = max(0, x0 - halo), min(width, x1 + halo)
            piece = fn(image[..., top:bottom, left:right])
            if tuple(piece.shape[-2:]) != (bottom - top, right - left):
                raise EnhancementError(
                    f"tiled inference needs an output of the input's size; got {tuple(piece.shape[-2:])} "
                    f"for a {bottom - top}x{right - left} tile"
                )
            if out is None:
                out = piece.new_empty((*piece.shape[:-2], height, width))
            out[..., y0:y1, x0:x1] = piece[..., y0 - top:y1 - top, x0 - left:x1 - left]
    assert out is not None  # height and width are >= 1
    return out


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA OOM, Python's MemoryError, or the CPU allocator's RuntimeError."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def enhance_with_fallback(enhancer: Enhancer, image: torch.Tensor,
                          reference: torch.Tensor | None = None) -> tuple[torch.Tensor, float, int | None]:
    """``(output, seconds, tile)``: ``enhancer`` on ``image``; on out-of-memory, retried tiled
    when the method allows it (``tile`` is then the tile size, else None).

    ``seconds`` times the call that produced the output only, not a failed attempt before
    it. Tiles start at half the longer side and are halved until the image fits (down to
    :data:`MIN_TILE`). A method without ``tile_halo``, or one given the ``reference`` image
    (``Enhancer.needs_reference``), re-raises the OOM, which the runner records as that
    image's failure.
    """
    from llebench.enhancing import timed

    call = (lambda: enhancer.enhance(image)) if reference is None else (
        lambda: enhancer.enhance_with_reference(image, reference))
    try:
        output, seconds = timed(call, image.device)
        return output, seconds, None
    except Exception as exc:
        if enhancer.tile_halo is None or reference is not None or not is_out_of_memory(exc):
            raise
    # outside the except block: the failed attempt's frames (and tensors) are released
    tile = max(MIN_TILE, (max(image.shape[-2:]) + 1) // 2)
    while True:
        _release_memory(image.device)
        logger.warning("%s: out of memory on a %sx%s image; retrying with %d px tiles",
                       enhancer.name, image.shape[-2], image.shape[-1], tile)
        try:
            output, seconds = timed(lambda: tiled(enhancer.enhance, image, tile, enhancer.tile_halo), image.device)
            return output, seconds, tile
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            reason = f"{type(exc).__name__}: {exc}"  # a string: the exception would pin the tensors
        if tile <= MIN_TILE:
            raise EnhancementError(f"{enhancer.name}: out of memory even on {tile} px tiles ({reason})")
        tile = max(MIN_TILE, tile // 2)


def _release_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
