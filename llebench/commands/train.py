"""``llebench train METHOD --config FILE``: run a registered trainer with the generic engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llebench.commandline import CommandLine
from llebench.components import parse_assignment
from llebench.context import Context
from llebench.hookimpl import hookimpl

DEFAULT_TRAIN_OUT = Path("runs")


def cmd_train(args: argparse.Namespace, context: Context) -> int:
    from llebench.training import TrainConfig, train  # torch: only when training

    trainer_cls = context.registry.get("trainers", args.method)
    overrides = {}
    for item in args.set:
        table, key, value = parse_assignment(item, "--set", "TABLE.KEY=VALUE")
        overrides[f"{table}.{key}"] = value
    if args.device:
        overrides["train.device"] = args.device
    if args.feature_nets:  # the [[losses]] terms' feature networks, and the trainer's own if it has any
        overrides["train.feature_nets"] = args.feature_nets
        if "feature_nets" in trainer_cls.method_schema():
            overrides["method.feature_nets"] = args.feature_nets
    config = TrainConfig.load(args.config, trainer_cls, overrides)
    out = Path(args.out) if args.out else DEFAULT_TRAIN_OUT / args.method
    try:
        result = train(trainer_cls, config, out, resume=args.resume, context=context)
    except KeyboardInterrupt:
        print(f"interrupted; continue from the last checkpoint in {out} with the same command and --resume",
              file=sys.stderr)
        return 130
    if result.model is not None:  # rank 0 under torchrun
        print(f"trained {args.method} to iteration {result.iteration}: {out}")
        print(f"checkpoint: {result.checkpoint}")
        print(f"model: {result.model}  (llebench run --methods {trainer_cls.enhancer or args.method} "
              f"--weights {result.model})")
        if result.logs:
            print("last logged: " + ", ".join(f"{k}={v:.6g}" for k, v in result.logs.items()))
        if result.validation:
            print("validation: " + ", ".join(f"{k}={v:.4f}" for k, v in result.validation.items()))
    return 0


@hookimpl
def llebench_register_commands(cli: CommandLine) -> None:
    parser = cli.add_command(
        "train", help="train a method (llebench train METHOD --config FILE)",
        description="Train a method with the generic engine; run under torchrun for DDP.")
    parser.add_argument("method", help="a registered trainer (llebench plugins lists them)")
    parser.add_argument("--config", required=True, help="TOML train config (e.g. configs/train/zero_dce.toml)")
    parser.add_argument("--out", help=f"run directory (default: {DEFAULT_TRAIN_OUT}/METHOD)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint in --out")
    parser.add_argument("--device", help="cpu or cuda (overrides train.device)")
    parser.add_argument("--feature-nets", choices=("pretrained", "random"),
                        help="frozen feature networks of the trainer (method.feature_nets, where it has "
                             "any) and of the [[losses]] terms (train.feature_nets); "
                             "random is for smoke tests only and marks checkpoints untrained")
    parser.add_argument("--data-root", help="root for relative [data] paths (default: $LLEBENCH_DATA)")
    parser.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                        help="override a config value, e.g. --set train.iterations=200 (repeatable)")
    parser.set_defaults(handler=cmd_train)
