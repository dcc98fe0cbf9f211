"""The loss contract: training terms that any trainer composes from its config.

A trainer config lists extra terms::

    [[losses]]
    name = "cr"          # a registered loss (llebench plugins lists them)
    weight = 0.1         # its weight in the total loss
    layers = ["relu1_1", "relu2_1"]   # any other key is an option of the loss

Each term is built through the registry as ``Loss(context, **options)``, called once per
step with a :class:`LossInputs`, and logged under its name as its own column of
``train_log.csv``. A term with trainable parts (a projection head) returns them from
:meth:`Loss.trainable`; the engine optimises them with the network and keeps them in
checkpoints, but never exports them with the network's weights.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from llebench.api import Component

if TYPE_CHECKING:
    import torch


@dataclass
class LossInputs:
    """What a loss term may look at in one step (all Nx3xHxW, [0,1], on the training device).

    ``output`` carries gradients into the network; ``reference`` is the paired ground truth
    (None on unpaired data); ``positives``/``negatives`` are extra samples a trainer
    provides (e.g. unpaired normal-light images); ``extras`` anything else by name.
    """

    input: torch.Tensor
    output: torch.Tensor
    reference: torch.Tensor | None = None
    positives: torch.Tensor | None = None
    negatives: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Loss(Component, abc.ABC):
    """One training term. Options arrive as keyword arguments (unknown ones raise ``TypeError``)."""

    #: needs ``LossInputs.reference`` (paired data)
    needs_reference: ClassVar[bool] = False
    #: uses frozen pretrained feature networks (``feature_nets = "random"`` makes them random)
    uses_feature_nets: ClassVar[bool] = False

    def trainable(self) -> torch.nn.Module | None:
        """Parts trained with the network (e.g. a projection head); None when the term has none."""
        return None

    def weights_used(self) -> dict[str, str]:
        """``{file name: sha256}`` of pretrained files the term loaded (for provenance)."""
        return {}

    @property
    def untrained(self) -> bool:
        """True when its feature networks are random (smoke tests): checkpoints are marked."""
        return False

    def settings(self) -> dict[str, Any]:
        """Every option that changes the term; stored in the checkpoint's provenance."""
        return {}

    @abc.abstractmethod
    def __call__(self, inputs: LossInputs) -> torch.Tensor:
        """The term's value: a scalar tensor (before its config weight is applied)."""


class FeatureNetLoss(Loss):
    """A term computed on frozen feature networks (VGG and the like).

    The subclass sets ``self.feature_nets`` (``"pretrained"`` or ``"random"``) and ``self.vgg``
    (an object with ``weights_used()``, e.g. :class:`llebench.sdk.nets.VGGFeatures`); this base
    turns them into the provenance every such term owes: which file it loaded, and whether its
    features were random (checkpoints and report rows are then marked untrained).
    """

    uses_feature_nets = True
    feature_nets: str = "pretrained"

    @property
    def untrained(self) -> bool:
        return self.feature_nets == "random"

    def weights_used(self) -> dict[str, str]:
        return self.vgg.weights_used()
