"""The ``llebench`` command line: ``run``, ``report`` and ``plugins`` here; every other
command (``train``, ``data``, ``weights``, ``methods``, a plugin's own) comes in through
``llebench_register_commands`` (:mod:`llebench.commandline`)."""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, Sequence

from llebench import __version__
from llebench.commandline import CommandLine
from llebench.components import ComponentSpec, parse_assignment
from llebench.context import Context, data_root_from_env, max_pixels
from llebench.errors import LLEBenchError, OutputNotWritable, PluginError, ReportedElsewhere, RunConfigError
from llebench.plugins import KIND_PLURALS, PluginSet, load_plugins
from llebench.schema import Key, at_least, validate_table

DEFAULT_OUT = Path("results") / "default"
#: how long a rank of a sharded run may wait for the others (at the end, for the slowest shard)
SHARDED_RUN_TIMEOUT = timedelta(hours=24)

#: the keys of a ``--config`` run file
RUN_CONFIG = {
    "methods": Key((list,), [], items=(str, dict)),
    "datasets": Key((list,), None, items=(str, dict)),
    "metrics": Key((list,), None, items=(str, dict)),
    "out": Key((str,), str(DEFAULT_OUT)),
    "device": Key((str,), "cpu"),
    "limit": Key((int,), None, check=at_least(1)),
    "data_root": Key((str,), None),
    "workers": Key((int,), None, check=at_least(0)),
    "metric_batch": Key((int,), None, check=at_least(1)),
    "reuse_cpu_memory": Key((bool,), True),
}


def split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


