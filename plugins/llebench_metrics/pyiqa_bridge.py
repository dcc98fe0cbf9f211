"""Metrics computed by pyiqa: the short names of the papers' tables, and ``pyiqa:<name>``.

Every file a pyiqa metric needs is obtained through llebench's weights resolution (see
:mod:`llebench.sdk.pyiqa`). The short names fix their kind and direction as
class attributes (so listing them needs no pyiqa import); a test checks them against
pyiqa's ``DEFAULT_CONFIGS``. ``pyiqa:<name>`` reads them from ``DEFAULT_CONFIGS`` when
built.
"""

from __future__ import annotations

import contextlib
import io
from importlib import metadata
from typing import Any, ClassVar

import torch

from llebench.sdk import Context, EnhanceRecord, LLEBenchError, Metric, MetricKind, RunConfigError, Sample, sha256sum
from llebench.sdk.pyiqa import PYIQA_FILES, files_for, resolve_all, routed_downloads

from llebench_metrics.gtmean import scale_to_reference_mean

PYIQA_MODES: dict[str, MetricKind] = {"NR": "no-reference", "FR": "full-reference"}


def pyiqa_config(pyiqa_name: str) -> dict[str, Any]:
    """pyiqa's default configuration of one metric (options, mode, direction, range)."""
    from pyiqa.default_model_configs import DEFAULT_CONFIGS  # heavy import

    if pyiqa_name not in DEFAULT_CONFIGS:
        raise RunConfigError(
            f"pyiqa has no metric {pyiqa_name!r} (pyiqa {metadata.version('pyiqa')}); "
            f"known: {', '.join(sorted(DEFAULT_CONFIGS))}"
        )
    return DEFAULT_CONFIGS[pyiqa_name]


class PyiqaMetric(Metric):
    """One pyiqa metric; subclasses set ``pyiqa_name`` and, if needed, ``pyiqa_options``."""

    pyiqa_name: ClassVar[str]
    #: options passed to pyiqa beyond its defaults (part of the metric's identity)
    pyiqa_options: ClassVar[dict[str, Any]] = {}
    #: scale the output so its grey-level mean equals the reference's first (KinD, LLFlow)
    gt_mean: ClassVar[bool] = False
    #: the short names' pyiqa networks score each image of a batch on its own (tested)
    batchable = True

    def __init__(self, context: Context | None = None) -> None:
        super().__init__(context)
        import pyiqa  # heavy import, only when the metric is used

        self._config = pyiqa_config(self.pyiqa_name)
        resolve_all(self.weights_files)
        # pyiqa prints "Downloading ..." / "Loading pretrained model ..." even for local files
        with routed_downloads() as used, contextlib.redirect_stdout(io.StringIO()):
            self.model = pyiqa.create_metric(self.pyiqa_name, device=self.device, as_loss=False,
                                             **self.pyiqa_options)
        self.files_used = {name: sha256sum(path) for name, path in sorted(used.items())}

    def settings(self) -> dict[str, Any]:
        opts = {**self._config["metric_opts"], **self.pyiqa_options}
        opts.pop("type", None)
        settings: dict[str, Any] = {
            "implementation": f"pyiqa {metadata.version('pyiqa')} create_metric({self.pyiqa_name!r})",
            "options": opts,
            "input": "8-bit RGB output scaled to [0,1]",
            "score_range": self._config.get("score_range"),
        }
        if self.gt_mean:
            settings["gt_mean"] = ("output x mean(grey(reference)) / mean(grey(output)), clipped to [0,1], "
                                   "grey = 0.299 R + 0.587 G + 0.114 B (KinD / LLFlow evaluation)")
        if self.files_used:
            settings["files"] = self.files_used
        return settings

    def _references(self, outputs: torch.Tensor, samples: list[Sample]) -> torch.Tensor | None:
        """The samples' references as one batch (None for a no-reference metric); each must fit its output."""
        if not self.needs_reference:
            return None
        for sample in samples:
            if sample.reference is None:
                raise LLEBenchError(f"{self.name} needs a reference image")
            if sample.reference.shape[1:] != outputs.shape[1:]:
                raise LLEBenchError(
                    f"{self.name}: reference size {tuple(sample.reference.shape[-2:])} differs from "
                    f"output size {tuple(outputs.shape[-2:])}"
                )
        return torch.cat([sample.reference for sample in samples])

    def _scores(self, outputs: torch.Tensor, references: torch.Tensor | None) -> torch.Tensor:
        """pyiqa's score of every image of an Nx3xHxW batch (shape N)."""
        target = outputs.to(self.device)
        with torch.inference_mode():
            if references is None:
                return self.model(target).flatten()
            reference = references.to(self.device)
            if self.gt_mean:
                target = scale_to_reference_mean(target, reference)
            return self.model(target, reference).flatten()

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        return float(self._scores(output, self._references(output, [sample]))[0])

    def compute_batch(self, outputs: torch.Tensor, samples: list[Sample],
                      records: list[EnhanceRecord]) -> list[float]:
        scores = self._scores(outputs, self._references(outputs, samples))
        if scores.numel() != len(samples):
            raise LLEBenchError(f"{self.name}: pyiqa gave {scores.numel()} scores for a batch of {len(samples)}")
        return [float(score) for score in scores]


