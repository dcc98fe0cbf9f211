"""Train configs: one TOML file with the engine's tables and the trainer's ``[data]``/``[method]``.

Every table has documented defaults and unknown keys are an error naming the file, so a
typo never trains with a silently ignored setting. The merged config is stored in every
checkpoint; ``--resume`` refuses a config that changes anything but ``train.iterations``
and the logging/checkpoint cadence.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llebench.errors import RunConfigError

#: the ``[train]`` table: the engine's settings
ENGINE_DEFAULTS: dict[str, Any] = {
    "iterations": 1000,        # optimizer steps in total
    "batch_size": 8,           # global batch (split evenly over DDP processes)
    "seed": 0,
    "device": "cpu",           # cpu, cuda, cuda:N (under torchrun: cuda:LOCAL_RANK)
    "amp": "none",             # none, bf16, fp16 (fp16 uses a GradScaler; CUDA only)
    "channels_last": "auto",   # auto (= on CUDA; on CPU NCHW convolutions train faster), true, false
    "grad_clip": 0.0,          # max global gradient norm; 0 = off
    "threads": 0,              # CPU threads (torch.set_num_threads); 0 = torch's default. Use 1 on a
                               # busy shared machine: OpenMP threads that wait for each other are slow
    "deterministic": True,     # torch.use_deterministic_algorithms on CPU; cudnn.deterministic on CUDA
    "reuse_cpu_memory": True,  # on CPU, keep freed memory for the next step (glibc malloc; see cpu_memory.py)
    "checkpoint_every": 100,   # iterations between checkpoints (the last iteration always gets one)
    "keep_checkpoints": 2,     # newest complete checkpoints kept
    "log_every": 10,           # iterations between CSV/TensorBoard rows
    "num_workers": 0,          # DataLoader worker processes
    "ema_decay": 0.0,          # > 0 keeps an EMA of the weights (mean teacher)
    "export_ema": False,       # store the EMA weights (not the raw ones) under "model"
    "progress": True,          # tqdm progress bar (main process only)
}

OPTIMIZER_DEFAULTS: dict[str, Any] = {
    "name": "adam",            # adam, adamw, sgd
    "lr": 1e-4,
    "weight_decay": 0.0,
    "betas": [0.9, 0.999],
    "momentum": 0.9,           # sgd only
}

SCHEDULER_DEFAULTS: dict[str, Any] = {
    "name": "none",            # none, step, cosine (stepped every iteration)
    "step_size": 1000,
    "gamma": 0.1,
    "min_lr": 0.0,
}

VALIDATION_DEFAULTS: dict[str, Any] = {
    "every": 0,                # iterations between validations; 0 = only at the end (if dataset is set)
    "dataset": "",             # any registered dataset name, e.g. "dicm" or "folder:/path"; "" = none
    "metrics": ["niqe"],       # registered metric names (the runner's metrics)
    "limit": 8,                # first N images of the dataset
}

#: keys that may differ between a checkpoint and the config used to resume it
RESUMABLE_CHANGES = {
    ("train", "iterations"), ("train", "checkpoint_every"), ("train", "keep_checkpoints"),
    ("train", "log_every"), ("train", "progress"), ("train", "num_workers"), ("train", "device"),
    ("train", "threads"), ("train", "reuse_cpu_memory"),
    ("validation", "every"), ("validation", "limit"),
}


def _merge(defaults: Mapping[str, Any], given: Mapping[str, Any], where: str) -> dict[str, Any]:
    unknown = set(given) - set(defaults)
    if unknown:
        raise RunConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(defaults))})")
    merged = copy.deepcopy(dict(defaults))
    merged.update(copy.deepcopy(dict(given)))
    return merged


@dataclass
class TrainConfig:
    """The merged configuration of one training run (see module docstring)."""

    method: dict[str, Any]
    data: dict[str, Any]
    train: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(ENGINE_DEFAULTS))
    optimizer: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(OPTIMIZER_DEFAULTS))
    scheduler: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(SCHEDULER_DEFAULTS))
    validation: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(VALIDATION_DEFAULTS))

    TABLES = ("train", "optimizer", "scheduler", "validation", "data", "method")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], trainer_cls: type, where: str = "config") -> TrainConfig:
        """Merge ``raw`` (tables as in the TOML file) over the engine's and the trainer's defaults."""
        unknown = set(raw) - set(cls.TABLES)
        if unknown:
            raise RunConfigError(f"{where}: unknown tables {', '.join(sorted(unknown))} (known: {', '.join(cls.TABLES)})")
        for table, value in raw.items():
            if not isinstance(value, Mapping):
                raise RunConfigError(f"{where}: [{table}] must be a table")
        config = cls(
            train=_merge(ENGINE_DEFAULTS, raw.get("train", {}), f"{where} [train]"),
            optimizer=_merge(OPTIMIZER_DEFAULTS, raw.get("optimizer", {}), f"{where} [optimizer]"),
            scheduler=_merge(SCHEDULER_DEFAULTS, raw.get("scheduler", {}), f"{where} [scheduler]"),
            validation=_merge(VALIDATION_DEFAULTS, raw.get("validation", {}), f"{where} [validation]"),
            data=_merge(trainer_cls.default_data, raw.get("data", {}), f"{where} [data]"),
            method=_merge(trainer_cls.default_method, raw.get("method", {}), f"{where} [method]"),
        )
        config.check(where)
        return config

    @classmethod
    def load(cls, path: str | Path, trainer_cls: type, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
        """Read a TOML file; ``overrides`` maps ``"table.key"`` to a value (``--set``)."""
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RunConfigError(f"cannot read train config {path}: {exc}") from exc
        apply_overrides(raw, overrides or {})
        return cls.from_dict(raw, trainer_cls, where=str(path))

    def check(self, where: str) -> None:
        t = self.train
        if int(t["iterations"]) < 1 or int(t["batch_size"]) < 1:
            raise RunConfigError(f"{where}: train.iterations and train.batch_size must be >= 1")
        if t["amp"] not in ("none", "bf16", "fp16"):
            raise RunConfigError(f"{where}: train.amp must be none, bf16 or fp16, got {t['amp']!r}")
        if t["channels_last"] not in ("auto", True, False):
            raise RunConfigError(f"{where}: train.channels_last must be auto, true or false")
        if int(t["threads"]) < 0:
            raise RunConfigError(f"{where}: train.threads must be >= 0")
        if int(t["checkpoint_every"]) < 1:
            raise RunConfigError(f"{where}: train.checkpoint_every must be >= 1")
        if self.optimizer["name"] not in ("adam", "adamw", "sgd"):
            raise RunConfigError(f"{where}: optimizer.name must be adam, adamw or sgd")
        if self.scheduler["name"] not in ("none", "step", "cosine"):
            raise RunConfigError(f"{where}: scheduler.name must be none, step or cosine")
        if not 0.0 <= float(t["ema_decay"]) < 1.0:
            raise RunConfigError(f"{where}: train.ema_decay must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return {table: copy.deepcopy(getattr(self, table)) for table in self.TABLES}

    def differences(self, other: Mapping[str, Any]) -> list[str]:
        """``table.key`` entries that differ from ``other`` (a stored ``to_dict()``) and may not."""
        mine = self.to_dict()
        changed = []
        for table in self.TABLES:
            keys = set(mine[table]) | set(other.get(table, {}))
            for key in sorted(keys):
                if (table, key) in RESUMABLE_CHANGES:
                    continue
                if mine[table].get(key) != other.get(table, {}).get(key):
                    changed.append(f"{table}.{key}: {other.get(table, {}).get(key)!r} -> {mine[table].get(key)!r}")
        return changed


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Set ``raw[table][key] = value`` for every ``"table.key"`` in ``overrides``."""
    for dotted, value in overrides.items():
        table, dot, key = dotted.partition(".")
        if not dot or not key:
            raise RunConfigError(f"--set expects TABLE.KEY=VALUE, got {dotted!r}")
        raw.setdefault(table, {})[key] = value