def load_config(path: str | None) -> dict[str, Any]:
    """A run config file, its keys checked against :data:`RUN_CONFIG`."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        raise RunConfigError(f"cannot read config {path}: {exc}") from exc
    return validate_table(raw, RUN_CONFIG, f"config {path}", partial=True)


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


def method_specs(text: str) -> list[ComponentSpec]:
    """``--methods a,b,label=name``: ``label=name`` runs method ``name`` under another label
    (e.g. ``zero_dce,mine=zero_dce --weights mine=PATH`` compares a checkpoint with the official one)."""
    specs = []
    for item in split_names(text) or []:
        label, sep, name = item.partition("=")
        specs.append(ComponentSpec.parse(name.strip(), label=label.strip()) if sep else ComponentSpec.parse(item))
    return specs


def apply_method_options(specs: list[ComponentSpec], pairs: Sequence[str], weights: Sequence[str],
                         plugins: PluginSet, allow_untrained: bool) -> None:
    """``-o METHOD.KEY=VALUE``, ``--weights [METHOD=]PATH`` and ``--allow-untrained`` into the specs."""
    by_label = {spec.label: spec for spec in specs}
    for pair in pairs:
        method, key, value = parse_assignment(pair, "-o", "METHOD.KEY=VALUE")
        if method not in by_label:
            raise RunConfigError(f"-o {pair}: {method!r} is not a method of this run ({', '.join(by_label)})")
        by_label[method].options[key] = value
    for item in weights:
        method, sep, path = item.partition("=")
        if not sep:
            takers = [s for s in specs if getattr(plugins.get("enhancers", s.name), "accepts_weights", False)]
            if len(takers) != 1:
                raise RunConfigError(f"--weights PATH needs exactly one method that takes weights, the run has "
                                     f"{len(takers)}; use --weights METHOD=PATH")
            method, path = takers[0].label, item
        if method not in by_label:
            raise RunConfigError(f"--weights {item}: {method!r} is not a method of this run ({', '.join(by_label)})")
        by_label[method].options["weights"] = path
    if allow_untrained:
        for spec in specs:
            if getattr(plugins.get("enhancers", spec.name), "accepts_untrained", False):
                spec.options["allow_untrained"] = True


def set_reference_folder(specs: list[ComponentSpec], ref: str, plugins: PluginSet) -> None:
    """``--ref REFPATH``: the ``ref`` option of the one dataset that pairs by file stem (``folder:PATH``)."""
    takers = [spec for spec in specs if getattr(plugins.get("datasets", spec.name), "takes_ref", False)]
    if len(takers) != 1:
        raise RunConfigError(f"--ref needs exactly one dataset that takes a reference folder (folder:PATH), got "
                             f"{len(takers)}; for several, use config tables {{name = \"folder:PATH\", ref = \"REFPATH\"}}")
    takers[0].options["ref"] = ref


def default_names(plugins: PluginSet, kind: str) -> list[str]:
    """Names whose class says it belongs to the default set (``default = True``)."""
    return [name for name in plugins.names(kind) if getattr(plugins.get(kind, name), "default", False)]


def build_plan(args: argparse.Namespace, plugins: PluginSet):
    from llebench.runner import RunPlan

    config = load_config(args.config)
    methods = (method_specs(args.methods) if args.methods is not None
               else specs_from_config(config.get("methods", []), "methods"))
    if not methods:
        raise RunConfigError("no methods: pass --methods a,b or a config with methods")
    for spec in methods:
        plugins.get("enhancers", spec.name)  # an unknown name is a configuration error, before any work
    apply_method_options(methods, args.option, args.weights, plugins, args.allow_untrained)

    datasets = split_names(args.datasets)
    dataset_specs = ([ComponentSpec.parse(n) for n in datasets] if datasets is not None
                     else specs_from_config(config.get("datasets") or default_names(plugins, "datasets"), "datasets"))
    if args.ref is not None:
        set_reference_folder(dataset_specs, args.ref, plugins)
    metrics = split_names(args.metrics)
    metric_specs = ([ComponentSpec.parse(n) for n in metrics] if metrics is not None
                    else specs_from_config(config.get("metrics") or default_names(plugins, "metrics"), "metrics"))

    device = args.device or config.get("device", "cpu")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise RunConfigError(f"--device {device}: CUDA is not available on this machine (torch {torch.__version__})")
    limit = args.limit if args.limit is not None else config.get("limit")
    if limit is not None and limit < 1:
        raise RunConfigError(f"--limit {limit}: must be at least 1 (the first N images of each dataset)")
    workers = args.workers if args.workers is not None else config.get("workers")
    if workers is not None and workers < 0:
        raise RunConfigError(f"--workers {workers}: must be 0 or more")
    return RunPlan(
        methods=methods, datasets=dataset_specs, metrics=metric_specs,
        out=results_directory(args.out or config.get("out", DEFAULT_OUT)), device=device, limit=limit,
        data_root=data_root_from_env(args.data_root or config.get("data_root")),
        workers=workers,
        metric_batch=args.metric_batch if args.metric_batch is not None else config.get("metric_batch"),
        reuse_cpu_memory=not args.no_memory_reuse and config.get("reuse_cpu_memory", True),
    )


def results_directory(out: str) -> Path:
    """``--out``/``out``: an empty path would put the run (and the sweep of its stale
    temporaries) in the current directory, so it is refused."""
    if not str(out).strip():
        raise RunConfigError(f"out = '': name a results directory (default: {DEFAULT_OUT})")
    return Path(out)


def write_report(report: Any, run: Any, target: Path) -> None:
    """A report page and its exports (``.csv``, ``.md``, ``.tex``) beside it."""
    from llebench.report.html import write_page

    write_page(target, report.render(run))
    for suffix, text in report.exports(run).items():
        write_page(target.with_suffix(suffix), text)


def cmd_run(args: argparse.Namespace, context: Context) -> int:
    from llebench import distributed
    from llebench.results import RunResults
    from llebench.runner import Runner

    plugins = context.plugins
    plan = build_plan(args, plugins)
    # under torchrun: one shard of the job per process (docs/scaling.md); else a no-op
    shard, device = distributed.setup(plan.device, timeout=SHARDED_RUN_TIMEOUT)
    try:
        if shard.enabled:
            plan.device = str(device)  # cuda:LOCAL_RANK on a multi-GPU host
        summary = Runner(plugins, plan, progress=False if args.no_progress else None, shard=shard).run()
        if shard.rank == 0:
            run = None if args.no_report else RunResults.load(plan.out)
            if run is not None and run.scores.empty:
                summary.warnings.append("no report written: the results directory holds no scores")
            elif run is not None:
                report_context = Context(device="cpu", data_root=plan.data_root, plugins=plugins)
                for name in plugins.names("reports"):
                    cls = plugins.get("reports", name)
                    if cls.after_run:
                        write_report(cls(report_context), run, plan.out / cls.filename())
            for line in summary.lines():
                print(line)
        return distributed.broadcast(summary.exit_code, shard)
    finally:
        distributed.teardown(shard)


def figure_images(run: Any, text: str | None) -> list[str] | None:
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


def load_runs(paths: list[str], output: str | None):
    """One run, or several merged into one leaderboard (which then needs ``--output``)."""
    from llebench.results import RunResults, merge_runs

    runs = [RunResults.load(path) for path in paths]
    if len(runs) == 1:
        return runs[0]
    if not output:
        raise RunConfigError("several runs make one page: pass --output FILE")
    return merge_runs(runs, Path(output).parent)


def cmd_report(args: argparse.Namespace, context: Context) -> int:
    plugins = context.plugins
    run = load_runs(args.run, args.output)
    merged = len(args.run) > 1
    if args.output:
        run.page = Path(args.output)  # links to outputs and exports are made from there
    chosen = figure_images(run, args.figure_images)
    if args.pairwise:
        from llebench.report.html import write_page
        from llebench.report.pairwise import pairwise_table

        table = pairwise_table(run)
        # beside the page when one is named: a reader writes into the run only where asked to
        target = Path(args.output).with_name("pairwise.csv") if args.output else run.path / "pairwise.csv"
        write_page(target, table.to_csv(index=False, float_format="%.6g"))
        print(f"{target}: {len(table)} pairs, {int(table['significant'].sum())} significant after Holm correction")
    if args.layout is not None:
        classes = [plugins.get("reports", args.layout)]
        if chosen is not None and not classes[0].has_figures:
            raise RunConfigError(f"layout {args.layout} has no figure grid: --figure-images does not apply")
    else:  # every layout the run can fill (of merged runs: the main one, written after every run)
        classes = [plugins.get("reports", name) for name in plugins.names("reports")]
        classes = [cls for cls in classes if (cls.after_run or not merged) and cls(context).can_render(run)]
        if args.output and len(classes) > 1:
            raise RunConfigError(f"--output needs --layout: {run.path} fills {', '.join(c.name for c in classes)}")
    for cls in classes:
        report = cls(context, figure_images=chosen) if chosen is not None and cls.has_figures else cls(context)
        target = Path(args.output) if args.output else run.path / cls.filename()
        try:
            write_report(report, run, target)
        except LLEBenchError as exc:
            if args.layout is not None or isinstance(exc, OutputNotWritable):  # nothing can be written there
                raise
            print(f"skipped layout {cls.name}: {exc}", file=sys.stderr)  # it cannot fill this run after all
            continue
        print(target)
    return 0


def cmd_plugins(args: argparse.Namespace, context: Context) -> int:
    plugins = context.plugins
    for name, info in sorted(plugins.plugins.items()):
        print(f"{name} {info.version} ({info.source})")
        for kind, names in plugins.provided_by(name).items():
            if names:  # in the words users use: an Enhancer is a "method"
                print(f"  {KIND_PLURALS[kind]}: {', '.join(names)}")
        commands = plugins.commands.get(name)
        if commands:
            print(f"  commands: {', '.join(commands)}")
    for name, error in sorted(plugins.broken.items()):
        print(f"{name} BROKEN: {error}")
    return 1 if plugins.broken else 0


def add_core_commands(cli: CommandLine) -> None:
    run = cli.add_command("run", help="enhance and score: methods x datasets x metrics")
    run.add_argument("--methods", help="comma-separated method names (e.g. input,zero_dce,scl_lle); "
                                       "LABEL=NAME runs NAME under another label")
    run.add_argument("--datasets", help="comma-separated dataset names (default: sample); folder:PATH for any folder")
    run.add_argument("--metrics", help="comma-separated metric names (default: niqe,psnr,ssim,seconds)")
    run.add_argument("--config", help="a TOML run config (flags override it)")
    run.add_argument("--out", help=f"results directory (default: {DEFAULT_OUT}); re-running continues it")
    run.add_argument("--device", help="cpu (default), cuda or cuda:N")
    run.add_argument("--limit", type=int, help="only the first N images of each dataset (N >= 1)")
    run.add_argument("--workers", type=int,
                     help="processes for expensive CPU metrics (default: automatic; 0 = none)")
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
    run.add_argument("--no-report", action="store_true", help="do not write the reports")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(handler=cmd_run)

    report = cli.add_command("report", help="write the HTML reports of a results directory (or of several merged)")
    report.add_argument("run", nargs="+", help="results directory; several: one leaderboard across them (--output)")
    report.add_argument("--layout", help="report layout (default: every layout the run can fill)")
    report.add_argument("--output", help="HTML file to write (default: inside the results directory)")
    report.add_argument("--pairwise", action="store_true",
                        help="also write pairwise.csv: every two methods compared per dataset and metric")
    report.add_argument("--figure-images", metavar="ID[,ID...]",
                        help="image ids for the visual comparison (default: two per dataset, spread over its ids)")
    report.set_defaults(handler=cmd_report)

    plugins = cli.add_command("plugins", help="list plugins and what they register")
    plugins.set_defaults(handler=cmd_plugins)


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--plugins-dir", action="append", default=[], metavar="DIR",
                        help="also load every *.py in DIR as a plugin (repeatable)")
    return common


def make_parser(plugins: PluginSet) -> argparse.ArgumentParser:
    """The full parser: the core commands, then every plugin's through ``llebench_register_commands``."""
    common = common_options()
    parser = argparse.ArgumentParser(prog="llebench", description="Benchmark low-light image enhancement methods.")
    parser.add_argument("--version", action="version", version=f"llebench {__version__}")
    cli = CommandLine(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"), common)
    add_core_commands(cli)
    plugins.add_commands(cli)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed, never a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        early, _ = common_options().parse_known_args(argv)
        plugins = load_plugins(plugins_dirs=early.plugins_dir)
        parser = make_parser(plugins)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        for name, error in sorted(plugins.broken.items()):
            print(f"warning: plugin {name} failed to load: {error}", file=sys.stderr)
        max_pixels()  # an invalid $LLEBENCH_MAX_PIXELS is a configuration error of every command
        context = Context(device=getattr(args, "device", None) or "cpu",
                          data_root=data_root_from_env(getattr(args, "data_root", None)), plugins=plugins)
        return args.handler(args, context)
    except ReportedElsewhere:
        return 2
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
