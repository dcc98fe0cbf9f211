"""The ``llebench`` command line."""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Sequence

import torch

from llebench import __version__
from llebench.api import Report
from llebench.errors import LLEBenchError, RunConfigError
from llebench.plugins import PluginSet, load_plugins
from llebench.report.html import write_page
from llebench.runner import ComponentSpec, Runner, RunPlan, default_names, resolve_data_root
from llebench.store import RunResults

DEFAULT_OUT = Path("results") / "default"

#: modules that add subcommands: each defines ``add_parser(subparsers, common)``, which
#: adds its parser(s) with ``parents=[common]`` and ``set_defaults(func=f)``, where
#: ``f(args, plugins) -> int`` is the exit code
COMMAND_MODULES: tuple[str, ...] = ("llebench.cli_data", "llebench.cli_train", "llebench.cli_weights",
                                    "llebench.cli_userstudy")


def parse_value(text: str) -> Any:
    """A command-line option value: TOML literal if it parses (1, 0.5, true, "x"), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_method_options(pairs: Sequence[str], weights: Sequence[str], methods: list[str]) -> dict[str, dict[str, Any]]:
    """``-o METHOD.KEY=VALUE`` and ``--weights [METHOD=]PATH`` into per-method option dicts."""
    options: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        method, dot, key = target.partition(".")
        if not sep or not dot or not key:
            raise RunConfigError(f"-o expects METHOD.KEY=VALUE, got {pair!r}")
        options.setdefault(method, {})[key] = parse_value(value)
    for item in weights:
        method, sep, path = item.partition("=")
        if not sep:
            trainable = [m for m in methods if m != "input"]
            if len(trainable) != 1:
                raise RunConfigError("--weights PATH needs exactly one method besides 'input'; use --weights METHOD=PATH")
            method, path = trainable[0], item
        options.setdefault(method, {})["weights"] = path
    unknown = set(options) - set(methods)
    if unknown:
        raise RunConfigError(f"options given for methods not in the run: {', '.join(sorted(unknown))}")
    return options


def split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


def load_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RunConfigError(f"cannot read config {path}: {exc}") from exc


def specs_from_config(entries: list[Any], kind: str) -> list[ComponentSpec]:
    """Config entries are names, or tables with ``name``, optional ``label`` and options."""
    specs = []
    for entry in entries:
        if isinstance(entry, str):
            specs.append(ComponentSpec.parse(entry))
        elif isinstance(entry, dict) and "name" in entry:
            options = {k: v for k, v in entry.items() if k not in ("name", "label")}
            specs.append(ComponentSpec.parse(entry["name"], options, label=entry.get("label")))
        else:
            raise RunConfigError(f"config {kind}: each entry must be a name or a table with 'name', got {entry!r}")
    return specs


def set_folder_reference(specs: list[ComponentSpec], ref: str) -> None:
    """``--ref REFPATH``: the ``ref`` option of the one ``folder:PATH`` dataset (paired by file stem)."""
    folders = [spec for spec in specs if spec.name == "folder"]
    if len(folders) != 1:
        raise RunConfigError(f"--ref needs exactly one folder:PATH dataset, got {len(folders)}; "
                             "for several, use config tables {name = \"folder:PATH\", ref = \"REFPATH\"}")
    folders[0].options["ref"] = ref


def build_plan(args: argparse.Namespace, plugins: PluginSet) -> RunPlan:
    config = load_config(args.config)
    known = {"methods", "datasets", "metrics", "out", "device", "limit", "data_root", "workers", "metric_batch",
             "reuse_cpu_memory"}
    extra = set(config) - known
    if extra:
        raise RunConfigError(f"unknown keys in {args.config}: {', '.join(sorted(extra))}")

    method_names = split_names(args.methods)
    if method_names is not None:
        methods = [ComponentSpec.parse(name) for name in method_names]
    else:
        methods = specs_from_config(config.get("methods", []), "methods")
    if not methods:
        raise RunConfigError("no methods: pass --methods a,b or a config with methods")
    per_method = parse_method_options(args.option, args.weights, [m.label for m in methods])
    for spec in methods:
        spec.options.update(per_method.get(spec.label, {}))
        if args.allow_untrained and spec.name != "input":
            spec.options["allow_untrained"] = True

    datasets = split_names(args.datasets)
    dataset_specs = ([ComponentSpec.parse(n) for n in datasets] if datasets is not None
                     else specs_from_config(config.get("datasets", default_names(plugins, "datasets")), "datasets"))
    if args.ref is not None:
        set_folder_reference(dataset_specs, args.ref)
    metrics = split_names(args.metrics)
    metric_specs = ([ComponentSpec.parse(n) for n in metrics] if metrics is not None
                    else specs_from_config(config.get("metrics", default_names(plugins, "metrics")), "metrics"))

    device = args.device or config.get("device", "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RunConfigError(f"--device {device}: CUDA is not available on this machine (torch {torch.__version__})")
    limit = args.limit if args.limit is not None else config.get("limit")
    return RunPlan(
        methods=methods, datasets=dataset_specs, metrics=metric_specs,
        out=Path(args.out or config.get("out", DEFAULT_OUT)), device=device, limit=limit,
        data_root=resolve_data_root(args.data_root or config.get("data_root")),
        workers=args.workers if args.workers is not None else config.get("workers"),
        metric_batch=args.metric_batch if args.metric_batch is not None else config.get("metric_batch"),
        reuse_cpu_memory=not args.no_memory_reuse and bool(config.get("reuse_cpu_memory", True)),
    )


def cmd_run(args: argparse.Namespace, plugins: PluginSet) -> int:
    plan = build_plan(args, plugins)
    summary = Runner(plugins, plan, progress=False if args.no_progress else None).run()
    if not args.no_report:
        run, report = RunResults.load(plan.out), plugins.get("reports", "leaderboard")()
        write_page(plan.out / "report.html", report.render(run))
        for suffix, text in report.exports(run).items():
            write_page(plan.out / f"report{suffix}", text)
    for line in summary.lines():
        print(line)
    return 0 if summary.ok else 1


def figure_images(run: RunResults, text: str | None) -> list[str] | None:
    """``--figure-images ID[,ID...]``: image ids of the run, checked against its scores."""
    ids = split_names(text)
    if ids is None:
        return None
    known = set(run.scores["image"])
    unknown = [image for image in ids if image not in known]
    if unknown or not ids:
        raise RunConfigError(f"--figure-images: {', '.join(unknown) or 'no image id given'}: not an image id "
                             f"in {run.path / 'scores.csv'}")
    return ids


def make_report(plugins: PluginSet, layout: str, chosen: list[str] | None, explicit: bool) -> Report:
    """An instance of a report layout; ``chosen`` images go to layouts whose constructor
    takes ``figure_images`` (those with a comparison grid)."""
    cls = plugins.get("reports", layout)
    if chosen is None:
        return cls()
    if "figure_images" in inspect.signature(cls).parameters:
        return cls(figure_images=chosen)
    if explicit:
        raise RunConfigError(f"layout {layout} has no figure grid: --figure-images does not apply")
    return cls()


def cmd_report(args: argparse.Namespace, plugins: PluginSet) -> int:
    run = RunResults.load(args.run)
    chosen = figure_images(run, args.figure_images)
    if args.layout is not None:
        layouts = [args.layout]
    else:  # every layout the run can fill
        layouts = [name for name in plugins.names("reports") if plugins.get("reports", name)().can_render(run)]
        if args.output and len(layouts) > 1:
            raise RunConfigError(f"--output needs --layout: {run.path} fills {', '.join(layouts)}")
    for layout in layouts:
        report = make_report(plugins, layout, chosen, explicit=args.layout is not None)
        target = Path(args.output) if args.output else run.path / ("report.html" if layout == "leaderboard"
                                                                   else f"report_{layout}.html")
        try:
            html = report.render(run)
        except LLEBenchError as exc:
            if args.layout is not None:
                raise
            print(f"skipped layout {layout}: {exc}", file=sys.stderr)  # it cannot fill this run after all
            continue
        write_page(target, html)
        for suffix, text in report.exports(run).items():  # e.g. the tables as CSV, Markdown, LaTeX
            write_page(target.with_suffix(suffix), text)
        print(target)
    return 0


def cmd_plugins(args: argparse.Namespace, plugins: PluginSet) -> int:
    for name, info in sorted(plugins.plugins.items()):
        print(f"{name} {info.version} ({info.source})")
        for kind, names in plugins.provided_by(name).items():
            if names:
                print(f"  {kind}: {', '.join(names)}")
    for name, error in sorted(plugins.broken.items()):
        print(f"{name} BROKEN: {error}")
    return 1 if plugins.broken else 0


def make_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--plugins-dir", action="append", default=[], metavar="DIR",
                        help="also load every *.py in DIR as a plugin (repeatable)")
    parser = argparse.ArgumentParser(prog="llebench", description="Benchmark low-light image enhancement methods.")
    parser.add_argument("--version", action="version", version=f"llebench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="enhance and score: methods x datasets x metrics")
    run.add_argument("--methods", help="comma-separated method names (e.g. input,zero_dce,scl_lle)")
    run.add_argument("--datasets", help="comma-separated dataset names (default: sample); folder:PATH for any folder")
    run.add_argument("--metrics", help="comma-separated metric names (default: niqe,psnr,ssim,seconds)")
    run.add_argument("--config", help="a TOML run config (flags override it)")
    run.add_argument("--out", help=f"results directory (default: {DEFAULT_OUT}); re-running continues it")
    run.add_argument("--device", help="cpu (default), cuda or cuda:N")
    run.add_argument("--limit", type=int, help="only the first N images of each dataset")
    run.add_argument("--workers", type=int,
                     help="processes for expensive CPU metrics such as NIQE (default: automatic; 0 = none)")
    run.add_argument("--metric-batch", type=int, metavar="N",
                     help="outputs of one size per batched metric call (default: 8 on CUDA, 1 on the CPU)")
    run.add_argument("--no-memory-reuse", action="store_true",
                     help="on CPU, return freed memory to the system (slower; see llebench/cpu_memory.py)")
    run.add_argument("--data-root", help="root of the datasets (default: $LLEBENCH_DATA)")
    run.add_argument("--ref", metavar="REFPATH",
                     help="reference folder for the folder:PATH dataset: pairs each input with REFPATH/<same stem>.*")
    run.add_argument("--weights", action="append", default=[], metavar="[METHOD=]PATH",
                     help="weights file for a method (repeatable)")
    run.add_argument("-o", "--option", action="append", default=[], metavar="METHOD.KEY=VALUE",
                     help="a method option (repeatable)")
    run.add_argument("--allow-untrained", action="store_true",
                     help="evaluate checkpoints trained with random feature networks (smoke tests)")
    run.add_argument("--no-report", action="store_true", help="do not write report.html")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", parents=[common], help="write an HTML report of a results directory")
    report.add_argument("run", help="results directory")
    report.add_argument("--layout", help="report layout (default: every layout the run can fill)")
    report.add_argument("--output", help="HTML file to write (default: inside the results directory)")
    report.add_argument("--figure-images", metavar="ID[,ID...]",
                        help="image ids for the visual comparison (default: two per dataset, spread over its ids)")
    report.set_defaults(func=cmd_report)

    plugins = sub.add_parser("plugins", parents=[common], help="list plugins and what they register")
    plugins.set_defaults(func=cmd_plugins)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        plugins = load_plugins(plugins_dirs=args.plugins_dir)
        for name, error in sorted(plugins.broken.items()):
            print(f"warning: plugin {name} failed to load: {error}", file=sys.stderr)
        return args.func(args, plugins)
    except LLEBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `llebench data list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 1


if __name__ == "__main__":
    sys.exit(main())
