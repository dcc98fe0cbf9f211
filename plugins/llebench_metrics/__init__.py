"""Built-in plugin: image-quality (pyiqa, LOE) and efficiency metrics."""

from llebench.sdk import hookimpl

from llebench_metrics.efficiency import FLOPs, Params, Seconds, SecondsMedian
from llebench_metrics.loe import LOE, LOELIME, LOENPECode
from llebench_metrics.pyiqa_bridge import SHORT_NAMES, PyiqaByName


@hookimpl
def llebench_register_metrics(register):
    for metric in (*SHORT_NAMES, PyiqaByName, LOE, LOELIME, LOENPECode, Seconds, SecondsMedian, Params, FLOPs):
        register(metric)
