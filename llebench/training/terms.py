"""The ``[[losses]]`` of a train config: built once, added to the trainer's loss every step.

A trainer opts in by returning the step's images as ``StepOutput.loss_inputs``
(:class:`llebench.losses.LossInputs`); the engine then adds ``weight x term(inputs)`` for
every configured term and logs each term, unweighted, as its own ``train_log.csv`` column
(its label: the loss name unless the entry sets ``label``). Terms with trainable parts (a
projection head) have them optimised with the network, kept in checkpoints (so resume is
exact) and never exported with the network's weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from llebench.errors import RunConfigError
from llebench.losses import Loss, LossInputs
from llebench.training.api import TrainContext


@dataclass
class Term:
    label: str
    weight: float
    loss: Loss


class LossTerms:
    """Every configured term of one run (see the module docstring)."""

    def __init__(self, entries: list[dict[str, Any]], context: TrainContext, feature_nets: str) -> None:
        self.terms: list[Term] = []
        for number, entry in enumerate(entries, 1):
            cls = context.registry.get("losses", entry["name"])
            options = dict(entry["options"])
            if cls.uses_feature_nets:
                options["feature_nets"] = feature_nets
            try:
                loss = cls(context.component_context, **options)
            except TypeError as exc:
                raise RunConfigError(f"losses[{number}] ({entry['name']}): bad options {entry['options']}: {exc}") from exc
            self.terms.append(Term(entry["label"], float(entry["weight"]), loss))
        self.modules = nn.ModuleDict({t.label: module for t in self.terms if (module := t.loss.trainable()) is not None})
        self.modules.to(context.device)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def parameters(self) -> list[nn.Parameter]:
        """Trainable parameters of every term (optimised with the network's)."""
        return [p for p in self.modules.parameters() if p.requires_grad]

    def add_to(self, loss: torch.Tensor, logs: dict[str, Any], inputs: LossInputs | None,
               trainer: str) -> torch.Tensor:
        """``loss`` plus every weighted term; each term's value goes into ``logs`` under its label."""
        if inputs is None:
            raise RunConfigError(f"trainer {trainer!r} does not provide loss inputs (StepOutput.loss_inputs): "
                                 "it cannot take [[losses]] terms")
        total = loss
        for term in self.terms:
            if term.label in logs:
                raise RunConfigError(f"loss label {term.label!r} is also a term of trainer {trainer!r}: "
                                     "give the [[losses]] entry another label")
            if term.loss.needs_reference and inputs.reference is None:
                raise RunConfigError(f"loss {term.label!r} needs paired data (a reference image), which trainer "
                                     f"{trainer!r} did not give in this step")
            value = term.loss(inputs).float()
            logs[term.label] = value.detach()
            total = total + term.weight * value
        return total

    @property
    def untrained(self) -> bool:
        return any(term.loss.untrained for term in self.terms)

    def weights_used(self) -> dict[str, str]:
        used: dict[str, str] = {}
        for term in self.terms:
            used.update(term.loss.weights_used())
        return used

    def settings(self) -> dict[str, Any]:
        """Each term's settings, for the checkpoint's provenance."""
        return {term.label: {"name": term.loss.name, "weight": term.weight, **term.loss.settings()}
                for term in self.terms}

    def state_dict(self) -> dict[str, Any]:
        return self.modules.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.modules.load_state_dict(state)
