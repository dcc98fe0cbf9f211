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
from llebench.schema import Key, at_least, in_range, one_of, validate_table

#: the ``[train]`` table: the engine's settings
ENGINE_SCHEMA: dict[str, Key] = {
    "iterations": Key((int,), 1000, at_least(1)),           # optimizer steps in total
    "batch_size": Key((int,), 8, at_least(1)),              # global batch (split evenly over DDP processes)
    "seed": Key((int,), 0, at_least(0)),
    "device": Key((str,), "cpu"),                           # cpu, cuda, cuda:N (under torchrun: cuda:LOCAL_RANK)
    "amp": Key((str,), "none", one_of("none", "bf16", "fp16")),  # fp16 uses a GradScaler; CUDA only
    # auto (= on CUDA; on CPU NCHW convolutions train faster), true, false
    "channels_last": Key((str, bool), "auto", one_of("auto", True, False)),
    "grad_clip": Key((float,), 0.0, at_least(0)),           # max global gradient norm; 0 = off
    # CPU threads (torch.set_num_threads); 0 = torch's default. Use 1 on a busy shared machine:
    # OpenMP threads that wait for each other are slow
    "threads": Key((int,), 0, at_least(0)),
    "deterministic": Key((bool,), True),                    # use_deterministic_algorithms on CPU; cudnn on CUDA
    "reuse_cpu_memory": Key((bool,), True),                 # keep freed memory for the next step (cpu_memory.py)
    "checkpoint_every": Key((int,), 100, at_least(1)),      # the last iteration always gets one
    "keep_checkpoints": Key((int,), 2, at_least(1)),        # newest complete checkpoints kept
    "log_every": Key((int,), 10, at_least(1)),              # iterations between CSV/TensorBoard rows
    "num_workers": Key((int,), 0, at_least(0)),             # DataLoader worker processes
    "ema_decay": Key((float,), 0.0, in_range(0.0, 1.0)),    # > 0 keeps an EMA of the weights (mean teacher)
    "export_ema": Key((bool,), False),                      # store the EMA weights (not the raw ones) under "model"
    "progress": Key((bool,), True),                         # tqdm progress bar (main process only)
    # frozen feature networks of the [[losses]] terms (a trainer's own: its method.feature_nets);
    # "random" is for smoke tests only and marks checkpoints untrained
    "feature_nets": Key((str,), "pretrained", one_of("pretrained", "random")),
}

OPTIMIZER_SCHEMA: dict[str, Key] = {
    "name": Key((str,), "adam", one_of("adam", "adamw", "sgd")),
    "lr": Key((float,), 1e-4, at_least(0)),
    "weight_decay": Key((float,), 0.0, at_least(0)),
    "betas": Key((list,), [0.9, 0.999], items=(float,)),
    "momentum": Key((float,), 0.9, at_least(0)),            # sgd only
}

SCHEDULER_SCHEMA: dict[str, Key] = {
    "name": Key((str,), "none", one_of("none", "step", "cosine")),  # stepped every iteration
    "step_size": Key((int,), 1000, at_least(1)),
    "gamma": Key((float,), 0.1, at_least(0)),
    "min_lr": Key((float,), 0.0, at_least(0)),
}

VALIDATION_SCHEMA: dict[str, Key] = {
    "every": Key((int,), 0, at_least(0)),       # iterations between validations; 0 = only at the end (if dataset set)
    "dataset": Key((str,), ""),                 # any registered dataset name, e.g. "dicm" or "folder:/path"; "" = none
    "metrics": Key((list,), [], items=(str,)),  # registered metric names (the runner's); needed with a dataset
    "limit": Key((int,), 8, at_least(1)),       # first N images of the dataset
}

ENGINE_DEFAULTS = {key: spec.default for key, spec in ENGINE_SCHEMA.items()}
OPTIMIZER_DEFAULTS = {key: spec.default for key, spec in OPTIMIZER_SCHEMA.items()}
SCHEDULER_DEFAULTS = {key: spec.default for key, spec in SCHEDULER_SCHEMA.items()}
VALIDATION_DEFAULTS = {key: spec.default for key, spec in VALIDATION_SCHEMA.items()}


#: keys that may differ between a checkpoint and the config used to resume it
RESUMABLE_CHANGES = {
    ("train", "iterations"), ("train", "checkpoint_every"), ("train", "keep_checkpoints"),
    ("train", "log_every"), ("train", "progress"), ("train", "num_workers"), ("train", "device"),
    ("train", "threads"), ("train", "reuse_cpu_memory"),
    ("validation", "every"), ("validation", "limit"),
}


def _merge(schema: Mapping[str, Key], given: Mapping[str, Any], where: str, prefix: str) -> dict[str, Any]:
    return copy.deepcopy(validate_table(given, schema, where, prefix))


