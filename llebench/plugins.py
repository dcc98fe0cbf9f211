"""Plugin loading (entry points, ``--plugins-dir``) and the registry of what plugins provide.

Built-in plugins are ordinary entry points in the ``llebench`` group, loaded exactly like
third-party ones. Environment variables, as in pytest and simonw/llm:

* ``LLEBENCH_LOAD_PLUGINS=a,b`` — load only these entry-point plugins (empty: none);
* ``LLEBENCH_DISABLE_PLUGINS=a,b`` — load all but these;
* ``LLEBENCH_TRACE_PLUGINS=1`` — print every hook call (pluggy tracing).

A plugin that fails to import is recorded in ``PluginSet.broken`` with its error and the
others still load. Plugins are Python code run with your permissions: install only
plugins you trust.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Sequence

import pluggy

from llebench import hookspecs
from llebench.errors import PluginError, UnknownNameError

ENTRY_POINT_GROUP = "llebench"
KINDS = ("enhancers", "datasets", "metrics", "reports", "trainers", "losses")
#: what users call each kind (an Enhancer is a "method" on the command line and in every file)
KIND_WORDS = {"enhancers": "method", "datasets": "dataset", "metrics": "metric", "reports": "report",
              "trainers": "trainer", "losses": "loss"}
KIND_PLURALS = {"enhancers": "methods", "datasets": "datasets", "metrics": "metrics", "reports": "reports",
                "trainers": "trainers", "losses": "losses"}
#: the core's own plugins (commands that work through the contracts alone), registered
#: through the same hooks as every other plugin
CORE_PLUGINS = ("llebench.commands.data", "llebench.commands.weights", "llebench.commands.train",
                "llebench.commands.methods", "llebench.commands.new_plugin")


@dataclass(frozen=True)
class Deferred:
    """A component registered by name without importing its module yet.

    ``register(Deferred("zero_dce", "llebench_dcenet.enhancers:ZeroDCE"))`` lets
    ``llebench plugins`` and ``--help`` list it without importing torch; the class is
    imported the first time a run, a listing of its details or a build needs it, and must
    carry the same ``name``.
    """

    name: str
    target: str  # "package.module:ClassName"

    def load(self, plugin: str) -> type:
        module_name, _, attribute = self.target.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attribute)
        except Exception as exc:
            raise PluginError(f"plugin {plugin!r}: cannot load {self.name!r} from {self.target}: "
                              f"{_describe(exc)}") from exc
        if getattr(cls, "name", None) != self.name:
            raise PluginError(f"plugin {plugin!r} registered {self.target} as {self.name!r}, but the class is "
                              f"named {getattr(cls, 'name', None)!r}")
        return cls


@dataclass
class Registered:
    """A class (or a :class:`Deferred` one, imported on first use) some plugin registered, and which plugin did."""

    source: type | Deferred
    plugin: str

    @property
    def cls(self) -> type:
        if isinstance(self.source, Deferred):
            self.source = self.source.load(self.plugin)
        return self.source


@dataclass
class PluginInfo:
    name: str
    version: str
    source: str  # "entry point", "plugins-dir", "registered"


@dataclass
class PluginSet:
    """The loaded plugin manager plus everything its plugins registered, by kind and name."""

    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    registry: dict[str, dict[str, Registered]] = field(default_factory=dict)
    #: the --plugins-dir directories, so worker processes can load the same plugins
    dirs: list[str] = field(default_factory=list)
    #: ``{plugin: [commands it added]}`` (filled by :meth:`add_commands`)
    commands: dict[str, list[str]] = field(default_factory=dict)

    @property
    def reproducible(self) -> bool:
        """Whether another process gets the same plugins from entry points and ``dirs``."""
        return all(info.source != "registered" for info in self.plugins.values())

    def get(self, kind: str, name: str) -> type:
        """The class registered under ``name``; a clear error suggests close names and lists the known ones."""
        table = self.registry[kind]
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            close = difflib.get_close_matches(name.replace("-", "_").lower(), list(table), n=3, cutoff=0.6)
            guess = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            hint = ""
            if self.broken:
                hint = f" (plugins that failed to load: {', '.join(sorted(self.broken))})"
            raise UnknownNameError(f"unknown {KIND_WORDS.get(kind, kind)} {name!r}{guess}; known: {known}{hint}")
        return table[name].cls

    def names(self, kind: str) -> list[str]:
        return sorted(self.registry[kind])

    def add_commands(self, cli: Any) -> None:
        """Call every plugin's ``llebench_register_commands(cli)``; a plugin whose hook fails
        is recorded as broken and the others' commands still come in."""
        for impl in self.pm.hook.llebench_register_commands.get_hookimpls():  # registration order
            before = list(cli.names)
            try:
                impl.function(cli=cli)
            except PluginError:
                raise
            except Exception as exc:
                self.broken[impl.plugin_name] = _describe(exc)
            added = [name for name in cli.names if name not in before]
            if added:
                self.commands[impl.plugin_name] = added

    def provided_by(self, plugin: str) -> dict[str, list[str]]:
        """What one plugin registered, by kind."""
        return {
            kind: sorted(name for name, reg in table.items() if reg.plugin == plugin)
            for kind, table in self.registry.items()
        }


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {item.strip() for item in value.split(",") if item.strip()}


