"""``llebench data list`` and ``llebench data check NAME``: is the data where it should be?

Both work only through the :class:`~llebench.sdk.Dataset` contract (``ids()``,
``load()``, ``location()``, ``check()``, ``layout``, ``source``), so they cover
third-party datasets exactly like the built-in ones.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Iterator

from tqdm.auto import tqdm

from llebench.api import Dataset
from llebench.commandline import CommandLine
from llebench.components import one_line, parse_assignment
from llebench.context import Context
from llebench.errors import DatasetUnavailable, LLEBenchError
from llebench.hookimpl import hookimpl

LAYOUT_SUFFIX = " (expected layout:"


@dataclass
class Status:
    """What ``data list`` says about one dataset."""

    state: str  # "found", "missing" or "wrong"
    detail: str


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def dataset_status(dataset: Dataset) -> Status:
    """Found (with its image count), missing (nothing where it looks) or wrong (there, but not as expected)."""
    try:
        count = len(dataset.ids())
    except (LLEBenchError, OSError) as exc:
        where = dataset.location()
        state = "missing" if isinstance(exc, DatasetUnavailable) and (where is None or not where.exists()) else "wrong"
        # the layout is listed on its own line: keep only the problem
        return Status(state, one_line(exc).split(LAYOUT_SUFFIX)[0].removeprefix(f"dataset {dataset.label!r}: "))
    return Status("found", plural(count, "image"))


def sample_problems(dataset: Dataset, image_id: str) -> Iterator[str]:
    """Everything wrong with one sample: unreadable file, missing reference, size mismatch."""
    try:
        sample = dataset.load(image_id)
    except Exception as exc:  # any failure here is exactly what the check must report
        yield f"unreadable: {one_line(exc)}"
        return
    if not dataset.has_reference:
        return
    if sample.reference is None:
        why = sample.meta.get("missing_reference")
        yield "missing reference" + (f" ({why})" if why else "")
    elif sample.reference.shape[-2:] != sample.input.shape[-2:]:
        (ih, iw), (rh, rw) = sample.input.shape[-2:], sample.reference.shape[-2:]
        yield (f"size mismatch: input {iw}x{ih}, reference {rw}x{rh} "
               f"[{sample.meta.get('reference', 'reference')}] (full-reference metrics will fail)")


def cmd_data_list(args: argparse.Namespace, context: Context) -> int:
    data_root = context.data_root
    print(f"data root: {data_root if data_root is not None else 'not set (use $LLEBENCH_DATA or --data-root)'}")
    for name in context.registry.names("datasets"):
        try:
            dataset = context.build("datasets", name)
        except Exception as exc:  # a plugin's dataset that cannot even be built must not hide the others
            print(f"\n{name}: cannot be built without options: {one_line(exc)}")
            continue
        status = dataset_status(dataset)
        where = dataset.location()
        print(f"\n{name} ({dataset.kind}): {status.state}, {status.detail}")
        if where is not None:
            print(f"  looks in: {where}")
        print(f"  layout:   {dataset.layout}")
        print(f"  source:   {dataset.source}")
    return 0


def cmd_data_check(args: argparse.Namespace, context: Context) -> int:
    options = {}
    for pair in args.option:  # the same value syntax as ``run -o``
        _, key, value = parse_assignment(pair, "-o")
        options[key] = value
    if args.ref is not None:
        options["ref"] = args.ref
    dataset = context.build("datasets", args.name, **options)
    ids = dataset.ids()
    if args.limit is not None:
        ids = ids[: args.limit]
    problems = 0
    for image_id in tqdm(ids, desc=f"checking {dataset.label}", unit="img", disable=True if args.no_progress else None):
        for problem in sample_problems(dataset, image_id):
            tqdm.write(f"{image_id}: {problem}")
            problems += 1
    for problem in dataset.check():
        print(problem)
        problems += 1
    where = dataset.location()
    print(f"{dataset.label}: {plural(len(ids), 'sample')} checked" + (f" in {where}" if where else "")
          + f", {plural(problems, 'problem')}")
    return 1 if problems else 0


@hookimpl
def llebench_register_commands(cli: CommandLine) -> None:
    data = cli.add_group("data", help="list the datasets and check their files")
    listing = cli.add_command("list", group=data,
                              help="every dataset: where it looks, found / missing / wrong, expected layout")
    listing.add_argument("--data-root", help="root of the datasets (default: $LLEBENCH_DATA)")
    listing.set_defaults(handler=cmd_data_list)

    check = cli.add_command("check", group=data,
                            help="load every sample: unreadable files, missing references, size mismatches")
    check.add_argument("name", help="dataset name, or folder:PATH")
    check.add_argument("--ref", metavar="REFPATH", help="reference folder for folder:PATH (paired by file stem)")
    check.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                       help="a dataset option, e.g. split=train (repeatable)")
    check.add_argument("--data-root", help="root of the datasets (default: $LLEBENCH_DATA)")
    check.add_argument("--limit", type=int, help="only the first N samples")
    check.add_argument("--no-progress", action="store_true", help="no progress bar")
    check.set_defaults(handler=cmd_data_check)