#: keys of a ``[[losses]]`` entry that the engine reads; every other key is an option of the loss
LOSS_ENTRY_SCHEMA: dict[str, Key] = {
    "name": Key((str,), ""),        # a registered loss (llebench plugins lists them)
    "weight": Key((float,), 1.0, at_least(0)),
    "label": Key((str,), ""),       # its train_log.csv column; default: the name
}


def loss_entries(raw: Any, where: str) -> list[dict[str, Any]]:
    """The ``[[losses]]`` list checked: each entry a table with a name; labels unique."""
    if not isinstance(raw, list) or not all(isinstance(entry, Mapping) for entry in raw):
        raise RunConfigError(f"{where}: losses must be a list of tables ([[losses]] entries)")
    entries, labels = [], set()
    for number, entry in enumerate(raw, 1):
        known = {key: value for key, value in entry.items() if key in LOSS_ENTRY_SCHEMA}
        checked = validate_table(known, LOSS_ENTRY_SCHEMA, where, f"losses[{number}].")
        if not checked["name"]:
            raise RunConfigError(f"{where}: losses[{number}] has no name (e.g. name = \"cr\")")
        if "feature_nets" in entry:
            raise RunConfigError(f"{where}: losses[{number}].feature_nets: set train.feature_nets (or pass "
                                 "--feature-nets) instead; it applies to every term")
        checked["label"] = checked["label"] or checked["name"]
        if checked["label"] in labels:
            raise RunConfigError(f"{where}: two losses are logged as {checked['label']!r}: give one a label = \"...\"")
        labels.add(checked["label"])
        options = {key: copy.deepcopy(value) for key, value in entry.items() if key not in LOSS_ENTRY_SCHEMA}
        entries.append({**checked, "options": options})
    return entries


@dataclass
class TrainConfig:
    """The merged configuration of one training run (see module docstring)."""

    method: dict[str, Any]
    data: dict[str, Any]
    train: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(ENGINE_DEFAULTS))
    optimizer: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(OPTIMIZER_DEFAULTS))
    scheduler: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(SCHEDULER_DEFAULTS))
    validation: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(VALIDATION_DEFAULTS))
    #: ``[[losses]]``: extra terms, each ``{"name", "weight", "label", "options"}``
    losses: list[dict[str, Any]] = field(default_factory=list)

    TABLES = ("train", "optimizer", "scheduler", "validation", "data", "method")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], trainer_cls: type, where: str = "config") -> TrainConfig:
        """Merge ``raw`` (tables as in the TOML file) over the engine's and the trainer's defaults."""
        unknown = set(raw) - set(cls.TABLES) - {"losses"}
        if unknown:
            raise RunConfigError(f"{where}: unknown tables {', '.join(sorted(unknown))} "
                                 f"(known: {', '.join(cls.TABLES)} and [[losses]])")
        for table, value in raw.items():
            if table != "losses" and not isinstance(value, Mapping):
                raise RunConfigError(f"{where}: [{table}] must be a table")
        return cls(
            losses=loss_entries(raw.get("losses", []), where),
            train=_merge(ENGINE_SCHEMA, raw.get("train", {}), where, "train."),
            optimizer=_merge(OPTIMIZER_SCHEMA, raw.get("optimizer", {}), where, "optimizer."),
            scheduler=_merge(SCHEDULER_SCHEMA, raw.get("scheduler", {}), where, "scheduler."),
            validation=_merge(VALIDATION_SCHEMA, raw.get("validation", {}), where, "validation."),
            data=_merge(trainer_cls.data_schema(), raw.get("data", {}), where, "data."),
            method=_merge(trainer_cls.method_schema(), raw.get("method", {}), where, "method."),
        )

    @classmethod
    def load(cls, path: str | Path, trainer_cls: type, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
        """Read a TOML file; ``overrides`` maps ``"table.key"`` to a value (``--set``)."""
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
            raise RunConfigError(f"cannot read train config {path}: {exc}") from exc
        apply_overrides(raw, overrides or {})
        return cls.from_dict(raw, trainer_cls, where=str(path))

    def to_dict(self) -> dict[str, Any]:
        tables = {table: copy.deepcopy(getattr(self, table)) for table in self.TABLES}
        return {**tables, "losses": [{"name": e["name"], "weight": e["weight"], "label": e["label"], **e["options"]}
                                     for e in self.losses]}

    def differences(self, other: Mapping[str, Any]) -> list[str]:
        """``table.key`` entries that differ from ``other`` (a stored ``to_dict()``) and may not."""
        mine = self.to_dict()
        changed = []
        if mine["losses"] != other.get("losses", []):
            changed.append(f"losses: {other.get('losses', [])!r} -> {mine['losses']!r}")
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