def _load_entry_points(pm: pluggy.PluginManager, infos: dict[str, PluginInfo], broken: dict[str, str]) -> None:
    allow = _env_list("LLEBENCH_LOAD_PLUGINS")
    deny = _env_list("LLEBENCH_DISABLE_PLUGINS") or set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if (allow is not None and ep.name not in allow) or ep.name in deny:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        version = ep.dist.version if ep.dist is not None else "unknown"
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the others down
            broken[ep.name] = _describe(exc)
            continue
        infos[ep.name] = PluginInfo(ep.name, version, "entry point")


def _load_plugins_dir(
    pm: pluggy.PluginManager, directory: Path, infos: dict[str, PluginInfo], broken: dict[str, str]
) -> None:
    if not directory.is_dir():
        raise PluginError(f"--plugins-dir {directory} is not a directory")
    for path in sorted(directory.glob("*.py")):
        name = path.stem
        try:
            module = _import_file(path)
            pm.register(module, name=name)
        except Exception as exc:
            broken[name] = _describe(exc)
            continue
        infos[name] = PluginInfo(name, getattr(module, "__version__", "local"), f"plugins-dir {directory}")


def _import_file(path: Path) -> ModuleType:
    module_name = f"llebench_local_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def load_plugins(
    plugins_dirs: Sequence[str | os.PathLike[str]] = (),
    extra: Iterable[tuple[str, Any]] = (),
    entry_points: bool = True,
) -> PluginSet:
    """Load every plugin and build the registry.

    ``extra`` is ``(name, plugin object)`` pairs registered directly (tests, embedding).
    """
    pm = pluggy.PluginManager("llebench")
    pm.add_hookspecs(hookspecs)
    if os.environ.get("LLEBENCH_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
        pm.enable_tracing()
    infos: dict[str, PluginInfo] = {}
    broken: dict[str, str] = {}
    for module_name in CORE_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if entry_points:
        _load_entry_points(pm, infos, broken)
    for directory in plugins_dirs:
        _load_plugins_dir(pm, Path(directory), infos, broken)
    for name, plugin in extra:
        pm.register(plugin, name=name)
        infos[name] = PluginInfo(name, getattr(plugin, "__version__", "local"), "registered")
    pm.check_pending()
    plugin_set = PluginSet(pm=pm, plugins=infos, broken=broken, dirs=[str(d) for d in plugins_dirs])
    plugin_set.registry = _collect(pm, broken)
    return plugin_set


def _collect(pm: pluggy.PluginManager, broken: dict[str, str]) -> dict[str, dict[str, Registered]]:
    """Call each plugin's register hooks, remembering which plugin registered which name."""
    registry: dict[str, dict[str, Registered]] = {kind: {} for kind in KINDS}
    for kind in KINDS:
        caller = getattr(pm.hook, f"llebench_register_{kind}")
        table = registry[kind]
        for impl in caller.get_hookimpls():  # registration order
            plugin_name = impl.plugin_name

            def register(cls: type | Deferred, _plugin: str = plugin_name, _table: dict = table,
                         _kind: str = kind) -> None:
                name = getattr(cls, "name", None)
                if not isinstance(name, str) or not name:
                    raise PluginError(f"plugin {_plugin!r} registered a {_kind[:-1]} without a 'name': {cls!r}")
                if name in _table and _table[name].plugin != _plugin:
                    raise PluginError(
                        f"{_kind[:-1]} name {name!r} is registered by both plugin "
                        f"{_table[name].plugin!r} and plugin {_plugin!r}; disable one "
                        "(LLEBENCH_DISABLE_PLUGINS) or rename it"
                    )
                _table[name] = Registered(cls, _plugin)

            try:
                impl.function(register=register)
            except PluginError:
                raise
            except Exception as exc:
                broken[plugin_name] = _describe(exc)
    return registry
