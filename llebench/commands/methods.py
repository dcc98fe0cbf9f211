"""``llebench methods``: every registered method with its paper, licence, variants and training."""

from __future__ import annotations

import argparse

from llebench.commandline import CommandLine
from llebench.context import Context, Registry
from llebench.hookimpl import hookimpl


def trainable(registry: Registry) -> dict[str, list[str]]:
    """``{method: [trainers]}``: the trainers whose checkpoints each method evaluates."""
    found: dict[str, list[str]] = {}
    for name in registry.names("trainers"):
        method = getattr(registry.get("trainers", name), "enhancer", None) or name
        found.setdefault(method, []).append(name)
    return found


def describe(name: str, cls: type, trainers: list[str]) -> list[str]:
    paper = getattr(cls, "paper", "")
    where = ", ".join(str(part) for part in (getattr(cls, "venue", ""), getattr(cls, "year", None)) if part)
    licences = sorted({spec.licence for spec in getattr(cls, "weights_files", ()) if spec.licence})
    licence = getattr(cls, "licence", "") or "; ".join(licences)
    lines = [f"{name}: {getattr(cls, 'description', '')}"]
    if paper:
        lines.append(f"  paper:    {paper}" + (f" ({where})" if where else ""))
    if licence:
        lines.append(f"  licence:  {licence}")
    variants = getattr(cls, "variants", ())
    if variants:
        lines.append(f"  variants: {', '.join(variants)} (default {variants[0]}; -o {name}.variant=NAME)")
    lines.append(f"  trainable: {'yes (llebench train ' + ', '.join(trainers) + ')' if trainers else 'no'}")
    return lines


def cmd_methods(args: argparse.Namespace, context: Context) -> int:
    registry = context.registry
    trainers = trainable(registry)
    for name in registry.names("enhancers"):
        print("\n".join(describe(name, registry.get("enhancers", name), trainers.get(name, []))))
    return 0


@hookimpl
def llebench_register_commands(cli: CommandLine) -> None:
    parser = cli.add_command("methods", help="list the methods: paper, venue, year, licence, variants, trainable")
    parser.set_defaults(handler=cmd_methods)
