"""Efficiency measures: enhancement time, parameter count, FLOPs.

``seconds`` is the runner's own measurement of the one ``enhance()`` call that produced
the output (cheap, but the first image pays for warm-up). ``seconds_median`` re-runs
the method on the image: warm-up calls, then the median of timed repeats, synchronising
CUDA around each. ``params`` and ``flops`` describe the method's network (see
:meth:`llebench.api.Enhancer.network`); they are the same for every image, so they are
computed once per method and repeated.
"""

from __future__ import annotations

import statistics
import time
import weakref
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from llebench.sdk import Context, Enhancer, EnhanceRecord, LLEBenchError, Metric, RunConfigError, Sample


def enhancer_of(record: EnhanceRecord, metric: str) -> Enhancer:
    if record.enhancer is None:
        raise LLEBenchError(f"{metric}: the runner did not say which method produced the output")
    return record.enhancer


def network_of(enhancer: Enhancer, metric: str) -> torch.nn.Module:
    network = enhancer.network()
    if network is None:
        raise LLEBenchError(f"{metric}: method {enhancer.name!r} has no torch network "
                            "(Enhancer.network() is None), so it has no parameters or FLOPs to count")
    return network


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(run: Callable[[], Any], device: torch.device, warmup: int, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after ``warmup`` untimed ones (CUDA-synchronised)."""
    for _ in range(warmup):
        run()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_parameters(network: torch.nn.Module) -> int:
    """Every parameter element, each shared tensor counted once."""
    return sum(p.numel() for p in network.parameters())


def count_flops(enhancer: Enhancer, height: int, width: int) -> int:
    """FLOPs torch counts while ``enhance()`` runs on a mid-grey 1x3xHxW image."""
    image = torch.full((1, 3, height, width), 0.5, device=enhancer.device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        enhancer.enhance(image)
    return counter.get_total_flops()


class PerMethodMetric(Metric):
    """A metric whose value depends on the method only: computed once per method object."""

    kind = "efficiency"
    lower_better = True

    def __init__(self, context: Context | None = None) -> None:
        super().__init__(context)
        self._values: weakref.WeakKeyDictionary[Enhancer, float] = weakref.WeakKeyDictionary()

    def measure(self, enhancer: Enhancer) -> float:
        raise NotImplementedError

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        enhancer = enhancer_of(record, self.name)
        if enhancer not in self._values:
            self._values[enhancer] = self.measure(enhancer)
        return self._values[enhancer]


class Seconds(Metric):
    name = "seconds"
    number_format = ".3f"
    kind = "efficiency"
    lower_better = True
    default = True
    description = "wall-clock seconds of the enhance() call that produced the output (after one warm-up call)"
    #: the runner warms each method up once (untimed) before the first output it times
    uses_timing = True

    def settings(self) -> dict[str, Any]:
        return {"measures": "wall time of the enhance() call that produced the output (a tiled retry after "
                            "out-of-memory: the tiled call only), CUDA-synchronised on GPU; excludes reading and "
                            "writing; each method's first call in a run is a warm-up, not timed",
                "input": "each image as stored (outputs.csv has its size; use seconds_median with size=WxH "
                         "to time every method on the same work)"}

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        return record.seconds


class SecondsMedian(Metric):
    name = "seconds_median"
    number_format = ".3f"
    kind = "efficiency"
    lower_better = True
    description = ("median seconds of repeated enhance() calls after warm-up; seconds_median:WxH (or size=WxH) "
                   "times every method at one fixed resolution")
    #: ``seconds_median:1200x900`` on the command line is ``size="1200x900"``
    takes_arg = True

    def __init__(self, context: Context | None = None, warmup: int = 1, repeats: int = 5,
                 size: str | None = None, arg: str | None = None) -> None:
        super().__init__(context)
        if warmup < 0 or repeats < 1:
            raise RunConfigError(f"seconds_median needs warmup >= 0 and repeats >= 1, got {warmup}, {repeats}")
        if arg is not None and size is not None and arg != size:
            raise RunConfigError(f"seconds_median:{arg} and size={size!r} disagree; give one")
        size = size if size is not None else arg
        self.warmup = int(warmup)
        self.repeats = int(repeats)
        self.size = parse_size(size) if size is not None else None

    def settings(self) -> dict[str, Any]:
        settings = {"measures": "enhance() wall time, on the method's device, CUDA-synchronised",
                    "warmup": self.warmup, "repeats": self.repeats, "statistic": "median",
                    "input": "each image as stored"}
        if self.size is not None:
            settings["input"] = (f"each image resized to {self.size[1]}x{self.size[0]} (WxH, bilinear), so every "
                                 "method is timed on the same work")
        return settings

    def compute(self, output: torch.Tensor, sample: Sample, record: EnhanceRecord) -> float:
        enhancer = enhancer_of(record, self.name)
        image = sample.input.to(enhancer.device)
        if self.size is not None:
            image = torch.nn.functional.interpolate(image, size=self.size, mode="bilinear", align_corners=False)
        with torch.inference_mode():
            return median_seconds(lambda: enhancer.enhance(image), enhancer.device, self.warmup, self.repeats)


def parse_size(text: str) -> tuple[int, int]:
    """``"1200x900"`` (width x height) -> (900, 1200) as (height, width)."""
    width, sep, height = str(text).lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise RunConfigError(f"size must be WIDTHxHEIGHT, e.g. 1200x900; got {text!r}")
    return int(height), int(width)


class Params(PerMethodMetric):
    name = "params"
    number_format = ",.0f"  # a count
    description = "number of parameters of the method's network"

    def settings(self) -> dict[str, Any]:
        return {"measures": "sum of numel() over Enhancer.network().parameters() (shared tensors once)",
                "unit": "count"}

    def measure(self, enhancer: Enhancer) -> float:
        return float(count_parameters(network_of(enhancer, self.name)))


class FLOPs(PerMethodMetric):
    name = "flops"
    description = "GFLOPs of one enhance() call at a stated input size (torch FlopCounterMode)"

    def __init__(self, context: Context | None = None, height: int = 900, width: int = 1200) -> None:
        super().__init__(context)
        self.height = int(height)
        self.width = int(width)

    def settings(self) -> dict[str, Any]:
        return {
            "measures": "torch.utils.flop_counter.FlopCounterMode total over one enhance() call",
            "input": f"1x3x{self.height}x{self.width}, all 0.5",
            "unit": "GFLOP (1e9 FLOPs; one multiply-add = 2 FLOPs)",
            "counts": "convolutions, matrix products, attention; not element-wise ops or FFTs",
        }

    def measure(self, enhancer: Enhancer) -> float:
        network_of(enhancer, self.name)  # a method without a network has no meaningful FLOPs here
        return count_flops(enhancer, self.height, self.width) / 1e9
