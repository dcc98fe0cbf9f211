"""The context the core hands to every component it builds.

A method, dataset, metric, report or trainer gets one :class:`Context`: the device to run
on, the data root, and a read-only view of the registry, through which it can build other
registered components (a report rebuilding a run's dataset to show its inputs, a trainer
validating on a benchmark dataset) without ever loading plugins itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llebench.errors import RunConfigError

if TYPE_CHECKING:
    from llebench.plugins import PluginSet

ENV_DATA = "LLEBENCH_DATA"


DEFAULT_MAX_PIXELS = 200_000_000


def max_pixels() -> int:
    """The largest image (width x height) read: ``$LLEBENCH_MAX_PIXELS``, default 200 megapixels.

    Every command checks it before it starts (an invalid value is a configuration error,
    exit 2), so no image ever fails for it.
    """
    value = os.environ.get("LLEBENCH_MAX_PIXELS", str(DEFAULT_MAX_PIXELS))
    try:
        number = float(value)  # 1e9 is a whole number too
        limit = int(number) if number.is_integer() else 0
    except (ValueError, OverflowError):
        limit = 0
    if limit <= 0:
        raise RunConfigError(f"LLEBENCH_MAX_PIXELS={value!r}: expected a positive whole number of pixels")
    return limit


def data_root_from_env(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """``explicit`` (``--data-root``), else ``$LLEBENCH_DATA``; None when neither is set."""
    value = explicit if explicit not in (None, "") else os.environ.get(ENV_DATA)
    if value in (None, ""):
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise RunConfigError(f"data_root must be a path, got {value!r} ({type(value).__name__})")
    return Path(value).expanduser()


class Registry:
    """What plugins registered, read-only: names, classes, and building instances."""

    def __init__(self, plugins: PluginSet) -> None:
        self._plugins = plugins

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind: ``enhancers``, ``datasets``, ``metrics``, ``reports``,
        ``trainers`` or ``losses``."""
        return self._plugins.names(kind)

    def get(self, kind: str, name: str) -> type:
        """The class registered under ``name``; an unknown name is a clear error listing the known ones."""
        return self._plugins.get(kind, name)

    def build(self, kind: str, text: str, context: Context, **options: Any) -> Any:
        """An instance of ``name`` or ``name:ARG`` with ``options``, as ``llebench run`` builds it."""
        from llebench.components import ComponentSpec, build_component

        return build_component(self._plugins, kind, ComponentSpec.parse(text, options), context)


@dataclass(frozen=True)
class Context:
    """Where and with what a component runs (see the module docstring).

    Build one directly for scripts and tests (``ZeroDCE(Context(device="cuda"))``); the
    defaults are the CPU, ``$LLEBENCH_DATA`` and the installed plugins (loaded on first use).
    """

    device: str = "cpu"
    data_root: Path | None = field(default_factory=data_root_from_env)
    plugins: PluginSet | None = field(default=None, repr=False, compare=False)

    @property
    def registry(self) -> Registry:
        """The registry of the run; the installed plugins when the context was made without one."""
        plugins = self.plugins
        if plugins is None:
            from llebench.plugins import load_plugins

            plugins = load_plugins()
            object.__setattr__(self, "plugins", plugins)
        return Registry(plugins)

    def build(self, kind: str, text: str, **options: Any) -> Any:
        """Build a registered component in this context (e.g. ``context.build("datasets", "dicm")``)."""
        return self.registry.build(kind, text, self, **options)

    def with_device(self, device: str) -> Context:
        return replace(self, device=device)
