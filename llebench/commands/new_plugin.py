"""``llebench new-plugin NAME --kind method|dataset|metric|report``: a plugin package to start from.

It writes a pip-installable package that imports only ``llebench.sdk``: a pyproject with a
build-system table and the entry point, the class (a working example of its kind, to be
edited), a test and a README. ``pip install -e NAME`` then makes it a plugin like any other.
"""

from __future__ import annotations

import argparse
import keyword
import re
from importlib import resources
from pathlib import Path

from llebench.commandline import CommandLine
from llebench.context import Context
from llebench.errors import RunConfigError
from llebench.hookimpl import hookimpl

KINDS = ("method", "dataset", "metric", "report")
#: how each kind is tried once installed
USAGE = {
    "method": "llebench run --methods input,{name} --datasets sample",
    "dataset": "llebench run --methods input --datasets {name} --metrics niqe",
    "metric": "llebench run --methods input --datasets sample --metrics {name}",
    "report": "llebench report RUN --layout {name}",
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def template(file_name: str) -> str:
    return resources.files("llebench.commands").joinpath("templates", file_name).read_text("utf-8")


def plugin_files(name: str, kind: str, description: str) -> dict[str, str]:
    """``{relative path: text}`` of the package for plugin ``name`` of ``kind``."""
    package = f"llebench_{name}"
    values = {"name": name, "kind": kind, "package": package, "description": description,
              "dist_name": name.replace("_", "-"), "cls": "".join(part.title() for part in name.split("_")),
              "usage": USAGE[kind].format(name=name)}
    return {
        "pyproject.toml": template("pyproject.toml.tmpl").format(**values),
        "README.md": template("README.md.tmpl").format(**values),
        f"{package}/__init__.py": template(f"{kind}.py.tmpl").format(**values),
        f"tests/test_{package}.py": template(f"test_{kind}.py.tmpl").format(**values),
    }


#: the registry kind of each plugin kind
REGISTRY_KINDS = {"method": "enhancers", "dataset": "datasets", "metric": "metrics", "report": "reports"}


def check_name(name: str, kind: str, context: Context) -> None:
    """A valid package name that no installed plugin uses for a component of the same kind."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise RunConfigError(f"new-plugin: {name!r} is not a valid name: lowercase letters, digits and "
                             "underscores, starting with a letter (it becomes the package llebench_NAME)")
    if name in context.registry.names(REGISTRY_KINDS[kind]):
        raise RunConfigError(f"new-plugin: a {kind} named {name!r} is already registered; choose another name")


def cmd_new_plugin(args: argparse.Namespace, context: Context) -> int:
    check_name(args.name, args.kind, context)
    target = Path(args.dir) / args.name
    if target.exists():
        raise RunConfigError(f"new-plugin: {target} already exists; choose another name or --dir")
    description = args.description or f"the {args.name} {args.kind}"
    for relative, text in plugin_files(args.name, args.kind, description).items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    print(f"wrote {target}: a {args.kind} plugin (package llebench_{args.name})")
    print(f"next: pip install -e {target} && pytest {target}/tests && {USAGE[args.kind].format(name=args.name)}")
    return 0


@hookimpl
def llebench_register_commands(cli: CommandLine) -> None:
    parser = cli.add_command("new-plugin", help="write a pip-installable plugin package to start from")
    parser.add_argument("name", help="the name users will type (lowercase, e.g. my_method)")
    parser.add_argument("--kind", choices=KINDS, required=True, help="what the plugin provides")
    parser.add_argument("--dir", default=".", help="where to create the NAME/ directory (default: here)")
    parser.add_argument("--description", help="one line describing it")
    parser.set_defaults(handler=cmd_new_plugin)
