"""Components as the user names them (``name``, ``name:ARG``, options) and how they are built.

Shared by the runner and its metric worker processes, which build their own copies of
the metrics from the same specs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llebench.errors import LLEBenchError, RunConfigError
from llebench.plugins import PluginSet


@dataclass
class ComponentSpec:
    """A method, dataset or metric as the user asked for it."""

    name: str
    label: str
    arg: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, options: dict[str, Any] | None = None, label: str | None = None) -> "ComponentSpec":
        """``name`` or ``name:ARG`` (e.g. ``folder:/data/mine``)."""
        name, sep, arg = text.partition(":")
        name = name.strip()
        if not name:
            raise RunConfigError(f"empty name in {text!r}")
        return cls(name=name, label=label or text, arg=arg if sep else None, options=dict(options or {}))


def build_component(plugins: PluginSet, kind: str, spec: ComponentSpec, **context: Any) -> Any:
    """Instantiate the class registered for ``spec`` with the run's context and its options."""
    cls = plugins.get(kind, spec.name)
    kwargs = dict(context)
    if kind == "datasets" or (kind == "metrics" and getattr(cls, "takes_arg", False)):
        kwargs["arg"] = spec.arg
    elif spec.arg is not None:
        raise RunConfigError(f"{kind[:-1]} {spec.name!r} takes no ':' argument (got {spec.label!r})")
    try:
        return cls(**kwargs, **spec.options)
    except TypeError as exc:
        raise RunConfigError(f"{kind[:-1]} {spec.label!r}: bad options {spec.options}: {exc}") from exc


def one_line(exc: BaseException) -> str:
    """An exception as one line: our own errors as their message, others with their type."""
    text = str(exc) if isinstance(exc, LLEBenchError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
