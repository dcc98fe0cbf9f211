"""Hook specifications (signatures and docstrings only).

Every hook is register-callback style: the plugin receives a ``register`` function and
calls it once per class it provides, e.g.::

    from llebench.sdk import hookimpl

    @hookimpl
    def llebench_register_enhancers(register):
        register(MyEnhancer)

The registered object is a class (a subclass of the matching :mod:`llebench.sdk`
contract) whose ``name`` attribute is the name users type on the command line.
``llebench_register_commands`` is the exception: it receives the command line itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from llebench.commandline import CommandLine

hookspec = pluggy.HookspecMarker("llebench")

Register = Callable[[type], None]


@hookspec
def llebench_register_enhancers(register: Register) -> None:
    """Register :class:`llebench.sdk.Enhancer` subclasses (the methods users compare)."""


@hookspec
def llebench_register_datasets(register: Register) -> None:
    """Register :class:`llebench.sdk.Dataset` subclasses."""


@hookspec
def llebench_register_metrics(register: Register) -> None:
    """Register :class:`llebench.sdk.Metric` subclasses."""


@hookspec
def llebench_register_reports(register: Register) -> None:
    """Register :class:`llebench.sdk.Report` subclasses (page layouts)."""


@hookspec
def llebench_register_trainers(register: Register) -> None:
    """Register :class:`llebench.sdk.Trainer` subclasses (training recipes of trainable methods)."""


@hookspec
def llebench_register_losses(register: Register) -> None:
    """Register :class:`llebench.sdk.Loss` subclasses (training terms any trainer can add)."""


@hookspec
def llebench_register_commands(cli: CommandLine) -> None:
    """Add subcommands: ``parser = cli.add_command("name", help="...")``, then
    ``parser.set_defaults(handler=f)`` with ``f(args, context) -> exit code``."""
