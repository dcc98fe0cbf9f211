"""The object ``llebench_register_commands(cli)`` receives: how plugins add subcommands.

A command is an :mod:`argparse` parser plus a handler ``handler(args, context) -> int``
(the exit code: 0 success, 1 some work failed, 2 a configuration error)::

    @hookimpl
    def llebench_register_commands(cli):
        parser = cli.add_command("hello", help="say hello")
        parser.add_argument("--name", default="world")
        parser.set_defaults(handler=lambda args, context: print(f"hello {args.name}") or 0)

Nested commands (``llebench data list``) use a group::

    data = cli.add_group("data", help="list the datasets and check their files")
    listing = cli.add_command("list", help="...", group=data)

``context`` is the :class:`~llebench.sdk.Context` of the invocation: the CPU (or
``--device`` if the command defines it), the data root (``--data-root`` if defined, else
``$LLEBENCH_DATA``) and the registry of loaded plugins. An
:class:`~llebench.sdk.LLEBenchError` raised by a handler is printed as ``error: ...``
with exit code 2.
"""

from __future__ import annotations

import argparse
from typing import Any


class CommandGroup:
    """A command with subcommands (``llebench data``), returned by :meth:`CommandLine.add_group`."""

    def __init__(self, parser: argparse.ArgumentParser, dest: str) -> None:
        self.parser = parser
        self.subparsers = parser.add_subparsers(dest=dest, required=True, metavar="COMMAND")


class CommandLine:
    """Adds subcommands to ``llebench``; every parser gets the common options (``--plugins-dir``)."""

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser) -> None:
        self._subparsers = subparsers
        self.common = common
        self.names: list[str] = []

    def add_command(self, name: str, *, help: str, description: str | None = None,
                    group: CommandGroup | None = None) -> argparse.ArgumentParser:
        """A new subcommand's parser (``set_defaults(handler=...)`` on it)."""
        target = group.subparsers if group is not None else self._subparsers
        if group is None:
            self._claim(name)
        return target.add_parser(name, parents=[self.common], help=help, description=description or help)

    def add_group(self, name: str, *, help: str, description: str | None = None) -> CommandGroup:
        """A subcommand that only holds subcommands (``llebench NAME SUB ...``)."""
        self._claim(name)
        parser = self._subparsers.add_parser(name, help=help, description=description or help)
        return CommandGroup(parser, dest=f"{name}_command")

    def _claim(self, name: str) -> None:
        from llebench.errors import PluginError

        if name in self.names:
            raise PluginError(f"two plugins add the command {name!r}")
        self.names.append(name)