class PyiqaByName(PyiqaMetric):
    """``pyiqa:<name>``: any pyiqa metric, with pyiqa's default settings."""

    name = "pyiqa"
    takes_arg = True
    batchable = False  # an arbitrary pyiqa metric is not known to score batch members independently
    description = "any pyiqa metric: pyiqa:<name> (e.g. pyiqa:lpips-vgg); kind and direction from pyiqa"
    #: what the listed pyiqa metrics may need (an instance keeps only its own metric's files)
    weights_files = tuple(dict.fromkeys(f for files in PYIQA_FILES.values() for f in files))

    def __init__(self, context: Context | None = None, arg: str | None = None) -> None:
        if not arg:
            raise RunConfigError("metric 'pyiqa' needs a pyiqa metric name: pyiqa:NAME (e.g. pyiqa:lpips-vgg)")
        config = pyiqa_config(arg)
        self.pyiqa_name = arg
        self.kind = PYIQA_MODES[config["metric_mode"]]
        self.lower_better = bool(config.get("lower_better", False))
        self.weights_files = files_for(arg)
        super().__init__(context)


class OwnImplementation(PyiqaMetric):
    """A short name that llebench computes itself by default (``implementation = "llebench"``:
    an independent vectorised implementation with pyiqa's arithmetic, tested equal to it) and
    through pyiqa with ``implementation = "pyiqa"`` (the reference). Both read the same
    parameter file, through llebench's weights resolution."""

    #: what ``settings()["implementation"]`` says of llebench's implementation
    port: ClassVar[str]

    def __init__(self, context: Context | None = None, implementation: str = "llebench") -> None:
        if implementation not in ("llebench", "pyiqa"):
            raise RunConfigError(f"{self.name}: implementation must be 'llebench' or 'pyiqa', got {implementation!r}")
        self.implementation = implementation
        if implementation == "pyiqa":
            super().__init__(context)
            return
        Metric.__init__(self, context)
        paths = resolve_all(self.weights_files)
        self.files_used = {name: sha256sum(path) for name, path in sorted(paths.items())}
        self.model = self.build(paths)
        self.expensive = False  # tens of milliseconds: a worker process would cost more than it saves

    def build(self, paths: dict[str, Any]) -> Any:
        """The llebench implementation, from the resolved files (name -> path)."""
        raise NotImplementedError

    def check(self, outputs: torch.Tensor) -> None:
        """Refuse inputs the metric cannot score, with a clear error (both implementations)."""

    def settings(self) -> dict[str, Any]:
        if self.implementation == "pyiqa":
            return super().settings()
        config = type(self).reference_config
        settings: dict[str, Any] = {
            "implementation": self.port,
            "options": dict(config["options"]),
            "input": "8-bit RGB output scaled to [0,1]",
            "score_range": config["score_range"],
        }
        if self.files_used:
            settings["files"] = self.files_used
        return settings

    def _scores(self, outputs: torch.Tensor, references: torch.Tensor | None) -> torch.Tensor:
        self.check(outputs)
        if self.implementation == "pyiqa":
            return super()._scores(outputs, references)
        return self.model(outputs.to(self.device)).flatten()


class NIQE(OwnImplementation):
    name = "niqe"
    number_format = ".3f"
    pyiqa_name = "niqe"
    weights_files = files_for("niqe")
    lower_better = True
    default = True
    expensive = True  # the pyiqa implementation: scored in a worker process on CPU runs (llebench.scoring)
    description = "NIQE (Mittal et al. 2013), Y channel, LIVE pristine parameters (pyiqa's arithmetic)"
    port = ("llebench niqe: the arithmetic of pyiqa's niqe (Y of YIQ rounded, 96x96 patches, MATLAB imresize, "
            "AGGD fits on gamma 0.2:0.001:10), vectorised")
    #: pyiqa's options and score range of ``niqe`` (tested against its DEFAULT_CONFIGS)
    reference_config: ClassVar[dict[str, Any]] = {
        "options": {"test_y_channel": True}, "score_range": "~0, ~100"}

    def build(self, paths: dict[str, Any]) -> Any:
        from llebench_metrics.niqe import NIQEModel

        return NIQEModel.from_file(paths[self.weights_files[0].filename])

    def check(self, outputs: torch.Tensor) -> None:
        from llebench_metrics.niqe import check_size

        check_size(*outputs.shape[-2:])


