"""The contracts between the core and every plugin (public through :mod:`llebench.sdk`).

The core (runner, store, reports) only ever talks to these classes, so a third-party
method, dataset or metric is a subclass registered through a hook and nothing more.

Images travel as float32 RGB tensors, NCHW with N = 1, values in [0, 1]. Label maps are
int64 tensors of shape 1xHxW (255 = ignore).

Every component is built by the core as ``Class(context, **options)`` (datasets and
``name:ARG`` metrics also get ``arg=``): ``context`` is a :class:`~llebench.context.Context`
(device, data root, registry); ``options`` are what the user wrote (``-o``, ``--weights``,
a config table). Unknown options must raise ``TypeError`` so typos are never ignored.

This module imports torch only where a method needs it, so that listing plugins and
printing help stay fast.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Literal

from llebench.context import Context
from llebench.weights import WeightsFile

if TYPE_CHECKING:
    import torch

    from llebench.results import RunResults

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
    enhancer: Enhancer | None = field(default=None, compare=False, repr=False)
    #: ``(height, width)`` of the input the method enhanced
    size: tuple[int, int] | None = None


class Component:
    """What every registered class has: a name users type, a description, pretrained files,
    and the :class:`~llebench.context.Context` it was built in."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: pretrained files this component may need; listed by ``llebench weights list``
    weights_files: ClassVar[tuple[WeightsFile, ...]] = ()

    def __init__(self, context: Context | None = None) -> None:
        self.context = context if context is not None else Context()

    @property
    def device(self) -> torch.device:
        import torch

        return torch.device(self.context.device)


