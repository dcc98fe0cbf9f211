"""Typed schemas for config tables: every key known, every value of the expected type.

A config value of the wrong type (``limit = "3"``, ``reuse_cpu_memory = "no"``,
``iterations = "many"``) is a configuration error naming the key, the value and the
expected type, never a traceback or a silently reinterpreted setting. Booleans must be
booleans (``"no"`` is not false), integers are not booleans, and a float key takes an
integer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llebench.errors import RunConfigError

_TYPE_WORDS = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a table"}


@dataclass(frozen=True)
class Key:
    """One config key: its type(s), default, and an optional check of the value's range."""

    types: tuple[type, ...]
    default: Any
    #: returns an error text (what the value must be) or None when the value is fine
    check: Callable[[Any], str | None] | None = None
    #: element types of a list value (e.g. ``(str,)``), checked when set
    items: tuple[type, ...] | None = None

    def validate(self, value: Any, where: str) -> Any:
        if not _is_instance(value, self.types):
            expected = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in self.types)
            raise RunConfigError(f"{where} = {value!r}: expected {expected}, got {type(value).__name__}")
        if self.items is not None and isinstance(value, list):
            for item in value:
                if not _is_instance(item, self.items):
                    expected = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in self.items)
                    raise RunConfigError(f"{where} = {value!r}: every entry must be {expected}, got {item!r}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise RunConfigError(f"{where} = {value!r}: {problem}")
        return value


def _is_instance(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def at_least(minimum: float) -> Callable[[Any], str | None]:
    return lambda value: None if value >= minimum else f"must be at least {minimum}"


def one_of(*choices: Any) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"must be one of {', '.join(map(repr, choices))}"


def in_range(low: float, high: float, closed_high: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        inside = low <= value <= high if closed_high else low <= value < high
        return None if inside else f"must be in [{low}, {high}{']' if closed_high else ')'}"
    return check


def validate_table(given: Mapping[str, Any], schema: Mapping[str, Key], where: str, prefix: str = "",
                   partial: bool = False) -> dict[str, Any]:
    """``given`` checked against ``schema``; with the defaults filled in unless ``partial``.

    Errors read ``WHERE: PREFIXkey = value: expected ...`` (e.g. ``run.toml: train.iterations``).
    """
    if not isinstance(given, Mapping):
        raise RunConfigError(f"{where}: {prefix.rstrip('.') or 'the config'} must be a table, got {given!r}")
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise RunConfigError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(prefix + key for key in unknown)} (known: {', '.join(sorted(schema))})")
    merged = {} if partial else {key: spec.default for key, spec in schema.items()}
    for key, value in given.items():
        merged[key] = schema[key].validate(value, f"{where}: {prefix}{key}")
    return merged


def schema_of(defaults: Mapping[str, Any]) -> dict[str, Key]:
    """A trainer's ``[data]``/``[method]`` schema from its defaults: each key takes values of
    its default's type (a float key takes integers too; a key whose default is None, anything).
    An integer key whose default is not negative (a size, a count, an iteration; 0 often
    meaning "off") takes no negative value."""
    schema = {}
    for key, default in defaults.items():
        kind = object if default is None else type(default)
        counts = kind is int and default >= 0
        schema[key] = Key((kind,), default, check=at_least(0) if counts else None)
    return schema
