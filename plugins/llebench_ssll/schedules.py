"""The three schedules of SSLL's semi-supervised stage, as pure functions of the step/epoch."""

from __future__ import annotations

import math


def ema_decay(step: int, max_decay: float = 0.99) -> float:
    """Teacher decay after optimizer step ``step`` (0-based): ``min(1 - 1/(step+1), max_decay)``.

    Mean Teacher's warm-up: the teacher is the true average of the student's weights
    until the exponential average weighs the past more (step 0 copies the student).
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return min(1.0 - 1.0 / (step + 1), max_decay)


def ramp(epoch: float, length: float) -> float:
    """Consistency ramp-up ``exp(-5 (1 - min(e, R)/R)^2)`` (Laine & Aila); 1 from ``e >= R``."""
    if length <= 0:
        return 1.0
    t = min(max(epoch, 0.0), length) / length
    return math.exp(-5.0 * (1.0 - t) ** 2)


def cutmix_mu(epoch: float, start: float, end: float) -> float:
    """Mean paste area: 1 at the first semi-supervised epoch ``start``, falling linearly to 0 at ``end``.

    As the student gets better on unpaired images, less of each mixed crop comes from the
    paired set (the authors' ``1 - (e - start) / (end - start)``).
    """
    if end <= start:
        raise ValueError(f"cutmix schedule needs end > start, got start={start}, end={end}")
    return 1.0 - (epoch - start) / (end - start)
