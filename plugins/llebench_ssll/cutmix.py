"""CutMix between the paired and unpaired domains.

A square of the paired low-light crop is pasted into the unpaired crop (both copies, the
student's and the teacher's, at the same place). The paste area r is drawn per image
from ``clip(N(mu, 1), 0.1, 0.9)`` and the square's side is ``floor(P sqrt(r))`` for a
P x P crop. The returned mask is 1 on pasted (paired) pixels: the losses on unpaired
pixels use ``1 - mask``.

Placement ``"inside"`` (default) draws the top-left corner uniformly so the whole square
lies in the crop (the paper: the area is r). ``"official"`` reproduces the authors' code:
the centre is uniform over the crop and the box is clipped at the borders (the pasted
area is then often smaller than r, and the side is ``2 * (floor(P sqrt r) // 2)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

Placement = Literal["inside", "official"]
AREA_MIN, AREA_MAX = 0.1, 0.9


@dataclass
class Mixed:
    student: torch.Tensor
    teacher: torch.Tensor
    #: Nx1xHxW, 1 where pixels come from the paired crop
    paired_mask: torch.Tensor
    #: the area ratio drawn for each image
    areas: list[float]


def sample_area(mu: float, generator: torch.Generator) -> float:
    """r = clip(N(mu, 1), 0.1, 0.9)."""
    z = float(torch.randn((), generator=generator))
    return min(AREA_MAX, max(AREA_MIN, mu + z))


def box_side(size: int, area: float) -> int:
    """floor(P sqrt(r))."""
    return math.floor(size * math.sqrt(area))


def sample_box(height: int, width: int, area: float, generator: torch.Generator,
               placement: Placement = "inside") -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the pasted square (bottom/right exclusive)."""
    side = box_side(min(height, width), area)
    if placement == "inside":
        top = int(torch.randint(0, height - side + 1, (), generator=generator))
        left = int(torch.randint(0, width - side + 1, (), generator=generator))
        return top, left, top + side, left + side
    if placement == "official":
        cy = int(torch.randint(0, height, (), generator=generator))
        cx = int(torch.randint(0, width, (), generator=generator))
        half = side // 2
        return max(cy - half, 0), max(cx - half, 0), min(cy + half, height), min(cx + half, width)
    raise ValueError(f"unknown CutMix placement {placement!r} (inside, official)")


def cutmix(unpaired_student: torch.Tensor, unpaired_teacher: torch.Tensor, paired_low: torch.Tensor, mu: float,
           generator: torch.Generator, placement: Placement = "inside") -> Mixed:
    """Paste a square of ``paired_low`` into both unpaired copies (NxCxHxW, same sizes)."""
    if not (unpaired_student.shape == unpaired_teacher.shape == paired_low.shape):
        raise ValueError(
            f"CutMix needs crops of one size: {tuple(unpaired_student.shape)}, "
            f"{tuple(unpaired_teacher.shape)}, {tuple(paired_low.shape)}"
        )
    n, _, h, w = paired_low.shape
    mask = torch.zeros(n, 1, h, w, dtype=paired_low.dtype, device=paired_low.device)
    areas = []
    for i in range(n):
        area = sample_area(mu, generator)
        while True:  # the official placement can clip a box to nothing; draw again
            top, left, bottom, right = sample_box(h, w, area, generator, placement)
            if bottom > top and right > left:
                break
        mask[i, :, top:bottom, left:right] = 1.0
        areas.append(area)
    pasted = mask.bool()
    student = torch.where(pasted, paired_low, unpaired_student)
    teacher = torch.where(pasted, paired_low, unpaired_teacher)
    return Mixed(student=student, teacher=teacher, paired_mask=mask, areas=areas)
