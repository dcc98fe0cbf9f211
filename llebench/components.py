"""Components as the user names them (``name``, ``name:ARG``, options) and how they are built.

One parser for every ``KEY=VALUE`` a user types (``-o METHOD.KEY=VALUE``, ``--set
TABLE.KEY=VALUE``, ``data check -o KEY=VALUE``) and one builder for every component: the
runner, its metric worker processes, the training engine and ``llebench data`` all build
through :func:`build_component`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llebench.errors import LLEBenchError, RunConfigError

if TYPE_CHECKING:
    from llebench.context import Context
    from llebench.plugins import PluginSet


def parse_value(text: str) -> Any:
    """A command-line value: a TOML literal if it parses (1, 0.5, true, "x", [1, 2]), else the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignment(text: str, flag: str, usage: str = "KEY=VALUE") -> tuple[str, str, Any]:
    """``[TARGET.]KEY=VALUE`` as ``(target, key, value)``.

    ``usage`` is the form the flag takes (``"METHOD.KEY=VALUE"`` requires the target, and
    names it in the error). The target is everything before the *last* dot of the left
    side, so a method label with a dot in it still works.
    """
    left, sep, value = text.partition("=")
    target, dot, key = left.strip().rpartition(".")
    needs_target = "." in usage.partition("=")[0]
    if not sep or not key or (needs_target and not (dot and target)) or (not needs_target and dot):
        raise RunConfigError(f"{flag} expects {usage}, got {text!r}")
    return target, key, parse_value(value)


@dataclass
class ComponentSpec:
    """A method, dataset or metric as the user asked for it."""

    name: str
    label: str
    arg: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, options: dict[str, Any] | None = None, label: str | None = None) -> ComponentSpec:
        """``name`` or ``name:ARG`` (e.g. ``folder:/data/mine``)."""
        if not isinstance(text, str):
            raise RunConfigError(f"a name must be a string, got {text!r} ({type(text).__name__})")
        if label is not None and not isinstance(label, str):
            raise RunConfigError(f"label must be a string, got {label!r} ({type(label).__name__})")
        name, sep, arg = text.partition(":")
        name = name.strip()
        if not name:
            raise RunConfigError(f"empty name in {text!r}")
        return cls(name=name, label=label or text, arg=arg if sep else None, options=dict(options or {}))


def build_component(plugins: PluginSet, kind: str, spec: ComponentSpec, context: Context) -> Any:
    """Instantiate the class registered for ``spec`` as ``Class(context, [arg=ARG,] **options)``."""
    cls = plugins.get(kind, spec.name)
    kwargs: dict[str, Any] = {}
    if getattr(cls, "takes_arg", False):
        kwargs["arg"] = spec.arg
    elif spec.arg is not None:
        raise RunConfigError(f"{kind[:-1]} {spec.name!r} takes no ':' argument (got {spec.label!r})")
    try:
        return cls(context, **kwargs, **spec.options)
    except TypeError as exc:
        raise RunConfigError(f"{kind[:-1]} {spec.label!r}: bad options {spec.options}: {exc}") from exc


def one_line(exc: BaseException) -> str:
    """An exception as one line: our own errors as their message, others with their type."""
    text = str(exc) if isinstance(exc, LLEBenchError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
