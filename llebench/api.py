"""The contracts between the core and every plugin.

The core (runner, store, reports) only ever talks to these classes, so a third-party
method, dataset or metric is a subclass registered through a hook and nothing more.

Images travel as float32 RGB tensors, NCHW with N = 1, values in [0, 1]. Label maps are
int64 tensors of shape 1xHxW (255 = ignore).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator, Literal

import torch

from llebench.weights import WeightsFile

MetricKind = Literal["no-reference", "full-reference", "task", "efficiency"]
DatasetKind = Literal["no-reference", "paired", "segmentation"]


@dataclass
class Sample:
    """One test image, with what a metric might need beside it."""

    id: str
    input: torch.Tensor
    reference: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EnhanceRecord:
    """What the runner knows about how an output was produced (for efficiency metrics)."""

    seconds: float
    device: str
    #: the method that produced the output (efficiency metrics measure it: params, flops)
    enhancer: "Enhancer | None" = field(default=None, compare=False, repr=False)


class Enhancer(abc.ABC):
    """A low-light enhancement method.

    Subclasses set ``name`` and implement :meth:`enhance`. Options given by the user
    (``--weights``, ``-o key=value`` or a config table) arrive as keyword arguments;
    unknown options must raise ``TypeError`` so typos are not silently ignored.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: pretrained files this method may need; listed by ``llebench weights list``
    weights_files: ClassVar[tuple[WeightsFile, ...]] = ()
    #: False for methods whose output is the input itself (nothing worth caching)
    caches_output: ClassVar[bool] = True
    #: receptive-field radius (px) when the output can be computed exactly on overlapping
    #: tiles (see llebench.tiling); the runner then retries tiled after out-of-memory
    tile_halo: ClassVar[int | None] = None

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)

    @property
    def variant(self) -> str:
        """A short label of non-default behaviour (e.g. ``official``); '' for the paper's."""
        return ""

    def weights_used(self) -> dict[str, str]:
        """``{file name: sha256}`` of every pretrained file actually loaded."""
        return {}

    def settings(self) -> dict[str, Any]:
        """Every option that changes the output; stored in the manifest."""
        return {}

    def network(self) -> torch.nn.Module | None:
        """The torch network whose parameters and FLOPs the efficiency metrics count.

        By default the ``torch.nn.Module`` attributes of the enhancer (one module, or a
        ``ModuleList`` of several); None when it holds none (not a learned method).
        Override it when the network is kept elsewhere.
        """
        modules = [value for value in vars(self).values() if isinstance(value, torch.nn.Module)]
        if not modules:
            return None
        return modules[0] if len(modules) == 1 else torch.nn.ModuleList(modules)

    @abc.abstractmethod
    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        """Map a 1x3xHxW [0,1] tensor to an enhanced 1x3xHxW tensor (clamped by the caller)."""


class Dataset(abc.ABC):
    """A set of test samples on disk (or generated).

    ``ids()`` must be cheap and raise :class:`llebench.errors.DatasetUnavailable` with
    the expected layout when the data is absent; ``load(id)`` reads one sample and raises
    :class:`llebench.errors.ImageError` (naming the file) when it cannot.
    """

    name: ClassVar[str]
    kind: ClassVar[DatasetKind] = "no-reference"
    description: ClassVar[str] = ""
    #: how the files must be laid out under the data root (shown in errors and docs)
    layout: ClassVar[str] = ""
    #: where to obtain the data
    source: ClassVar[str] = ""
    #: part of the datasets used when ``--datasets`` is not given
    default: ClassVar[bool] = False

    def __init__(self, data_root: Path | None = None, arg: str | None = None) -> None:
        self.data_root = data_root
        self.arg = arg

    @property
    def label(self) -> str:
        """The dataset name used in scores (includes the argument of ``folder:PATH``)."""
        return self.name if self.arg is None else f"{self.name}:{self.arg}"

    @property
    def has_reference(self) -> bool:
        return self.kind == "paired"

    @property
    def has_labels(self) -> bool:
        return self.kind == "segmentation"

    def settings(self) -> dict[str, Any]:
        """Everything that defines the samples (root, protocol, resizing)."""
        return {}

    def location(self) -> Path | None:
        """The directory the samples are read from (None: nothing on disk, or no data root).

        ``llebench data list`` shows it, and calls the dataset "missing" when it does not
        exist and "wrong" when it exists but ``ids()`` still fails.
        """
        return None

    def check(self) -> Iterator[str]:
        """Problems that loading each sample cannot reveal (e.g. a reference with no input).

        ``llebench data check`` loads every sample itself (unreadable files, missing
        references, size mismatches), then reports these; the default finds none.
        """
        return iter(())

    @abc.abstractmethod
    def ids(self) -> list[str]:
        """Sorted sample ids (relative paths without surprises: no '..', no absolute)."""

    @abc.abstractmethod
    def load(self, sample_id: str) -> Sample:
        """Read one sample."""


