"""Exponential moving average of a model's weights (the mean teacher of SSLL, Polyak averaging)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class EMA:
    """``ema = decay * ema + (1 - decay) * weights`` after every optimizer step.

    Floating-point parameters and buffers are averaged; integer buffers (e.g. BatchNorm's
    ``num_batches_tracked``) are copied. ``module`` is a frozen copy in eval mode.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        source = model.state_dict()
        for name, value in self.module.state_dict().items():
            new = source[name].detach()
            if value.is_floating_point():
                value.mul_(self.decay).add_(new.to(value.dtype), alpha=1.0 - self.decay)
            else:
                value.copy_(new)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.module.load_state_dict(state["module"])
