"""The contract between the training engine and a method's training recipe.

A trainer plugin subclasses :class:`Trainer` and registers the class through
``llebench_register_trainers``. The engine (:mod:`llebench.training.engine`) owns
everything generic: device, seeding, DDP, AMP, gradient clipping, optimizer/scheduler,
EMA, checkpoints, resume, logs and validation. The trainer owns only what is specific to
the method: the network, the training data and the loss of one step.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from llebench.context import Context, Registry, data_root_from_env
from llebench.losses import LossInputs
from llebench.schema import Key, schema_of

if TYPE_CHECKING:
    from llebench.plugins import PluginSet
    from llebench.training.config import TrainConfig
    from llebench.training.ema import EMA


@dataclass
class TrainContext:
    """What the engine tells a trainer about the run (read-only for the trainer).

    ``ema`` is set before the first step when ``train.ema_decay > 0``: a mean-teacher
    trainer reads its teacher as ``context.ema.module`` (updated by the engine after
    every optimizer step).
    """

    device: torch.device
    out: Path
    rank: int = 0
    world_size: int = 1
    data_root: Path | None = field(default_factory=data_root_from_env)
    plugins: PluginSet | None = None
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    ema: EMA | None = None
    #: the iteration being computed (0-based), updated by the engine before each step
    iteration: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def component_context(self) -> Context:
        """The :class:`~llebench.context.Context` components built for this run get (the
        installed plugins when the engine was given none, loaded once)."""
        if self.plugins is None:
            from llebench.plugins import load_plugins

            self.plugins = load_plugins()
        return Context(device=str(self.device), data_root=self.data_root, plugins=self.plugins)

    @property
    def registry(self) -> Registry:
        return self.component_context.registry

    def build(self, kind: str, text: str, **options: Any) -> Any:
        """A registered component (a validation dataset, a loss) built for this run's device."""
        return self.component_context.build(kind, text, **options)


@dataclass
class StepOutput:
    """The result of one training step: the loss to minimise and scalars to log.

    ``loss_inputs`` (the step's input, output and, on paired data, reference) lets the
    config's ``[[losses]]`` terms apply to this trainer (:mod:`llebench.training.terms`);
    a trainer that leaves it None cannot take extra terms.
    """

    loss: torch.Tensor
    logs: dict[str, float | torch.Tensor] = field(default_factory=dict)
    loss_inputs: LossInputs | None = None


class Trainer(abc.ABC):
    """A training recipe for one method.

    Configuration: ``default_data`` and ``default_method`` list every key the ``[data]``
    and ``[method]`` tables of a train config may hold, with their defaults; unknown keys
    are a configuration error, and a value must have its default's type (override
    :meth:`data_schema` / :meth:`method_schema` to say more, e.g. allowed values). The
    merged values are ``self.data`` and ``self.options``.

    Data protocol: :meth:`train_dataset` returns a map-style dataset. If it defines
    ``get(index, generator)`` the engine calls that with a ``torch.Generator`` seeded from
    (seed, iteration, position), so random augmentation is reproducible, identical across
    resume and independent of worker processes and DDP world size; otherwise the engine
    uses ``dataset[index]``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: the enhancer that evaluates this trainer's checkpoints (``llebench run --methods X --weights CKPT``)
    enhancer: ClassVar[str | None] = None
    default_data: ClassVar[dict[str, Any]] = {}
    default_method: ClassVar[dict[str, Any]] = {}

    @classmethod
    def data_schema(cls) -> dict[str, Key]:
        """The ``[data]`` keys, their types and defaults (from ``default_data``)."""
        return schema_of(cls.default_data)

    @classmethod
    def method_schema(cls) -> dict[str, Key]:
        """The ``[method]`` keys, their types and defaults (from ``default_method``)."""
        return schema_of(cls.default_method)

    def __init__(self, config: TrainConfig, context: TrainContext) -> None:
        self.config = config
        self.context = context
        self.data = config.data
        self.options = config.method

    # -- required ------------------------------------------------------------------------

    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """The network to train, freshly initialised (the engine moves it to the device).

        Frozen sub-networks (feature extractors) may live inside it with
        ``requires_grad=False``; only trainable parameters reach the optimizer.
        """

    @abc.abstractmethod
    def train_dataset(self) -> torch.utils.data.Dataset:
        """The training samples (see the data protocol in the class docstring)."""

    @abc.abstractmethod
    def training_step(self, model: nn.Module, batch: Any) -> StepOutput:
        """Loss of one (local) batch. ``model`` may be DDP-wrapped: call it, do not unwrap it.

        Runs under the engine's autocast context; the batch is already on the device.
        """

    # -- optional ------------------------------------------------------------------------

    def export_state(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The state_dict stored under ``"model"`` in checkpoints: what the enhancer loads."""
        return model.state_dict()

    def enhance(self, model: nn.Module, image: torch.Tensor) -> torch.Tensor:
        """Enhance one 1x3xHxW image for validation (default: first output of ``model``)."""
        output = model(image)
        return output[0] if isinstance(output, (tuple, list)) else output

    def weights_used(self) -> dict[str, str]:
        """``{file name: sha256}`` of pretrained files used (feature networks), for provenance."""
        return {}

    @property
    def untrained(self) -> bool:
        """True when feature networks were random (smoke tests): checkpoints get ``untrained: True``."""
        return False

    def state_dict(self) -> dict[str, Any]:
        """Trainer state beyond model/optimizer (e.g. a memory bank), saved in checkpoints."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