class Metric(abc.ABC):
    """An image-quality, task or efficiency measure.

    ``settings()`` must say exactly how the number is computed (implementation, colour
    space, crop border, parameter file) because it is stored beside every score: two
    NIQE implementations give two different numbers.

    A metric with ``takes_arg = True`` is named ``name:ARG`` (e.g. ``pyiqa:lpips``) and
    receives ``arg``; when ARG decides its kind or direction it sets ``kind`` and
    ``lower_better`` on the instance, which the runner reads once the metric is built.
    """

    name: ClassVar[str]
    kind: ClassVar[MetricKind] = "no-reference"
    lower_better: ClassVar[bool] = False
    description: ClassVar[str] = ""
    weights_files: ClassVar[tuple[WeightsFile, ...]] = ()
    #: part of the metrics used when ``--metrics`` is not given
    default: ClassVar[bool] = False
    #: accepts ``name:ARG``; the constructor then gets ``arg=ARG`` (None without ':')
    takes_arg: ClassVar[bool] = False
    #: costly on the CPU (e.g. NIQE): the runner may score it in a worker process, which
    #: builds its own instance from the same options (so it must not need the method object)
    expensive: ClassVar[bool] = False
    #: :meth:`compute_batch` scores several same-sized outputs in one call (the runner batches
    #: when ``--metric-batch`` > 1, the default on CUDA)
    batchable: ClassVar[bool] = False

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)

    @property
    def needs_reference(self) -> bool:
        return self.kind == "full-reference"

    @property
    def needs_labels(self) -> bool:
        return self.kind == "task"

    def settings(self) -> dict[str, Any]:
        return {}

    @abc.abstractmethod
    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float | MetricValue:
        """Score one enhanced image (1x3xHxW, [0,1], quantised to 8 bits like the saved PNG).

        Return a :class:`MetricValue` to keep per-image arrays beside the score.
        """

    def compute_batch(self, outputs: torch.Tensor, samples: list[Sample],
                      records: list[EnhanceRecord]) -> list[float | MetricValue]:
        """Score N same-sized outputs (Nx3xHxW) at once: one value per image, in order.

        A batchable metric overrides this with one batched forward pass; it must equal
        :meth:`compute` image by image up to float rounding. Raising fails nothing: the
        runner then scores the batch image by image, so each image gets its own result.
        """
        return [self.compute(outputs[i: i + 1], sample, record)
                for i, (sample, record) in enumerate(zip(samples, records, strict=True))]


@dataclass(frozen=True)
class MetricValue:
    """A score plus per-image arrays kept beside it, for dataset-level aggregation.

    ``Metric.compute`` may return this instead of a float when the dataset-level number is
    not the mean of per-image numbers (mIoU sums confusion matrices over images). The
    runner stores ``value`` in ``scores.csv`` as usual and ``arrays`` in
    ``RUN/details/<metric>/<method>/<dataset>/<image>.npz`` (see
    :meth:`llebench.store.RunResults.details`). ``float(result)`` is the value.
    """

    value: float
    arrays: dict[str, Any] = field(default_factory=dict)  # name -> numpy array

    def __float__(self) -> float:
        return float(self.value)


class Report(abc.ABC):
    """A page layout built from a results directory."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def can_render(self, run: "RunResults") -> bool:  # noqa: F821 - defined in llebench.store
        """Whether ``run`` holds anything this layout shows (``llebench report`` without
        ``--layout`` writes every layout that can)."""
        return True

    def exports(self, run: "RunResults") -> dict[str, str]:  # noqa: F821
        """Other files written beside the page: ``{suffix: text}`` (e.g. ``{".csv": ...}``)."""
        return {}

    @abc.abstractmethod
    def render(self, run: "RunResults") -> str:  # noqa: F821 - defined in llebench.store
        """Return a complete, self-contained HTML document."""
