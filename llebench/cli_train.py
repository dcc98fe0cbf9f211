"""``llebench train METHOD --config FILE``: run a registered trainer with the generic engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llebench.cli import parse_value
from llebench.errors import RunConfigError
from llebench.plugins import PluginSet
from llebench.runner import resolve_data_root
from llebench.training import TrainConfig, train

DEFAULT_TRAIN_OUT = Path("runs")


def cmd_train(args: argparse.Namespace, plugins: PluginSet) -> int:
    trainer_cls = plugins.get("trainers", args.method)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise RunConfigError(f"--set expects TABLE.KEY=VALUE, got {item!r}")
        overrides[key.strip()] = parse_value(value)
    if args.device:
        overrides["train.device"] = args.device
    if args.feature_nets:
        overrides["method.feature_nets"] = args.feature_nets
    config = TrainConfig.load(args.config, trainer_cls, overrides)
    out = Path(args.out) if args.out else DEFAULT_TRAIN_OUT / args.method
    try:
        result = train(trainer_cls, config, out, resume=args.resume, plugins=plugins,
                       data_root=resolve_data_root(args.data_root))
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


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "train", parents=[common], help="train a method (llebench train METHOD --config FILE)",
        description="Train a method with the generic engine; run under torchrun for DDP.")
    parser.add_argument("method", help="a registered trainer (llebench plugins lists them)")
    parser.add_argument("--config", required=True, help="TOML train config (e.g. configs/train/zero_dce.toml)")
    parser.add_argument("--out", help=f"run directory (default: {DEFAULT_TRAIN_OUT}/METHOD)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint in --out")
    parser.add_argument("--device", help="cpu or cuda (overrides train.device)")
    parser.add_argument("--feature-nets", choices=("pretrained", "random"),
                        help="frozen feature networks of trainers that use them (method.feature_nets); "
                             "random is for smoke tests only and marks checkpoints untrained")
    parser.add_argument("--data-root", help="root for relative [data] paths (default: $LLEBENCH_DATA)")
    parser.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                        help="override a config value, e.g. --set train.iterations=200 (repeatable)")
    parser.set_defaults(func=cmd_train)
