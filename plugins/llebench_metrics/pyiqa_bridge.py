"""Metrics computed by pyiqa, with their parameter files resolved through llebench.

pyiqa would download parameter files from the internet at construction time; instead
each file is resolved with :func:`llebench.weights.resolve` (``$LLEBENCH_WEIGHTS``, the
cache, or a verified download) and passed as ``pretrained_model_path``.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, ClassVar

import torch

from llebench.api import EnhanceRecord, Metric, Sample
from llebench.errors import LLEBenchError
from llebench.weights import WeightsFile, resolve, sha256sum

NIQE_PARAMETERS = WeightsFile(
    filename="niqe_modelparameters.mat",
    url="https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/niqe_modelparameters.mat",
    sha256="553e160bba72628c0def84d3cc72eacbca3d00985f4c43a35bd7de219a06143f",
    description="NIQE pristine model (LIVE/MATLAB parameters), as used by pyiqa's niqe",
)


class PyiqaMetric(Metric):
    """One pyiqa metric; subclasses set ``pyiqa_name`` and, if needed, ``parameter_file``."""

    pyiqa_name: ClassVar[str]
    parameter_file: ClassVar[WeightsFile | None] = None
    #: options passed to pyiqa beyond its defaults (part of the metric's identity)
    pyiqa_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        import pyiqa  # heavy import, only when the metric is used

        options = dict(self.pyiqa_options)
        self.parameter_path = None
        if self.parameter_file is not None:
            self.parameter_path = resolve(self.parameter_file)
            options["pretrained_model_path"] = str(self.parameter_path)
        self.model = pyiqa.create_metric(self.pyiqa_name, device=self.device, as_loss=False, **options)
        from pyiqa.default_model_configs import DEFAULT_CONFIGS

        self._defaults = dict(DEFAULT_CONFIGS[self.pyiqa_name]["metric_opts"])

    def settings(self) -> dict[str, Any]:
        opts = {**self._defaults, **self.pyiqa_options}
        opts.pop("type", None)
        settings: dict[str, Any] = {
            "implementation": f"pyiqa {metadata.version('pyiqa')} create_metric({self.pyiqa_name!r})",
            "options": opts,
            "input": "8-bit RGB output scaled to [0,1]",
        }
        if self.parameter_path is not None:
            settings["parameter_file"] = f"{self.parameter_path.name}@{sha256sum(self.parameter_path)}"
        return settings

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        target = output.to(self.device)
        with torch.inference_mode():
            if self.needs_reference:
                if sample.reference is None:
                    raise LLEBenchError(f"{self.name} needs a reference image")
                if sample.reference.shape != output.shape:
                    raise LLEBenchError(
                        f"{self.name}: reference size {tuple(sample.reference.shape[-2:])} differs from "
                        f"output size {tuple(output.shape[-2:])}"
                    )
                score = self.model(target, sample.reference.to(self.device))
            else:
                score = self.model(target)
        return float(score.flatten()[0])


class NIQE(PyiqaMetric):
    name = "niqe"
    pyiqa_name = "niqe"
    parameter_file = NIQE_PARAMETERS
    weights_files = (NIQE_PARAMETERS,)
    lower_better = True
    default = True
    description = "NIQE (Mittal et al. 2013), pyiqa, Y channel, LIVE pristine parameters"


class PSNR(PyiqaMetric):
    name = "psnr"
    pyiqa_name = "psnr"
    kind = "full-reference"
    default = True
    description = "PSNR in dB on RGB, data range 1 (pyiqa 'psnr')"


class SSIM(PyiqaMetric):
    name = "ssim"
    pyiqa_name = "ssim"
    kind = "full-reference"
    default = True
    description = "SSIM on the Y channel (pyiqa 'ssim': Gaussian window 11, sigma 1.5, no downsampling)"