class Enhancer(Component, abc.ABC):
    """A low-light enhancement method ("method" on the command line and in every file).

    Subclasses set ``name`` and implement :meth:`enhance`. The bibliographic attributes
    (``paper``, ``year``, ``venue``, ``licence``, ``variants``) are shown by
    ``llebench methods``.
    """

    #: the identity: a reference row in tables (never ranked), nothing worth caching
    reference: ClassVar[bool] = False
    #: accepts ``allow_untrained=True`` (checkpoints trained with random feature networks)
    accepts_untrained: ClassVar[bool] = False
    #: accepts ``weights=PATH`` (``--weights``): a checkpoint of the user's own
    accepts_weights: ClassVar[bool] = False
    #: receptive-field radius (px) when the output can be computed exactly on overlapping
    #: tiles (see llebench.tiling); the runner then retries tiled after out-of-memory
    tile_halo: ClassVar[int | None] = None
    #: the output may be the top-left crop of the input (an official test script that crops
    #: to a multiple of the network's stride); the sample is cropped alike for scoring
    crops_output: ClassVar[bool] = False
    paper: ClassVar[str] = ""
    year: ClassVar[int | None] = None
    venue: ClassVar[str] = ""
    licence: ClassVar[str] = ""
    #: named variants (``-o METHOD.variant=NAME``), the default (published) one first: score
    #: rows and tables name a variant only when it is not the default
    variants: ClassVar[tuple[str, ...]] = ()

    @property
    def caches_output(self) -> bool:
        """Whether the runner keeps the output as a PNG (not for the identity)."""
        return not self.reference

    @property
    def variant(self) -> str:
        """A short label of non-default behaviour (e.g. ``official``); '' for the paper's."""
        return ""

    @property
    def needs_reference(self) -> bool:
        """True when this instance enhances with the ground truth's help (an official paired test
        procedure, e.g. a GT-mean rescale): the runner then calls :meth:`enhance_with_reference`."""
        return False

    def enhance_with_reference(self, image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """:meth:`enhance` given the reference image too (only when :attr:`needs_reference`)."""
        raise NotImplementedError(f"{self.name} does not use reference images")

    def published_weights(self) -> tuple[WeightsFile, ...]:
        """The published files this configuration loads when no ``weights`` is given: a
        ``--weights`` file byte-identical to them is not marked custom. The default is the
        method's only file, if it has exactly one (several: which one is the variant's own is
        the method's to say, so none is assumed)."""
        return self.weights_files if len(self.weights_files) == 1 else ()

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
        import torch

        modules = [value for value in vars(self).values() if isinstance(value, torch.nn.Module)]
        if not modules:
            return None
        return modules[0] if len(modules) == 1 else torch.nn.ModuleList(modules)

    @abc.abstractmethod
    def enhance(self, image: torch.Tensor) -> torch.Tensor:
        """Map a 1x3xHxW [0,1] tensor to an enhanced 1x3xHxW tensor (clamped by the caller)."""


class Dataset(Component, abc.ABC):
    """A set of test samples on disk (or generated).

    ``ids()`` must be cheap and raise :class:`llebench.errors.DatasetUnavailable` with
    the expected layout when the data is absent; ``load(id)`` reads one sample and raises
    :class:`llebench.errors.ImageError` (naming the file) when it cannot.
    """

    kind: ClassVar[DatasetKind] = "no-reference"
    #: how the files must be laid out under the data root (shown in errors and docs)
    layout: ClassVar[str] = ""
    #: where to obtain the data
    source: ClassVar[str] = ""
    #: part of the datasets used when ``--datasets`` is not given
    default: ClassVar[bool] = False
    #: named ``name:ARG`` (e.g. ``folder:PATH``); the constructor then gets ``arg=ARG``
    takes_arg: ClassVar[bool] = False
    #: has a ``ref`` option: a folder of references paired by file stem (``llebench run --ref``)
    takes_ref: ClassVar[bool] = False

    def __init__(self, context: Context | None = None, arg: str | None = None) -> None:
        super().__init__(context)
        self.arg = arg

    @property
    def data_root(self) -> Path | None:
        return self.context.data_root

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

    def published_size(self) -> int | None:
        """How many images the dataset has as published (None: not known, or the user's own data).

        A local copy with fewer images is a subset of it: its cells show ``n/N`` with this
        ``N`` and are never compared with published numbers.
        """
        return None

    def files(self, sample_id: str) -> list[Path]:
        """The files one sample is read from (input first), for the run's dataset fingerprint.

        The default is none: a generated dataset is described by its settings alone.
        """
        return []

    def check(self) -> Iterator[str]:
        """Problems that loading each sample cannot reveal (e.g. a reference with no input).

        ``llebench data check`` loads every sample itself (unreadable files, missing
        references, size mismatches), then reports these; the default finds none.
        """
        return iter(())

    @abc.abstractmethod
    def ids(self) -> list[str]:
        """Sorted, unique sample ids (relative paths without surprises: no '..', no absolute)."""

    @abc.abstractmethod
    def load(self, sample_id: str) -> Sample:
        """Read one sample."""


class Metric(Component, abc.ABC):
    """An image-quality, task or efficiency measure.

    ``settings()`` must say exactly how the number is computed (implementation, colour
    space, crop border, parameter file) because it is stored beside every score: two
    NIQE implementations give two different numbers.

    A metric with ``takes_arg = True`` is named ``name:ARG`` (e.g. ``pyiqa:lpips``) and
    receives ``arg``; when ARG decides its kind or direction it sets ``kind`` and
    ``lower_better`` on the instance, which the runner reads once the metric is built.
    """

    kind: ClassVar[MetricKind] = "no-reference"
    lower_better: ClassVar[bool] = False
    #: part of the metrics used when ``--metrics`` is not given
    default: ClassVar[bool] = False
    #: accepts ``name:ARG``; the constructor then gets ``arg=ARG`` (None without ':')
    takes_arg: ClassVar[bool] = False
    #: costly on the CPU (e.g. BRISQUE): the runner may score it in a worker process, which
    #: builds its own instance from the same options (so it must not need the method object)
    expensive: ClassVar[bool] = False
    #: :meth:`compute_batch` scores several same-sized outputs in one call (the runner batches
    #: when ``--metric-batch`` > 1, the default on CUDA)
    batchable: ClassVar[bool] = False
    #: measures the time of the enhance() call (``EnhanceRecord.seconds``): the runner then
    #: warms each method up once, untimed, before the first output it times
    uses_timing: ClassVar[bool] = False
    #: how tables print a value: a format spec (``",.0f"`` for a count, ``".3f"``); "" = by magnitude
    number_format: ClassVar[str] = ""

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
    :meth:`llebench.results.RunResults.details`). ``float(result)`` is the value.
    """

    value: float
    arrays: dict[str, Any] = field(default_factory=dict)  # name -> numpy array

    def __float__(self) -> float:
        return float(self.value)


class Report(Component, abc.ABC):
    """A page layout built from a results directory.

    ``llebench run`` writes the layouts that set ``after_run``; ``llebench report RUN``
    writes every layout that ``can_render`` the run. The page goes to ``RUN/<filename>``
    and each export beside it with the export's suffix.
    """

    #: written by ``llebench run`` at the end of every run (the leaderboard)
    after_run: ClassVar[bool] = False
    #: shows a comparison grid whose images the constructor's ``figure_images`` option
    #: (image ids; ``llebench report --figure-images``) can choose
    has_figures: ClassVar[bool] = False

    @classmethod
    def filename(cls) -> str:
        """The page's file name inside the run directory."""
        return f"report_{cls.name}.html"

    def can_render(self, run: RunResults) -> bool:
        """Whether ``run`` holds anything this layout shows."""
        return True

    def exports(self, run: RunResults) -> dict[str, str]:
        """Other files written beside the page: ``{suffix: text}`` (e.g. ``{".csv": ...}``)."""
        return {}

    @abc.abstractmethod
    def render(self, run: RunResults) -> str:
        """Return a complete, self-contained HTML document."""
