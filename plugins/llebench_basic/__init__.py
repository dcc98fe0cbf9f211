"""Built-in plugin: the identity ``input`` method (the "Input" row of every table)."""

import torch

from llebench import hookimpl
from llebench.api import Enhancer


class Identity(Enhancer):
    name = "input"
    description = "the low-light input itself (the 'Input' row of the paper's tables)"
    caches_output = False

    def network(self) -> torch.nn.Module:
        """No learned parameters: params and flops report 0 instead of failing."""
        return torch.nn.Identity()

    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        return image


@hookimpl
def llebench_register_enhancers(register):
    register(Identity)
