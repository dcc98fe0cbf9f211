"""Hook specifications (signatures and docstrings only).

Every hook is register-callback style: the plugin receives a ``register`` function and
calls it once per class it provides, e.g.::

    from llebench import hookimpl

    @hookimpl
    def llebench_register_enhancers(register):
        register(MyEnhancer)

The registered object is a class (a subclass of the matching :mod:`llebench.api`
contract) whose ``name`` attribute is the name users type on the command line.
"""

from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("llebench")

Register = Callable[[type], None]


@hookspec
def llebench_register_enhancers(register: Register) -> None:
    """Register :class:`llebench.api.Enhancer` subclasses (enhancement methods)."""


@hookspec
def llebench_register_datasets(register: Register) -> None:
    """Register :class:`llebench.api.Dataset` subclasses."""


@hookspec
def llebench_register_metrics(register: Register) -> None:
    """Register :class:`llebench.api.Metric` subclasses."""


@hookspec
def llebench_register_reports(register: Register) -> None:
    """Register :class:`llebench.api.Report` subclasses (page layouts)."""


@hookspec
def llebench_register_trainers(register: Register) -> None:
    """Register trainer classes (training recipes of trainable methods)."""
