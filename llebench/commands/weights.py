"""``llebench weights list`` and ``llebench weights fetch NAME``: the pretrained files.

Every file comes from some registered class's ``weights_files`` (methods, metrics,
trainers, ...), so third-party plugins' files are listed exactly like the built-in ones.
``list`` never downloads; ``fetch`` goes through :func:`llebench.weights.resolve`, which
uses a file already present (after checking it) or downloads and verifies it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from llebench.commandline import CommandLine
from llebench.components import one_line
from llebench.context import Context, Registry
from llebench.errors import ChecksumMismatch, LLEBenchError, UnknownNameError
from llebench.hookimpl import hookimpl
from llebench.plugins import KIND_WORDS, KINDS
from llebench.weights import WeightsFile, hash_prefix, resolve, search_dirs, verify


@dataclass
class KnownFile:
    spec: WeightsFile
    used_by: list[str] = field(default_factory=list)


def known_files(registry: Registry) -> dict[str, KnownFile]:
    """Every declared file by name, with the components that use it (in name order)."""
    files: dict[str, KnownFile] = {}
    for kind in KINDS:
        for name in registry.names(kind):
            for spec in getattr(registry.get(kind, name), "weights_files", ()):
                entry = files.setdefault(spec.filename, KnownFile(spec))
                entry.used_by.append(f"{KIND_WORDS[kind]} {name}")
    return dict(sorted(files.items(), key=lambda item: item[0].lower()))


def find_present(spec: WeightsFile) -> Path | None:
    """The first copy in the search directories (what ``resolve`` would use), without downloading."""
    for directory in search_dirs():
        candidate = directory / spec.filename
        if candidate.is_file():
            return candidate
    return None


def status(spec: WeightsFile) -> tuple[str, str]:
    """(state, detail): state is 'present' (matches its sha256, or the sha256 prefix its name
    carries), 'unchecked' (present, nothing to check it against), 'MISMATCH' or 'missing'."""
    path = find_present(spec)
    if path is None:
        return "missing", f"put it in {search_dirs()[0]}"
    try:
        verify(path, spec)
    except ChecksumMismatch as exc:
        return "MISMATCH", one_line(exc)
    return ("present" if spec.sha256 or hash_prefix(spec.filename) else "unchecked"), str(path)


def checksum_text(spec: WeightsFile) -> str:
    if spec.sha256:
        return spec.sha256
    prefix = hash_prefix(spec.filename)
    if prefix:
        return f"starts with {prefix} (from the file name; no full sha256 is published)"
    return "unknown: accepted without a checksum check"


def cmd_list(args: argparse.Namespace, context: Context) -> int:
    files = known_files(context.registry)
    print(f"search order: {', '.join(map(str, search_dirs()))}, then download")
    for name, known in files.items():
        state, detail = status(known.spec)
        print(f"\n{name}  [{state}] {detail}")
        print(f"  used by: {', '.join(known.used_by)}")
        print(f"  sha256:  {checksum_text(known.spec)}")
        print(f"  url:     {known.spec.url}")
        if known.spec.description:
            print(f"  what:    {known.spec.description}")
        if known.spec.licence:
            print(f"  licence: {known.spec.licence}")
    missing = sum(status(k.spec)[0] in {"missing", "MISMATCH"} for k in files.values())
    print(f"\n{len(files)} files, {len(files) - missing} present, {missing} missing or wrong")
    return 0


def select(files: dict[str, KnownFile], names: list[str]) -> list[WeightsFile]:
    """File names, component names (all their files) or ``all``."""
    chosen: dict[str, WeightsFile] = {}
    for name in names:
        if name == "all":
            matches = [k.spec for k in files.values()]
        elif name in files:
            matches = [files[name].spec]
        else:
            matches = [k.spec for k in files.values() if any(u.split(" ", 1)[1] == name for u in k.used_by)]
        if not matches:
            raise UnknownNameError(f"no known pretrained file or component {name!r}; "
                                   "`llebench weights list` shows them")
        chosen.update((spec.filename, spec) for spec in matches)
    return list(chosen.values())


def cmd_fetch(args: argparse.Namespace, context: Context) -> int:
    failed = 0
    for spec in select(known_files(context.registry), args.names):
        try:
            path = resolve(spec)
        except LLEBenchError as exc:
            print(f"failed: {spec.filename}: {one_line(exc)}")
            failed += 1
            continue
        check = "sha256 verified" if spec.sha256 else "no published sha256: not verified"
        print(f"ok: {spec.filename} -> {path} ({check})")
    return 1 if failed else 0


@hookimpl
def llebench_register_commands(cli: CommandLine) -> None:
    weights = cli.add_group("weights", help="list or download pretrained files")
    listing = cli.add_command("list", group=weights, help="every known file: URL, sha256, present or missing")
    listing.set_defaults(handler=cmd_list)
    fetch = cli.add_command("fetch", group=weights, help="download and verify files into the cache")
    fetch.add_argument("names", nargs="+", metavar="NAME",
                       help="a file name, a method or metric name (all its files), or 'all'")
    fetch.set_defaults(handler=cmd_fetch)