class UNIQUE(PyiqaMetric):
    name = "unique"
    pyiqa_name = "unique"
    weights_files = files_for("unique")
    expensive = True  # scored in a worker process on CPU runs (llebench.scoring)
    description = "UNIQUE (Zhang et al. 2021), pyiqa, model trained on the mix of IQA databases"


class BRISQUE(OwnImplementation):
    name = "brisque"
    pyiqa_name = "brisque"
    weights_files = files_for("brisque")
    lower_better = True
    expensive = True  # the pyiqa implementation: scored in a worker process on CPU runs (llebench.scoring)
    description = "BRISQUE (Mittal et al. 2012), 'original' version, Y channel, LIVE SVR (pyiqa's arithmetic)"
    port = ("llebench brisque: the arithmetic of pyiqa's brisque 'original' (Y of YIQ rounded, float32, MATLAB "
            "imresize, LIVE feature ranges, RBF SVR gamma 0.05, rho -153.591), vectorised")
    reference_config: ClassVar[dict[str, Any]] = {
        "options": {"test_y_channel": True}, "score_range": "~0, ~150"}

    def build(self, paths: dict[str, Any]) -> Any:
        from llebench_metrics.brisque import BRISQUEModel

        return BRISQUEModel.from_file(paths[self.weights_files[0].filename])

    def check(self, outputs: torch.Tensor) -> None:
        from llebench_metrics.brisque import check_size

        check_size(*outputs.shape[-2:])


class MUSIQ(PyiqaMetric):
    name = "musiq"
    pyiqa_name = "musiq"
    weights_files = files_for("musiq")
    expensive = True  # scored in a worker process on CPU runs (llebench.scoring)
    description = "MUSIQ (Ke et al. 2021), pyiqa, trained on KonIQ-10k"


class LPIPS(PyiqaMetric):
    name = "lpips"
    pyiqa_name = "lpips"
    kind = "full-reference"
    weights_files = files_for("lpips")
    lower_better = True
    description = "LPIPS v0.1 with AlexNet (Zhang et al. 2018), pyiqa 'lpips'"


class MSSSIM(PyiqaMetric):
    name = "ms_ssim"
    pyiqa_name = "ms_ssim"
    kind = "full-reference"
    description = "MS-SSIM on the Y channel (pyiqa 'ms_ssim': 5 scales, product of scales)"


class PSNR(PyiqaMetric):
    name = "psnr"
    number_format = ".3f"
    pyiqa_name = "psnr"
    kind = "full-reference"
    default = True
    description = "PSNR in dB on RGB, data range 1 (pyiqa 'psnr')"


class PSNRY(PyiqaMetric):
    name = "psnr_y"
    pyiqa_name = "psnry"
    kind = "full-reference"
    description = "PSNR in dB on the Y channel (pyiqa 'psnry')"


class SSIM(PyiqaMetric):
    name = "ssim"
    pyiqa_name = "ssim"
    kind = "full-reference"
    default = True
    description = "SSIM on the Y channel (pyiqa 'ssim': Gaussian window 11, sigma 1.5, no downsampling)"


class SSIMRGB(PyiqaMetric):
    name = "ssim_rgb"
    pyiqa_name = "ssimc"
    kind = "full-reference"
    description = "SSIM on RGB, mean of the channels (pyiqa 'ssimc': Gaussian window 11, sigma 1.5)"


class PSNRGTMean(PSNR):
    name = "psnr_gtmean"
    default = False
    gt_mean = True
    description = "PSNR (RGB) after scaling the output to the reference's grey-level mean (KinD, LLFlow)"


class SSIMGTMean(SSIM):
    name = "ssim_gtmean"
    default = False
    gt_mean = True
    description = "SSIM (Y) after scaling the output to the reference's grey-level mean (KinD, LLFlow)"


SHORT_NAMES: tuple[type[PyiqaMetric], ...] = (
    NIQE, UNIQUE, BRISQUE, MUSIQ, LPIPS, MSSSIM, PSNR, PSNRY, SSIM, SSIMRGB, PSNRGTMean, SSIMGTMean,
)
