"""Which networks SSLL can train: a name -> factory registry.

SSLL is a training framework, not a network; the paper wraps seven backbones. A backbone
is a factory ``f(**options) -> nn.Module`` mapping a Nx3xHxW image in [0, 1] to an
enhanced image of the same shape (unclamped). Another plugin adds one by calling
:func:`register_backbone` when its module is imported (llebench imports every plugin
before a command runs)::

    from llebench_ssll.backbones import register_backbone

    @register_backbone("restormer")
    def restormer(width: int = 48) -> nn.Module: ...

Train configs then select it with ``[method] backbone = "restormer"`` and pass its
options as ``backbone_options = {width = 48}``. The checkpoint stores both, so the
``ssll`` enhancer rebuilds the same network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from llebench.sdk import LLEBenchError

from llebench_ssll.unet import UNet

BackboneFactory = Callable[..., nn.Module]
_BACKBONES: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator: make ``factory`` available as backbone ``name`` (names are unique)."""

    def decorate(factory: BackboneFactory) -> BackboneFactory:
        if name in _BACKBONES and _BACKBONES[name] is not factory:
            raise LLEBenchError(f"SSLL backbone {name!r} is registered twice")
        _BACKBONES[name] = factory
        return factory

    return decorate


def backbone_names() -> list[str]:
    return sorted(_BACKBONES)


def build_backbone(name: str, options: dict[str, Any] | None = None) -> nn.Module:
    """Instantiate backbone ``name``; unknown names and options are clear errors."""
    if name not in _BACKBONES:
        raise LLEBenchError(f"unknown SSLL backbone {name!r}; known: {', '.join(backbone_names())}")
    try:
        return _BACKBONES[name](**(options or {}))
    except TypeError as exc:
        raise LLEBenchError(f"SSLL backbone {name!r}: bad options {options!r} ({exc})") from exc


@register_backbone("unet")
def unet(width: int = 64) -> nn.Module:
    """The paper's UNet (width 64: 64/128/256/512/1024 channels)."""
    return UNet(width=width)
