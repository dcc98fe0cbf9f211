"""Built-in plugin: the identity ``input`` method (the "Input" row of every table)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llebench.sdk import Enhancer, hookimpl

if TYPE_CHECKING:
    import torch


class Identity(Enhancer):
    name = "input"
    description = "the low-light input itself (the 'Input' row of the paper's tables)"
    reference = True

    def network(self) -> torch.nn.Module:
        """No learned parameters: params and flops report 0 instead of failing."""
        import torch

        return torch.nn.Identity()

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        return image


@hookimpl
def llebench_register_enhancers(register):
    register(Identity)
